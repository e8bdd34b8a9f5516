#include "train/decoder_layer.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "model/weight_names.h"
#include "train/layers/linear.h"
#include "train/layers/rmsnorm.h"
#include "train/layers/rope.h"
#include "train/step_profile.h"

namespace nova::train {

namespace names = model::weight_names;
using formats::ModelConfig;

namespace {

struct Dims {
  int64_t M, H, D, Hq, Hkv, q_out, kv_out;
};

Dims dims(const LayerContext& ctx) {
  const ModelConfig& c = *ctx.config;
  const int64_t D = c.head_dim, Hq = c.num_heads, Hkv = c.num_kv_heads;
  return {ctx.rows(), c.hidden_size, D, Hq, Hkv, Hq * D, Hkv * D};
}

AttentionShape attention_shape(const LayerContext& ctx, int layer) {
  const ModelConfig& c = *ctx.config;
  const bool sliding = c.sliding_window > 0 && (c.layer_sliding.empty() || c.layer_sliding[layer]);
  return {ctx.B, ctx.T, c.num_heads, c.num_kv_heads, c.head_dim, sliding ? c.sliding_window : 0, ctx.scale};
}

MoeShape moe_shape(const ModelConfig& c) {
  return {c.hidden_size, c.moe_intermediate_size, c.num_experts, c.experts_per_token, c.norm_topk_prob,
          c.shared_expert_intermediate_size};
}

FfnParams ffn_params(ParamStore& s, const std::string& gate, const std::string& up, const std::string& down) {
  return {s.view(gate + ".weight"), s.view(gate + ".bias"), s.view(up + ".weight"),
          s.view(up + ".bias"),     s.view(down + ".weight"), s.view(down + ".bias")};
}

ParamView need(ParamStore& s, const std::string& name) {
  Param& p = s.get(name);
  return {p.data(), p.grad_data()};
}

void resize(std::vector<float>& v, int64_t n) { v.resize(static_cast<size_t>(n)); }

// out[i] = a[i] + b[i] (out may alias either), on the pool.
void add(float* out, const float* a, const float* b, int64_t n) {
  PhaseScope scope(Phase::Elementwise);
  ThreadPool::global().parallel_for(n, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = a[i] + b[i];
  }, 1 << 15);
}

}  // namespace

LayerParams layer_params(ParamStore& s, const ModelConfig& c, int l) {
  LayerParams p;
  p.input_norm = need(s, names::layer(l, names::kInputNorm));
  p.post_attn_norm = need(s, names::layer(l, names::kPostAttnNorm));
  auto lin = [&](const char* base, ParamView& w, ParamView& b) {
    w = need(s, names::layer(l, std::string(base) + ".weight"));
    b = s.view(names::layer(l, std::string(base) + ".bias"));
  };
  lin(names::kQProj, p.q_w, p.q_b);
  lin(names::kKProj, p.k_w, p.k_b);
  lin(names::kVProj, p.v_w, p.v_b);
  lin(names::kOProj, p.o_w, p.o_b);
  if (c.qk_norm) {
    p.q_norm = need(s, names::layer(l, names::kQNorm));
    p.k_norm = need(s, names::layer(l, names::kKNorm));
  }
  p.is_moe = c.num_experts > 0 && (c.layer_moe.empty() || c.layer_moe[l]);
  if (!p.is_moe) {
    p.mlp = ffn_params(s, names::layer(l, names::kMlpGate), names::layer(l, names::kMlpUp),
                       names::layer(l, names::kMlpDown));
    need(s, names::layer(l, std::string(names::kMlpGate) + ".weight"));  // must exist
    return p;
  }
  const names::ExpertLayout& lay = names::expert_layouts()[c.model_type == "mixtral" ? 0 : 1];
  p.moe.router = need(s, names::layer(l, lay.router));
  for (int e = 0; e < c.num_experts; ++e) {
    FfnParams f;
    f.gate_w = need(s, names::expert(l, lay.gate, e));
    f.up_w = need(s, names::expert(l, lay.up, e));
    f.down_w = need(s, names::expert(l, lay.down, e));
    p.moe.experts.push_back(f);
  }
  if (c.shared_expert_intermediate_size > 0) {
    p.moe.shared = ffn_params(s, names::layer(l, names::kSharedGate), names::layer(l, names::kSharedUp),
                              names::layer(l, names::kSharedDown));
    p.moe.shared_gate = need(s, names::layer(l, names::kSharedExpertGate));
  }
  return p;
}

void layer_forward(float* x_out, LayerActs& a, const float* x_in, int layer, const LayerContext& ctx,
                   const LayerParams& p) {
  const ModelConfig& c = *ctx.config;
  const Dims d = dims(ctx);
  resize(a.h1, d.M * d.H);
  resize(a.rstd1, d.M);
  rmsnorm_forward(a.h1.data(), a.rstd1.data(), x_in, p.input_norm.value, d.M, d.H, ctx.eps);

  resize(a.q, d.M * d.q_out);
  resize(a.k, d.M * d.kv_out);
  resize(a.v, d.M * d.kv_out);
  if (c.qk_norm) {
    resize(a.q_raw, d.M * d.q_out);
    resize(a.k_raw, d.M * d.kv_out);
    resize(a.q_rstd, d.M * d.Hq);
    resize(a.k_rstd, d.M * d.Hkv);
    linear_forward(a.q_raw.data(), a.h1.data(), p.q_w.value, p.q_b.value, d.M, d.H, d.q_out);
    linear_forward(a.k_raw.data(), a.h1.data(), p.k_w.value, p.k_b.value, d.M, d.H, d.kv_out);
    rmsnorm_forward(a.q.data(), a.q_rstd.data(), a.q_raw.data(), p.q_norm.value, d.M * d.Hq, d.D, ctx.eps);
    rmsnorm_forward(a.k.data(), a.k_rstd.data(), a.k_raw.data(), p.k_norm.value, d.M * d.Hkv, d.D, ctx.eps);
  } else {
    linear_forward(a.q.data(), a.h1.data(), p.q_w.value, p.q_b.value, d.M, d.H, d.q_out);
    linear_forward(a.k.data(), a.h1.data(), p.k_w.value, p.k_b.value, d.M, d.H, d.kv_out);
  }
  linear_forward(a.v.data(), a.h1.data(), p.v_w.value, p.v_b.value, d.M, d.H, d.kv_out);
  rope_forward(a.q.data(), d.M, d.Hq, d.D, ctx.cos, ctx.sin, ctx.half);
  rope_forward(a.k.data(), d.M, d.Hkv, d.D, ctx.cos, ctx.sin, ctx.half);

  const AttentionShape as = attention_shape(ctx, layer);
  resize(a.probs, as.probs_size());
  resize(a.attn, d.M * d.q_out);
  attention_forward(a.attn.data(), a.probs.data(), a.q.data(), a.k.data(), a.v.data(), as);

  resize(a.mid, d.M * d.H);
  linear_forward(a.mid.data(), a.attn.data(), p.o_w.value, p.o_b.value, d.M, d.q_out, d.H);
  add(a.mid.data(), x_in, a.mid.data(), d.M * d.H);

  resize(a.h2, d.M * d.H);
  resize(a.rstd2, d.M);
  rmsnorm_forward(a.h2.data(), a.rstd2.data(), a.mid.data(), p.post_attn_norm.value, d.M, d.H, ctx.eps);
  if (p.is_moe)
    moe_forward(x_out, a.moe, a.h2.data(), d.M, moe_shape(c), p.moe);
  else
    ffn_forward(x_out, a.ffn, a.h2.data(), d.M, d.H, c.intermediate_size, p.mlp);
  add(x_out, a.mid.data(), x_out, d.M * d.H);
}

void layer_backward(float* dx, const float* x_in, const LayerActs& a, int layer, const LayerContext& ctx,
                    const LayerParams& p, const double* moe_dprob, LayerGradScratch& s) {
  const ModelConfig& c = *ctx.config;
  const Dims d = dims(ctx);
  // FFN / MoE branch: dx (the gradient of x_out) is also that of mid, plus the norm's share.
  std::vector<float>& dh = s.dh;
  dh.assign(static_cast<size_t>(d.M * d.H), 0.0f);
  if (p.is_moe)
    moe_backward(dh.data(), dx, a.h2.data(), a.moe, d.M, moe_shape(c), p.moe, moe_dprob);
  else
    ffn_backward(dh.data(), dx, a.h2.data(), a.ffn, d.M, d.H, c.intermediate_size, p.mlp, &s.ffn);
  rmsnorm_backward(dx, p.post_attn_norm.grad, dh.data(), a.mid.data(), p.post_attn_norm.value, a.rstd2.data(), d.M,
                   d.H);

  // Attention branch.
  std::vector<float>&dattn = s.dattn, &dq = s.dq, &dk = s.dk, &dv = s.dv;
  dattn.assign(static_cast<size_t>(d.M * d.q_out), 0.0f);
  linear_backward(dattn.data(), p.o_w.grad, p.o_b.grad, dx, a.attn.data(), p.o_w.value, d.M, d.q_out, d.H);
  resize(dq, d.M * d.q_out);
  resize(dk, d.M * d.kv_out);
  resize(dv, d.M * d.kv_out);
  attention_backward(dq.data(), dk.data(), dv.data(), dattn.data(), a.probs.data(), a.q.data(), a.k.data(),
                     a.v.data(), attention_shape(ctx, layer));
  rope_backward(dq.data(), d.M, d.Hq, d.D, ctx.cos, ctx.sin, ctx.half);
  rope_backward(dk.data(), d.M, d.Hkv, d.D, ctx.cos, ctx.sin, ctx.half);
  if (c.qk_norm) {
    std::vector<float>&dq_raw = s.dq_raw, &dk_raw = s.dk_raw;
    dq_raw.assign(dq.size(), 0.0f);
    dk_raw.assign(dk.size(), 0.0f);
    rmsnorm_backward(dq_raw.data(), p.q_norm.grad, dq.data(), a.q_raw.data(), p.q_norm.value, a.q_rstd.data(),
                     d.M * d.Hq, d.D);
    rmsnorm_backward(dk_raw.data(), p.k_norm.grad, dk.data(), a.k_raw.data(), p.k_norm.value, a.k_rstd.data(),
                     d.M * d.Hkv, d.D);
    dq.swap(dq_raw);
    dk.swap(dk_raw);
  }
  std::fill(dh.begin(), dh.end(), 0.0f);
  linear_backward(dh.data(), p.q_w.grad, p.q_b.grad, dq.data(), a.h1.data(), p.q_w.value, d.M, d.H, d.q_out);
  linear_backward(dh.data(), p.k_w.grad, p.k_b.grad, dk.data(), a.h1.data(), p.k_w.value, d.M, d.H, d.kv_out);
  linear_backward(dh.data(), p.v_w.grad, p.v_b.grad, dv.data(), a.h1.data(), p.v_w.value, d.M, d.H, d.kv_out);
  rmsnorm_backward(dx, p.input_norm.grad, dh.data(), x_in, p.input_norm.value, a.rstd1.data(), d.M, d.H);
}

}  // namespace nova::train
