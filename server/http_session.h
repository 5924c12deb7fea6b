// One HTTP/1.1 connection (Boost.Beast over a strand): reads requests with a body-size limit,
// hands each to the router, and writes responses: whole bodies, or SSE streams with chunked
// transfer encoding. Keep-alive: the next request is read after the previous response.
//
// While a handler produces a response, WatchForDisconnect() keeps one read pending on the
// socket, so a client that goes away is noticed at once (not at the next write), and bytes of
// a pipelined next request are kept for the parser.
//
// Thread-safety: every method must run on the session's strand (executor()). Handlers keep
// the session alive with shared_from_this; sinks on other threads post to executor().
// Errors never throw: all Asio/Beast calls use error_code overloads/handlers.
#ifndef LINSPEC_SERVER_HTTP_SESSION_H_
#define LINSPEC_SERVER_HTTP_SESSION_H_

#include <array>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/strand.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "server/status_mapping.h"

namespace linspec::server {

class ServingContext;

struct HttpSessionOptions {
  size_t max_body_bytes = 1 << 20;
  double idle_timeout_seconds = 120;           // waiting for the next request
  double sse_keepalive_seconds = 10;           // ": keep-alive" comment interval while streaming
  size_t max_buffered_output_bytes = 8 << 20;  // a slower reader is disconnected
};

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  HttpSession(boost::asio::ip::tcp::socket&& socket, ServingContext* ctx,
              const HttpSessionOptions& options);
  void Start();

  // The connection's strand (the socket was accepted onto a strand).
  boost::asio::any_io_executor executor() { return stream_.get_executor(); }
  ServingContext* ctx() const { return ctx_; }
  const HttpSessionOptions& options() const { return options_; }
  bool closed() const { return closed_; }

  // Complete responses; the session then reads the next request (or closes).
  void Respond(int status, std::string_view content_type, std::string body,
               const Headers& extra_headers = {});
  void RespondError(const ApiError& error, const Headers& extra_headers = {});

  // SSE: headers (text/event-stream, no-cache, X-Accel-Buffering: no), then events, then end.
  void BeginStream();
  void StreamSend(std::string_view event);
  void EndStream();

  // Calls on_disconnect (once, on the strand) if the peer closes or resets the connection
  // before the current response is complete.
  void WatchForDisconnect(std::function<void()> on_disconnect);

 private:
  void DoRead();
  void OnHeader(boost::beast::error_code ec, size_t bytes);
  void ReadBody();
  void OnRead(boost::beast::error_code ec, size_t bytes);
  void Write(std::string data);
  void DoWrite();
  void OnWrite(boost::beast::error_code ec, size_t bytes);
  void ArmWatch();
  void OnWatch(boost::beast::error_code ec, size_t bytes);
  void ResponseComplete();
  void BeginResponse();
  void EndResponse();
  void Close();
  void LingerClose();
  void DoLinger();
  std::string Head(int status, std::string_view content_type, const Headers& extra,
                   std::optional<size_t> content_length) const;

  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  ServingContext* ctx_;
  HttpSessionOptions options_;

  bool keep_alive_ = true;
  bool http10_ = false;
  bool chunked_ = true;
  bool in_response_ = false;  // a request is being handled
  bool complete_ = false;     // its response is fully queued
  bool closed_ = false;
  bool counted_ = false;
  bool lingering_ = false;
  std::array<char, 4096> linger_buf_;  // counted in ServingContext::http_in_flight
  bool watch_pending_ = false;
  bool read_after_watch_ = false;
  std::function<void()> on_disconnect_;
  std::deque<std::string> outq_;
  size_t out_bytes_ = 0;
  bool writing_ = false;
};

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_HTTP_SESSION_H_
