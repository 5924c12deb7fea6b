#include "server/metrics.h"

#include <string>
#include <utility>

#include "prometheus/text_serializer.h"
#include "server/names.h"

namespace linspec::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Seconds. Inter-token latency starts at 0.5 ms (a speculative step can emit several tokens
// in one engine step, so sub-millisecond gaps are real).
const Histogram::BucketBoundaries& ItlBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 1.0, 2.5};
  return *b;
}
const Histogram::BucketBoundaries& LatencyBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
                                                         0.1,   0.25,  0.5,  0.75, 1.0,  2.5,  5.0,
                                                         7.5,   10.0,  20.0, 40.0, 80.0, 160.0};
  return *b;
}
const Histogram::BucketBoundaries& StepBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0};
  return *b;
}
const Histogram::BucketBoundaries& BatchBuckets() {
  static const auto* b = new Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  return *b;
}

constexpr scheduler::StepPhase kPhases[] = {
    scheduler::StepPhase::kPrefill, scheduler::StepPhase::kDraft, scheduler::StepPhase::kVerify,
    scheduler::StepPhase::kDecode, scheduler::StepPhase::kSample};

}  // namespace

ServerMetrics::ServerMetrics(const std::string& model_name)
    : model_name_(model_name), registry_(std::make_shared<prometheus::Registry>()) {
  const prometheus::Labels labels{{"model_name", model_name_}};
  auto& r = *registry_;
  auto counter = [&](const char* name, const char* help) {
    return &BuildCounter().Name(name).Help(help).Register(r).Add(labels);
  };
  auto gauge = [&](const char* name, const char* help) {
    return &BuildGauge().Name(name).Help(help).Register(r).Add(labels);
  };
  auto histogram = [&](const char* name, const char* help,
                       const Histogram::BucketBoundaries& buckets) {
    return &BuildHistogram().Name(name).Help(help).Register(r).Add(labels, buckets);
  };
  requests_total_ = &BuildCounter()
                         .Name("linspec_requests_total")
                         .Help("Finished requests by final status (finish reason or rejected).")
                         .Register(r);
  prompt_tokens_ = counter("linspec_prompt_tokens_total", "Prompt tokens of finished requests.");
  generation_tokens_ = counter("linspec_generation_tokens_total", "Generated (committed) tokens.");
  running_ = gauge("linspec_num_requests_running", "Requests holding a state slot.");
  waiting_ = gauge("linspec_num_requests_waiting", "Requests in the wait queue.");
  slots_total_ = gauge("linspec_state_slots_total", "Recurrent-state slots allocated at start-up.");
  slots_used_ = gauge("linspec_state_slots_used", "Recurrent-state slots in use.");
  ttft_ = histogram("linspec_time_to_first_token_seconds",
                    "Time from arrival to the first generated token.", LatencyBuckets());
  itl_ = histogram("linspec_inter_token_latency_seconds",
                   "Time between consecutive generated tokens of a request.", ItlBuckets());
  e2e_ = histogram("linspec_e2e_request_latency_seconds",
                   "Time from arrival to the end of a request.", LatencyBuckets());
  queue_time_ = histogram("linspec_request_queue_time_seconds",
                          "Time a request waited for a state slot.", LatencyBuckets());
  batch_size_ = histogram("linspec_batch_size", "Sequences per engine step.", BatchBuckets());
  step_seconds_ = &BuildHistogram()
                       .Name("linspec_engine_step_seconds")
                       .Help("Engine time per step and phase.")
                       .Register(r);
  for (auto phase : kPhases) {
    step_by_phase_.push_back(&step_seconds_->Add(
        {{"model_name", model_name_}, {"phase", StepPhaseLabel(phase)}}, StepBuckets()));
  }
  num_drafts_ = counter("linspec_spec_decode_num_drafts_total",
                        "Speculative verify rounds (one per sequence and step).");
  num_draft_tokens_ =
      counter("linspec_spec_decode_num_draft_tokens_total", "Tokens proposed by the drafter.");
  num_accepted_tokens_ = counter("linspec_spec_decode_num_accepted_tokens_total",
                                 "Draft tokens accepted by the target.");
  accepted_per_pos_ = &BuildCounter()
                           .Name("linspec_spec_decode_num_accepted_tokens_per_pos_total")
                           .Help("Accepted draft tokens by position in the draft (0-based).")
                           .Register(r);
  // Statuses that always exist, so dashboards see zeros instead of missing series.
  for (const char* st : {"stop", "length", "cancelled", "deadline", "error", "rejected"}) {
    RequestsTotal(st);
  }
}

prometheus::Counter& ServerMetrics::RequestsTotal(const std::string& status) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = requests_by_status_.find(status);
  if (it != requests_by_status_.end()) return *it->second;
  auto* c = &requests_total_->Add({{"model_name", model_name_}, {"status", status}});
  requests_by_status_.emplace(status, c);
  return *c;
}

prometheus::Counter& ServerMetrics::AcceptedAtPosition(int position) {
  std::lock_guard<std::mutex> lock(mu_);
  while (static_cast<int>(accepted_by_pos_.size()) <= position) {
    accepted_by_pos_.push_back(&accepted_per_pos_->Add(
        {{"model_name", model_name_}, {"position", std::to_string(accepted_by_pos_.size())}}));
  }
  return *accepted_by_pos_[position];
}

void ServerMetrics::OnRequestFinished(const scheduler::FinalResult& result, int prompt_tokens) {
  RequestsTotal(FinishReasonLabel(result.finish_reason)).Increment();
  if (prompt_tokens > 0) prompt_tokens_->Increment(prompt_tokens);
  e2e_->Observe(result.e2e_seconds);
}

void ServerMetrics::OnGenerationTokens(int n) {
  if (n > 0) generation_tokens_->Increment(n);
}
void ServerMetrics::OnFirstToken(double ttft_seconds) { ttft_->Observe(ttft_seconds); }
void ServerMetrics::OnInterTokenLatency(double seconds) { itl_->Observe(seconds); }
void ServerMetrics::OnQueueTime(double seconds) { queue_time_->Observe(seconds); }
void ServerMetrics::OnBatch(int batch_size) { batch_size_->Observe(batch_size); }

void ServerMetrics::OnStepPhase(scheduler::StepPhase phase, double seconds) {
  const auto i = static_cast<size_t>(phase);
  if (i < step_by_phase_.size()) step_by_phase_[i]->Observe(seconds);
}

void ServerMetrics::OnSpecDecode(int num_draft, int num_accepted) {
  num_drafts_->Increment();
  if (num_draft > 0) num_draft_tokens_->Increment(num_draft);
  if (num_accepted > 0) num_accepted_tokens_->Increment(num_accepted);
  for (int i = 0; i < num_accepted; ++i) AcceptedAtPosition(i).Increment();
}

void ServerMetrics::OnGauges(int running, int waiting, int slots_total, int slots_used) {
  running_->Set(running);
  waiting_->Set(waiting);
  slots_total_->Set(slots_total);
  slots_used_->Set(slots_used);
}

void ServerMetrics::OnRejected() { RequestsTotal("rejected").Increment(); }

std::string ServerMetrics::Serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace linspec::server
