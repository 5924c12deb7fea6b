#include "server/grpc_request.h"

#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/status_mapping.h"

namespace linspec::server {

absl::Status CheckGrpcAuth(const ServingContext& ctx, const grpc::ServerContextBase& context) {
  if (!ctx.auth().enabled()) return absl::OkStatus();
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end() || !ctx.auth().Check(std::string_view(it->second.data(), it->second.size()))) {
    return absl::UnauthenticatedError(
        "missing or invalid API key (send metadata 'authorization: Bearer <key>')");
  }
  return absl::OkStatus();
}

absl::StatusOr<scheduler::GenerateRequest> ToSchedulerRequest(
    const ServingContext& ctx, const grpc::ServerContextBase& context,
    const linspec::v1::GenerateRequest& req) {
  if (absl::Status s = ctx.CheckAccepting(); !s.ok()) return s;
  if (absl::Status s = ctx.CheckModel(req.model()); !s.ok()) return s;
  scheduler::GenerateRequest out;
  out.request_id = req.request_id();
  out.priority = req.priority();
  switch (req.prompt_case()) {
    case linspec::v1::GenerateRequest::kText: {
      auto ids = ctx.Encode(req.text(), req.add_special_tokens());
      if (!ids.ok()) return ids.status();
      out.prompt = std::move(*ids);
      break;
    }
    case linspec::v1::GenerateRequest::kTokenIds:
      out.prompt.assign(req.token_ids().ids().begin(), req.token_ids().ids().end());
      break;
    default:
      return absl::InvalidArgumentError("set exactly one of prompt text or token_ids");
  }
  if (absl::Status s = ctx.CheckPrompt(out.prompt); !s.ok()) return s;

  const auto& p = req.sampling();
  auto& s = out.sampling;
  const RequestLimits& limits = ctx.limits();
  s.max_tokens = limits.default_max_tokens;
  if (p.has_temperature()) s.temperature = p.temperature();
  if (p.has_top_k()) s.top_k = p.top_k();
  if (p.has_top_p()) s.top_p = p.top_p();
  if (p.has_seed()) s.seed = p.seed();
  if (p.has_max_tokens()) s.max_tokens = p.max_tokens();
  s.stop.assign(p.stop().begin(), p.stop().end());
  s.stop_token_ids.assign(p.stop_token_ids().begin(), p.stop_token_ids().end());
  s.ignore_eos = p.ignore_eos();
  std::string param;
  if (absl::Status st = ValidateSampling(s, limits, &param); !st.ok()) return st;

  const auto deadline = context.deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    const auto left = deadline - std::chrono::system_clock::now();
    out.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(left);
  }
  return out;
}

linspec::v1::FinishReason ToProtoFinishReason(scheduler::FinishReason r) {
  switch (r) {
    case scheduler::FinishReason::kStop:
      return linspec::v1::FINISH_REASON_STOP;
    case scheduler::FinishReason::kLength:
      return linspec::v1::FINISH_REASON_LENGTH;
    case scheduler::FinishReason::kCancelled:
      return linspec::v1::FINISH_REASON_CANCELLED;
    case scheduler::FinishReason::kDeadline:
      return linspec::v1::FINISH_REASON_DEADLINE;
    case scheduler::FinishReason::kError:
      return linspec::v1::FINISH_REASON_ERROR;
  }
  return linspec::v1::FINISH_REASON_UNSPECIFIED;
}

void FillUsage(const scheduler::Usage& u, linspec::v1::Usage* out) {
  out->set_prompt_tokens(u.prompt_tokens);
  out->set_completion_tokens(u.completion_tokens);
  out->set_draft_tokens(u.draft_tokens);
  out->set_accepted_tokens(u.accepted_tokens);
}

grpc::Status FinalGrpcStatus(const scheduler::FinalResult& r) {
  switch (r.finish_reason) {
    case scheduler::FinishReason::kStop:
    case scheduler::FinishReason::kLength:
      return grpc::Status::OK;
    case scheduler::FinishReason::kCancelled:
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          r.status.ok() ? "request cancelled" : std::string(r.status.message()));
    case scheduler::FinishReason::kDeadline:
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                          r.status.ok() ? "deadline exceeded" : std::string(r.status.message()));
    case scheduler::FinishReason::kError:
      return r.status.ok() ? grpc::Status(grpc::StatusCode::INTERNAL, "generation failed")
                           : ToGrpcStatus(r.status);
  }
  return grpc::Status(grpc::StatusCode::UNKNOWN, "unknown finish reason");
}

}  // namespace linspec::server
