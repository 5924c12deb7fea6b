// The whole serving front end: ServingContext + HTTP server + gRPC server, with the
// loading -> ready -> draining life cycle. main.cc (and tests with a fake scheduler) use it.
//
// Ownership: owns the context and both transports; borrows the scheduler and tokenizer given
// to Attach, which must outlive Shutdown(). Start/Attach/SetReady/Shutdown: one thread.
#ifndef LINSPEC_SERVER_SERVER_H_
#define LINSPEC_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/grpc_server.h"
#include "server/http_server.h"
#include "server/serving_context.h"

namespace linspec::server {

struct ServerOptions {
  ServingOptions serving;
  HttpServerOptions http;
  GrpcServerOptions grpc;
  double drain_timeout_seconds = 30;  // running requests get this long to finish on shutdown
};

class Server {
 public:
  // Binds both ports and starts serving in state kLoading (/health 503, NOT_SERVING).
  static absl::StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options);
  ~Server();

  ServingContext& ctx() { return *ctx_; }
  int http_port() const { return http_->port(); }
  int grpc_port() const { return grpc_->port(); }

  // Health: SERVING / 200.
  void SetReady();
  // Graceful shutdown: NOT_SERVING / 503 and new requests refused, then the scheduler drains
  // (running requests finish within drain_timeout_seconds, the rest are cancelled), then the
  // transports close after their last responses are written.
  void Shutdown();

 private:
  Server() = default;
  ServerOptions options_;
  std::unique_ptr<ServingContext> ctx_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<GrpcServer> grpc_;
  bool shut_down_ = false;
};

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_SERVER_H_
