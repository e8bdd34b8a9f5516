#include "train/model_params.h"

#include <algorithm>
#include <random>

#include "core/error.h"
#include "model/weight_names.h"

namespace nova::train {

namespace names = model::weight_names;
using formats::ModelConfig;

namespace {

const names::ExpertLayout& saved_expert_layout(const ModelConfig& c) {
  // expert_layouts(): [0] Mixtral's block_sparse_moe w1/w3/w2, [1] mlp.experts.E.*_proj.
  return names::expert_layouts()[c.model_type == "mixtral" ? 0 : 1];
}

void add_linear(ParamStore& s, const std::string& base, int64_t out, int64_t in, bool bias) {
  s.add(base + ".weight", {out, in});
  if (bias) s.add(base + ".bias", {out});
}

}  // namespace

void validate_config(const ModelConfig& c) {
  require(c.num_layers > 0 && c.hidden_size > 0 && c.num_heads > 0 && c.num_kv_heads > 0 && c.head_dim > 0 &&
              c.vocab_size > 0 && c.intermediate_size >= 0 && c.num_heads % c.num_kv_heads == 0,
          "model config", "incomplete or inconsistent dimensions");
  require(c.num_experts == 0 || (c.experts_per_token > 0 && c.experts_per_token <= c.num_experts &&
                                 c.moe_intermediate_size > 0),
          "model config", "MoE needs experts_per_token in [1, num_experts] and moe_intermediate_size > 0");
  require(c.layer_sliding.empty() || static_cast<int>(c.layer_sliding.size()) == c.num_layers, "model config",
          "layer_sliding must have one entry per layer");
  require(c.layer_moe.empty() || static_cast<int>(c.layer_moe.size()) == c.num_layers, "model config",
          "layer_moe must have one entry per layer");
}

ParamStore make_params(const ModelConfig& c) {
  validate_config(c);
  const int64_t H = c.hidden_size, V = c.vocab_size, D = c.head_dim;
  const int64_t q_out = int64_t{c.num_heads} * D, kv_out = int64_t{c.num_kv_heads} * D;
  ParamStore s;
  s.add(names::kEmbed, {V, H});
  for (int l = 0; l < c.num_layers; ++l) {
    s.add(names::layer(l, names::kInputNorm), {H});
    add_linear(s, names::layer(l, names::kQProj), q_out, H, c.qkv_bias);
    add_linear(s, names::layer(l, names::kKProj), kv_out, H, c.qkv_bias);
    add_linear(s, names::layer(l, names::kVProj), kv_out, H, c.qkv_bias);
    add_linear(s, names::layer(l, names::kOProj), H, q_out, c.o_bias);
    if (c.qk_norm) {
      s.add(names::layer(l, names::kQNorm), {D});
      s.add(names::layer(l, names::kKNorm), {D});
    }
    s.add(names::layer(l, names::kPostAttnNorm), {H});
    const bool moe = c.num_experts > 0 && (c.layer_moe.empty() || c.layer_moe[l]);
    if (!moe) {
      const int64_t I = c.intermediate_size;
      add_linear(s, names::layer(l, names::kMlpGate), I, H, c.mlp_bias);
      add_linear(s, names::layer(l, names::kMlpUp), I, H, c.mlp_bias);
      add_linear(s, names::layer(l, names::kMlpDown), H, I, c.mlp_bias);
      continue;
    }
    const names::ExpertLayout& lay = saved_expert_layout(c);
    const int64_t I = c.moe_intermediate_size, E = c.num_experts;
    s.add(names::layer(l, lay.router), {E, H});
    for (int e = 0; e < E; ++e) {
      s.add(names::expert(l, lay.gate, e), {I, H});
      s.add(names::expert(l, lay.up, e), {I, H});
      s.add(names::expert(l, lay.down, e), {H, I});
    }
    if (c.shared_expert_intermediate_size > 0) {
      const int64_t S = c.shared_expert_intermediate_size;
      s.add(names::layer(l, std::string(names::kSharedGate) + ".weight"), {S, H});
      s.add(names::layer(l, std::string(names::kSharedUp) + ".weight"), {S, H});
      s.add(names::layer(l, std::string(names::kSharedDown) + ".weight"), {H, S});
      s.add(names::layer(l, names::kSharedExpertGate), {1, H});
    }
  }
  s.add(names::kFinalNorm, {H});
  if (!c.tie_word_embeddings) s.add(names::kLmHead, {V, H});
  return s;
}

ParamStore load_params(const ModelConfig& c, const formats::Checkpoint& ckpt) {
  ParamStore s = make_params(c);
  std::map<std::string, Tensor> tensors;
  for (const Param& p : s.params())
    if (ckpt.contains(p.name)) tensors[p.name] = ckpt.get(p.name);
  // Routed experts stored in another layout than ours: per-expert names, or fused 3-D tensors.
  const names::ExpertLayout& ours = saved_expert_layout(c);
  const int64_t H = c.hidden_size, I = c.moe_intermediate_size, E = c.num_experts;
  for (int l = 0; l < c.num_layers && E > 0; ++l) {
    if (!s.contains(names::layer(l, ours.router)) || ckpt.contains(names::expert(l, ours.gate, 0))) continue;
    for (const names::ExpertLayout& lay : names::expert_layouts()) {
      if (!ckpt.contains(names::layer(l, lay.router)) || !ckpt.contains(names::expert(l, lay.gate, 0))) continue;
      tensors[names::layer(l, ours.router)] = ckpt.get(names::layer(l, lay.router));
      if (!lay.fused) {
        for (int e = 0; e < E; ++e) {
          tensors[names::expert(l, ours.gate, e)] = ckpt.get(names::expert(l, lay.gate, e));
          tensors[names::expert(l, ours.up, e)] = ckpt.get(names::expert(l, lay.up, e));
          tensors[names::expert(l, ours.down, e)] = ckpt.get(names::expert(l, lay.down, e));
        }
      } else {
        const Tensor gu = ckpt.get(names::layer(l, lay.gate), {E, 2 * I, H}).reshape({E * 2 * I, H});
        const Tensor dn = ckpt.get(names::layer(l, lay.down), {E, H, I}).reshape({E * H, I});
        for (int e = 0; e < E; ++e) {
          tensors[names::expert(l, ours.gate, e)] = gu.slice_rows(e * 2 * I, e * 2 * I + I);
          tensors[names::expert(l, ours.up, e)] = gu.slice_rows(e * 2 * I + I, (e + 1) * 2 * I);
          tensors[names::expert(l, ours.down, e)] = dn.slice_rows(e * H, (e + 1) * H);
        }
      }
      break;
    }
  }
  s.load_values(tensors, ckpt.dir());
  return s;
}

void init_params_random(ParamStore& params, uint64_t seed, float stddev) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, stddev);
  for (Param& p : params.params()) {
    float* v = p.data();
    const bool is_norm = p.name.find("norm.weight") != std::string::npos;
    if (p.value.ndim() >= 2)
      for (int64_t i = 0; i < p.numel(); ++i) v[i] = normal(rng);
    else
      std::fill_n(v, p.numel(), is_norm ? 1.0f : 0.0f);
  }
}

}  // namespace nova::train
