#include "server/http_session.h"

#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/write.hpp"
#include "server/http_router.h"
#include "server/serving_context.h"
#include "server/sse.h"

namespace linspec::server {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;

namespace {
constexpr size_t kWatchReadBytes = 4096;
constexpr size_t kMaxPipelinedBytes = 64 * 1024;

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

std::string ReasonPhrase(int status) {
  if (status == 499) return "Client Closed Request";
  const auto sv = http::obsolete_reason(http::int_to_status(static_cast<unsigned>(status)));
  return std::string(sv.data(), sv.size());
}
}  // namespace

HttpSession::HttpSession(net::ip::tcp::socket&& socket, ServingContext* ctx,
                         const HttpSessionOptions& options)
    : stream_(std::move(socket)), ctx_(ctx), options_(options) {}

void HttpSession::Start() {
  net::dispatch(executor(), [self = shared_from_this()] { self->DoRead(); });
}

void HttpSession::DoRead() {
  if (closed_) return;
  in_response_ = false;
  complete_ = false;
  on_disconnect_ = nullptr;
  parser_.emplace();
  parser_->body_limit(options_.max_body_bytes);
  parser_->header_limit(16 * 1024);
  stream_.expires_after(Seconds(options_.idle_timeout_seconds));
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
}

// Clients that send "Expect: 100-continue" (curl does for bodies over 1 KiB) wait for an
// interim response before sending the body; answer it instead of letting them time out.
void HttpSession::OnHeader(beast::error_code ec, size_t bytes) {
  if (ec || closed_ || parser_->is_done()) return OnRead(ec, bytes);
  const auto expect = parser_->get()[http::field::expect];
  if (!beast::iequals(expect, "100-continue")) return ReadBody();
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                   [self = shared_from_this()](beast::error_code wec, size_t) {
                     if (wec) return self->Close();
                     self->ReadBody();
                   });
}

void HttpSession::ReadBody() {
  http::async_read(stream_, buffer_, *parser_,
                   beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
}

void HttpSession::OnRead(beast::error_code ec, size_t /*bytes*/) {
  if (closed_) return;
  if (ec == http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
      ec == net::error::connection_reset || ec == net::error::operation_aborted) {
    Close();
    return;
  }
  stream_.expires_never();
  if (ec) {
    // The rest of the stream cannot be trusted after a parse error: answer and close.
    BeginResponse();
    keep_alive_ = false;
    ApiError e;
    if (ec == http::error::body_limit) {
      e.http_status = 413;
      e.message =
          absl::StrCat("request body exceeds the limit of ", options_.max_body_bytes, " bytes");
    } else if (ec == http::error::header_limit) {
      e.http_status = 431;
      e.message = "request headers are too large";
    } else {
      e.http_status = 400;
      e.message = absl::StrCat("malformed HTTP request: ", ec.message());
    }
    RespondError(e);
    return;
  }
  Request req = parser_->release();
  keep_alive_ = req.keep_alive();
  http10_ = req.version() == 10;
  chunked_ = !http10_;
  BeginResponse();
  RouteHttpRequest(shared_from_this(), std::move(req));
}

std::string HttpSession::Head(int status, std::string_view content_type, const Headers& extra,
                              std::optional<size_t> content_length) const {
  std::string h = absl::StrCat(http10_ ? "HTTP/1.0 " : "HTTP/1.1 ", status, " ",
                               ReasonPhrase(status), "\r\nServer: linspec\r\n");
  if (!content_type.empty()) {
    absl::StrAppend(&h, "Content-Type: ", std::string(content_type), "\r\n");
  }
  if (content_length) {
    absl::StrAppend(&h, "Content-Length: ", *content_length, "\r\n");
  } else if (chunked_) {
    h += "Transfer-Encoding: chunked\r\n";
  }
  h += keep_alive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [k, v] : extra) absl::StrAppend(&h, k, ": ", v, "\r\n");
  h += "\r\n";
  return h;
}

void HttpSession::Respond(int status, std::string_view content_type, std::string body,
                          const Headers& extra_headers) {
  if (closed_ || complete_) return;
  std::string out = Head(status, content_type, extra_headers, body.size());
  out += body;
  Write(std::move(out));
  ResponseComplete();
}

void HttpSession::RespondError(const ApiError& error, const Headers& extra_headers) {
  Headers headers = extra_headers;
  if (error.http_status == 401) headers.emplace_back("WWW-Authenticate", "Bearer");
  Respond(error.http_status, "application/json", ErrorBodyJson(error), headers);
}

void HttpSession::BeginStream() {
  if (closed_ || complete_) return;
  if (!chunked_) keep_alive_ = false;  // HTTP/1.0: the body ends when the connection closes
  Write(Head(200, "text/event-stream; charset=utf-8",
             {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}}, std::nullopt));
}

void HttpSession::StreamSend(std::string_view event) {
  if (closed_ || complete_) return;
  Write(chunked_ ? HttpChunk(event) : std::string(event));
}

void HttpSession::EndStream() {
  if (closed_ || complete_) return;
  if (chunked_) Write(HttpLastChunk());
  ResponseComplete();
}

void HttpSession::Write(std::string data) {
  if (closed_ || data.empty()) return;
  out_bytes_ += data.size();
  outq_.push_back(std::move(data));
  if (out_bytes_ > options_.max_buffered_output_bytes) {
    Close();  // the client does not read; treat it as gone
    return;
  }
  if (!writing_) DoWrite();
}

void HttpSession::DoWrite() {
  writing_ = true;
  net::async_write(stream_, net::buffer(outq_.front()),
                   beast::bind_front_handler(&HttpSession::OnWrite, shared_from_this()));
}

void HttpSession::OnWrite(beast::error_code ec, size_t /*bytes*/) {
  writing_ = false;
  if (closed_) return;
  if (ec) {
    Close();
    return;
  }
  out_bytes_ -= outq_.front().size();
  outq_.pop_front();
  if (!outq_.empty()) {
    DoWrite();
    return;
  }
  if (complete_) ResponseComplete();
}

void HttpSession::ResponseComplete() {
  complete_ = true;
  on_disconnect_ = nullptr;
  if (writing_ || !outq_.empty() || closed_) return;  // OnWrite comes back here
  EndResponse();
  if (!keep_alive_) {
    LingerClose();
  } else if (watch_pending_) {
    read_after_watch_ = true;  // the pending watch read becomes the next request's first read
  } else {
    DoRead();
  }
}

void HttpSession::WatchForDisconnect(std::function<void()> on_disconnect) {
  on_disconnect_ = std::move(on_disconnect);
  ArmWatch();
}

void HttpSession::ArmWatch() {
  if (watch_pending_ || closed_) return;
  watch_pending_ = true;
  stream_.async_read_some(buffer_.prepare(kWatchReadBytes),
                          beast::bind_front_handler(&HttpSession::OnWatch, shared_from_this()));
}

void HttpSession::OnWatch(beast::error_code ec, size_t bytes) {
  watch_pending_ = false;
  if (closed_) return;
  if (ec) {
    Close();
    return;
  }
  if (lingering_) {
    DoLinger();
    return;
  }
  buffer_.commit(bytes);
  if (in_response_ && !complete_) {
    if (buffer_.size() < kMaxPipelinedBytes) ArmWatch();
    return;
  }
  if (read_after_watch_) {
    read_after_watch_ = false;
    DoRead();
  }
}

// Closing a socket with unread input makes the kernel send RST, which can destroy the
// response (e.g. a 413 whose body the client is still sending) before the client reads it.
// So: stop sending, read and discard the peer's remaining input (bounded), then close.
void HttpSession::LingerClose() {
  if (closed_ || lingering_) return;
  lingering_ = true;
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  stream_.expires_after(std::chrono::seconds(2));
  if (!watch_pending_) DoLinger();  // else OnWatch continues the lingering
}

void HttpSession::DoLinger() {
  stream_.async_read_some(net::buffer(linger_buf_),
                          [self = shared_from_this()](beast::error_code ec, size_t /*bytes*/) {
                            if (ec || self->closed_) {
                              self->Close();
                            } else {
                              self->DoLinger();
                            }
                          });
}

void HttpSession::Close() {
  if (closed_) return;
  closed_ = true;
  auto cb = std::move(on_disconnect_);
  on_disconnect_ = nullptr;
  beast::error_code ec;
  stream_.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
  EndResponse();
  if (cb && in_response_ && !complete_) cb();
}

void HttpSession::BeginResponse() {
  in_response_ = true;
  if (!counted_) {
    counted_ = true;
    ctx_->AddHttpInFlight(1);
  }
}

void HttpSession::EndResponse() {
  if (counted_) {
    counted_ = false;
    ctx_->AddHttpInFlight(-1);
  }
}

}  // namespace linspec::server
