// On-device sampling and speculative acceptance: turns each chunk's logits rows into its
// output tokens so that only the tokens and accept counts go back to the host.
//
// Semantics are the scheduler's host sampler (scheduler/sampler.h, scheduler/acceptance.h),
// which is this kernel's CPU twin: softmax(logits / temperature), then the top_k most likely
// tokens, then the smallest prefix (most likely first, ties by lower id) whose mass reaches
// top_p of what is left, renormalized; inverse-CDF draws in id order; rejection sampling with
// min(1, p/q) coins, residual norm(max(0, p - q)) and a bonus draw; greedy chunks accept while
// the draft equals the row's argmax. Random numbers come from common/counter_rng.h, keyed by
// (seed, output index, stream), exactly as on the host.
//
// Masses are summed in 2^-40 fixed point (integer atomics and scans), so every result is
// deterministic and independent of the batch. Draws can differ from the host's float/double
// sums only when a uniform lands within rounding (~1e-7 relative) of a token boundary.
//
// Buffers (device):
//   logits:  [rows, vocab] fp32        argmax: [rows] int32 (greedy chunks)
//   chunks:  [num_chunks]              tokens: the step's token ids (drafts are read there)
//   q_rows:  [*, vocab] fp32 proposal rows (SampleChunk::q_row), may be null when unused
//   out:     [num_chunks], every element written (inactive chunks: {0, 0})
//   probs_out: [*, vocab] fp32: the transformed distribution of chunks with probs_row >= 0
//            (every element of those rows written; greedy chunks get a one-hot row)
#ifndef LINSPEC_KERNELS_SAMPLING_H_
#define LINSPEC_KERNELS_SAMPLING_H_

#include <cuda_runtime_api.h>
#include <vector_types.h>

#include <cstdint>

namespace linspec::kernels {

struct SampleChunk {
  int32_t active = 0;       // 0: no token wanted
  int32_t first_row = 0;    // the chunk's first row in logits / argmax
  int32_t num_drafts = 0;   // k: rows first_row .. first_row + k are read
  int32_t draft_token = 0;  // index in tokens of the first draft d1
  int32_t q_row = -1;       // first proposal row in q_rows; -1: one-hot proposals
  float temperature = 0.f;  // 0: greedy
  int32_t top_k = 0;        // 0 or >= vocab: off
  float top_p = 1.f;
  uint64_t seed = 0;
  uint64_t first_index = 0;  // output index of the first draft (or of the sampled token)
  uint32_t stream = 1;       // RandomStream of the draw when num_drafts == 0 (1 = kTarget)
  int32_t probs_row = -1;    // num_drafts == 0: row of probs_out for the drawn-from p; -1: none
};

struct SampledChunk {
  int32_t num_accepted;
  int32_t token;
};

// Opts the kernel into its shared-memory weight cache; call once before capturing a graph
// (SampleChunks calls it too).
cudaError_t SampleChunksInit();

// Scratch: row_results [num_chunks, max_rows] (any contents); counters [num_chunks], zero
// before the first launch and left zero by every launch. max_rows >= 1 + the most drafts of
// any chunk (one block per row).
cudaError_t SampleChunks(const float* logits, const int32_t* argmax, int vocab,
                         const SampleChunk* chunks, int num_chunks, int max_rows,
                         const int32_t* tokens, const float* q_rows, SampledChunk* out,
                         float* probs_out, int2* row_results, unsigned int* counters,
                         cudaStream_t stream);

}  // namespace linspec::kernels

#endif  // LINSPEC_KERNELS_SAMPLING_H_
