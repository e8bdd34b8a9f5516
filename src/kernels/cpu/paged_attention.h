// attention() over a paged KV cache for a batch of sequences (see Backend::paged_attention).
#pragma once

#include <cstdint>

#include "kernels/backend.h"

namespace nova::kernels::cpu {

// k_blocks, v_blocks: [num_blocks, block_size, kv_heads, head_dim]; q, out: [*, q_heads,
// head_dim]. Arguments already validated by the caller.
void paged_attention(const float* q, int64_t q_heads, int64_t head_dim, const float* k_blocks, const float* v_blocks,
                     int64_t block_size, int64_t kv_heads, const PagedAttentionSeq* seqs, int64_t num_seqs,
                     const int32_t* block_tables, int64_t window, float scale, float* out);

}  // namespace nova::kernels::cpu
