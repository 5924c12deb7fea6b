#include "server/metrics.h"

#include <string>

#include "gtest/gtest.h"

namespace linspec::server {
namespace {

TEST(MetricsTest, ExportsDesignNamesWithModelName) {
  ServerMetrics m("tiny");
  scheduler::FinalResult r;
  r.finish_reason = scheduler::FinishReason::kLength;
  r.e2e_seconds = 0.5;
  m.OnRequestFinished(r, 12);
  m.OnGenerationTokens(5);
  m.OnFirstToken(0.01);
  m.OnInterTokenLatency(0.0004);
  m.OnQueueTime(0.001);
  m.OnBatch(3);
  m.OnStepPhase(scheduler::StepPhase::kVerify, 0.002);
  m.OnSpecDecode(4, 2);
  m.OnGauges(1, 2, 8, 3);
  m.OnRejected();
  const std::string text = m.Serialize();
  for (const char* name :
       {"linspec_requests_total", "linspec_prompt_tokens_total", "linspec_generation_tokens_total",
        "linspec_num_requests_running", "linspec_num_requests_waiting", "linspec_state_slots_total",
        "linspec_state_slots_used", "linspec_time_to_first_token_seconds_bucket",
        "linspec_inter_token_latency_seconds_bucket", "linspec_e2e_request_latency_seconds_count",
        "linspec_request_queue_time_seconds_sum", "linspec_batch_size_bucket",
        "linspec_engine_step_seconds_bucket", "linspec_spec_decode_num_drafts_total",
        "linspec_spec_decode_num_draft_tokens_total",
        "linspec_spec_decode_num_accepted_tokens_total",
        "linspec_spec_decode_num_accepted_tokens_per_pos_total"}) {
    EXPECT_NE(text.find(name), std::string::npos) << name;
  }
  EXPECT_NE(text.find(R"(linspec_requests_total{model_name="tiny",status="length"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(linspec_requests_total{model_name="tiny",status="rejected"} 1)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(linspec_prompt_tokens_total{model_name="tiny"} 12)"), std::string::npos);
  EXPECT_NE(text.find(R"(linspec_state_slots_used{model_name="tiny"} 3)"), std::string::npos);
  EXPECT_NE(
      text.find(
          R"(linspec_spec_decode_num_accepted_tokens_per_pos_total{model_name="tiny",position="1"} 1)"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find(R"(position="2")"), std::string::npos);
  // ITL buckets start at 0.5 ms; the 0.4 ms observation lands in the first bucket.
  EXPECT_NE(
      text.find(R"(linspec_inter_token_latency_seconds_bucket{model_name="tiny",le="0.0005"} 1)"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(phase="verify")"), std::string::npos);
  EXPECT_NE(text.find(R"(phase="prefill")"), std::string::npos);
  // Every sample line carries model_name.
  size_t pos = 0;
  while ((pos = text.find('\n', pos)) != std::string::npos) {
    ++pos;
    if (pos >= text.size() || text[pos] == '#') continue;
    const size_t eol = text.find('\n', pos);
    const std::string line = text.substr(pos, eol - pos);
    EXPECT_NE(line.find("model_name=\"tiny\""), std::string::npos) << line;
  }
}

}  // namespace
}  // namespace linspec::server
