// Backend::rope_store_attention and rope_store_paged_attention's defaults: the compositions
// (rope_store_kv, then attention / paged_attention) the fused device kernels are measured against.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/op_checks.h"
#include "kernels/rope_attention.h"

namespace nova::kernels {

std::vector<int32_t> paged_step_slots(int64_t total_rows, std::span<const PagedAttentionSeq> seqs,
                                      std::span<const int32_t> block_tables, int64_t block_size, const char* op) {
  std::vector<int32_t> slots(static_cast<size_t>(total_rows), -1);
  for (const PagedAttentionSeq& s : seqs)
    for (int64_t i = 0; i < s.q_rows; ++i) {
      const int64_t p = s.pos0 + i;
      const int64_t slot = int64_t{block_tables[static_cast<size_t>(s.table_begin + p / block_size)]} * block_size +
                           p % block_size;
      slots[static_cast<size_t>(s.q_begin + i)] = static_cast<int32_t>(slot);
    }
  std::vector<int32_t> sorted(slots);
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] < 0) checks::bad(op, "every row of q must belong to a sequence (its K/V row is stored)");
    if (i > 0 && sorted[i] == sorted[i - 1])
      checks::bad(op, "two rows store into cache slot " + std::to_string(sorted[i]));
  }
  return slots;
}

void Backend::rope_store_attention(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                   Tensor& k_cache, Tensor& v_cache, int64_t pos0, int window, float scale,
                                   Tensor& out) {
  if (pos0 < 0) checks::bad("rope_store_attention", "negative position");
  std::vector<int32_t> rows(static_cast<size_t>(q.ndim() > 0 ? q.dim(0) : 0));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int32_t>(pos0 + static_cast<int64_t>(i));
  rope_store_kv(q, k, v, cos, sin, rows, k_cache, v_cache);
  attention(q, k_cache, v_cache, pos0, window, scale, out);
}

void Backend::rope_store_paged_attention(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                         Tensor& k_blocks, Tensor& v_blocks, std::span<const PagedAttentionSeq> seqs,
                                         std::span<const int32_t> block_tables, int window, float scale,
                                         Tensor& out) {
  checks::paged_attention(q, k_blocks, v_blocks, seqs, block_tables, window, out, supports_activation(DType::BF16));
  const std::vector<int32_t> slots =
      paged_step_slots(q.dim(0), seqs, block_tables, k_blocks.dim(1), "rope_store_paged_attention");
  const int64_t n = k_blocks.dim(0) * k_blocks.dim(1);
  Tensor kf = k_blocks.reshape({n, k_blocks.dim(2), k_blocks.dim(3)});
  Tensor vf = v_blocks.reshape({n, v_blocks.dim(2), v_blocks.dim(3)});
  rope_store_kv(q, k, v, cos, sin, slots, kf, vf);
  paged_attention(q, k_blocks, v_blocks, seqs, block_tables, window, scale, out);
}

}  // namespace nova::kernels
