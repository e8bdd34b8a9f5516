#include "kernels/cpu/cpu_backend.h"

#include <cstring>
#include <vector>

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

using checks::bad;
using checks::row_width;
using checks::rows_of;

CpuBackend& CpuBackend::instance() {
  static CpuBackend backend;
  return backend;
}

Tensor CpuBackend::alloc(DType dtype, std::vector<int64_t> shape) { return Tensor::zeros(dtype, std::move(shape)); }

void CpuBackend::download(const Tensor& t, void* host_dst) {
  if (!t.is_contiguous()) bad("download", "tensor must be contiguous");
  if (t.nbytes() > 0) std::memcpy(host_dst, t.data(), t.nbytes());
}

void CpuBackend::copy_rows(const Tensor& src, Tensor& dst, int64_t row0) {
  if (!src.is_contiguous() || !dst.is_contiguous()) bad("copy_rows", "tensors must be contiguous");
  if (src.dtype() != dst.dtype()) bad("copy_rows", "dtype mismatch");
  if (row_width(src) != row_width(dst) || src.ndim() < 1 || dst.ndim() < 1)
    bad("copy_rows", "row size mismatch: " + src.shape_string() + " into " + dst.shape_string());
  if (row0 < 0 || row0 + rows_of(src) > rows_of(dst))
    bad("copy_rows", "rows [" + std::to_string(row0) + ", " + std::to_string(row0 + rows_of(src)) +
                         ") outside destination " + dst.shape_string());
  const size_t row_bytes = static_cast<size_t>(row_width(dst)) * dtype_size(dst.dtype());
  if (src.nbytes() > 0)
    std::memcpy(static_cast<char*>(dst.data()) + static_cast<size_t>(row0) * row_bytes, src.data(), src.nbytes());
}

void CpuBackend::embedding(const Tensor& table, std::span<const int32_t> ids, Tensor& out) {
  checks::weight(table, "embedding");
  checks::f32(out, "embedding", "out", 2);
  const int64_t n = static_cast<int64_t>(ids.size());
  if (out.dim(0) != n || out.dim(1) != table.dim(1))
    bad("embedding", "out " + out.shape_string() + " must be [" + std::to_string(n) + ", " +
                         std::to_string(table.dim(1)) + "]");
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= table.dim(0))
      bad("embedding", "token id " + std::to_string(ids[i]) + " out of range [0, " + std::to_string(table.dim(0)) + ")");
  cpu::embedding(table.data(), table.dtype(), table.dim(1), ids.data(), n, out.data_as<float>());
}

void CpuBackend::linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y) {
  checks::weight(w, "linear");
  checks::f32(x, "linear", "x");
  checks::f32(y, "linear", "y");
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t M = rows_of(x);
  if (row_width(x) != K) bad("linear", "x " + x.shape_string() + " does not match weight " + w.shape_string());
  if (rows_of(y) != M || row_width(y) != N)
    bad("linear", "y " + y.shape_string() + " must be [" + std::to_string(M) + ", " + std::to_string(N) + "]");
  if (bias) {
    checks::f32(*bias, "linear", "bias");
    if (bias->numel() != N) bad("linear", "bias " + bias->shape_string() + " must have " + std::to_string(N) + " elements");
  }
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
  checks::f32(x, "rmsnorm", "x");
  checks::f32(w, "rmsnorm", "weight");
  checks::f32(y, "rmsnorm", "y");
  checks::same_numel(x, y, "rmsnorm");
  const int64_t dim = w.numel();
  if (dim == 0 || x.numel() % dim != 0)
    bad("rmsnorm", "x " + x.shape_string() + " is not a whole number of rows of width " + std::to_string(dim));
  cpu::rmsnorm(x.data_as<float>(), x.numel() / dim, dim, w.data_as<float>(), eps, y.data_as<float>());
}

void CpuBackend::rope(Tensor& x, const Tensor& cos, const Tensor& sin) {
  checks::f32(x, "rope", "x", 3);
  checks::f32(cos, "rope", "cos", 2);
  checks::f32(sin, "rope", "sin", 2);
  if (cos.shape() != sin.shape()) bad("rope", "cos and sin shapes differ");
  const int64_t half = cos.dim(1);
  if (cos.dim(0) != x.dim(0) || 2 * half > x.dim(2))
    bad("rope", "table " + cos.shape_string() + " does not fit x " + x.shape_string());
  cpu::rope(x.data_as<float>(), x.dim(0), x.dim(1), x.dim(2), cos.data_as<float>(), sin.data_as<float>(), half);
}

void CpuBackend::attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0, int window,
                           float scale, Tensor& out) {
  checks::f32(q, "attention", "q", 3);
  checks::f32(k_cache, "attention", "k_cache", 3);
  checks::f32(v_cache, "attention", "v_cache", 3);
  checks::f32(out, "attention", "out", 3);
  if (k_cache.shape() != v_cache.shape()) bad("attention", "k and v caches differ in shape");
  if (out.shape() != q.shape()) bad("attention", "out " + out.shape_string() + " must match q " + q.shape_string());
  const int64_t rows = q.dim(0), q_heads = q.dim(1), head_dim = q.dim(2), kv_heads = k_cache.dim(1);
  if (k_cache.dim(2) != head_dim) bad("attention", "head_dim of q and cache differ");
  if (kv_heads <= 0 || q_heads % kv_heads != 0)
    bad("attention", std::to_string(q_heads) + " q heads not a multiple of " + std::to_string(kv_heads) + " kv heads");
  if (pos0 < 0 || pos0 + rows > k_cache.dim(0))
    bad("attention", "positions up to " + std::to_string(pos0 + rows) + " exceed cache capacity " +
                         std::to_string(k_cache.dim(0)));
  if (window < 0) bad("attention", "negative window");
  if (rows == 0) return;
  cpu::attention(q.data_as<float>(), rows, q_heads, head_dim, k_cache.data_as<float>(), v_cache.data_as<float>(),
                 kv_heads, pos0, window, scale, out.data_as<float>());
}

void CpuBackend::paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                                 std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables,
                                 int window, float scale, Tensor& out) {
  const char* op = "paged_attention";
  checks::f32(q, op, "q", 3);
  checks::f32(k_blocks, op, "k_blocks", 4);
  checks::f32(v_blocks, op, "v_blocks", 4);
  checks::f32(out, op, "out", 3);
  if (k_blocks.shape() != v_blocks.shape()) bad(op, "k and v blocks differ in shape");
  if (out.shape() != q.shape()) bad(op, "out " + out.shape_string() + " must match q " + q.shape_string());
  const int64_t total_rows = q.dim(0), q_heads = q.dim(1), head_dim = q.dim(2);
  const int64_t num_blocks = k_blocks.dim(0), block_size = k_blocks.dim(1), kv_heads = k_blocks.dim(2);
  if (k_blocks.dim(3) != head_dim) bad(op, "head_dim of q and blocks differ");
  if (kv_heads <= 0 || q_heads % kv_heads != 0)
    bad(op, std::to_string(q_heads) + " q heads not a multiple of " + std::to_string(kv_heads) + " kv heads");
  if (block_size <= 0) bad(op, "empty blocks " + k_blocks.shape_string());
  if (window < 0) bad(op, "negative window");
  const auto table_len = static_cast<int64_t>(block_tables.size());
  for (int32_t b : block_tables)
    if (b < 0 || b >= num_blocks)
      bad(op, "block id " + std::to_string(b) + " outside [0, " + std::to_string(num_blocks) + ")");
  std::vector<char> named(static_cast<size_t>(total_rows), 0);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const PagedAttentionSeq& s = seqs[i];
    const std::string which = "sequence " + std::to_string(i) + ": ";
    if (s.q_rows < 0 || s.q_begin < 0 || s.q_begin + s.q_rows > total_rows)
      bad(op, which + "q rows outside q " + q.shape_string());
    if (s.pos0 < 0) bad(op, which + "negative position");
    if (s.table_begin < 0 || s.table_size < 0 || s.table_begin + s.table_size > table_len)
      bad(op, which + "block table outside the given tables");
    if (s.table_size * block_size < s.pos0 + s.q_rows)
      bad(op, which + std::to_string(s.table_size) + " blocks of " + std::to_string(block_size) +
                  " cannot hold positions up to " + std::to_string(s.pos0 + s.q_rows));
    for (int64_t r = s.q_begin; r < s.q_begin + s.q_rows; ++r) {
      if (named[r]) bad(op, which + "q row " + std::to_string(r) + " belongs to two sequences");
      named[r] = 1;
    }
  }
  if (total_rows == 0 || seqs.empty()) return;
  cpu::paged_attention(q.data_as<float>(), q_heads, head_dim, k_blocks.data_as<float>(), v_blocks.data_as<float>(),
                       block_size, kv_heads, seqs.data(), static_cast<int64_t>(seqs.size()), block_tables.data(), window,
                       scale, out.data_as<float>());
}

void CpuBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& out) {
  checks::f32(gate, "swiglu", "gate");
  checks::f32(up, "swiglu", "up");
  checks::f32(out, "swiglu", "out");
  checks::same_numel(gate, up, "swiglu");
  checks::same_numel(gate, out, "swiglu");
  cpu::swiglu(gate.data_as<float>(), up.data_as<float>(), gate.numel(), out.data_as<float>());
}

void CpuBackend::add(Tensor& a, const Tensor& b) {
  checks::f32(a, "add", "a");
  checks::f32(b, "add", "b");
  checks::same_numel(a, b, "add");
  cpu::add(a.data_as<float>(), b.data_as<float>(), a.numel());
}

void CpuBackend::scale_rows_by_sigmoid(Tensor& x, const Tensor& g) {
  checks::f32(x, "scale_rows_by_sigmoid", "x");
  checks::f32(g, "scale_rows_by_sigmoid", "g");
  if (g.numel() != rows_of(x)) bad("scale_rows_by_sigmoid", "gate " + g.shape_string() + " needs one value per row of " + x.shape_string());
  cpu::scale_rows_by_sigmoid(x.data_as<float>(), rows_of(x), row_width(x), g.data_as<float>());
}

Routing CpuBackend::route_top_k(const Tensor& logits, int k, bool normalize) {
  checks::f32(logits, "route_top_k", "logits", 2);
  if (k <= 0 || k > logits.dim(1))
    bad("route_top_k", "k=" + std::to_string(k) + " must be in [1, " + std::to_string(logits.dim(1)) + "]");
  Routing r;
  r.rows = logits.dim(0);
  r.k = k;
  r.expert.resize(static_cast<size_t>(r.rows * k));
  r.weight.resize(static_cast<size_t>(r.rows * k));
  cpu::route_top_k(logits.data_as<float>(), r.rows, logits.dim(1), k, normalize, r.expert.data(), r.weight.data());
  return r;
}

void CpuBackend::gather_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) {
  checks::f32(src, "gather_rows", "src");
  checks::f32(dst, "gather_rows", "dst");
  const int64_t n = static_cast<int64_t>(rows.size());
  if (rows_of(dst) != n || row_width(dst) != row_width(src))
    bad("gather_rows", "dst " + dst.shape_string() + " must hold " + std::to_string(n) + " rows of src " + src.shape_string());
  for (int32_t r : rows)
    if (r < 0 || r >= rows_of(src)) bad("gather_rows", "row " + std::to_string(r) + " out of range");
  cpu::gather_rows(src.data_as<float>(), row_width(src), rows.data(), n, dst.data_as<float>());
}

void CpuBackend::scatter_rows(const Tensor& src, std::span<const int32_t> rows, Tensor& dst) {
  checks::f32(src, "scatter_rows", "src");
  checks::f32(dst, "scatter_rows", "dst");
  const int64_t n = static_cast<int64_t>(rows.size());
  if (rows_of(src) != n || row_width(dst) != row_width(src))
    bad("scatter_rows", "src " + src.shape_string() + " must hold " + std::to_string(n) + " rows of dst " +
                            dst.shape_string());
  std::vector<char> seen(static_cast<size_t>(rows_of(dst)), 0);
  for (int32_t r : rows) {
    if (r < 0 || r >= rows_of(dst)) bad("scatter_rows", "row " + std::to_string(r) + " out of range");
    if (seen[r]) bad("scatter_rows", "row " + std::to_string(r) + " repeats");
    seen[r] = 1;
  }
  const int64_t w = row_width(src);
  const float* s = src.data_as<float>();
  float* d = dst.data_as<float>();
  for (int64_t i = 0; i < n; ++i) std::memcpy(d + rows[i] * w, s + i * w, static_cast<size_t>(w) * sizeof(float));
}

void CpuBackend::scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                                  Tensor& dst) {
  checks::f32(src, "scatter_add_rows", "src");
  checks::f32(dst, "scatter_add_rows", "dst");
  const int64_t n = static_cast<int64_t>(rows.size());
  if (static_cast<int64_t>(weights.size()) != n || rows_of(src) < n || row_width(dst) != row_width(src))
    bad("scatter_add_rows", "src " + src.shape_string() + " / rows / weights / dst " + dst.shape_string() + " disagree");
  for (int32_t r : rows)
    if (r < 0 || r >= rows_of(dst)) bad("scatter_add_rows", "row " + std::to_string(r) + " out of range");
  cpu::scatter_add_rows(src.data_as<float>(), row_width(src), rows.data(), weights.data(), n, dst.data_as<float>());
}

}  // namespace nova::kernels
