#include "server/server.h"

#include <chrono>
#include <thread>
#include <utility>

namespace linspec::server {

absl::StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options) {
  std::unique_ptr<Server> s(new Server());
  s->options_ = options;
  s->ctx_ = std::make_unique<ServingContext>(options.serving);
  auto grpc = GrpcServer::Start(options.grpc, s->ctx_.get());
  if (!grpc.ok()) return grpc.status();
  s->grpc_ = std::move(*grpc);
  auto http = HttpServer::Start(options.http, s->ctx_.get());
  if (!http.ok()) return http.status();
  s->http_ = std::move(*http);
  GrpcServer* g = s->grpc_.get();
  s->ctx_->AddStateListener([g](ServingState st) { g->SetServing(st == ServingState::kReady); });
  return s;
}

Server::~Server() { Shutdown(); }

void Server::SetReady() { ctx_->SetState(ServingState::kReady); }

void Server::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (ctx_->state() != ServingState::kFailed) ctx_->SetState(ServingState::kDraining);
  if (ctx_->scheduler() != nullptr) ctx_->scheduler()->Drain(options_.drain_timeout_seconds);
  // Every request has finished; let HTTP responses already queued reach their clients.
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (ctx_->http_in_flight() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  grpc_->Shutdown(/*timeout_seconds=*/5);
  http_->Stop();
}

}  // namespace linspec::server
