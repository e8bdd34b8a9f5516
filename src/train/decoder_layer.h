// One transformer block of model/transformer.h, forward and backward, composed from the layers
// in train/layers/ (the math is spelled out in model/transformer.h):
//   h1 = RMSNorm(x); q,k,v = h1 W (+b); [qk-norm]; RoPE(q,k); a = attention; m = x + a Wo (+bo)
//   h2 = RMSNorm(m); out = m + FFN(h2) or MoE(h2)
#pragma once

#include <cstdint>
#include <vector>

#include "formats/hf_config.h"
#include "train/layers/attention.h"
#include "train/layers/ffn.h"
#include "train/layers/moe.h"
#include "train/param_store.h"

namespace nova::train {

struct LayerParams {
  ParamView input_norm, post_attn_norm;
  ParamView q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
  ParamView q_norm, k_norm;  // qk_norm only
  bool is_moe = false;
  FfnParams mlp;
  MoeParams moe;
};

// Resolves layer `l`'s parameters in `store` (laid out by make_params).
LayerParams layer_params(ParamStore& store, const formats::ModelConfig& c, int l);

// What every layer of one forward shares: shapes and the RoPE table of its positions.
struct LayerContext {
  const formats::ModelConfig* config = nullptr;
  int64_t B = 0, T = 0;
  const float* cos = nullptr;  // [B*T, half]
  const float* sin = nullptr;
  int64_t half = 0;
  float eps = 1e-6f;
  float scale = 1.0f;  // 1/sqrt(head_dim)
  int64_t rows() const { return B * T; }
};

// Activations one layer's backward needs, named after the tensors of model/transformer.h.
struct LayerActs {
  std::vector<float> h1, rstd1;              // input_norm output [M, H], its rstd [M]
  std::vector<float> q_raw, k_raw;           // projections before the qk-norm (qk_norm only)
  std::vector<float> q_rstd, k_rstd;         // per-head rstd of the qk-norm
  std::vector<float> q, k, v;                // after qk-norm and RoPE: [M, heads, head_dim]
  std::vector<float> probs;                  // attention probabilities [B, Hq, T, T]
  std::vector<float> attn;                   // attention output [M, Hq * D]
  std::vector<float> mid;                    // residual after attention [M, H]
  std::vector<float> h2, rstd2;              // post_attention_norm output and rstd
  FfnActs ffn;                               // dense layers
  MoeActs moe;                               // MoE layers
};

// The backward's temporaries, owned by the caller and reused across layers and steps.
struct LayerGradScratch {
  std::vector<float> dh, dattn, dq, dk, dv, dq_raw, dk_raw;
  FfnGradScratch ffn;
};

// x_out [M, H] written from x_in [M, H].
void layer_forward(float* x_out, LayerActs& acts, const float* x_in, int layer, const LayerContext& ctx,
                   const LayerParams& p);
// dx: on entry the gradient of x_out, on return that of x_in (in place). Parameter grads
// accumulate. moe_dprob: the load-balancing loss' gradient per router probability (MoE layers).
void layer_backward(float* dx, const float* x_in, const LayerActs& acts, int layer, const LayerContext& ctx,
                    const LayerParams& p, const double* moe_dprob, LayerGradScratch& scratch);

}  // namespace nova::train
