// CudaEngine's one-kernel decode path (kernels::DecodeMegakernel): eligibility, the per-layer
// table the kernel reads, and its launch.
#include <algorithm>
#include <cstdlib>
#include <vector>

#include "common/status_macros.h"
#include "engine/cuda/cuda_engine.h"
#include "kernels/decode_megakernel.h"

namespace linspec::engine::cuda {

// LINSPEC_CUDA_MEGA=<rows> (0..kernels::kMegaMaxRows) caps the decode steps the megakernel
// takes; default 2: on the H100 (1.3B plain) it beats the layer kernels at one row (1.15 vs
// 1.49 ms) and two (1.37 vs 1.51, on the tensor-core instance) and loses from three (1.52 vs
// 1.50, 1.66 vs 1.53 at four; bench/cuda_notes.md, session 9). Plain attention without a
// normalizer or the augmented variant, 16-bit weights only.
absl::Status CudaEngine::SetUpMegakernel() {
  const ModelConfig& c = config_;
  mega_max_rows_ = 2;
  if (const char* e = std::getenv("LINSPEC_CUDA_MEGA"); e && *e) {
    mega_max_rows_ = std::clamp(std::atoi(e), 0, kernels::kMegaMaxRows);
  }
  // LINSPEC_CUDA_MEGA_BLOCKS=<n> runs it on n blocks instead of one per multiprocessor (tests:
  // several attention items per block on small models).
  if (const char* e = std::getenv("LINSPEC_CUDA_MEGA_BLOCKS"); e && *e) {
    mega_blocks_ = std::max(0, std::atoi(e));
  }
  // LINSPEC_CUDA_MEGA_RED=1: one split-K sum slot, as shapes that fit no second take (tests).
  if (const char* e = std::getenv("LINSPEC_CUDA_MEGA_RED"); e && *e == '1') mega_red_slots_ = 1;
  // LINSPEC_CUDA_MEGA_TC=1 runs one-row steps on the tensor-core instance too (measurements).
  if (const char* e = std::getenv("LINSPEC_CUDA_MEGA_TC"); e && *e == '1') mega_tc_ = true;
  const bool normalized = !c.augmented() && c.linear_attention.normalize;
  const bool ok =
      wdtype_ != kernels::DType::kF32 && !normalized &&
      kernels::FoldGroup(c.linear_attention.group_size) <= kernels::kDecodeMaxGroup &&
      kernels::MegaShapeSupported(c.hidden_size, c.num_attention_heads, c.num_key_value_heads,
                                  c.head_dim, c.intermediate_size);
  if (!ok) mega_max_rows_ = 0;
  // Row counts whose launch would not fit the shared memory (less 2 KB of the kernel's static
  // shared memory) take the layer kernels.
  int dev = 0, smem_limit = 0;
  LINSPEC_CUDA_RETURN(cudaGetDevice(&dev));
  LINSPEC_CUDA_RETURN(
      cudaDeviceGetAttribute(&smem_limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  mega_smem_limit_ = static_cast<size_t>(smem_limit) - 2048;
  auto fits = [&](int rows) {
    return kernels::MegaSmemBytes(MegaShape(rows, 1)) <= mega_smem_limit_;
  };
  while (mega_max_rows_ > 0 && !fits(mega_max_rows_)) --mega_max_rows_;
  // Verify and draft chunks take it up to the rows that fit (the tensor-core instance's rows
  // cost no extra pass over the weights; its attention items are per sequence).
  mega_chunk_rows_ = kernels::kMegaMaxRows;
  while (mega_chunk_rows_ > 1 && !fits(mega_chunk_rows_)) --mega_chunk_rows_;
  if (mega_max_rows_ == 0) return absl::OkStatus();
  std::vector<kernels::MegaLayer> table(layers_.size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& L = layers_[l];
    table[l] = {L.qkv,       L.o,    L.gate_up,       L.down,           L.in_norm,
                L.post_norm, L.conv, slots_[l].state, slots_[l].ring_k, slots_[l].ring_v,
                L.gamma};
  }
  RETURN_IF_ERROR(mega_layers_.Allocate(table.size() * sizeof(kernels::MegaLayer), "mega table"));
  LINSPEC_CUDA_RETURN(cudaMemcpy(mega_layers_.get(), table.data(),
                                 table.size() * sizeof(kernels::MegaLayer),
                                 cudaMemcpyHostToDevice));
  // argmax keys [kMegaMaxRows] u64, then the barrier counter.
  RETURN_IF_ERROR(mega_scratch_.Allocate(kernels::kMegaMaxRows * 8 + 16, "mega scratch"));
  return absl::OkStatus();
}

kernels::MegaParams CudaEngine::MegaShape(int rows, int seqs) const {
  const ModelConfig& c = config_;
  kernels::MegaParams p;
  p.rows = rows;
  p.num_seqs = seqs;
  p.hidden = c.hidden_size;
  p.heads = c.num_attention_heads;
  p.kv_heads = c.num_key_value_heads;
  p.head_dim = c.head_dim;
  p.ffn = c.intermediate_size;
  p.vocab = c.vocab_size;
  p.num_layers = static_cast<int>(layers_.size());
  p.ring_size = ring_size_;
  p.group_size = c.linear_attention.group_size;
  p.conv_taps = c.linear_attention.conv_taps;
  p.eps = c.rms_norm_eps;
  p.tensor_cores = mega_tc_;
  // A second prefetched attention item per block where blocks take more than one (2+ rows, or
  // many kv heads) and it fits (H100, 1.3B: B=2 plain 1.327 vs 1.354 ms, augmented 1.524 vs
  // 1.570; at B=1 (128 items) a second buffer cost 0.3%).
  p.slot_buffers = kernels::MegaAttentionItems(p) > MegaBlocks() ? 2 : 1;
  if (kernels::MegaSmemBytes(p) > mega_smem_limit_) p.slot_buffers = 1;
  if (kernels::MegaSmemBytes(p) > mega_smem_limit_ || mega_red_slots_ == 1) p.red_slots = 1;
  return p;
}

int CudaEngine::MegaBlocks() const {
  return mega_blocks_ > 0 ? std::min(mega_blocks_, gemm_->num_sms()) : gemm_->num_sms();
}

// Up to mega_max_rows_ sequences: one token each, or chunks (verify, draft) of up to
// mega_chunk_rows_ tokens in all, every token an output row in order.
bool CudaEngine::MegaEligible(const StepPlan& plan) const {
  const int cap = plan.num_tokens == plan.num_seqs ? mega_max_rows_ : mega_chunk_rows_;
  if (plan.num_seqs < 1 || plan.num_seqs > mega_max_rows_ || plan.num_tokens > cap ||
      plan.num_rows != plan.num_tokens) {
    return false;
  }
  for (int i = 0; i < plan.num_tokens; ++i) {
    if (plan.row_map[i] != i) return false;
  }
  const ModelConfig& c = config_;
  for (const kernels::LinearAttentionSeq& s : plan.seqs) {
    if (!kernels::MegaChunkOk(s, c.linear_attention.group_size, c.linear_attention.conv_taps,
                              c.num_attention_heads, c.num_key_value_heads, ring_size_)) {
      return false;
    }
  }
  return true;
}

absl::Status CudaEngine::EnqueueMega(const StepShape& shape) {
  const ModelConfig& c = config_;
  kernels::MegaParams p = MegaShape(shape.tokens, shape.seqs);
  p.feature_map = KernelFeatureMap(c.linear_attention.feature_map);
  p.inv_freq = c.linear_attention.rope ? inv_freq_ : nullptr;
  p.rope = rope_.get<float2>();  // allocated only for RoPE models
  p.layers = mega_layers_.get<kernels::MegaLayer>();
  p.embed = embed_;
  p.lm_head = lm_head_;
  p.final_norm = final_norm_;
  p.tokens = meta_.get<int32_t>();
  p.seqs = reinterpret_cast<const kernels::LinearAttentionSeq*>(
      meta_.get<char>() + Align(3 * size_t(shape.tokens) * 4));
  p.residual = x_.get<float>();
  p.qkv = part_.get<float>();
  p.attn = attn_.get();
  p.mlp = hbuf_.get();
  p.argmax_keys = mega_scratch_.get<unsigned long long>();
  p.barrier =
      reinterpret_cast<unsigned int*>(mega_scratch_.get<char>() + kernels::kMegaMaxRows * 8);
  p.argmax_out = argmax_.get<int32_t>();
  p.logits = shape.logits ? logits_.get<float>() : nullptr;
  LINSPEC_CUDA_RETURN(kernels::DecodeMegakernel(p, wdtype_, MegaBlocks(), stream_));
  return EnqueueSampling(shape);
}

}  // namespace linspec::engine::cuda
