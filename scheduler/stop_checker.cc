#include "scheduler/stop_checker.h"

#include <algorithm>
#include <utility>

namespace linspec::scheduler {

namespace {
// Tokens of prompt context given to the detokenizer so leading-space rules match.
constexpr size_t kPrefixTokens = 4;

bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }
}  // namespace

StopChecker::StopChecker(const SamplingParams& params, std::vector<engine::TokenId> eos_ids,
                         const engine::Tokenizer* tokenizer,
                         absl::Span<const engine::TokenId> prompt)
    : max_tokens_(params.max_tokens), stop_strings_(params.stop) {
  stop_ids_ = params.stop_token_ids;
  if (!params.ignore_eos) stop_ids_.insert(stop_ids_.end(), eos_ids.begin(), eos_ids.end());
  for (const std::string& s : stop_strings_) hold_bytes_ = std::max(hold_bytes_, s.size() - 1);
  if (tokenizer != nullptr) {
    detok_ = std::make_unique<engine::IncrementalDetokenizer>(*tokenizer, true);
    const size_t n = std::min(prompt.size(), kPrefixTokens);
    detok_->SetPrefix(prompt.subspan(prompt.size() - n));
  }
}

bool StopChecker::IsStopToken(engine::TokenId t) const {
  return std::find(stop_ids_.begin(), stop_ids_.end(), t) != stop_ids_.end();
}

size_t StopChecker::FindStop() const {
  size_t best = std::string::npos;
  for (const std::string& s : stop_strings_) best = std::min(best, held_.find(s));
  return best;
}

void StopChecker::ReleaseSafeText(std::string* out) {
  if (held_.size() <= hold_bytes_) return;
  size_t cut = held_.size() - hold_bytes_;
  while (cut > 0 && cut < held_.size() && IsUtf8Continuation(held_[cut])) --cut;
  out->append(held_, 0, cut);
  held_.erase(0, cut);
}

std::string StopChecker::FlushText() {
  if (detok_) held_ += detok_->Flush();
  std::string out = std::move(held_);
  held_.clear();
  return out;
}

StopChecker::Outcome StopChecker::Append(absl::Span<const engine::TokenId> tokens) {
  Outcome out;
  for (engine::TokenId t : tokens) {
    if (finished_) break;
    ++num_tokens_;
    out.delta.token_ids.push_back(t);
    if (IsStopToken(t)) {
      finished_ = true;
      out.finish = FinishReason::kStop;
      out.delta.text += FlushText();
      break;
    }
    if (detok_) held_ += detok_->Push(absl::MakeConstSpan(&t, 1));
    if (num_tokens_ >= max_tokens_ && detok_) held_ += detok_->Flush();
    const size_t stop_at = FindStop();
    if (stop_at != std::string::npos) {
      finished_ = true;
      out.finish = FinishReason::kStop;
      out.delta.text.append(held_, 0, stop_at);
      held_.clear();
      break;
    }
    if (num_tokens_ >= max_tokens_) {
      finished_ = true;
      out.finish = FinishReason::kLength;
      out.delta.text += held_;
      held_.clear();
      break;
    }
  }
  if (!finished_) ReleaseSafeText(&out.delta.text);
  return out;
}

}  // namespace linspec::scheduler
