// The fp32 CPU backend: the reference implementation of the Engine contract and the
// default where no GPU exists.
//
// Projections and the LM head run as one OpenBLAS sgemm over all tokens of the batch; the
// per-token ops (RMSNorm, RoPE, φ, SwiGLU) and the linear-attention core per
// (sequence, KV head) are spread over a small thread pool. Work items never share outputs,
// so results do not depend on the thread count. Slot layout: engine/cpu/slot_layout.h.
// Folding is lazy (Commit is a cursor move; the next Forward folds), see slot_layout.h.
//
// Thread-safety: not thread-safe (Engine contract). Errors: InvalidArgument for bad slot /
// token ids, empty or duplicate chunks and batches over max_batch_tokens;
// FailedPrecondition for a committed chunk on a slot with pending tokens; ResourceExhausted
// when a pending area would exceed max_pending.
#ifndef LINSPEC_ENGINE_CPU_CPU_ENGINE_H_
#define LINSPEC_ENGINE_CPU_CPU_ENGINE_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cpu/linear_attention.h"
#include "engine/cpu/slot_layout.h"
#include "engine/cpu/thread_pool.h"
#include "engine/engine.h"
#include "engine/weights.h"

namespace linspec::engine::cpu {

class CpuEngine final : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<CpuEngine>> Create(const EngineOptions& options);

  const ModelConfig& config() const override { return config_; }
  Device device() const override { return Device::kCpu; }
  int num_slots() const override { return static_cast<int>(cursors_.size()); }
  int max_pending() const override { return max_pending_; }
  int64_t slot_size_bytes() const override { return layout_.slot_bytes(); }
  int64_t weight_bytes() const override { return weight_bytes_; }

  absl::Status Forward(absl::Span<const SeqChunk> chunks, const ForwardOptions& options,
                       ForwardResult* result) override;
  absl::Status Commit(SlotId slot, int n) override;
  absl::Status Release(SlotId slot) override;
  int64_t position(SlotId slot) const override;
  int pending(SlotId slot) const override;

 private:
  struct LayerWeights {
    std::vector<float> wqkv;  // [(heads + 2 kv_heads) * d, hidden]: q rows, k rows, v rows
    std::vector<float> wo;    // [hidden, heads * d]
    std::vector<float> input_norm, post_norm;  // [hidden]
    std::vector<float> wgu;                    // [2 * intermediate, hidden]: gate rows, up rows
    std::vector<float> wdown;                  // [hidden, intermediate]
    std::vector<float> conv;                   // [kv_heads, C]
    float gamma = 1.0f;
  };
  // One chunk of the current Forward.
  struct ChunkPlan {
    SlotId slot = 0;
    int64_t row0 = 0;  // first activation row
    int num_tokens = 0;
    bool commit = false;
    bool all_logits = false;
    SlotCursor cursor;  // after the window fold
  };
  // Activations of the current Forward, [rows, ...].
  struct Scratch {
    std::vector<float> x, xn, qkv, attn, tmp, gu, act;
    std::vector<int64_t> pos;
  };

  CpuEngine(const ModelConfig& config, const EngineOptions& options);
  absl::Status LoadWeights(const ModelWeights& w);
  absl::Status MakePlans(absl::Span<const SeqChunk> chunks, std::vector<ChunkPlan>* plans) const;
  HeadParams Params(int layer, int kv_head) const;
  float* SlotData(SlotId slot) { return slots_.data() + slot * layout_.slot_floats(); }
  void FoldWindows(const std::vector<ChunkPlan>& plans);
  void Embed(absl::Span<const SeqChunk> chunks, const std::vector<ChunkPlan>& plans);
  void RunLayer(int layer, const std::vector<ChunkPlan>& plans);
  void RopeAndFeatureMap(int64_t rows);
  void Attention(int layer, const std::vector<ChunkPlan>& plans);
  void Mlp(int layer, int64_t rows);
  void Logits(const std::vector<ChunkPlan>& plans, const ForwardOptions& options,
              ForwardResult* result);

  ModelConfig config_;
  int max_pending_;
  int max_batch_tokens_;
  SlotLayout layout_;
  std::unique_ptr<ThreadPool> pool_;
  std::vector<LayerWeights> layers_;
  std::vector<float> embed_, final_norm_, lm_head_;  // lm_head_ empty when tied
  int64_t weight_bytes_ = 0;
  std::vector<float> slots_;  // num_slots * slot_floats
  std::vector<SlotCursor> cursors_;
  Scratch s_;
};

}  // namespace linspec::engine::cpu

#endif  // LINSPEC_ENGINE_CPU_CPU_ENGINE_H_
