#include "engine/cpu/cpu_engine.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/cpu/ops.h"

namespace linspec::engine::cpu {
namespace {

int ThreadCount(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

absl::Status CopyF32(const ModelWeights& w, int layer, LayerTensor t, float* dst) {
  return w.CopyLayerTensor(layer, t, DType::kF32, dst, w.LayerTensorElems(t) * 4);
}

}  // namespace

CpuEngine::CpuEngine(const ModelConfig& config, const EngineOptions& options)
    : config_(config),
      max_pending_(options.max_draft_tokens + 1),
      max_batch_tokens_(options.max_batch_tokens),
      layout_(config, options.max_draft_tokens + 1),
      pool_(std::make_unique<ThreadPool>(ThreadCount(options.num_threads))) {}

absl::StatusOr<std::unique_ptr<CpuEngine>> CpuEngine::Create(const EngineOptions& options) {
  if (options.num_slots <= 0 || options.max_draft_tokens < 0 || options.max_batch_tokens <= 0) {
    return absl::InvalidArgumentError(
        "num_slots and max_batch_tokens must be > 0, max_draft_tokens >= 0");
  }
  ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(options.model_dir));
  ASSIGN_OR_RETURN(auto weights, ModelWeights::Open(options.model_dir, config));
  std::unique_ptr<CpuEngine> e(new CpuEngine(config, options));
  RETURN_IF_ERROR(e->LoadWeights(*weights));
  e->slots_.assign(static_cast<size_t>(options.num_slots * e->layout_.slot_floats()), 0.0f);
  e->cursors_.assign(static_cast<size_t>(options.num_slots), SlotCursor{});
  openblas_set_num_threads(e->pool_->num_threads());
  return e;
}

absl::Status CpuEngine::LoadWeights(const ModelWeights& w) {
  const ModelConfig& c = config_;
  const int64_t h = c.hidden_size, d = c.head_dim;
  const int64_t qd = c.num_attention_heads * d, kvd = c.num_key_value_heads * d;
  layers_.resize(c.num_hidden_layers);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    LayerWeights& lw = layers_[l];
    lw.wqkv.resize((qd + 2 * kvd) * h);
    RETURN_IF_ERROR(CopyF32(w, l, LayerTensor::kQProj, lw.wqkv.data()));
    RETURN_IF_ERROR(CopyF32(w, l, LayerTensor::kKProj, lw.wqkv.data() + qd * h));
    RETURN_IF_ERROR(CopyF32(w, l, LayerTensor::kVProj, lw.wqkv.data() + (qd + kvd) * h));
    lw.wo = w.LayerTensorF32(l, LayerTensor::kOProj);
    lw.input_norm = w.LayerTensorF32(l, LayerTensor::kInputNorm);
    lw.post_norm = w.LayerTensorF32(l, LayerTensor::kPostAttnNorm);
    const int64_t inter = c.intermediate_size;
    lw.wgu.resize(2 * inter * h);
    RETURN_IF_ERROR(CopyF32(w, l, LayerTensor::kGateProj, lw.wgu.data()));
    RETURN_IF_ERROR(CopyF32(w, l, LayerTensor::kUpProj, lw.wgu.data() + inter * h));
    lw.wdown = w.LayerTensorF32(l, LayerTensor::kDownProj);
    if (w.HasLayerTensor(LayerTensor::kConv)) lw.conv = w.LayerTensorF32(l, LayerTensor::kConv);
    if (w.HasLayerTensor(LayerTensor::kGlobalFactor)) {
      lw.gamma = w.LayerTensorF32(l, LayerTensor::kGlobalFactor)[0];
    }
  }
  embed_ = w.ModelTensorF32(ModelTensor::kEmbed);
  final_norm_ = w.ModelTensorF32(ModelTensor::kFinalNorm);
  if (!c.tie_word_embeddings) lm_head_ = w.ModelTensorF32(ModelTensor::kLmHead);
  weight_bytes_ = w.TotalBytes(DType::kF32);
  return absl::OkStatus();
}

absl::Status CpuEngine::MakePlans(absl::Span<const SeqChunk> chunks,
                                  std::vector<ChunkPlan>* plans) const {
  std::vector<bool> seen(cursors_.size(), false);
  int64_t rows = 0;
  for (const SeqChunk& ch : chunks) {
    if (ch.slot < 0 || ch.slot >= num_slots()) {
      return absl::InvalidArgumentError(absl::StrCat("slot ", ch.slot, " out of range"));
    }
    if (seen[ch.slot]) {
      return absl::InvalidArgumentError(absl::StrCat("slot ", ch.slot, " appears twice"));
    }
    seen[ch.slot] = true;
    if (ch.tokens.empty()) return absl::InvalidArgumentError("empty chunk");
    for (TokenId t : ch.tokens) {
      if (t < 0 || t >= config_.vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("token id ", t, " out of range"));
      }
    }
    const SlotCursor& cur = cursors_[ch.slot];
    const int n = static_cast<int>(ch.tokens.size());
    if (!ch.pending && cur.pending > 0) {
      return absl::FailedPreconditionError(absl::StrCat("slot ", ch.slot, " has ", cur.pending,
                                                        " pending tokens; commit before prefill"));
    }
    if (ch.pending && cur.pending + n > max_pending_) {
      return absl::ResourceExhaustedError(absl::StrCat("slot ", ch.slot, ": ", cur.pending + n,
                                                       " pending tokens exceed ", max_pending_));
    }
    plans->push_back({ch.slot, rows, n, !ch.pending, ch.all_logits, cur});
    rows += n;
  }
  if (rows > max_batch_tokens_) {
    return absl::InvalidArgumentError(
        absl::StrCat(rows, " tokens exceed max_batch_tokens ", max_batch_tokens_));
  }
  return absl::OkStatus();
}

HeadParams CpuEngine::Params(int layer, int kv_head) const {
  const LinearAttentionConfig& la = config_.linear_attention;
  HeadParams p;
  p.head_dim = config_.head_dim;
  p.group_heads = config_.num_attention_heads / config_.num_key_value_heads;
  p.group_size = la.group_size;
  p.conv_taps = la.conv_taps;
  p.normalize = la.normalize;
  p.gamma = layers_[layer].gamma;
  if (la.conv_taps > 0) p.conv_w = layers_[layer].conv.data() + kv_head * la.conv_taps;
  return p;
}

void CpuEngine::FoldWindows(const std::vector<ChunkPlan>& plans) {
  const int L = config_.num_hidden_layers, kv = config_.num_key_value_heads;
  pool_->ParallelFor(static_cast<int64_t>(plans.size()) * L * kv, [&](int64_t i) {
    const ChunkPlan& p = plans[i / (L * kv)];
    const int layer = static_cast<int>(i / kv % L), h = static_cast<int>(i % kv);
    FoldWindow(Params(layer, h), p.cursor, layout_.ring_len(),
               layout_.Head(SlotData(p.slot), layer, h));
  });
}

void CpuEngine::Embed(absl::Span<const SeqChunk> chunks, const std::vector<ChunkPlan>& plans) {
  const int64_t h = config_.hidden_size;
  for (size_t c = 0; c < chunks.size(); ++c) {
    for (int i = 0; i < plans[c].num_tokens; ++i) {
      const int64_t row = plans[c].row0 + i;
      std::memcpy(&s_.x[row * h], &embed_[chunks[c].tokens[i] * h], sizeof(float) * h);
      s_.pos[row] = plans[c].cursor.position + plans[c].cursor.pending + i;
    }
  }
}

void CpuEngine::RopeAndFeatureMap(int64_t rows) {
  const ModelConfig& c = config_;
  const int d = c.head_dim, heads = c.num_attention_heads, kv = c.num_key_value_heads;
  const int64_t stride = int64_t{heads + 2 * kv} * d;
  pool_->ParallelFor(rows, [&](int64_t r) {
    float* row = &s_.qkv[r * stride];
    std::vector<float> cs(d / 2 + 1), sn(d / 2 + 1);
    if (c.linear_attention.rope) RopeCosSin(s_.pos[r], d, c.rope_theta, cs.data(), sn.data());
    for (int h = 0; h < heads + kv; ++h) {  // q heads then k heads
      float* x = row + int64_t{h} * d;
      if (c.linear_attention.rope) ApplyRope(x, d, cs.data(), sn.data());
      ApplyFeatureMap(c.linear_attention.feature_map, x, d);
    }
  });
}

void CpuEngine::Attention(int layer, const std::vector<ChunkPlan>& plans) {
  const ModelConfig& c = config_;
  const int d = c.head_dim, heads = c.num_attention_heads, kv = c.num_key_value_heads;
  const int64_t stride = int64_t{heads + 2 * kv} * d, qd = int64_t{heads} * d;
  const int group = heads / kv;
  pool_->ParallelFor(static_cast<int64_t>(plans.size()) * kv, [&](int64_t i) {
    const ChunkPlan& p = plans[i / kv];
    const int h = static_cast<int>(i % kv);
    const float* rows = &s_.qkv[p.row0 * stride];
    HeadChunk ch;
    ch.q = rows + int64_t{h} * group * d;
    ch.q_stride = stride;
    ch.k = rows + qd + int64_t{h} * d;
    ch.v = rows + qd + int64_t{kv} * d + int64_t{h} * d;
    ch.kv_stride = stride;
    ch.out = &s_.attn[p.row0 * qd + int64_t{h} * group * d];
    ch.out_stride = qd;
    ch.num_tokens = p.num_tokens;
    ch.commit = p.commit;
    RunChunk(Params(layer, h), p.cursor, layout_.ring_len(), ch,
             layout_.Head(SlotData(p.slot), layer, h));
  });
}

void CpuEngine::Mlp(int layer, int64_t rows) {
  const LayerWeights& lw = layers_[layer];
  const int hidden = config_.hidden_size, inter = config_.intermediate_size;
  RmsNorm(s_.x.data(), lw.post_norm.data(), rows, hidden, config_.rms_norm_eps, s_.xn.data());
  Linear(s_.xn.data(), rows, hidden, lw.wgu.data(), 2 * inter, s_.gu.data());
  pool_->ParallelFor(
      rows, [&](int64_t r) { SwiGlu(&s_.gu[r * 2 * inter], 1, inter, &s_.act[r * inter]); });
  Linear(s_.act.data(), rows, inter, lw.wdown.data(), hidden, s_.tmp.data());
  for (int64_t i = 0; i < rows * hidden; ++i) s_.x[i] += s_.tmp[i];
}

void CpuEngine::RunLayer(int layer, const std::vector<ChunkPlan>& plans) {
  const ModelConfig& c = config_;
  const LayerWeights& lw = layers_[layer];
  const int64_t rows = plans.back().row0 + plans.back().num_tokens;
  const int hidden = c.hidden_size;
  const int qd = c.num_attention_heads * c.head_dim;
  const int qkv = qd + 2 * c.num_key_value_heads * c.head_dim;
  RmsNorm(s_.x.data(), lw.input_norm.data(), rows, hidden, c.rms_norm_eps, s_.xn.data());
  Linear(s_.xn.data(), rows, hidden, lw.wqkv.data(), qkv, s_.qkv.data());
  RopeAndFeatureMap(rows);
  Attention(layer, plans);
  Linear(s_.attn.data(), rows, qd, lw.wo.data(), hidden, s_.tmp.data());
  for (int64_t i = 0; i < rows * hidden; ++i) s_.x[i] += s_.tmp[i];
  Mlp(layer, rows);
}

void CpuEngine::Logits(const std::vector<ChunkPlan>& plans, const ForwardOptions& options,
                       ForwardResult* result) {
  const int hidden = config_.hidden_size, vocab = config_.vocab_size;
  std::vector<int64_t> src_rows;
  result->row_offset.clear();
  for (const ChunkPlan& p : plans) {
    result->row_offset.push_back(static_cast<int>(src_rows.size()));
    for (int i = p.all_logits ? 0 : p.num_tokens - 1; i < p.num_tokens; ++i) {
      src_rows.push_back(p.row0 + i);
    }
  }
  const int64_t n = static_cast<int64_t>(src_rows.size());
  std::vector<float> h(n * hidden);
  for (int64_t r = 0; r < n; ++r) {
    RmsNorm(&s_.x[src_rows[r] * hidden], final_norm_.data(), 1, hidden, config_.rms_norm_eps,
            &h[r * hidden]);
  }
  result->num_rows = static_cast<int>(n);
  result->vocab_size = vocab;
  result->logits.resize(n * vocab);
  Linear(h.data(), n, hidden, lm_head_.empty() ? embed_.data() : lm_head_.data(), vocab,
         result->logits.data());
  result->argmax.resize(n);
  for (int64_t r = 0; r < n; ++r) result->argmax[r] = Argmax(&result->logits[r * vocab], vocab);
  if (!options.want_logits) result->logits.clear();
}

absl::Status CpuEngine::Forward(absl::Span<const SeqChunk> chunks, const ForwardOptions& options,
                                ForwardResult* result) {
  if (chunks.empty()) return absl::InvalidArgumentError("Forward with no chunks");
  if (!options.sampling.empty()) {
    return absl::InvalidArgumentError("the CPU backend does not sample: sample the host logits");
  }
  std::vector<ChunkPlan> plans;
  RETURN_IF_ERROR(MakePlans(chunks, &plans));
  const ModelConfig& c = config_;
  const int64_t rows = plans.back().row0 + plans.back().num_tokens;
  const int64_t qd = int64_t{c.num_attention_heads} * c.head_dim;
  s_.x.resize(rows * c.hidden_size);
  s_.xn.resize(rows * c.hidden_size);
  s_.tmp.resize(rows * c.hidden_size);
  s_.qkv.resize(rows * (qd + 2 * int64_t{c.num_key_value_heads} * c.head_dim));
  s_.attn.resize(rows * qd);
  s_.gu.resize(rows * 2 * int64_t{c.intermediate_size});
  s_.act.resize(rows * int64_t{c.intermediate_size});
  s_.pos.resize(rows);
  FoldWindows(plans);
  const HeadParams p0 = Params(0, 0);
  for (ChunkPlan& p : plans) {
    cursors_[p.slot] = CursorAfterFold(p0, cursors_[p.slot]);
    p.cursor = cursors_[p.slot];
  }
  Embed(chunks, plans);
  for (int l = 0; l < c.num_hidden_layers; ++l) RunLayer(l, plans);
  Logits(plans, options, result);
  for (const ChunkPlan& p : plans) {
    cursors_[p.slot] = CursorAfterChunk(p0, p.cursor, p.num_tokens, p.commit);
  }
  return absl::OkStatus();
}

absl::Status CpuEngine::Commit(SlotId slot, int n) {
  if (slot < 0 || slot >= num_slots()) {
    return absl::InvalidArgumentError(absl::StrCat("slot ", slot, " out of range"));
  }
  SlotCursor& cur = cursors_[slot];
  if (n < 0 || n > cur.pending) {
    return absl::InvalidArgumentError(
        absl::StrCat("commit of ", n, " tokens but slot ", slot, " has ", cur.pending, " pending"));
  }
  cur.position += n;
  cur.window += n;
  cur.pending = 0;
  return absl::OkStatus();
}

absl::Status CpuEngine::Release(SlotId slot) {
  if (slot < 0 || slot >= num_slots()) {
    return absl::InvalidArgumentError(absl::StrCat("slot ", slot, " out of range"));
  }
  float* data = SlotData(slot);
  std::fill(data, data + layout_.slot_floats(), 0.0f);
  cursors_[slot] = SlotCursor{};
  return absl::OkStatus();
}

int64_t CpuEngine::position(SlotId slot) const {
  return slot >= 0 && slot < num_slots() ? cursors_[slot].position : -1;
}

int CpuEngine::pending(SlotId slot) const {
  return slot >= 0 && slot < num_slots() ? cursors_[slot].pending : -1;
}

}  // namespace linspec::engine::cpu
