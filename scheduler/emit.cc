// From accepted tokens to what clients and metrics see: sampling of single rows, streaming
// deltas, stop conditions, final results.
#include <utility>

#include "scheduler/batch_scheduler.h"
#include "scheduler/sampler.h"

namespace linspec::scheduler {

engine::TokenId BatchScheduler::SampleRow(Sequence* seq, int row) {
  if (seq->greedy()) return result_.argmax[row];
  const int vocab = result_.vocab_size;
  ToProbs(Row(row), vocab, seq->request.sampling, &probs_);
  return SampleFromProbs(probs_.data(), vocab,
                         UniformAt(seq->seed, seq->num_generated(), RandomStream::kTarget));
}

void BatchScheduler::EmitTokens(Sequence* seq, const std::vector<engine::TokenId>& tokens) {
  StopChecker::Outcome out = seq->stop.Append(tokens);
  const std::vector<engine::TokenId>& kept = out.delta.token_ids;
  seq->tokens.insert(seq->tokens.end(), kept.begin(), kept.end());
  const int n = static_cast<int>(kept.size());
  seq->usage.completion_tokens += n;
  const TimePoint now = Clock::now();
  if (n > 0) {
    if (!seq->timing.first_token) {
      seq->timing.first_token = now;
      observer_->OnFirstToken(SecondsBetween(seq->timing.arrival, now));
    } else {
      const double per_token = SecondsBetween(seq->timing.last_token, now) / n;
      for (int i = 0; i < n; ++i) observer_->OnInterTokenLatency(per_token);
    }
    seq->timing.last_token = now;
    observer_->OnGenerationTokens(n);
  }
  if (n > 0 || !out.delta.text.empty()) seq->request.sink->OnDelta(out.delta);
  if (out.finish) Finish(seq, *out.finish, absl::OkStatus());
}

void BatchScheduler::Finish(Sequence* seq, FinishReason reason, absl::Status status) {
  if (seq->finish) return;
  seq->finish = reason;
  seq->finish_status = std::move(status);
}

void BatchScheduler::SendFinal(Sequence* seq) {
  const FinishReason reason = *seq->finish;
  if (reason != FinishReason::kStop && reason != FinishReason::kLength) {
    // Text held back for stop-string matching still belongs to the output.
    TokenDelta tail;
    tail.text = seq->stop.FlushText();
    if (!tail.text.empty()) seq->request.sink->OnDelta(tail);
  }
  FinalResult r;
  r.finish_reason = reason;
  r.status = seq->finish_status;
  r.usage = seq->usage;
  const TimePoint now = Clock::now();
  r.queue_seconds = SecondsBetween(seq->timing.arrival, seq->timing.admitted);
  if (seq->timing.first_token) {
    r.time_to_first_token_seconds = SecondsBetween(seq->timing.arrival, *seq->timing.first_token);
  }
  r.e2e_seconds = SecondsBetween(seq->timing.arrival, now);
  observer_->OnRequestFinished(r, seq->usage.prompt_tokens);
  seq->request.sink->OnFinish(r);
}

}  // namespace linspec::scheduler
