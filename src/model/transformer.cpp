#include "model/transformer.h"

#include <cmath>

#include "core/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/transformer_session.h"

namespace nova::model {

using formats::ModelConfig;

std::shared_ptr<Transformer> Transformer::load(const std::string& model_dir) {
  return load(model_dir, model_dir + "/config.json");
}

std::shared_ptr<Transformer> Transformer::load(const std::string& model_dir, const std::string& config_path) {
  ModelConfig config = formats::load_hf_config(config_path);
  formats::Checkpoint ckpt = formats::Checkpoint::open_dir(model_dir);
  return create(std::move(config), std::move(ckpt), kernels::CpuBackend::instance());
}

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
  Tensor gate = be.alloc(DType::F32, {rows, inter});
  Tensor up = be.alloc(DType::F32, {rows, inter});
  be.linear(x, f.gate.w, f.gate.bias(), gate);
  be.linear(x, f.up.w, f.up.bias(), up);
  be.swiglu(gate, up, gate);
  Tensor out = be.alloc(DType::F32, {rows, int64_t{config_.hidden_size}});
  be.linear(gate, f.down.w, f.down.bias(), out);
  return out;
}

Tensor Transformer::moe(const MoeWeights& m, const Tensor& x) const {
  kernels::Backend& be = *backend_;
  const ModelConfig& c = config_;
  const int64_t rows = x.dim(0), H = c.hidden_size, E = c.num_experts;
  Tensor router_logits = be.alloc(DType::F32, {rows, E});
  be.linear(x, m.router, nullptr, router_logits);
  const kernels::Routing routing = be.route_top_k(router_logits, c.experts_per_token, c.norm_topk_prob);

  Tensor out = be.alloc(DType::F32, {rows, H});
  std::vector<int32_t> sel_rows;
  std::vector<float> sel_weights;
  for (int64_t e = 0; e < E; ++e) {  // experts in index order, as transformers accumulates them
    sel_rows.clear();
    sel_weights.clear();
    for (int64_t r = 0; r < rows; ++r)
      for (int i = 0; i < routing.k; ++i)
        if (routing.expert[r * routing.k + i] == e) {
          sel_rows.push_back(static_cast<int32_t>(r));
          sel_weights.push_back(routing.weight[r * routing.k + i]);
        }
    if (sel_rows.empty()) continue;
    Tensor xe = be.alloc(DType::F32, {static_cast<int64_t>(sel_rows.size()), H});
    be.gather_rows(x, sel_rows, xe);
    const Tensor ye = ffn(m.experts[e], xe, c.moe_intermediate_size);
    be.scatter_add_rows(ye, sel_rows, sel_weights, out);
  }
  if (m.has_shared) {
    Tensor shared = ffn(m.shared, x, c.shared_expert_intermediate_size);
    Tensor gate = be.alloc(DType::F32, {rows, 1});
    be.linear(x, m.shared_gate, nullptr, gate);
    be.scale_rows_by_sigmoid(shared, gate);
    be.add(out, shared);
  }
  return out;
}

void Transformer::forward(std::span<const int32_t> ids, int64_t pos0, KvCache& cache, std::vector<float>& logits,
                          bool all_logits, const Probe* probe) const {
  const ModelConfig& c = config_;
  kernels::Backend& be = *backend_;
  const int64_t M = static_cast<int64_t>(ids.size());
  require(M > 0, "forward", "no tokens given");
  require(pos0 >= 0 && pos0 + M <= cache.capacity, "forward",
          "sequence of " + std::to_string(pos0 + M) + " tokens exceeds the session capacity of " +
              std::to_string(cache.capacity));
  for (int64_t i = 0; i < M; ++i)
    require(ids[i] >= 0 && ids[i] < c.vocab_size, "forward",
            "token id " + std::to_string(ids[i]) + " at index " + std::to_string(i) + " is outside the vocabulary [0, " +
                std::to_string(c.vocab_size) + ")");

  auto trace = [&](const std::string& name, const Tensor& t) {
    if (probe) (*probe)(name, t);
  };
  const int64_t H = c.hidden_size, D = c.head_dim, Hq = c.num_heads, Hkv = c.num_kv_heads;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));

  // RoPE table for these positions (dynamic NTK depends on the sequence length reached).
  const RopeFrequencies dyn =
      c.rope.type == formats::RopeType::Dynamic ? rope_frequencies(c, pos0 + M) : RopeFrequencies{};
  const RopeFrequencies& freqs = c.rope.type == formats::RopeType::Dynamic ? dyn : rope_;
  const int64_t half = static_cast<int64_t>(freqs.inv_freq.size());
  Tensor cos_host = Tensor::zeros(DType::F32, {M, half}), sin_host = Tensor::zeros(DType::F32, {M, half});
  rope_table(freqs, pos0, M, cos_host.data_as<float>(), sin_host.data_as<float>());
  const Tensor cos = be.upload(cos_host), sin = be.upload(sin_host);

  Tensor x = be.alloc(DType::F32, {M, H});
  be.embedding(weights_.embed, ids, x);
  trace("embed", x);

  Tensor h = be.alloc(DType::F32, {M, H});
  Tensor q = be.alloc(DType::F32, {M, Hq, D});
  Tensor k = be.alloc(DType::F32, {M, Hkv, D});
  Tensor v = be.alloc(DType::F32, {M, Hkv, D});
  Tensor attn = be.alloc(DType::F32, {M, Hq, D});
  Tensor proj = be.alloc(DType::F32, {M, H});
  for (int l = 0; l < c.num_layers; ++l) {
    const LayerWeights& L = weights_.layers[l];
    const std::string p = "layers." + std::to_string(l) + ".";
    be.rmsnorm(x, L.input_norm, eps, h);
    trace(p + "input_norm", h);
    be.linear(h, L.q.w, L.q.bias(), q);
    be.linear(h, L.k.w, L.k.bias(), k);
    be.linear(h, L.v.w, L.v.bias(), v);
    if (c.qk_norm) {
      be.rmsnorm(q, L.q_norm, eps, q);
      be.rmsnorm(k, L.k_norm, eps, k);
    }
    be.rope(q, cos, sin);
    be.rope(k, cos, sin);
    trace(p + "q", q);
    trace(p + "k", k);
    trace(p + "v", v);
    be.copy_rows(k, cache.k[l], pos0);
    be.copy_rows(v, cache.v[l], pos0);
    const bool sliding = c.sliding_window > 0 && (c.layer_sliding.empty() || c.layer_sliding[l]);
    be.attention(q, cache.k[l], cache.v[l], pos0, sliding ? c.sliding_window : 0, scale, attn);
    trace(p + "attn", attn);
    be.linear(attn.reshape({M, Hq * D}), L.o.w, L.o.bias(), proj);
    trace(p + "attn_out", proj);
    be.add(x, proj);
    be.rmsnorm(x, L.post_attn_norm, eps, h);
    trace(p + "post_attn_norm", h);
    const Tensor f = L.is_moe ? moe(L.moe, h) : ffn(L.mlp, h, c.intermediate_size);
    trace(p + "ffn_out", f);
    be.add(x, f);
    trace(p + "out", x);
  }

  const Tensor last = all_logits ? x : x.slice_rows(M - 1, M);
  const int64_t rows = last.dim(0);
  Tensor normed = be.alloc(DType::F32, {rows, H});
  be.rmsnorm(last, weights_.final_norm, eps, normed);
  trace("final_norm", normed);
  Tensor out = be.alloc(DType::F32, {rows, int64_t{c.vocab_size}});
  be.linear(normed, weights_.lm_head, nullptr, out);
  trace("logits", out);
  logits.resize(static_cast<size_t>(out.numel()));
  be.download(out, logits.data());
}

}  // namespace nova::model
