// CudaBackend's rope_store_attention / rope_store_paged_attention (backend.h): a decode step's
// RoPE, K/V store and attention in one launch of the decode attention kernel, which rotates q as
// it loads it and has the split block covering each sequence's new positions rotate k and write
// both rows into the cache before reading them (attention_decode.cu, AttnArgs::rope_cos): one
// kernel and one dependent launch fewer per layer. Calls the kernel does not take (more than one
// tile of virtual rows per sequence, other head dims, a rotary half not a multiple of 8, unaligned
// tables), and every call under NOVA_CUDA_ROPE_ATTEND=0, run Backend's composition.
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cuda/cuda_backend_impl.cuh"
#include "kernels/rope_attention.h"

namespace nova::kernels::cuda::detail {

namespace {

bool fused_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("NOVA_CUDA_ROPE_ATTEND");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return on;
}

// The RoPE + store half's checks (rope_store_kv's, against the cache's rows of width kv_heads x
// head_dim), then the kernel's view of the new rows.
AttnRopeStore rope_rows(const char* op, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos,
                        const Tensor& sin, int64_t kv_heads, int64_t head_dim) {
  checks::rope(q, cos, sin, /*bf16=*/true);
  checks::rope(k, cos, sin, /*bf16=*/true);
  checks::act(v, op, "v", /*bf16=*/true, 3);
  checks::same_dtype(q, k, op, "q and k");
  checks::same_dtype(k, v, op, "k and v");
  if (v.shape() != k.shape()) bad(op, "v " + v.shape_string() + " must match k " + k.shape_string());
  if (k.dim(0) != q.dim(0) || k.dim(1) != kv_heads || k.dim(2) != head_dim)
    bad(op, "k " + k.shape_string() + " must hold q's rows of the cache's " + std::to_string(kv_heads) + " x " +
                std::to_string(head_dim));
  return AttnRopeStore{k.data(), v.data(), cos.data_as<float>(), sin.data_as<float>(), cos.dim(1)};
}

}  // namespace

void CudaBackend::rope_store_attention(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                       Tensor& k_cache, Tensor& v_cache, int64_t pos0, int window, float scale,
                                       Tensor& out) {
  const char* op = "rope_store_attention";
  checks::attention(q, k_cache, v_cache, pos0, window, out, /*bf16=*/true);
  const int64_t rows = q.dim(0), kv_heads = k_cache.dim(1);
  const AttnRopeStore r = rope_rows(op, q, k, v, cos, sin, kv_heads, k_cache.dim(2));
  if (rows == 0) return;
  // The contiguous cache is one block of `capacity` slots (CudaBackend::attention).
  const PagedAttentionSeq seq{0, rows, pos0, 0, 1};
  const int32_t table[1] = {0};
  if (fused_enabled() &&
      run_attention(q, k_cache.data(), v_cache.data(), k_cache.dtype(), k_cache.dim(0), kv_heads,
                    std::span<const PagedAttentionSeq>(&seq, 1), table, k_cache.dim(0), window, scale, out, &r))
    return;
  Backend::rope_store_attention(q, k, v, cos, sin, k_cache, v_cache, pos0, window, scale, out);
}

void CudaBackend::rope_store_paged_attention(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos,
                                             const Tensor& sin, Tensor& k_blocks, Tensor& v_blocks,
                                             std::span<const PagedAttentionSeq> seqs,
                                             std::span<const int32_t> block_tables, int window, float scale,
                                             Tensor& out) {
  const char* op = "rope_store_paged_attention";
  checks::paged_attention(q, k_blocks, v_blocks, seqs, block_tables, window, out, /*bf16=*/true);
  const int64_t block_size = k_blocks.dim(1), kv_heads = k_blocks.dim(2);
  const AttnRopeStore r = rope_rows(op, q, k, v, cos, sin, kv_heads, k_blocks.dim(3));
  if (q.dim(0) == 0) return;
  paged_step_slots(q.dim(0), seqs, block_tables, block_size, op);  // every row stored, no slot twice
  int64_t max_keys = 0;
  for (const PagedAttentionSeq& s : seqs) max_keys = std::max(max_keys, s.table_size * block_size);
  if (fused_enabled() && run_attention(q, k_blocks.data(), v_blocks.data(), k_blocks.dtype(), block_size, kv_heads,
                                       seqs, block_tables, max_keys, window, scale, out, &r))
    return;
  Backend::rope_store_paged_attention(q, k, v, cos, sin, k_blocks, v_blocks, seqs, block_tables, window, scale, out);
}

}  // namespace nova::kernels::cuda::detail
