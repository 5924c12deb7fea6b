#include "engine/cuda/cuda_engine.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kernels/elementwise.h"
#include "kernels/launch.h"
#include "kernels/linear_attention.h"
#include "kernels/linear_attention_chunked.h"
#include "kernels/qkv_epilogue.h"
#include "kernels/sampling.h"

namespace linspec::engine::cuda {
namespace {

constexpr int kMaxGraphTokens = 1024;
constexpr size_t kMaxGraphs = 256;

}  // namespace

CudaEngine::~CudaEngine() {
  for (auto& [shape, exec] : graphs_) cudaGraphExecDestroy(exec);
  if (stream_) {
    cudaStreamSynchronize(stream_);
    gemm_.reset();
    cudaStreamDestroy(stream_);
  }
}

absl::Status CudaEngine::Fail(absl::Status s) {
  if (!s.ok()) healthy_ = false;
  return s;
}

absl::Status CudaEngine::CheckSlot(SlotId slot) const {
  if (slot < 0 || slot >= num_slots()) {
    return absl::InvalidArgumentError(
        absl::StrCat("slot ", slot, " out of range [0, ", num_slots(), ")"));
  }
  return absl::OkStatus();
}

size_t CudaEngine::SampleMetaOffset(int tokens, int seqs) {
  return Align(Align(3 * size_t(tokens) * 4) + size_t(seqs) * sizeof(kernels::LinearAttentionSeq));
}

absl::Status CudaEngine::UploadPlan(const StepPlan& plan, bool sample) {
  const size_t n = plan.num_tokens;
  char* h = meta_host_.get<char>();
  std::memcpy(h, plan.tokens.data(), n * 4);
  std::memcpy(h + n * 4, plan.positions.data(), n * 4);
  std::memcpy(h + 2 * n * 4, plan.row_map.data(), n * 4);
  const size_t seq_off = Align(3 * n * 4);
  auto* seqs = reinterpret_cast<kernels::LinearAttentionSeq*>(h + seq_off);
  for (size_t i = 0; i < plan.seqs.size(); ++i) seqs[i] = plan.seqs[chunked_.order[i]];
  size_t bytes = seq_off + plan.seqs.size() * sizeof(kernels::LinearAttentionSeq);
  if (sample) {
    bytes = SampleMetaOffset(plan.num_tokens, plan.num_seqs) +
            plan.seqs.size() * sizeof(kernels::SampleChunk);
  }
  if (chunked_.num_chunked > 0) {
    auto* tables =
        reinterpret_cast<int32_t*>(h + ChunkTablesOffset(plan.num_tokens, plan.num_seqs));
    std::memcpy(tables, chunked_.first_block.data(), chunked_.first_block.size() * 4);
    std::memcpy(tables + chunked_.first_block.size(), chunked_.block_seq.data(),
                chunked_.block_seq.size() * 4);
    bytes = ChunkTablesOffset(plan.num_tokens, plan.num_seqs) +
            (chunked_.first_block.size() + chunked_.block_seq.size()) * 4;
  }
  LINSPEC_CUDA_RETURN(cudaMemcpyAsync(meta_.get(), h, bytes, cudaMemcpyHostToDevice, stream_));
  return absl::OkStatus();
}

// Small batches split each (sequence, kv head)'s attention over column blocks so that at least
// one block per multiprocessor streams S. Long prefill chunks (not ColumnSplitSafe) split too,
// with the ring written by a separate kernel after the attention kernel
// (LINSPEC_CUDA_SPLIT_PREFILL=0: they keep one block per head).
CudaEngine::StepShape CudaEngine::ShapeOf(const StepPlan& plan, bool logits, bool sample) const {
  static const bool split_prefill = [] {
    const char* e = std::getenv("LINSPEC_CUDA_SPLIT_PREFILL");
    return !(e && e[0] == '0');
  }();
  // The recurrent kernel takes the sequences the decode and chunk-parallel kernels do not.
  const int first = chunked_.num_decode;
  const int recurrent = plan.num_seqs - chunked_.num_chunked - first;
  bool safe = true;
  for (int i = first; i < first + recurrent; ++i) {
    safe = safe && kernels::ColumnSplitSafe(plan.seqs[chunked_.order[i]], ring_size_);
  }
  const int min_blocks = attn_min_blocks_ > 0 ? attn_min_blocks_ : gemm_->num_sms();
  const int split = safe || split_prefill
                        ? kernels::ChooseColumnSplit(recurrent * config_.num_key_value_heads,
                                                     config_.head_dim, min_blocks, attn_split_max_)
                        : 1;
  return StepShape{plan.num_tokens,
                   plan.num_seqs,
                   plan.num_rows,
                   logits || sample,
                   split,
                   sample,
                   !safe && split > 1,
                   chunked_.num_chunked,
                   static_cast<int>(chunked_.block_seq.size()),
                   chunked_.num_decode,
                   MegaEligible(plan)};
}

// Every kernel of one step, in order, on stream_ (also what a graph captures).
absl::Status CudaEngine::EnqueueStep(const StepShape& shape) {
  if (shape.mega) return EnqueueMega(shape);
  const ModelConfig& c = config_;
  const int n = shape.tokens, hid = c.hidden_size, h = c.num_attention_heads,
            kvh = c.num_key_value_heads, d = c.head_dim, ffn = c.intermediate_size;
  const int nqkv = (h + 2 * kvh) * d;
  const float eps = c.rms_norm_eps;
  const int32_t* tokens = meta_.get<int32_t>();
  const int32_t* row_map = tokens + 2 * n;
  const auto* seqs = reinterpret_cast<const kernels::LinearAttentionSeq*>(meta_.get<char>() +
                                                                          Align(3 * size_t(n) * 4));
  float* x = x_.get<float>();
  float* part = part_.get<float>();
  float* spare = part2_.get<float>();
  const kernels::DType act = wdtype_;
  const kernels::DType f32 = kernels::DType::kF32;
  LINSPEC_CUDA_RETURN(kernels::EmbeddingGather(embed_, wdtype_, tokens, x, n, hid, stream_));
  // RoPE's angles once per step for every layer's attention epilogue.
  float2* rope = rope_.get<float2>();
  if (rope) LINSPEC_CUDA_RETURN(kernels::RopeTable(tokens + n, inv_freq_, n, d, rope, stream_));
  int splits = 0;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& L = layers_[l];
    LINSPEC_CUDA_RETURN(kernels::AddRmsNorm(x, part, l == 0 ? 0 : splits, L.in_norm, f32, xn_.get(),
                                            act, nullptr, n, hid, eps, stream_));
    RETURN_IF_ERROR(gemm_->Run(L.qkv, nqkv, hid, xn_.get(), n, part, &splits));
    kernels::LinearAttentionParams p;
    p.num_seqs = shape.seqs;
    p.heads = h;
    p.kv_heads = kvh;
    p.head_dim = d;
    p.group_size = c.linear_attention.group_size;
    p.conv_taps = L.conv ? c.linear_attention.conv_taps : 0;
    p.ring_size = ring_size_;
    p.normalize = !c.augmented() && c.linear_attention.normalize;
    p.global_scale = L.gamma;
    p.seqs = seqs;
    p.state = slots_[l].state;
    p.z = p.normalize ? slots_[l].z : nullptr;
    p.ring_k = slots_[l].ring_k;
    p.ring_v = slots_[l].ring_v;
    p.conv_w = L.conv;
    p.q = q_.get<float>();
    p.k = k_.get<float>();
    p.v = v_.get<float>();
    p.out = attn_.get();
    p.out_dtype = act;
    p.qkv_partials = part;  // fused RoPE + feature map epilogue
    p.qkv_splits = splits;
    p.qkv_rows = n;
    p.inv_freq = c.linear_attention.rope ? inv_freq_ : nullptr;
    p.rope = rope;
    p.feature_map = KernelFeatureMap(c.linear_attention.feature_map);
    p.column_split = shape.attn_split;
    p.defer_ring_write = shape.defer_ring;
    p.step_async_ring = step_async_ring_;
    // q/k/v for every row first (the attention kernels then read them) when the chunked
    // kernels need them, or from LINSPEC_CUDA_ATTN_EPILOGUE_PAIRS (sequence, kv head) pairs on;
    // else the attention kernels compute them themselves (measured on the H100: no gain from a
    // separate epilogue kernel at any batch size, one more launch per layer).
    const int nd = shape.decode_seqs;
    const int pairs = (shape.seqs - shape.chunked_seqs) * kvh;
    const bool separate_epilogue = attn_epilogue_pairs_ > 0 && pairs >= attn_epilogue_pairs_;
    if (shape.chunked_seqs > 0 || separate_epilogue) {
      LINSPEC_CUDA_RETURN(kernels::QkvEpilogue(part, splits, tokens + n, p.inv_freq, p.feature_map,
                                               p.q, p.k, p.v, n, h, kvh, d, stream_));
      p.qkv_partials = nullptr;
    }
    if (nd > 0) {
      kernels::LinearAttentionParams pd = p;
      pd.num_seqs = nd;
      pd.decode_stages = decode_stages_;
      LINSPEC_CUDA_RETURN(kernels::LinearAttentionDecode(pd, stream_));
      p.seqs = seqs + nd;
    }
    p.num_seqs = shape.seqs - shape.chunked_seqs - nd;
    if (p.num_seqs > 0) {
      LINSPEC_CUDA_RETURN(kernels::LinearAttentionStep(p, stream_));
      if (shape.defer_ring) LINSPEC_CUDA_RETURN(kernels::LinearAttentionRingStore(p, stream_));
    }
    if (shape.chunked_seqs > 0) {
      RETURN_IF_ERROR(EnqueueChunked(shape, p, seqs + nd + p.num_seqs));
    }
    RETURN_IF_ERROR(gemm_->Run(L.o, hid, h * d, attn_.get(), n, part, &splits));
    LINSPEC_CUDA_RETURN(kernels::AddRmsNorm(x, part, splits, L.post_norm, f32, xn_.get(), act,
                                            nullptr, n, hid, eps, stream_));
    RETURN_IF_ERROR(gemm_->Run(L.gate_up, 2 * ffn, hid, xn_.get(), n, part, &splits));
    // Small batches: SwiGLU fused into the down projection's activation load. The down GEMM
    // writes its partials to the spare buffer: it still reads the gate/up partials.
    bool fused = false;
    int down_splits = 0;
    RETURN_IF_ERROR(
        gemm_->RunSwiGlu(L.down, hid, ffn, part, splits, n, spare, &down_splits, &fused));
    if (fused) {
      std::swap(part, spare);
      splits = down_splits;
    } else {
      LINSPEC_CUDA_RETURN(kernels::SwiGlu(part, splits, hbuf_.get(), act, n, ffn, stream_));
      RETURN_IF_ERROR(gemm_->Run(L.down, hid, ffn, hbuf_.get(), n, part, &splits));
    }
  }
  LINSPEC_CUDA_RETURN(kernels::AddRmsNorm(x, part, splits, final_norm_, f32, xn_.get(), act,
                                          row_map, n, hid, eps, stream_));
  RETURN_IF_ERROR(gemm_->Run(lm_head_, c.vocab_size, hid, xn_.get(), shape.rows,
                             logits_part_.get<float>(), &splits));
  LINSPEC_CUDA_RETURN(kernels::LogitsArgmax(
      logits_part_.get<float>(), splits, shape.logits ? logits_.get<float>() : nullptr,
      argmax_.get<int32_t>(), shape.rows, c.vocab_size, stream_));
  return EnqueueSampling(shape);
}

absl::Status CudaEngine::EnqueueSampling(const StepShape& shape) {
  if (!shape.sample) return absl::OkStatus();
  const auto* sample = reinterpret_cast<const kernels::SampleChunk*>(
      meta_.get<char>() + SampleMetaOffset(shape.tokens, shape.seqs));
  LINSPEC_CUDA_RETURN(kernels::SampleChunks(
      logits_.get<float>(), argmax_.get<int32_t>(), config_.vocab_size, sample, shape.seqs,
      max_pending_, meta_.get<int32_t>(), q_rows_.get<float>(),
      sampled_.get<kernels::SampledChunk>(), probs_rows_.get<float>(), sample_rows_.get<int2>(),
      sample_counters_.get<unsigned int>(), stream_));
  return absl::OkStatus();
}

absl::Status CudaEngine::LaunchStep(const StepShape& shape) {
  if (!use_graphs_ || shape.tokens > kMaxGraphTokens) return EnqueueStep(shape);
  auto it = graphs_.find(shape);
  if (it == graphs_.end()) {
    if (graphs_.size() >= kMaxGraphs) return EnqueueStep(shape);
    cudaGraph_t graph = nullptr;
    LINSPEC_CUDA_RETURN(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    absl::Status s = EnqueueStep(shape);
    cudaError_t end = cudaStreamEndCapture(stream_, &graph);
    RETURN_IF_ERROR(s);
    LINSPEC_CUDA_RETURN(end);
    cudaGraphExec_t exec = nullptr;
    cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    LINSPEC_CUDA_RETURN(inst);
    it = graphs_.emplace(shape, exec).first;
  }
  LINSPEC_CUDA_RETURN(cudaGraphLaunch(it->second, stream_));
  return absl::OkStatus();
}

absl::Status CudaEngine::Forward(absl::Span<const SeqChunk> chunks, const ForwardOptions& options,
                                 ForwardResult* result) {
  if (!healthy_) return absl::UnavailableError("CUDA engine is unhealthy after a device error");
  StepPlan plan;
  PlanLimits limits{num_slots(), config_.vocab_size, max_pending_, max_tokens_,
                    config_.linear_attention.group_size};
  RETURN_IF_ERROR(BuildStepPlan(chunks, cursors_, limits, &plan));
  PlanAttention(plan);
  const bool sample = !options.sampling.empty();
  if (sample) RETURN_IF_ERROR(PrepareSampling(chunks, options.sampling, plan));
  const StepShape shape = ShapeOf(plan, options.want_logits, sample);
  RETURN_IF_ERROR(Fail(UploadPlan(plan, sample)));
  RETURN_IF_ERROR(Fail(LaunchStep(shape)));
  mega_steps_ += shape.mega ? 1 : 0;
  const size_t rows = plan.num_rows, vocab = config_.vocab_size;
  RETURN_IF_ERROR(Fail(CudaStatus(
      cudaMemcpyAsync(argmax_host_.get(), argmax_.get(), rows * 4, cudaMemcpyDeviceToHost, stream_),
      "argmax copy")));
  if (sample) {
    RETURN_IF_ERROR(Fail(CudaStatus(cudaMemcpyAsync(sampled_host_.get(), sampled_.get(),
                                                    chunks.size() * sizeof(kernels::SampledChunk),
                                                    cudaMemcpyDeviceToHost, stream_),
                                    "sampled tokens copy")));
  }
  result->num_rows = static_cast<int>(rows);
  result->vocab_size = static_cast<int>(vocab);
  result->row_offset = plan.row_offset;
  if (options.want_logits) {
    result->logits.resize(rows * vocab);
    RETURN_IF_ERROR(
        Fail(CudaStatus(cudaMemcpyAsync(result->logits.data(), logits_.get(), rows * vocab * 4,
                                        cudaMemcpyDeviceToHost, stream_),
                        "logits copy")));
  } else {
    result->logits.clear();
  }
  result->probs.resize(sample ? size_t(probs_rows_used_) * vocab : 0);
  if (!result->probs.empty()) {
    RETURN_IF_ERROR(
        Fail(CudaStatus(cudaMemcpyAsync(result->probs.data(), probs_rows_.get(),
                                        result->probs.size() * 4, cudaMemcpyDeviceToHost, stream_),
                        "sampled distributions copy")));
  }
  RETURN_IF_ERROR(Fail(CudaStatus(cudaStreamSynchronize(stream_), "step")));
  result->argmax.assign(argmax_host_.get<int32_t>(), argmax_host_.get<int32_t>() + rows);
  result->sampled.clear();
  if (sample) {
    const auto* out = sampled_host_.get<kernels::SampledChunk>();
    for (size_t i = 0; i < chunks.size(); ++i) {
      result->sampled.push_back(ChunkTokens{out[i].num_accepted, out[i].token});
    }
  }
  for (size_t i = 0; i < chunks.size(); ++i) cursors_[chunks[i].slot] = plan.after[i];
  return absl::OkStatus();
}

absl::StatusOr<double> CudaEngine::TimeStep(absl::Span<const SeqChunk> chunks, int iterations,
                                            absl::Span<const ChunkSampling> sampling) {
  if (!healthy_) return absl::UnavailableError("CUDA engine is unhealthy after a device error");
  StepPlan plan;
  PlanLimits limits{num_slots(), config_.vocab_size, max_pending_, max_tokens_,
                    config_.linear_attention.group_size};
  RETURN_IF_ERROR(BuildStepPlan(chunks, cursors_, limits, &plan));
  PlanAttention(plan);
  const bool sample = !sampling.empty();
  if (sample) RETURN_IF_ERROR(PrepareSampling(chunks, sampling, plan));
  const StepShape shape = ShapeOf(plan, false, sample);
  RETURN_IF_ERROR(Fail(UploadPlan(plan, sample)));
  RETURN_IF_ERROR(Fail(LaunchStep(shape)));  // warm-up (and capture)
  cudaEvent_t start, stop;
  LINSPEC_CUDA_RETURN(cudaEventCreate(&start));
  LINSPEC_CUDA_RETURN(cudaEventCreate(&stop));
  cudaEventRecord(start, stream_);
  absl::Status s;
  for (int i = 0; i < iterations && s.ok(); ++i) s = LaunchStep(shape);
  cudaEventRecord(stop, stream_);
  cudaError_t e = cudaEventSynchronize(stop);
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  RETURN_IF_ERROR(Fail(s));
  RETURN_IF_ERROR(Fail(CudaStatus(e, "timed steps")));
  return static_cast<double>(ms) / std::max(iterations, 1);
}

absl::Status CudaEngine::Commit(SlotId slot, int n) {
  RETURN_IF_ERROR(CheckSlot(slot));
  SlotCursor& c = cursors_[slot];
  if (n < 0 || n > c.pending) {
    return absl::InvalidArgumentError(
        absl::StrCat("Commit(", slot, ", ", n, "): slot has ", c.pending, " pending tokens"));
  }
  c.position += n;
  c.pending = 0;
  return absl::OkStatus();
}

absl::Status CudaEngine::Release(SlotId slot) {
  RETURN_IF_ERROR(CheckSlot(slot));
  if (!healthy_) return absl::UnavailableError("CUDA engine is unhealthy after a device error");
  const size_t kvh = config_.num_key_value_heads, d = config_.head_dim;
  for (const LayerSlots& L : slots_) {
    LINSPEC_CUDA_RETURN(cudaMemsetAsync(L.state + slot * kvh * d * d, 0, kvh * d * d * 4, stream_));
    if (L.z) LINSPEC_CUDA_RETURN(cudaMemsetAsync(L.z + slot * kvh * d, 0, kvh * d * 4, stream_));
  }
  cursors_[slot] = SlotCursor{};
  return absl::OkStatus();
}

int64_t CudaEngine::position(SlotId slot) const {
  return slot >= 0 && slot < num_slots() ? cursors_[slot].position : 0;
}

int CudaEngine::pending(SlotId slot) const {
  return slot >= 0 && slot < num_slots() ? cursors_[slot].pending : 0;
}

}  // namespace linspec::engine::cuda
