// The engine interface: one loaded model with a fixed pool of recurrent-state slots.
// CUDA-free: backends (engine/cpu, engine/cuda) implement it; engine_factory.cc chooses.
//
// Slot contents (DESIGN.md §3) are owned by the engine; slot *lifetime* is owned by the
// caller (the scheduler), which decides which slot ids are in use and calls Release when a
// sequence ends. A slot holds committed tokens (folded state, unfolded window, conv ring,
// position) and a pending area of up to max_pending tokens.
//
// Thread-safety: not thread-safe. One thread (the scheduler loop) drives an engine.
// Errors: InvalidArgument for bad slot ids / token ids / sizes (a caller bug or bad input),
// ResourceExhausted when a pending area would overflow, Internal/Unavailable for backend
// failures (a sticky device error makes healthy() false).
#ifndef LINSPEC_ENGINE_ENGINE_H_
#define LINSPEC_ENGINE_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/counter_rng.h"
#include "engine/model_config.h"
#include "engine/types.h"

namespace linspec::engine {

enum class Device { kAuto, kCpu, kCuda };

struct EngineOptions {
  std::string model_dir;
  Device device = Device::kAuto;
  int num_slots = 8;
  // Pending capacity per slot is max_draft_tokens + 1 (a verify of k drafts plus the last
  // sampled token; the draft model also needs k + 1 for its lagging tokens).
  int max_draft_tokens = 8;
  // Most tokens one Forward may carry in total (prefill chunks + decode rows).
  int max_batch_tokens = 2048;
  int num_threads = 0;  // CPU backend: 0 = hardware concurrency
  // CUDA backend: weight dtype on device ("bf16" | "fp16" | "fp32").
  std::string cuda_weight_dtype = "bf16";
};

// One sequence's share of a Forward call.
struct SeqChunk {
  SlotId slot = 0;
  absl::Span<const TokenId> tokens;
  // false: tokens are committed (prefill / plain decode); the slot's pending area must be
  //        empty. true: tokens are appended to the pending area (verify / draft proposal);
  //        nothing committed changes until Commit.
  bool pending = false;
  // true: logits for every token of the chunk; false: only for the last token.
  bool all_logits = false;
};

// How the engine turns one chunk's output rows into tokens when it samples itself
// (ForwardOptions::sampling; DESIGN.md §4 and §6). Semantics equal the scheduler's host
// sampler (scheduler/sampler.h, acceptance.h), with the same counter-based random numbers
// (common/counter_rng.h):
//   * a committed chunk: one token from its last row, draw at output index first_index;
//   * a pending chunk [t, d1..dk]: greedy or rejection-sampling acceptance of the drafts
//     d1..dk against its k + 1 rows, then the target's token (residual or bonus draw).
struct ChunkSampling {
  bool active = false;      // false: no token wanted (e.g. a prefill chunk that is not last)
  float temperature = 0.f;  // 0: greedy (argmax)
  int top_k = 0;            // 0: off
  float top_p = 1.f;        // (0, 1]
  uint64_t seed = 0;
  uint64_t first_index = 0;  // output index of the first draft (or of the sampled token)
  // Pending chunks: the proposal distribution of d1..dk, [k, vocab] after the same
  // transforms; empty: each proposal is one-hot (n-gram drafts, or drafts drawn by their own
  // random stream). Only the rows acceptance reaches are read.
  absl::Span<const float> draft_probs;
  // Chunks without drafts: the random stream of the draw (a draft model draws its proposals
  // from RandomStream::kDraft), and whether the transformed distribution the token was drawn
  // from comes back too (ForwardResult::probs; a draft model's q for acceptance).
  RandomStream stream = RandomStream::kTarget;
  bool want_probs = false;
};

// A chunk's sampled outcome: num_accepted drafts (0 for committed chunks), then `next`.
struct ChunkTokens {
  int num_accepted = 0;
  TokenId next = 0;
};

// Result rows of a Forward, in chunk order: for each chunk, tokens.size() rows when
// all_logits else 1 row.
struct ForwardResult {
  int num_rows = 0;
  int vocab_size = 0;
  std::vector<int> row_offset;  // per chunk: index of its first row
  // Host logits [num_rows, vocab_size], fp32. Filled when ForwardOptions::want_logits.
  std::vector<float> logits;
  // argmax of each row (ties: lowest id). Always filled.
  std::vector<TokenId> argmax;
  // One per chunk when ForwardOptions::sampling was given (inactive chunks: {0, 0}).
  std::vector<ChunkTokens> sampled;
  // One row [vocab] per chunk with ChunkSampling::want_probs, in chunk order.
  std::vector<float> probs;
};

struct ForwardOptions {
  bool want_logits = true;  // false lets a device backend skip copying logits to the host
  // Empty, or one entry per chunk: the engine samples (Engine::samples_on_device) and fills
  // ForwardResult::sampled; only the tokens and accept counts leave the device.
  absl::Span<const ChunkSampling> sampling;
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const ModelConfig& config() const = 0;
  virtual Device device() const = 0;
  virtual int num_slots() const = 0;
  virtual int max_pending() const = 0;
  // Bytes of one slot (state + window + conv ring + pending), the same for every slot.
  virtual int64_t slot_size_bytes() const = 0;
  // Bytes of the loaded weights in their on-device dtype.
  virtual int64_t weight_bytes() const = 0;
  virtual bool healthy() const { return true; }
  // True when Forward accepts ForwardOptions::sampling (the CUDA backend); others return
  // InvalidArgument for it and callers sample from the host logits.
  virtual bool samples_on_device() const { return false; }

  // Runs one batched forward over the chunks (distinct slots). See SeqChunk for semantics.
  virtual absl::Status Forward(absl::Span<const SeqChunk> chunks, const ForwardOptions& options,
                               ForwardResult* result) = 0;

  // Makes the first n pending tokens of the slot committed and drops the rest
  // (0 <= n <= pending count). Rejection is a cursor move.
  virtual absl::Status Commit(SlotId slot, int n) = 0;

  // Drops the slot's pending tokens (same as Commit(slot, 0)).
  absl::Status DropPending(SlotId slot) { return Commit(slot, 0); }

  // Resets a slot to the empty sequence. Cheap; callers release on finish/cancel.
  virtual absl::Status Release(SlotId slot) = 0;

  // Committed tokens / pending tokens currently in a slot.
  virtual int64_t position(SlotId slot) const = 0;
  virtual int pending(SlotId slot) const = 0;
};

// Creates the engine for options.device; kAuto picks CUDA when a device is present and the
// backend was built, else CPU. Errors name the model file or the device problem.
absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineOptions& options);

// True when this binary has the CUDA backend and a CUDA device is visible.
bool CudaDeviceAvailable();

const char* DeviceName(Device d);

}  // namespace linspec::engine

#endif  // LINSPEC_ENGINE_ENGINE_H_
