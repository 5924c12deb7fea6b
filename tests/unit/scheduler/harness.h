// Builds a scheduler over fake engines for the end-to-end scheduler tests.
#ifndef LINSPEC_TESTS_UNIT_SCHEDULER_HARNESS_H_
#define LINSPEC_TESTS_UNIT_SCHEDULER_HARNESS_H_

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "scheduler/batch_scheduler.h"
#include "scheduler/scheduler.h"
#include "tests/unit/scheduler/fake_engine.h"
#include "tests/unit/scheduler/fake_tokenizer.h"
#include "tests/unit/scheduler/test_util.h"

namespace linspec::testing {

enum class DraftMode { kNone, kModel, kNgram, kRandom };

inline const char* DraftModeName(DraftMode m) {
  switch (m) {
    case DraftMode::kNone:
      return "none";
    case DraftMode::kModel:
      return "draft_model";
    case DraftMode::kNgram:
      return "ngram";
    case DraftMode::kRandom:
      return "random";
  }
  return "?";
}

struct Harness {
  FakeEngineOptions target_options;
  FakeEngineOptions draft_options;
  std::unique_ptr<FakeEngine> target;
  std::unique_ptr<FakeEngine> draft;
  std::unique_ptr<FakeTokenizer> tokenizer;
  std::unique_ptr<scheduler::Scheduler> sched;

  // Draft options default to the target's plus salted noise.
  void Start(scheduler::SchedulerOptions options, DraftMode mode, bool with_tokenizer = true,
             uint64_t drafter_seed = 1, scheduler::MetricsObserver* observer = nullptr) {
    target = std::make_unique<FakeEngine>(target_options);
    draft = std::make_unique<FakeEngine>(draft_options);
    if (with_tokenizer) tokenizer = std::make_unique<FakeTokenizer>(target_options.vocab_size);
    absl::StatusOr<std::unique_ptr<scheduler::Scheduler>> s;
    if (mode == DraftMode::kRandom) {
      s = scheduler::CreateSchedulerWithDrafter(
          options, target.get(), nullptr, tokenizer.get(), observer,
          std::make_unique<RandomDrafter>(target_options.vocab_size, drafter_seed));
    } else {
      options.drafter = mode == DraftMode::kNone    ? scheduler::DrafterKind::kNone
                        : mode == DraftMode::kModel ? scheduler::DrafterKind::kDraftModel
                                                    : scheduler::DrafterKind::kNgram;
      s = scheduler::Scheduler::Create(options, target.get(), draft.get(), tokenizer.get(),
                                       observer);
    }
    ASSERT_TRUE(s.ok()) << s.status();
    sched = std::move(*s);
  }

  // After Drain every slot must be free again, in the pool and in both engines.
  void DrainAndCheckSlots() {
    sched->Drain(10);
    scheduler::SchedulerStats st = sched->Stats();
    EXPECT_EQ(st.slots_used, 0);
    EXPECT_EQ(st.running, 0);
    EXPECT_EQ(st.waiting, 0);
    EXPECT_EQ(target->busy_slots(), 0);
    EXPECT_EQ(draft->busy_slots(), 0);
  }
};

inline std::vector<engine::TokenId> RandomPrompt(std::mt19937_64& rng, int vocab, int min_len,
                                                 int max_len) {
  std::uniform_int_distribution<int> len(min_len, max_len), tok(1, vocab - 1);
  std::vector<engine::TokenId> p(len(rng));
  for (auto& t : p) t = tok(rng);
  return p;
}

}  // namespace linspec::testing

#endif  // LINSPEC_TESTS_UNIT_SCHEDULER_HARNESS_H_
