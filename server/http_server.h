// The HTTP listener: an acceptor and a pool of threads running one io_context. Each accepted
// connection gets its own strand and an HttpSession.
//
// Ownership: borrows the ServingContext (must outlive the server). Start/Stop are called from
// one thread; port() is thread-safe after Start.
#ifndef LINSPEC_SERVER_HTTP_SERVER_H_
#define LINSPEC_SERVER_HTTP_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/http_session.h"

namespace linspec::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: ephemeral
  int num_threads = 2;
  HttpSessionOptions session;
};

class HttpServer {
 public:
  // Binds and starts accepting. InvalidArgument for a bad address, Unavailable when the port
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           ServingContext* ctx);
  ~HttpServer();
  int port() const;
  // Stops accepting, closes the io_context and joins the threads (open streams end).
  void Stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_HTTP_SERVER_H_
