// Causal (optionally sliding-window) grouped-query attention of a block of query rows over a
// contiguous KV cache. Memory: one row of scores per worker, never [rows, kv_len].
#pragma once

#include <cstdint>

namespace nova::kernels::cpu {

// q, out: [rows, q_heads, head_dim]; k, v: [>= pos0 + rows, kv_heads, head_dim].
// Query row r sits at position p = pos0 + r and attends to cache rows j <= p, and when
// window > 0 only to those with p - j < window. q head h uses kv head h / (q_heads / kv_heads).
void attention(const float* q, int64_t rows, int64_t q_heads, int64_t head_dim, const float* k, const float* v,
               int64_t kv_heads, int64_t pos0, int64_t window, float scale, float* out);

}  // namespace nova::kernels::cpu
