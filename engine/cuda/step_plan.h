// Host-side planning of one Forward: validates the chunks against the slots' cursors and lays
// out the per-step metadata the kernels read (token ids, positions, output-row map, one
// kernels::LinearAttentionSeq per chunk). CUDA-free logic; used by CudaEngine.
#ifndef LINSPEC_ENGINE_CUDA_STEP_PLAN_H_
#define LINSPEC_ENGINE_CUDA_STEP_PLAN_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "kernels/linear_attention.h"

namespace linspec::engine::cuda {

// Host mirror of a slot's cursors (DESIGN.md §3).
struct SlotCursor {
  int64_t position = 0;  // committed tokens
  int64_t fold = 0;      // tokens folded into S; [fold, position) sit in the ring
  int pending = 0;       // pending tokens at [position, position + pending)
};

struct StepPlan {
  int num_tokens = 0;
  int num_seqs = 0;
  int num_rows = 0;
  std::vector<int32_t> tokens;     // [num_tokens]
  std::vector<int32_t> positions;  // [num_tokens]
  std::vector<int32_t> row_map;    // [num_tokens]: output row or -1
  std::vector<kernels::LinearAttentionSeq> seqs;
  std::vector<int> row_offset;    // per chunk
  std::vector<SlotCursor> after;  // per chunk: the slot's cursors once the step ran
};

struct PlanLimits {
  int num_slots = 0;
  int vocab_size = 0;
  int max_pending = 0;
  int max_tokens = 0;
  int group_size = 0;
};

// InvalidArgument for unknown or repeated slots, empty chunks, token ids out of range, a
// committed chunk on a slot with pending tokens, or too many tokens in total;
// ResourceExhausted when a pending area would overflow.
absl::Status BuildStepPlan(absl::Span<const SeqChunk> chunks,
                           const std::vector<SlotCursor>& cursors, const PlanLimits& limits,
                           StepPlan* plan);

}  // namespace linspec::engine::cuda

#endif  // LINSPEC_ENGINE_CUDA_STEP_PLAN_H_
