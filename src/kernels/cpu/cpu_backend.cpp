#include "kernels/cpu/cpu_backend.h"

#include <cstring>

#include "kernels/cpu/activations.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/moe_routing.h"
#include "kernels/cpu/paged_attention.h"
#include "kernels/cpu/rmsnorm.h"
#include "kernels/cpu/rope.h"
#include "kernels/op_checks.h"

namespace nova::kernels {

using checks::row_width;
using checks::rows_of;

CpuBackend& CpuBackend::instance() {
  static CpuBackend backend;
  return backend;
}

Tensor CpuBackend::alloc(DType dtype, std::vector<int64_t> shape) { return Tensor::zeros(dtype, std::move(shape)); }

void CpuBackend::download(const Tensor& t, void* host_dst) {
  checks::download(t);
  if (t.nbytes() > 0) std::memcpy(host_dst, t.data(), t.nbytes());
}

void CpuBackend::copy_rows(const Tensor& src, Tensor& dst, int64_t row0) {
  checks::copy_rows(src, dst, row0);
  const size_t row_bytes = static_cast<size_t>(row_width(dst)) * dtype_size(dst.dtype());
  if (src.nbytes() > 0)
    std::memcpy(static_cast<char*>(dst.data()) + static_cast<size_t>(row0) * row_bytes, src.data(), src.nbytes());
}

void CpuBackend::embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) {
  checks::embedding(table, ids, out);
  cpu::embedding(table.data(), table.dtype(), table.dim(1), ids.data(), static_cast<int64_t>(ids.size()),
                 out.data_as<float>());
}

void CpuBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  checks::linear(x, w, bias, y);
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t M = rows_of(x);
  if (M == 0) return;
  float* yp = y.data_as<float>();
  cpu::matmul(x.data_as<float>(), M, K, w.data(), w.dtype(), N, yp);
  if (bias) {
    const float* b = bias->data_as<float>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) yp[m * N + n] += b[n];
  }
}

void CpuBackend::rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& y) {
  checks::rmsnorm(x, w, y);
  const int64_t dim = w.numel();
  cpu::rmsnorm(x.data_as<float>(), x.numel() / dim, dim, w.data_as<float>(), eps, y.data_as<float>());
}

void CpuBackend::rope(Tensor& x, const Tensor& cos, const Tensor& sin) {
  checks::rope(x, cos, sin);
  cpu::rope(x.data_as<float>(), x.dim(0), x.dim(1), x.dim(2), cos.data_as<float>(), sin.data_as<float>(), cos.dim(1));
}

void CpuBackend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0, int window,
                           float scale, Tensor& out) {
  checks::attention(q, k_cache, v_cache, pos0, window, out);
  const int64_t rows = q.dim(0), q_heads = q.dim(1), head_dim = q.dim(2), kv_heads = k_cache.dim(1);
  if (rows == 0) return;
  cpu::attention(q.data_as<float>(), rows, q_heads, head_dim, k_cache.data_as<float>(), v_cache.data_as<float>(),
                 kv_heads, pos0, window, scale, out.data_as<float>());
}

void CpuBackend::paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                                 std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables,
                                 int window, float scale, Tensor& out) {
  checks::paged_attention(q, k_blocks, v_blocks, seqs, block_tables, window, out);
  const int64_t total_rows = q.dim(0), q_heads = q.dim(1), head_dim = q.dim(2);
  const int64_t block_size = k_blocks.dim(1), kv_heads = k_blocks.dim(2);
  if (total_rows == 0 || seqs.empty()) return;
  cpu::paged_attention(q.data_as<float>(), q_heads, head_dim, k_blocks.data_as<float>(), v_blocks.data_as<float>(),
                       block_size, kv_heads, seqs.data(), static_cast<int64_t>(seqs.size()), block_tables.data(), window,
                       scale, out.data_as<float>());
}

void CpuBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  checks::swiglu(gate, up, out);
  cpu::swiglu(gate.data_as<float>(), up.data_as<float>(), gate.numel(), out.data_as<float>());
}

void CpuBackend::add(Tensor& a, const Tensor& b) {
  checks::add(a, b);
  cpu::add(a.data_as<float>(), b.data_as<float>(), a.numel());
}

void CpuBackend::scale_rows_by_sigmoid(Tensor& x, const Tensor& g) {
  checks::scale_rows_by_sigmoid(x, g);
  cpu::scale_rows_by_sigmoid(x.data_as<float>(), rows_of(x), row_width(x), g.data_as<float>());
}

Routing CpuBackend::route_top_k(const Tensor& logits, int k, bool normalize) {
  checks::route_top_k(logits, k);
  Routing r;
  r.rows = logits.dim(0);
  r.k = k;
  r.expert.resize(static_cast<size_t>(r.rows * k));
  r.weight.resize(static_cast<size_t>(r.rows * k));
  cpu::route_top_k(logits.data_as<float>(), r.rows, logits.dim(1), k, normalize, r.expert.data(), r.weight.data());
  return r;
}

void CpuBackend::gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) {
  checks::gather_rows(src, rows, dst);
  cpu::gather_rows(src.data_as<float>(), row_width(src), rows.data(), static_cast<int64_t>(rows.size()),
                   dst.data_as<float>());
}

void CpuBackend::scatter_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) {
  checks::scatter_rows(src, rows, dst);
  const int64_t w = row_width(src);
  const float* s = src.data_as<float>();
  float* d = dst.data_as<float>();
  const int64_t n = static_cast<int64_t>(rows.size());
  for (int64_t i = 0; i < n; ++i) std::memcpy(d + rows[i] * w, s + i * w, static_cast<size_t>(w) * sizeof(float));
}

void CpuBackend::scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                                  Tensor& dst) {
  checks::scatter_add_rows(src, rows, weights, dst);
  cpu::scatter_add_rows(src.data_as<float>(), row_width(src), rows.data(), weights.data(),
                        static_cast<int64_t>(rows.size()), dst.data_as<float>());
}

}  // namespace nova::kernels
