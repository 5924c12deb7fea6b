#include "scheduler/ngram_drafter.h"

#include <algorithm>

namespace linspec::scheduler {

namespace {

class NoDrafter : public Drafter {
 public:
  const char* name() const override { return "none"; }
  absl::Status Propose(absl::Span<DraftTask* const> tasks) override {
    for (DraftTask* t : tasks) t->tokens.clear();
    return absl::OkStatus();
  }
};

class NgramDrafter : public Drafter {
 public:
  explicit NgramDrafter(int ngram_max) : ngram_max_(std::max(1, ngram_max)) {}
  const char* name() const override { return "ngram"; }
  absl::Status Propose(absl::Span<DraftTask* const> tasks) override {
    for (DraftTask* t : tasks) {
      t->probs.clear();
      t->tokens =
          t->k > 0 ? NgramLookup(t->context, ngram_max_, t->k) : std::vector<engine::TokenId>{};
    }
    return absl::OkStatus();
  }

 private:
  int ngram_max_;
};

}  // namespace

std::vector<engine::TokenId> NgramLookup(absl::Span<const engine::TokenId> context, int ngram_max,
                                         int k) {
  const int len = static_cast<int>(context.size());
  for (int n = std::min(ngram_max, len - 1); n >= 1; --n) {
    const engine::TokenId* suffix = context.data() + len - n;
    // Latest start s < len - n whose n tokens equal the suffix.
    for (int s = len - n - 1; s >= 0; --s) {
      if (!std::equal(suffix, suffix + n, context.data() + s)) continue;
      const int from = s + n;
      const int count = std::min(k, len - from);
      return std::vector<engine::TokenId>(context.begin() + from, context.begin() + from + count);
    }
  }
  return {};
}

std::unique_ptr<Drafter> MakeNoDrafter() { return std::make_unique<NoDrafter>(); }

std::unique_ptr<Drafter> MakeNgramDrafter(int ngram_max) {
  return std::make_unique<NgramDrafter>(ngram_max);
}

}  // namespace linspec::scheduler
