#include "model/transformer.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "kernels/backend_factory.h"
#include "model/kv_view.h"
#include "model/transformer_session.h"

namespace nova::model {

using formats::ModelConfig;

std::shared_ptr<Transformer> Transformer::load(const std::string& model_dir) {
  return load(model_dir, model_dir + "/config.json");
}

std::shared_ptr<Transformer> Transformer::load(const std::string& model_dir, const std::string& config_path) {
  ModelConfig config = formats::load_hf_config(config_path);
  formats::Checkpoint ckpt = formats::Checkpoint::open_dir(model_dir);
  return create(std::move(config), std::move(ckpt), kernels::default_backend());
}

namespace {

// Transformer::activation_dtype()'s rule: BF16 when the backend takes BF16 activations and every
// linear weight is BF16 (other weights would have x converted before each GEMM, and fp32
// checkpoints keep fp32 accuracy).
DType pick_activation_dtype(const ModelWeights& w, const kernels::Backend& backend) {
  if (!backend.supports_activation(DType::BF16)) return DType::F32;
  bool all_bf16 = w.lm_head.dtype() == DType::BF16;
  auto check = [&](const Tensor& t) { all_bf16 = all_bf16 && t.dtype() == DType::BF16; };
  auto check_ffn = [&](const FfnWeights& f) {
    check(f.gate.w);
    check(f.up.w);
    check(f.down.w);
  };
  for (const LayerWeights& l : w.layers) {
    check(l.q.w);
    check(l.k.w);
    check(l.v.w);
    check(l.o.w);
    if (!l.is_moe) {
      check_ffn(l.mlp);
      continue;
    }
    check(l.moe.router);
    for (const FfnWeights& e : l.moe.experts) check_ffn(e);
    if (l.moe.has_shared) {
      check_ffn(l.moe.shared);
      check(l.moe.shared_gate);
    }
  }
  return all_bf16 ? DType::BF16 : DType::F32;
}

}  // namespace

std::shared_ptr<Transformer> Transformer::create(ModelConfig config, formats::Checkpoint checkpoint,
                                                 kernels::Backend& backend) {
  std::shared_ptr<Transformer> t(new Transformer());
  t->config_ = std::move(config);
  t->checkpoint_ = std::move(checkpoint);
  t->backend_ = &backend;
  const ModelConfig& c = t->config_;
  require(c.num_layers > 0 && c.hidden_size > 0 && c.num_heads > 0 && c.num_kv_heads > 0 && c.head_dim > 0 &&
              c.vocab_size > 0 && c.num_heads % c.num_kv_heads == 0,
          "model config", "incomplete or inconsistent dimensions");
  require(c.num_experts == 0 || (c.experts_per_token > 0 && c.experts_per_token <= c.num_experts),
          "model config", "experts_per_token must be in [1, num_experts]");
  require(c.layer_sliding.empty() || static_cast<int>(c.layer_sliding.size()) == c.num_layers, "model config",
          "layer_sliding must have one entry per layer");
  require(c.layer_moe.empty() || static_cast<int>(c.layer_moe.size()) == c.num_layers, "model config",
          "layer_moe must have one entry per layer");
  t->weights_ = load_weights(t->checkpoint_, c, backend);
  t->rope_ = rope_frequencies(c, 0);
  t->act_ = pick_activation_dtype(t->weights_, backend);
  return t;
}

std::unique_ptr<Session> Transformer::new_session(int64_t max_tokens) {
  const int64_t cap = max_tokens > 0 ? max_tokens : config_.max_position_embeddings;
  require(cap > 0, "new_session", "capacity must be positive (max_position_embeddings is 0)");
  return std::make_unique<TransformerSession>(shared_from_this(), cap);
}

Tensor Transformer::ffn(const FfnWeights& f, const Tensor& x, int64_t inter) const {
  kernels::Backend& be = *backend_;
  const int64_t rows = x.dim(0);
  // Intermediates and the output in x's dtype (the activation dtype).
  Tensor gate = be.empty(x.dtype(), {rows, inter});
  if (!f.gate.bias() && !f.up.bias()) {
    be.linear_swiglu(x, f.gate.w, f.up.w, gate);  // one op (one GEMV at batch 1 on a device)
  } else {
    Tensor up = be.empty(x.dtype(), {rows, inter});
    be.linear(x, f.gate.w, f.gate.bias(), gate);
    be.linear(x, f.up.w, f.up.bias(), up);
    be.swiglu(gate, up, gate);
  }
  Tensor out = be.empty(x.dtype(), {rows, int64_t{config_.hidden_size}});
  be.linear(gate, f.down.w, f.down.bias(), out);
  return out;
}

Tensor Transformer::moe(const MoeWeights& m, const Tensor& x) const {
  kernels::Backend& be = *backend_;
  const ModelConfig& c = config_;
  const int64_t rows = x.dim(0), H = c.hidden_size, E = c.num_experts;
  Tensor router_logits = be.empty(DType::F32, {rows, E});
  be.linear(x, m.router, nullptr, router_logits);
  std::vector<kernels::MoeExpert> experts(static_cast<size_t>(E));
  for (int64_t e = 0; e < E; ++e) {
    const FfnWeights& f = m.experts[static_cast<size_t>(e)];
    experts[static_cast<size_t>(e)] = {&f.gate.w, &f.up.w, &f.down.w, f.gate.bias(), f.up.bias(), f.down.bias()};
  }
  Tensor out = be.alloc(DType::F32, {rows, H});
  be.moe_experts(x, router_logits, experts, c.experts_per_token, c.norm_topk_prob, out);
  if (m.has_shared) {
    Tensor shared = ffn(m.shared, x, c.shared_expert_intermediate_size);
    Tensor gate = be.empty(DType::F32, {rows, 1});
    be.linear(x, m.shared_gate, nullptr, gate);
    be.scale_rows_by_sigmoid(shared, gate);
    be.add(out, shared);
  }
  return out;
}

RopeFrequencies Transformer::frequencies_for(int64_t seq_len) const {
  // Dynamic NTK depends on the sequence length reached; every other type is fixed.
  return config_.rope.type == formats::RopeType::Dynamic ? rope_frequencies(config_, seq_len) : rope_;
}

void Transformer::forward(std::span<const int32_t> ids, int64_t pos0, KvCache& cache, std::vector<float>& logits,
                          bool all_logits, const Probe* probe) const {
  forward_contiguous({ids}, pos0, cache, logits, all_logits, probe, /*hidden_only=*/false);
}

void Transformer::forward_hidden(std::span<const int32_t> ids, int64_t pos0, KvCache& cache,
                                 std::vector<float>& hidden) const {
  forward_contiguous({ids}, pos0, cache, hidden, /*all_rows=*/true, nullptr, /*hidden_only=*/true);
}

Tensor Transformer::forward_logits(std::span<const int32_t> ids, int64_t pos0, KvCache& cache,
                                   const Probe* probe) const {
  std::vector<float> unused;
  Tensor logits;
  forward_contiguous({ids}, pos0, cache, unused, /*all_logits=*/false, probe, /*hidden_only=*/false, &logits);
  return logits;
}

Tensor Transformer::forward_logits(const Tensor& device_ids, int64_t pos0, KvCache& cache) const {
  require(device_ids.dtype() == DType::I32 && device_ids.ndim() == 1, "forward",
          "device token ids must be I32 [n], got " + device_ids.shape_string());
  std::vector<float> unused;
  Tensor logits;
  forward_contiguous({{}, &device_ids}, pos0, cache, unused, /*all_logits=*/false, nullptr, /*hidden_only=*/false,
                     &logits);
  return logits;
}

void Transformer::forward_contiguous(StepIds ids, int64_t pos0, KvCache& cache, std::vector<float>& logits,
                                     bool all_logits, const Probe* probe, bool hidden_only,
                                     Tensor* device_logits) const {
  const ModelConfig& c = config_;
  kernels::Backend& be = *backend_;
  const int64_t M = ids.size();
  require(M > 0, "forward", "no tokens given");
  require(pos0 >= 0 && pos0 + M <= cache.capacity, "forward",
          "sequence of " + std::to_string(pos0 + M) + " tokens exceeds the session capacity of " +
              std::to_string(cache.capacity));
  for (size_t i = 0; i < ids.host.size(); ++i)
    require(ids.host[i] >= 0 && ids.host[i] < c.vocab_size, "forward",
            "token id " + std::to_string(ids.host[i]) + " at index " + std::to_string(i) +
                " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");

  const RopeFrequencies freqs = frequencies_for(pos0 + M);
  const int64_t half = static_cast<int64_t>(freqs.inv_freq.size());
  Tensor cos_host = Tensor::zeros(DType::F32, {M, half}), sin_host = Tensor::zeros(DType::F32, {M, half});
  rope_table(freqs, pos0, M, cos_host.data_as<float>(), sin_host.data_as<float>());

  std::vector<int32_t> logit_rows;
  for (int64_t r = all_logits ? 0 : M - 1; r < M; ++r) logit_rows.push_back(static_cast<int32_t>(r));
  run(ids, be.upload(cos_host), be.upload(sin_host), ContiguousKvView(be, cache, pos0, M), logit_rows, logits, probe,
      hidden_only, device_logits);
}

void Transformer::forward_batch(const BatchInput& batch, PagedKvCache& cache, std::vector<float>& logits,
                                const Probe* probe) const {
  forward_batch_to(batch, cache, logits, nullptr, probe);
}

Tensor Transformer::forward_batch_logits(const BatchInput& batch, PagedKvCache& cache, const Probe* probe) const {
  std::vector<float> unused;
  Tensor logits;
  forward_batch_to(batch, cache, unused, &logits, probe);
  return logits;
}

void Transformer::forward_batch_to(const BatchInput& batch, PagedKvCache& cache, std::vector<float>& logits,
                                   Tensor* device_logits, const Probe* probe) const {
  const ModelConfig& c = config_;
  kernels::Backend& be = *backend_;
  require(!batch.sequences.empty(), "forward_batch", "no sequences given");
  require(static_cast<int>(cache.k.size()) == c.num_layers && cache.block_size > 0, "forward_batch",
          "the paged cache was not made for this model");
  const int64_t bs = cache.block_size;

  // Validate everything first, and flatten: ids, per-row slots, per-sequence descriptors.
  std::vector<int32_t> ids, slots, tables, logit_rows;
  std::vector<kernels::PagedAttentionSeq> seqs;
  std::vector<int64_t> writer(static_cast<size_t>(cache.num_blocks), -1);  // sequence writing each block
  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const BatchSequence& s = batch.sequences[i];
    const std::string which = "sequence " + std::to_string(i);
    const auto n = static_cast<int64_t>(s.tokens.size());
    require(n > 0, "forward_batch", which + " has no tokens");
    require(s.pos0 >= 0, "forward_batch", which + " has a negative position");
    require(s.num_logits >= 0 && s.num_logits <= n, "forward_batch",
            which + ": num_logits " + std::to_string(s.num_logits) + " outside [0, " + std::to_string(n) + "]");
    require(static_cast<int64_t>(s.block_table.size()) * bs >= s.pos0 + n, "forward_batch",
            which + ": " + std::to_string(s.block_table.size()) + " blocks cannot hold " +
                std::to_string(s.pos0 + n) + " positions");
    for (int32_t b : s.block_table)
      require(b >= 0 && b < cache.num_blocks, "forward_batch",
              which + ": block " + std::to_string(b) + " outside [0, " + std::to_string(cache.num_blocks) + ")");
    kernels::PagedAttentionSeq d;
    d.q_begin = static_cast<int64_t>(ids.size());
    d.q_rows = n;
    d.pos0 = s.pos0;
    d.table_begin = static_cast<int64_t>(tables.size());
    d.table_size = static_cast<int64_t>(s.block_table.size());
    seqs.push_back(d);
    tables.insert(tables.end(), s.block_table.begin(), s.block_table.end());
    for (int64_t j = 0; j < n; ++j) {
      const int32_t id = s.tokens[j];
      require(id >= 0 && id < c.vocab_size, "forward_batch",
              which + ": token id " + std::to_string(id) + " at index " + std::to_string(j) +
                  " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
      const int64_t p = s.pos0 + j;
      const int32_t block = s.block_table[p / bs];
      require(writer[block] < 0 || writer[block] == static_cast<int64_t>(i), "forward_batch",
              which + " writes block " + std::to_string(block) + " that another sequence writes too");
      writer[block] = static_cast<int64_t>(i);
      slots.push_back(static_cast<int32_t>(block * bs + p % bs));
      if (j >= n - s.num_logits) logit_rows.push_back(static_cast<int32_t>(ids.size()));
      ids.push_back(id);
    }
  }
  // A block written this step must not be read by another sequence (prefix-shared blocks are full
  // and read-only): otherwise results would depend on the batch's order.
  for (size_t i = 0; i < batch.sequences.size(); ++i) {
    const BatchSequence& s = batch.sequences[i];
    const int64_t first_written = s.pos0 / bs;
    for (int64_t b = 0; b < first_written && b < static_cast<int64_t>(s.block_table.size()); ++b)
      require(writer[s.block_table[b]] < 0, "forward_batch",
              "sequence " + std::to_string(i) + " reads block " + std::to_string(s.block_table[b]) +
                  " that this step writes");
  }

  const int64_t M = static_cast<int64_t>(ids.size());
  const RopeFrequencies& fixed = rope_;
  const int64_t half = static_cast<int64_t>(fixed.inv_freq.size());
  Tensor cos_host = Tensor::zeros(DType::F32, {M, half}), sin_host = Tensor::zeros(DType::F32, {M, half});
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& d = seqs[i];
    const RopeFrequencies freqs = frequencies_for(d.pos0 + d.q_rows);
    rope_table(freqs, d.pos0, d.q_rows, cos_host.data_as<float>() + d.q_begin * half,
               sin_host.data_as<float>() + d.q_begin * half);
  }
  const PagedKvView kv(be, cache, seqs, std::move(tables), std::move(slots));
  run({ids}, be.upload(cos_host), be.upload(sin_host), kv, logit_rows, logits, probe, /*hidden_only=*/false,
      device_logits);
}

PagedKvCache Transformer::new_paged_cache(int64_t num_blocks, int64_t block_size) const {
  return PagedKvCache::allocate(*backend_, config_.num_layers, num_blocks, block_size, config_.num_kv_heads,
                                config_.head_dim, kv_dtype());
}

void Transformer::run(StepIds ids, const Tensor& cos, const Tensor& sin, const KvView& kv,
                      std::span<const int32_t> logit_rows, std::vector<float>& logits, const Probe* probe,
                      bool hidden_only, Tensor* device_logits) const {
  const ModelConfig& c = config_;
  kernels::Backend& be = *backend_;
  auto trace = [&](const std::string& name, const Tensor& t) {
    if (probe) (*probe)(name, t);
  };
  const int64_t M = ids.size();
  const int64_t H = c.hidden_size, D = c.head_dim, Hq = c.num_heads, Hkv = c.num_kv_heads;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));

  // Buffers every op below overwrites whole: no zero-fill. (attn stays zeroed: attention leaves
  // rows no sequence names untouched.) The residual stream x is F32; everything a GEMM reads or
  // writes between two residual adds is in the activation dtype (activation_dtype()).
  const DType act = act_;
  Tensor x = be.empty(DType::F32, {M, H});
  if (ids.device) be.embedding_ids(weights_.embed, *ids.device, x);
  else be.embedding(weights_.embed, ids.host, x);
  trace("embed", x);

  Tensor h = be.empty(act, {M, H});
  Tensor q = be.empty(act, {M, Hq, D});
  Tensor k = be.empty(act, {M, Hkv, D});
  Tensor v = be.empty(act, {M, Hkv, D});
  Tensor attn = be.alloc(act, {M, Hq, D});
  Tensor proj = be.empty(act, {M, H});
  // Fused where the backend offers it (Backend's fused ops): the residual add and the norm after
  // it are one op, so each layer's input norm is done by the previous layer's last add.
  // A decode step (one row, no probe: probes read the normalised rows) uses the decode fusions
  // instead: each norm folded into the projections after it, each residual add into the one
  // before it (one GEMV each on a device; the same math composed on the CPU).
  const bool fold = M == 1 && !probe;
  if (!fold) be.rmsnorm(x, weights_.layers[0].input_norm, eps, h);
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = weights_.layers[l];
    const std::string p = probe ? "layers." + std::to_string(l) + "." : std::string();
    trace(p + "input_norm", h);
    const kernels::Backend::LinearPart qkv[] = {
        {&L.q.w, L.q.bias(), &q}, {&L.k.w, L.k.bias(), &k}, {&L.v.w, L.v.bias(), &v}};
    // Without a q/k norm between them, the projections and RoPE + the K/V store are one fused op
    // (a prefill's one GEMM and one kernel on a device).
    const bool project_store = !fold && !c.qk_norm;
    if (fold) be.rmsnorm_linears(x, L.input_norm, eps, qkv);
    else if (project_store) kv.project_rope_store(l, h, qkv, cos, sin);
    else be.linears(h, qkv);
    if (c.qk_norm) {
      be.rmsnorm(q, L.q_norm, eps, q);
      be.rmsnorm(k, L.k_norm, eps, k);
    }
    const bool sliding = c.sliding_window > 0 && (c.layer_sliding.empty() || c.layer_sliding[l]);
    const int window = sliding ? c.sliding_window : 0;
    if (fold) {  // no probe: RoPE, the K/V store and attention in one op (one kernel on a device)
      kv.rope_store_attend(l, q, k, v, cos, sin, window, scale, attn);
    } else {
      if (!project_store) kv.rope_store(l, q, k, v, cos, sin);
      trace(p + "q", q);
      trace(p + "k", k);
      trace(p + "v", v);
      kv.attend(l, q, window, scale, attn);
    }
    trace(p + "attn", attn);
    if (fold) {
      be.linear_add(attn.reshape({M, Hq * D}), L.o.w, L.o.bias(), x);
      const FfnWeights& f = L.mlp;
      if (L.is_moe || f.gate.bias() || f.up.bias()) {
        be.rmsnorm(x, L.post_attn_norm, eps, h);
        be.add(x, L.is_moe ? moe(L.moe, h) : ffn(f, h, c.intermediate_size));
      } else {
        Tensor gate = be.empty(act, {M, int64_t{c.intermediate_size}});
        be.rmsnorm_linear_swiglu(x, L.post_attn_norm, eps, f.gate.w, f.up.w, gate);
        be.linear_add(gate, f.down.w, f.down.bias(), x);
      }
      continue;
    }
    be.linear(attn.reshape({M, Hq * D}), L.o.w, L.o.bias(), proj);
    trace(p + "attn_out", proj);
    be.add_rmsnorm(x, proj, L.post_attn_norm, eps, h);
    trace(p + "post_attn_norm", h);
    const Tensor f = L.is_moe ? moe(L.moe, h) : ffn(L.mlp, h, c.intermediate_size);
    trace(p + "ffn_out", f);
    if (l + 1 < c.num_layers) be.add_rmsnorm(x, f, weights_.layers[l + 1].input_norm, eps, h);
    else be.add(x, f);
    trace(p + "out", x);
  }

  logits.clear();
  const auto rows = static_cast<int64_t>(logit_rows.size());
  if (rows == 0) return;
  // Consecutive rows (the usual case: the last row, or all) are a zero-copy slice.
  bool consecutive = true;
  for (int64_t i = 1; i < rows; ++i) consecutive = consecutive && logit_rows[i] == logit_rows[i - 1] + 1;
  Tensor last;
  if (consecutive) {
    last = x.slice_rows(logit_rows[0], logit_rows[0] + rows);
  } else {
    last = be.empty(DType::F32, {rows, H});
    be.gather_rows(x, logit_rows, last);
  }
  const std::vector<int64_t> logits_shape = {rows, int64_t{c.vocab_size}};
  Tensor out;
  if (rows == 1 && !probe && !hidden_only) {
    // One row (a decode step, a prompt's last): the final norm folded into the LM head, as the
    // layers' norms are in a decode step (one GEMV on a device).
    out = be.empty(DType::F32, logits_shape);
    const kernels::Backend::LinearPart head[] = {{&weights_.lm_head, nullptr, &out}};
    be.rmsnorm_linears(last, weights_.final_norm, eps, head);
  } else {
    // The LM head reads activation-dtype rows (bf16 x bf16 GEMM, F32 logits); hidden states go out F32.
    Tensor normed = be.empty(hidden_only ? DType::F32 : act, {rows, H});
    be.rmsnorm(last, weights_.final_norm, eps, normed);
    trace("final_norm", normed);
    if (hidden_only) {
      logits.resize(static_cast<size_t>(normed.numel()));
      be.download(normed, logits.data());
      return;
    }
    out = be.empty(DType::F32, logits_shape);
    be.linear(normed, weights_.lm_head, nullptr, out);
  }
  trace("logits", out);
  if (device_logits) {  // left on the backend for sampling there
    *device_logits = std::move(out);
    return;
  }
  logits.resize(static_cast<size_t>(out.numel()));
  be.download(out, logits.data());
}

}  // namespace nova::model
