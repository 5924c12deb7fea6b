// CudaEngine start-up: weights upload, slot allocation, step buffers, GEMM tuning.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cuda/cuda_engine.h"
#include "kernels/launch.h"
#include "kernels/linear_attention.h"
#include "kernels/linear_attention_chunked.h"
#include "kernels/reference.h"
#include "kernels/sampling.h"

namespace linspec::engine::cuda {
namespace {

engine::DType HostDType(kernels::DType t) {
  switch (t) {
    case kernels::DType::kBF16:
      return engine::DType::kBF16;
    case kernels::DType::kF16:
      return engine::DType::kF16;
    default:
      return engine::DType::kF32;
  }
}

// Carves aligned sub-buffers out of one device allocation.
struct Arena {
  char* base;
  size_t used = 0;
  void* Take(size_t bytes) {
    void* p = base + used;
    used += Align(bytes);
    return p;
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<CudaEngine>> CudaEngine::Create(const EngineOptions& options) {
  std::unique_ptr<CudaEngine> e(new CudaEngine());
  RETURN_IF_ERROR(e->Init(options));
  return e;
}

absl::Status CudaEngine::Init(const EngineOptions& options) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return absl::FailedPreconditionError("CUDA backend: no CUDA device is visible");
  }
  if (options.cuda_weight_dtype == "bf16") {
    wdtype_ = kernels::DType::kBF16;
  } else if (options.cuda_weight_dtype == "fp16") {
    wdtype_ = kernels::DType::kF16;
  } else if (options.cuda_weight_dtype == "fp32") {
    wdtype_ = kernels::DType::kF32;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "cuda_weight_dtype must be bf16, fp16 or fp32, got '", options.cuda_weight_dtype, "'"));
  }
  if (options.num_slots < 1) return absl::InvalidArgumentError("num_slots must be >= 1");
  if (options.max_draft_tokens < 0)
    return absl::InvalidArgumentError("max_draft_tokens must be >= 0");
  if (options.max_batch_tokens < 1)
    return absl::InvalidArgumentError("max_batch_tokens must be >= 1");
  ASSIGN_OR_RETURN(config_, LoadModelConfig(options.model_dir));
  const int d = config_.head_dim;
  if (d != 16 && d != 32 && d != 64 && d != 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("CUDA backend supports head_dim 16, 32, 64 or 128, model has ", d));
  }
  max_pending_ = options.max_draft_tokens + 1;
  max_tokens_ = options.max_batch_tokens;
  const auto& la = config_.linear_attention;
  ring_size_ = kernels::RingSizeFor(la.group_size, la.conv_taps, max_pending_);
  if (const char* a = std::getenv("LINSPEC_CUDA_ATTN_SPLIT"); a && *a) {
    attn_split_max_ = std::max(1, std::atoi(a));
  }
  if (const char* a = std::getenv("LINSPEC_CUDA_ATTN_BLOCKS"); a && *a) {
    attn_min_blocks_ = std::max(0, std::atoi(a));
  }
  if (const char* a = std::getenv("LINSPEC_CUDA_ATTN_EPILOGUE_PAIRS"); a && *a) {
    attn_epilogue_pairs_ = std::max(0, std::atoi(a));
  }
  if (const char* a = std::getenv("LINSPEC_CUDA_DECODE_FOLD"); a && *a == '0')
    decode_folds_ = false;
  if (const char* a = std::getenv("LINSPEC_CUDA_STEP_ASYNC_RING"); a && *a == '0')
    step_async_ring_ = false;
  if (const char* a = std::getenv("LINSPEC_CUDA_DECODE_STAGES"); a && *a) {
    decode_stages_ = std::clamp(std::atoi(a), 0, 4);
  }
  if (const char* a = std::getenv("LINSPEC_CUDA_DECODE_PAIRS"); a && *a) {
    decode_kernel_pairs_ = std::max(0, std::atoi(a));
  }
  if (const char* g = std::getenv("LINSPEC_CUDA_GRAPHS"); g && std::string(g) == "0") {
    use_graphs_ = false;
  }
  LINSPEC_CUDA_RETURN(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  {  // Programmatic dependent launch on Hopper and newer (LINSPEC_CUDA_PDL=0 disables).
    int dev = 0, major = 0;
    LINSPEC_CUDA_RETURN(cudaGetDevice(&dev));
    LINSPEC_CUDA_RETURN(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
    const char* pdl = std::getenv("LINSPEC_CUDA_PDL");
    kernels::SetProgrammaticDependentLaunch(major >= 9 && !(pdl && std::string(pdl) == "0"));
  }
  ASSIGN_OR_RETURN(gemm_, GemmRunner::Create(wdtype_, stream_));
  ASSIGN_OR_RETURN(auto weights, ModelWeights::Open(options.model_dir, config_));
  RETURN_IF_ERROR(LoadWeights(*weights));
  RETURN_IF_ERROR(AllocateSlots(options.num_slots));
  RETURN_IF_ERROR(AllocateStepBuffers());
  RETURN_IF_ERROR(TuneGemms());
  RETURN_IF_ERROR(SetUpMegakernel());
  LINSPEC_CUDA_RETURN(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

absl::Status CudaEngine::LoadWeights(const ModelWeights& w) {
  const ModelConfig& c = config_;
  const size_t es = kernels::DTypeSize(wdtype_);
  const int64_t hid = c.hidden_size, d = c.head_dim, h = c.num_attention_heads,
                kvh = c.num_key_value_heads, ffn = c.intermediate_size, vocab = c.vocab_size;
  const int64_t nqkv = (h + 2 * kvh) * d;
  const size_t per_layer = Align(nqkv * hid * es) + Align(hid * h * d * es) +
                           Align(2 * ffn * hid * es) + Align(hid * ffn * es) + 2 * Align(hid * 4) +
                           Align(kvh * std::max(c.linear_attention.conv_taps, 1) * 4);
  const size_t total = per_layer * c.num_hidden_layers + Align(vocab * hid * es) * 2 +
                       Align(hid * 4) + Align(d * 8) + 4096;
  RETURN_IF_ERROR(weights_mem_.Allocate(total, "weights"));
  Arena arena{weights_mem_.get<char>()};
  std::vector<uint8_t> staging;
  const engine::DType hd = HostDType(wdtype_);
  auto upload = [&](void* dst, size_t bytes) -> absl::Status {
    LINSPEC_CUDA_RETURN(cudaMemcpy(dst, staging.data(), bytes, cudaMemcpyHostToDevice));
    return absl::OkStatus();
  };
  // Copies tensors (concatenated along rows) into one device matrix.
  auto fused = [&](int layer, std::initializer_list<LayerTensor> parts, engine::DType dt,
                   void** out) -> absl::Status {
    int64_t bytes = 0;
    for (LayerTensor t : parts) bytes += w.LayerTensorElems(t) * engine::DTypeSize(dt);
    staging.resize(bytes);
    int64_t off = 0;
    for (LayerTensor t : parts) {
      const int64_t b = w.LayerTensorElems(t) * engine::DTypeSize(dt);
      RETURN_IF_ERROR(w.CopyLayerTensor(layer, t, dt, staging.data() + off, b));
      off += b;
    }
    *out = arena.Take(bytes);
    return upload(*out, bytes);
  };
  layers_.resize(c.num_hidden_layers);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    LayerWeights& L = layers_[l];
    RETURN_IF_ERROR(
        fused(l, {LayerTensor::kQProj, LayerTensor::kKProj, LayerTensor::kVProj}, hd, &L.qkv));
    RETURN_IF_ERROR(fused(l, {LayerTensor::kOProj}, hd, &L.o));
    RETURN_IF_ERROR(fused(l, {LayerTensor::kGateProj, LayerTensor::kUpProj}, hd, &L.gate_up));
    RETURN_IF_ERROR(fused(l, {LayerTensor::kDownProj}, hd, &L.down));
    void* p;
    RETURN_IF_ERROR(fused(l, {LayerTensor::kInputNorm}, engine::DType::kF32, &p));
    L.in_norm = static_cast<float*>(p);
    RETURN_IF_ERROR(fused(l, {LayerTensor::kPostAttnNorm}, engine::DType::kF32, &p));
    L.post_norm = static_cast<float*>(p);
    if (c.linear_attention.conv_taps > 0 && w.HasLayerTensor(LayerTensor::kConv)) {
      RETURN_IF_ERROR(fused(l, {LayerTensor::kConv}, engine::DType::kF32, &p));
      L.conv = static_cast<float*>(p);
    }
    if (w.HasLayerTensor(LayerTensor::kGlobalFactor)) {
      L.gamma = w.LayerTensorF32(l, LayerTensor::kGlobalFactor).at(0);
    }
  }
  auto model_tensor = [&](ModelTensor t, engine::DType dt, void** out) -> absl::Status {
    const int64_t bytes = w.ModelTensorElems(t) * engine::DTypeSize(dt);
    staging.resize(bytes);
    RETURN_IF_ERROR(w.CopyModelTensor(t, dt, staging.data(), bytes));
    *out = arena.Take(bytes);
    return upload(*out, bytes);
  };
  RETURN_IF_ERROR(model_tensor(ModelTensor::kEmbed, hd, &embed_));
  if (c.tie_word_embeddings) {
    lm_head_ = embed_;
  } else {
    RETURN_IF_ERROR(model_tensor(ModelTensor::kLmHead, hd, &lm_head_));
  }
  void* p;
  RETURN_IF_ERROR(model_tensor(ModelTensor::kFinalNorm, engine::DType::kF32, &p));
  final_norm_ = static_cast<float*>(p);
  const std::vector<double> inv = kernels::ref::RopeInvFreq(c.head_dim, c.rope_theta);
  inv_freq_ = static_cast<double*>(arena.Take(inv.size() * 8));
  LINSPEC_CUDA_RETURN(cudaMemcpy(inv_freq_, inv.data(), inv.size() * 8, cudaMemcpyHostToDevice));
  weight_bytes_ = w.TotalBytes(hd);
  return absl::OkStatus();
}

absl::Status CudaEngine::AllocateSlots(int num_slots) {
  const ModelConfig& c = config_;
  const size_t kvh = c.num_key_value_heads, d = c.head_dim;
  const size_t state = kvh * d * d, z = c.linear_attention.normalize ? kvh * d : 0,
               ring = static_cast<size_t>(ring_size_) * kvh * d;
  slot_bytes_ = static_cast<int64_t>((state + z + 2 * ring) * 4) * c.num_hidden_layers;
  slot_mem_.resize(c.num_hidden_layers);
  slots_.resize(c.num_hidden_layers);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const size_t bytes =
        Align(num_slots * state * 4) + Align(num_slots * z * 4) + 2 * Align(num_slots * ring * 4);
    RETURN_IF_ERROR(slot_mem_[l].Allocate(bytes, "state slots"));
    Arena a{slot_mem_[l].get<char>()};
    slots_[l].state = static_cast<float*>(a.Take(num_slots * state * 4));
    float* zp = static_cast<float*>(a.Take(num_slots * z * 4));
    slots_[l].z = z ? zp : nullptr;
    slots_[l].ring_k = static_cast<float*>(a.Take(num_slots * ring * 4));
    slots_[l].ring_v = static_cast<float*>(a.Take(num_slots * ring * 4));
    LINSPEC_CUDA_RETURN(cudaMemsetAsync(slot_mem_[l].get(), 0, bytes, stream_));
  }
  cursors_.assign(num_slots, SlotCursor{});
  return absl::OkStatus();
}

absl::Status CudaEngine::AllocateStepBuffers() {
  const ModelConfig& c = config_;
  const size_t n = max_tokens_, hid = c.hidden_size,
               hd = size_t(c.num_attention_heads) * c.head_dim,
               kvd = size_t(c.num_key_value_heads) * c.head_dim, ffn = c.intermediate_size,
               vocab = c.vocab_size, es = kernels::DTypeSize(wdtype_);
  const size_t nqkv = hd + 2 * kvd;
  RETURN_IF_ERROR(x_.Allocate(n * hid * 4, "hidden"));
  RETURN_IF_ERROR(xn_.Allocate(n * hid * es, "normed hidden"));
  RETURN_IF_ERROR(attn_.Allocate(n * hd * es, "attention output"));
  RETURN_IF_ERROR(hbuf_.Allocate(n * ffn * es, "mlp hidden"));
  RETURN_IF_ERROR(q_.Allocate(n * hd * 4, "q"));
  RETURN_IF_ERROR(k_.Allocate(n * kvd * 4, "k"));
  RETURN_IF_ERROR(v_.Allocate(n * kvd * 4, "v"));
  size_t part = 0, lpart = 0;
  for (size_t m : {n, size_t{64}, size_t{32}, size_t{16}, size_t{8}}) {  // tuning runs 8..64 rows
    part = std::max({part, gemm_->PartialElems(m, nqkv, hid), gemm_->PartialElems(m, hid, hd),
                     gemm_->PartialElems(m, 2 * ffn, hid), gemm_->PartialElems(m, hid, ffn)});
    lpart = std::max(lpart, gemm_->PartialElems(m, vocab, hid));
  }
  RETURN_IF_ERROR(part_.Allocate(part * 4, "GEMM partials"));
  RETURN_IF_ERROR(part2_.Allocate(part * 4, "GEMM partials (spare)"));
  RETURN_IF_ERROR(logits_part_.Allocate(lpart * 4, "logit partials"));
  RETURN_IF_ERROR(logits_.Allocate(n * vocab * 4, "logits"));
  RETURN_IF_ERROR(argmax_.Allocate(n * 4, "argmax"));
  if (c.linear_attention.rope) {  // the step's RoPE table (kernels::RopeTable)
    RETURN_IF_ERROR(rope_.Allocate(n * (c.head_dim / 2) * sizeof(float2), "RoPE table"));
  }
  // Chunk-parallel prefill scratch: enough blocks for a full batch of prompt tokens (chunks
  // that would not fit run on the recurrent kernel).
  if (const char* e = std::getenv("LINSPEC_CUDA_CHUNKED_PREFILL"); e && e[0] == '0') {
    chunked_prefill_ = false;
  }
  chunk_scratch_blocks_ = chunked_prefill_ ? static_cast<int>(n) / 48 + 16 : 0;
  RETURN_IF_ERROR(chunk_scratch_.Allocate(
      kernels::ChunkedScratchFloats(chunk_scratch_blocks_, c.num_key_value_heads, c.head_dim) * 4,
      "chunked prefill scratch"));
  if (!kernels::ChunkedSupported(c.head_dim, c.linear_attention.group_size)) {
    chunk_scratch_blocks_ = 0;
  }
  meta_bytes_ = ChunkTablesOffset(n, n) + (n + chunk_scratch_blocks_) * 4 + 256;
  RETURN_IF_ERROR(meta_.Allocate(meta_bytes_, "step metadata"));
  RETURN_IF_ERROR(meta_host_.Allocate(meta_bytes_));
  RETURN_IF_ERROR(argmax_host_.Allocate(n * 4));
  RETURN_IF_ERROR(sampled_.Allocate(n * sizeof(kernels::SampledChunk), "sampled tokens"));
  RETURN_IF_ERROR(sampled_host_.Allocate(n * sizeof(kernels::SampledChunk)));
  // One Forward has at most one chunk per slot.
  RETURN_IF_ERROR(probs_rows_.Allocate(cursors_.size() * vocab * 4, "sampled distributions"));
  RETURN_IF_ERROR(sample_rows_.Allocate(cursors_.size() * max_pending_ * 8, "sampling rows"));
  RETURN_IF_ERROR(sample_counters_.Allocate(cursors_.size() * 4, "sampling counters"));
  LINSPEC_CUDA_RETURN(cudaMemsetAsync(sample_counters_.get(), 0, cursors_.size() * 4, stream_));
  LINSPEC_CUDA_RETURN(kernels::SampleChunksInit());
  return absl::OkStatus();
}

absl::Status CudaEngine::TuneGemms() {
  if (wdtype_ == kernels::DType::kF32) return absl::OkStatus();
  if (const char* t = std::getenv("LINSPEC_CUDA_TUNE"); t && std::string(t) == "0") {
    return absl::OkStatus();
  }
  const ModelConfig& c = config_;
  const int hid = c.hidden_size, hd = c.num_attention_heads * c.head_dim,
            kvd = c.num_key_value_heads * c.head_dim, ffn = c.intermediate_size;
  // x: 64 rows of the widest input, random-ish (the bits of the hidden buffer are whatever
  // cudaMalloc returned: fill with a constant pattern so no NaN/zero shortcut is timed).
  const int kmax = std::max({hid, hd, ffn});
  DeviceMemory x;
  RETURN_IF_ERROR(x.Allocate(size_t(64) * kmax * 2, "tuning input"));
  LINSPEC_CUDA_RETURN(cudaMemsetAsync(x.get(), 0x3c, size_t(64) * kmax * 2, stream_));
  struct Shape {
    int n, k;
    void* LayerWeights::*w;
    bool row_consumer;  // an RMSNorm sums its partials (one block per row)
  };
  const Shape shapes[] = {{hd + 2 * kvd, hid, &LayerWeights::qkv, false},
                          {hid, hd, &LayerWeights::o, true},
                          {2 * ffn, hid, &LayerWeights::gate_up, false},
                          {hid, ffn, &LayerWeights::down, true}};
  for (const Shape& s : shapes) {
    std::vector<const void*> ws;
    for (const LayerWeights& L : layers_) ws.push_back(L.*(s.w));
    RETURN_IF_ERROR(gemm_->Tune(s.n, s.k, ws, x.get(), part_.get<float>(), s.row_consumer));
  }
  // The logits' consumer is LogitsArgmax, one block per row.
  RETURN_IF_ERROR(
      gemm_->Tune(c.vocab_size, hid, {lm_head_}, x.get(), logits_part_.get<float>(), true));
  return absl::OkStatus();
}

}  // namespace linspec::engine::cuda
