// Causal grouped-query self-attention over B independent sequences of T tokens, with an
// optional sliding window, keeping the softmax probabilities for the backward (llm.c style):
//   out[b, t, h] = sum_j P[b, h, t, j] v[b, j, h / G],
//   P[b, h, t, :] = softmax_j(scale * q[b, t, h] . k[b, j, h / G]) over lo(t) <= j <= t,
// lo(t) = max(0, t - window + 1) when window > 0, else 0; G = q_heads / kv_heads.
#pragma once

#include <cstdint>

namespace nova::train {

struct AttentionShape {
  int64_t B = 0, T = 0, q_heads = 0, kv_heads = 0, head_dim = 0;
  int64_t window = 0;  // 0: full causal
  float scale = 1.0f;
  int64_t probs_size() const { return B * q_heads * T * T; }
};

// q, out: [B, T, q_heads, head_dim]; k, v: [B, T, kv_heads, head_dim]; probs: [B, q_heads, T, T]
// (entries outside the causal window are written as 0). out and probs written.
void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                       const AttentionShape& s);
// dq, dk, dv written (not accumulated), same layouts as q, k, v.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* probs, const float* q,
                        const float* k, const float* v, const AttentionShape& s);

}  // namespace nova::train
