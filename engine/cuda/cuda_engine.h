// The CUDA backend of engine::Engine (DESIGN.md §3, §6): bf16/fp16/fp32 weights on the
// device, fp32 recurrent state in device-resident slots (one allocation per layer array, slot
// index tables in the step metadata), split-K skinny GEMMs or cuBLAS, fused kernels
// (kernels/), and one CUDA graph per step shape (tokens, sequences, output rows).
//
// A Forward uploads its metadata with one host->device copy, replays (or captures) the
// step's graph, and synchronizes once to read the argmax (and logits when asked).
// Ownership: the engine owns all device memory; slot contents are engine-owned, slot
// lifetime caller-owned (engine.h). Thread-safety: not thread-safe. Errors: see engine.h;
// any CUDA/cuBLAS failure inside a step is Internal and marks the engine unhealthy (sticky).
#ifndef LINSPEC_ENGINE_CUDA_CUDA_ENGINE_H_
#define LINSPEC_ENGINE_CUDA_CUDA_ENGINE_H_

#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/cuda/cuda_util.h"
#include "engine/cuda/gemm_runner.h"
#include "engine/cuda/step_plan.h"
#include "engine/engine.h"
#include "engine/weights.h"
#include "kernels/decode_megakernel.h"
#include "kernels/dtype.h"
#include "kernels/qkv_epilogue.h"

namespace linspec::engine::cuda {

inline kernels::FeatureMapKind KernelFeatureMap(FeatureMap f) {
  switch (f) {
    case FeatureMap::kL2Norm:
      return kernels::FeatureMapKind::kL2Norm;
    case FeatureMap::kElu1:
      return kernels::FeatureMapKind::kElu1;
    case FeatureMap::kRelu:
      return kernels::FeatureMapKind::kRelu;
    default:
      return kernels::FeatureMapKind::kIdentity;
  }
}

class CudaEngine final : public Engine {
 public:
  static absl::StatusOr<std::unique_ptr<CudaEngine>> Create(const EngineOptions& options);
  ~CudaEngine() override;

  const ModelConfig& config() const override { return config_; }
  Device device() const override { return Device::kCuda; }
  int num_slots() const override { return static_cast<int>(cursors_.size()); }
  int max_pending() const override { return max_pending_; }
  int64_t slot_size_bytes() const override { return slot_bytes_; }
  int64_t weight_bytes() const override { return weight_bytes_; }
  bool healthy() const override { return healthy_; }
  bool samples_on_device() const override { return true; }

  absl::Status Forward(absl::Span<const SeqChunk> chunks, const ForwardOptions& options,
                       ForwardResult* result) override;
  absl::Status Commit(SlotId slot, int n) override;
  absl::Status Release(SlotId slot) override;
  int64_t position(SlotId slot) const override;
  int pending(SlotId slot) const override;

  // Benchmark hook: run a step of the given plan shape `iterations` times back to back
  // (graph replays, no host synchronization in between) without changing any cursor; returns
  // the mean milliseconds per step measured with device events. Slots' contents change.
  // With `sampling` (one per chunk), the step ends with on-device sampling / acceptance.
  absl::StatusOr<double> TimeStep(absl::Span<const SeqChunk> chunks, int iterations,
                                  absl::Span<const ChunkSampling> sampling = {});

  void set_use_graphs(bool on) { use_graphs_ = on; }
  // Steps run by the one-kernel decode path (kernels::DecodeMegakernel) so far (tests).
  int64_t mega_steps() const { return mega_steps_; }

 private:
  struct LayerWeights {
    void* qkv = nullptr;      // [(heads + 2 kv_heads) * head_dim, hidden]
    void* o = nullptr;        // [hidden, heads * head_dim]
    void* gate_up = nullptr;  // [2 * intermediate, hidden]
    void* down = nullptr;     // [hidden, intermediate]
    float* in_norm = nullptr;
    float* post_norm = nullptr;
    float* conv = nullptr;  // [kv_heads, conv_taps]
    float gamma = 1.f;
  };
  struct LayerSlots {
    float* state = nullptr;   // [slots, kv_heads, d, d]
    float* z = nullptr;       // [slots, kv_heads, d] (normalize)
    float* ring_k = nullptr;  // [slots, ring, kv_heads, d]
    float* ring_v = nullptr;
  };
  struct StepShape {
    int tokens, seqs, rows;
    bool logits;
    int attn_split;   // LinearAttentionParams::column_split of every layer
    bool sample;      // ends with kernels::SampleChunks (ForwardOptions::sampling)
    bool defer_ring;  // attention ring writes in a separate kernel (split long chunks)
    // Sequences (the last ones of the uploaded order) and blocks taken by the chunk-parallel
    // prefill kernels (cuda_engine_chunked.cc).
    int chunked_seqs;
    int chunked_blocks;
    // Sequences (the first ones of the uploaded order) taken by the read-only decode kernel
    // (kernels::LinearAttentionDecode).
    int decode_seqs;
    bool mega;  // the whole step is kernels::DecodeMegakernel
    bool operator<(const StepShape& o) const {
      return std::tie(tokens, seqs, rows, logits, attn_split, sample, defer_ring, chunked_seqs,
                      chunked_blocks, decode_seqs, mega) <
             std::tie(o.tokens, o.seqs, o.rows, o.logits, o.attn_split, o.sample, o.defer_ring,
                      o.chunked_seqs, o.chunked_blocks, o.decode_seqs, o.mega);
    }
  };

  CudaEngine() = default;
  absl::Status Init(const EngineOptions& options);
  absl::Status LoadWeights(const ModelWeights& w);
  absl::Status AllocateSlots(int num_slots);
  absl::Status AllocateStepBuffers();
  absl::Status TuneGemms();
  absl::Status UploadPlan(const StepPlan& plan, bool sample);
  StepShape ShapeOf(const StepPlan& plan, bool logits, bool sample) const;
  // Sampling metadata (cuda_engine_sampling.cc): validates options.sampling, writes one
  // kernels::SampleChunk per chunk into the host metadata and uploads proposal rows.
  absl::Status PrepareSampling(absl::Span<const SeqChunk> chunks,
                               absl::Span<const ChunkSampling> sampling, const StepPlan& plan);
  absl::Status EnsureProposalRows(int rows);
  // Attention kernel per sequence (cuda_engine_chunked.cc): the device order of plan.seqs is
  // read-only decode sequences (when there are enough of them), then the other recurrent
  // ones, then the long committed chunks of the chunk-parallel prefill (with their block
  // tables); EnqueueChunked runs one layer's attention for those.
  void PlanAttention(const StepPlan& plan);
  absl::Status EnqueueChunked(const StepShape& shape, const kernels::LinearAttentionParams& p,
                              const kernels::LinearAttentionSeq* seqs);
  static size_t ChunkTablesOffset(int tokens, int seqs);
  static size_t SampleMetaOffset(int tokens, int seqs);
  absl::Status EnqueueStep(const StepShape& shape);
  // The step's last kernel when it samples (kernels::SampleChunks over logits_ and argmax_).
  absl::Status EnqueueSampling(const StepShape& shape);
  // The one-kernel decode step (cuda_engine_mega.cc): whether the plan can take it, the
  // per-layer table it reads, and its launch.
  bool MegaEligible(const StepPlan& plan) const;
  kernels::MegaParams MegaShape(int rows, int seqs) const;  // the model's shape fields, no buffers
  int MegaBlocks() const;                                   // the megakernel's grid
  absl::Status SetUpMegakernel();
  absl::Status EnqueueMega(const StepShape& shape);
  absl::Status LaunchStep(const StepShape& shape);
  absl::Status CheckSlot(SlotId slot) const;
  absl::Status Fail(absl::Status s);

  ModelConfig config_;
  kernels::DType wdtype_ = kernels::DType::kBF16;
  int max_pending_ = 0;
  int max_tokens_ = 0;
  int ring_size_ = 0;
  int attn_split_max_ = 8;   // LINSPEC_CUDA_ATTN_SPLIT (1 = one block per sequence and head)
  int attn_min_blocks_ = 0;  // LINSPEC_CUDA_ATTN_BLOCKS (0 = one per multiprocessor)
  // LINSPEC_CUDA_ATTN_EPILOGUE_PAIRS: from this many (sequence, kv head) pairs on, the QKV
  // epilogue runs as its own kernel instead of inside the attention kernels (0: never).
  int attn_epilogue_pairs_ = 0;
  // LINSPEC_CUDA_DECODE_PAIRS: from this many one-token (sequence, kv head) pairs on, those
  // sequences use kernels::LinearAttentionDecode (-1: one per multiprocessor; 0: never).
  int decode_kernel_pairs_ = -1;
  bool decode_folds_ = true;  // LINSPEC_CUDA_DECODE_FOLD=0: folding sequences take the step kernel
  int decode_stages_ = 0;     // LINSPEC_CUDA_DECODE_STAGES: LinearAttentionParams::decode_stages
  bool step_async_ring_ = true;  // LINSPEC_CUDA_STEP_ASYNC_RING=0: plain ring loads (A/B)
  // Decode steps of up to this many one-token sequences run as kernels::DecodeMegakernel where
  // the model allows it (LINSPEC_CUDA_MEGA, default 2; 0: never; see cuda_engine_mega.cc).
  int mega_max_rows_ = 0;
  int mega_chunk_rows_ = 0;     // tokens of a step of chunks longer than one token
  size_t mega_smem_limit_ = 0;  // the megakernel's dynamic shared memory per block, at most
  int mega_blocks_ = 0;         // LINSPEC_CUDA_MEGA_BLOCKS; 0: one per multiprocessor
  int mega_red_slots_ = 2;      // LINSPEC_CUDA_MEGA_RED: the tensor-core instance's sum slots
  bool mega_tc_ = false;        // LINSPEC_CUDA_MEGA_TC: one-row steps on the tensor cores
  int64_t mega_steps_ = 0;
  DeviceMemory mega_layers_, mega_scratch_;  // [layers] MegaLayer; argmax keys + barrier
  int64_t slot_bytes_ = 0;
  int64_t weight_bytes_ = 0;
  bool healthy_ = true;
  bool use_graphs_ = true;

  cudaStream_t stream_ = nullptr;
  std::unique_ptr<GemmRunner> gemm_;
  DeviceMemory weights_mem_;
  std::vector<LayerWeights> layers_;
  void* embed_ = nullptr;
  void* lm_head_ = nullptr;
  float* final_norm_ = nullptr;
  double* inv_freq_ = nullptr;
  DeviceMemory rope_;  // [max tokens][head_dim / 2] (cos, sin): the step's RoPE table, or none

  std::vector<DeviceMemory> slot_mem_;
  std::vector<LayerSlots> slots_;
  std::vector<SlotCursor> cursors_;

  // Step buffers, sized for max_tokens_.
  DeviceMemory x_, xn_, attn_, hbuf_, q_, k_, v_, part_, part2_, logits_part_, logits_, argmax_,
      meta_;
  PinnedMemory meta_host_, argmax_host_;
  // Sampling: per-chunk outcomes, and proposal rows q [q_rows_capacity_, vocab] allocated on
  // first use (graphs that sample are re-captured then: they bake in its address).
  // probs_rows_ [num_slots, vocab]: distributions asked for with ChunkSampling::want_probs
  // (probs_rows_used_ of them in the current Forward).
  DeviceMemory sampled_, q_rows_, probs_rows_;
  DeviceMemory sample_rows_, sample_counters_;  // kernels::SampleChunks scratch
  PinnedMemory sampled_host_;
  int q_rows_capacity_ = 0;
  int probs_rows_used_ = 0;
  // Chunk-parallel prefill: this Forward's choice, and the [blocks, kv_heads, D*D + D] scratch.
  struct ChunkedPlan {
    std::vector<int> order;  // device position -> index in plan.seqs
    int num_decode = 0;
    int num_chunked = 0;
    std::vector<int32_t> first_block;  // per chunked sequence
    std::vector<int32_t> block_seq;    // per block: index among the chunked sequences
  };
  ChunkedPlan chunked_;
  DeviceMemory chunk_scratch_;
  int chunk_scratch_blocks_ = 0;
  bool chunked_prefill_ = true;  // LINSPEC_CUDA_CHUNKED_PREFILL=0 turns it off
  size_t meta_bytes_ = 0;
  std::map<StepShape, cudaGraphExec_t> graphs_;
};

}  // namespace linspec::engine::cuda

#endif  // LINSPEC_ENGINE_CUDA_CUDA_ENGINE_H_
