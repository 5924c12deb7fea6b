// The gRPC server: linspec.v1.Generation, grpc.health.v1.Health (default health service;
// SERVING only while the ServingContext is ready) and server reflection.
//
// Ownership: borrows the ServingContext. Start/Shutdown from one thread; SetServing from any.
#ifndef LINSPEC_SERVER_GRPC_SERVER_H_
#define LINSPEC_SERVER_GRPC_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/serving_context.h"

namespace linspec::server {

struct GrpcServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: ephemeral
  int max_message_bytes = 16 << 20;
};

class GrpcServer {
 public:
  // Unavailable when the port cannot be bound.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options,
                                                           ServingContext* ctx);
  ~GrpcServer();
  int port() const;
  // Health status of "" and "linspec.v1.Generation".
  void SetServing(bool serving);
  // Stops accepting calls; running calls get up to timeout_seconds, then are cancelled.
  void Shutdown(double timeout_seconds);

 private:
  struct Impl;
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace linspec::server

#endif  // LINSPEC_SERVER_GRPC_SERVER_H_
