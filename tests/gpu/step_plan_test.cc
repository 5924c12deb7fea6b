// Host-side planning of the CUDA backend (engine/cuda/step_plan.h): validation errors, the
// metadata layout, cursor updates, and a randomized property that the slot ring is always
// large enough for what the attention kernel reads (kernels::RingSizeFor). Needs no device.
#include "engine/cuda/step_plan.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/linear_attention.h"

namespace linspec::engine::cuda {
namespace {

PlanLimits Limits(int group = 0) { return PlanLimits{4, 100, 5, 64, group}; }

TEST(StepPlan, RejectsBadChunks) {
  std::vector<SlotCursor> cur(4);
  StepPlan plan;
  std::vector<TokenId> ok = {1, 2}, bad = {100}, many(70, 1), six(6, 1);
  auto code = [&](std::vector<SeqChunk> chunks) {
    return BuildStepPlan(chunks, cur, Limits(), &plan).code();
  };
  EXPECT_EQ(code({}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{4, ok, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{-1, ok, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{1, ok, false, false}, {1, ok, true, false}}),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{0, {}, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{0, bad, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{0, many, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{0, six, true, false}}), absl::StatusCode::kResourceExhausted);
  cur[2].pending = 4;
  EXPECT_EQ(code({{2, ok, false, false}}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({{2, ok, true, false}}), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(
      BuildStepPlan({{2, std::vector<TokenId>{7}, true, false}}, cur, Limits(), &plan).ok());
}

TEST(StepPlan, LayoutAndCursors) {
  std::vector<SlotCursor> cur(4);
  cur[1] = {10, 8, 0};
  cur[3] = {20, 16, 2};
  std::vector<TokenId> a = {1, 2, 3}, b = {4, 5};
  StepPlan plan;
  ASSERT_TRUE(
      BuildStepPlan({{1, a, false, false}, {3, b, true, true}}, cur, Limits(16), &plan).ok());
  EXPECT_EQ(plan.num_tokens, 5);
  EXPECT_EQ(plan.num_seqs, 2);
  EXPECT_EQ(plan.num_rows, 3);
  EXPECT_EQ(plan.tokens, (std::vector<int32_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(plan.positions, (std::vector<int32_t>{10, 11, 12, 22, 23}));
  EXPECT_EQ(plan.row_map, (std::vector<int32_t>{-1, -1, 0, 1, 2}));
  EXPECT_EQ(plan.row_offset, (std::vector<int>{0, 1}));
  const auto& s0 = plan.seqs[0];
  EXPECT_EQ(s0.slot, 1);
  EXPECT_EQ(s0.token_offset, 0);
  EXPECT_EQ(s0.fold_pos, 8);
  EXPECT_EQ(s0.start_pos, 10);
  EXPECT_EQ(s0.commit_pos, 13);
  const auto& s1 = plan.seqs[1];
  EXPECT_EQ(s1.token_offset, 3);
  EXPECT_EQ(s1.start_pos, 22);
  EXPECT_EQ(s1.commit_pos, 20);
  EXPECT_EQ(plan.after[0].position, 13);
  EXPECT_EQ(plan.after[0].fold, 0 + 8);  // 13 / 16 * 16 = 0 < 8: stays
  EXPECT_EQ(plan.after[1].pending, 4);
  EXPECT_EQ(plan.after[1].fold, 16);
  // Plain attention folds whole groups of kPlainSegment (16) committed positions.
  EXPECT_EQ(kernels::FoldPosAfter(8, 13, 0), 8);
  EXPECT_EQ(kernels::FoldPosAfter(16, 37, 0), 32);
  EXPECT_EQ(kernels::FoldPosAfter(32, 48, 0), 48);
  EXPECT_EQ(kernels::FoldPosAfter(0, 70, 64), 64);
}

// Random decode / verify / draft-append / prefill / commit / release schedules: every step's
// ring reads [min(fold, start - (C - 1)), start) lie within the last ring_size positions
// written, so the kernel never reads an overwritten ring row.
TEST(StepPlan, RingIsLargeEnoughForAnySchedule) {
  const char* env = std::getenv("LINSPEC_SEED");
  const uint32_t seed = env ? std::strtoul(env, nullptr, 10) : std::random_device{}();
  std::printf("LINSPEC_SEED=%u\n", seed);
  std::mt19937 rng(seed);
  for (int group : {0, 3, 16, 64}) {
    for (int conv : {0, 4, 32}) {
      const int max_pending = 1 + static_cast<int>(rng() % 9);
      const int ring = kernels::RingSizeFor(group, conv, max_pending);
      PlanLimits lim{1, 50, max_pending, 512, group};
      std::vector<SlotCursor> cur(1);
      int64_t written = 0;  // one past the highest position written to the ring
      for (int step = 0; step < 3000; ++step) {
        SCOPED_TRACE(::testing::Message() << "G=" << group << " C=" << conv << " step " << step);
        const int kind = static_cast<int>(rng() % 6);
        if (kind == 0 && cur[0].pending > 0) {
          const int n = static_cast<int>(rng() % (cur[0].pending + 1));
          cur[0].position += n;
          cur[0].pending = 0;
          continue;
        }
        if (kind == 1 && rng() % 50 == 0) {
          cur[0] = SlotCursor{};
          written = 0;
          continue;
        }
        const bool pending = kind >= 3 || cur[0].pending > 0;
        const int room = max_pending - cur[0].pending;
        if (pending && room == 0) continue;
        const int n = pending ? 1 + static_cast<int>(rng() % room)
                              : (kind == 2 ? 1 + static_cast<int>(rng() % 200) : 1);
        std::vector<TokenId> toks(n, 1);
        StepPlan plan;
        ASSERT_TRUE(BuildStepPlan({{0, toks, pending, false}}, cur, lim, &plan).ok());
        const auto& s = plan.seqs[0];
        const int64_t lo = std::min<int64_t>(s.fold_pos, std::max(0, s.start_pos - (conv - 1)));
        if (s.start_pos > lo) {
          ASSERT_LE(written - lo, ring) << "ring rows read: [" << lo << ", " << s.start_pos << ")";
          ASSERT_GE(written, s.start_pos);
        }
        ASSERT_EQ(s.fold_pos % kernels::FoldGroup(group), 0);
        ASSERT_LT(s.start_pos - s.fold_pos, kernels::FoldGroup(group) + max_pending);
        written = s.start_pos + n;
        cur[0] = plan.after[0];
        ASSERT_LE(cur[0].fold, cur[0].position);
      }
    }
  }
}

// Every one-token step the decode kernel admits fits its shared memory (227 KB per block on
// Hopper) at any ring depth, head dim and GQA ratio; groups past 128 go to the step kernel.
TEST(StepPlan, DecodeKernelFitsSharedMemoryWheneverAdmitted) {
  for (int group : {0, 1, 3, 16, 64, 100, 128, 129, 256, 1024}) {
    kernels::LinearAttentionSeq s;
    s.slot = 0;
    s.fold_pos = 0;
    s.start_pos = kernels::FoldGroup(group) - 1;  // the longest window the kernel replays
    s.num_new = 1;
    s.commit_pos = s.start_pos;
    for (int qpk = 1; qpk <= 9; ++qpk) {
      const bool admitted = kernels::DecodeFastPathOk(s, group, 2 * qpk, 2);
      EXPECT_EQ(admitted, kernels::FoldGroup(group) <= 128 && qpk <= kernels::kDecodeMaxQueryHeads)
          << "G=" << group << " qpk=" << qpk;
      if (!admitted) continue;
      for (int d : {16, 32, 64, 128}) {
        for (int stages = 2; stages <= 4; ++stages) {
          EXPECT_LE(kernels::DecodeSmemBytes(d, qpk, group, stages), size_t{227} * 1024)
              << "G=" << group << " qpk=" << qpk << " D=" << d << " stages=" << stages;
        }
      }
    }
  }
}

// The attention column split: enough blocks for small batches, powers of two within bounds,
// and only for sequences whose ring reads and writes cannot alias.
TEST(StepPlan, AttentionColumnSplit) {
  EXPECT_EQ(kernels::ChooseColumnSplit(16, 128, 132, 8), 8);   // 1.3B B=1
  EXPECT_EQ(kernels::ChooseColumnSplit(64, 128, 132, 8), 4);   // B=4
  EXPECT_EQ(kernels::ChooseColumnSplit(256, 128, 132, 8), 1);  // B=16
  EXPECT_EQ(kernels::ChooseColumnSplit(16, 128, 132, 1), 1);   // LINSPEC_CUDA_ATTN_SPLIT=1
  EXPECT_EQ(kernels::ChooseColumnSplit(1, 16, 132, 64), 8);    // capped at 8 and D / 2
  EXPECT_EQ(kernels::ChooseColumnSplit(1, 4, 132, 8), 2);
  kernels::LinearAttentionSeq s;
  s.fold_pos = 64;
  s.start_pos = 70;
  s.num_new = 10;
  EXPECT_TRUE(kernels::ColumnSplitSafe(s, 16));
  EXPECT_FALSE(kernels::ColumnSplitSafe(s, 15));
}

}  // namespace
}  // namespace linspec::engine::cuda
