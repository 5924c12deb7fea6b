#include "server/http_server.h"

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/strand.hpp"
#include "server/request_log.h"

namespace linspec::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;

struct HttpServer::Impl {
  HttpServerOptions options;
  ServingContext* ctx = nullptr;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  int port = 0;
  bool stopped = false;

  void Accept() {
    acceptor.async_accept(
        net::make_strand(ioc), [this](boost::system::error_code ec, tcp::socket socket) {
          if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
          if (!ec) {
            boost::system::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::make_shared<HttpSession>(std::move(socket), ctx, options.session)->Start();
          }
          Accept();
        });
  }

  void Run() {
    // Handlers use error codes; this catch is the thread entry point's last resort.
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        LogText(LogLevel::kError, absl::StrCat("http worker: unexpected exception: ", e.what()));
      }
    }
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              ServingContext* ctx) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->ctx = ctx;
  boost::system::error_code ec;
  const auto address = net::ip::make_address(options.host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad --host '", options.host, "'"));
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  auto& acc = impl->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port, ": ", ec.message()));
  }
  impl->port = acc.local_endpoint(ec).port();
  impl->Accept();
  const int n = options.num_threads > 0 ? options.num_threads : 1;
  for (int i = 0; i < n; ++i) {
    Impl* p = impl.get();
    impl->threads.emplace_back([p] { p->Run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (impl_ == nullptr || impl_->stopped) return;
  impl_->stopped = true;
  net::post(impl_->ioc, [p = impl_.get()] {
    boost::system::error_code ec;
    p->acceptor.close(ec);
  });
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
}

}  // namespace linspec::server
