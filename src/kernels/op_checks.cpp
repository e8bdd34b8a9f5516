#include "kernels/op_checks.h"

#include <vector>

#include "core/error.h"

namespace nova::kernels::checks {

void bad(const char* op, const std::string& what) { fail(std::string("kernels::") + op, what); }

void f32(const Tensor& t, const char* op, const char* arg, int ndim) {
  if (t.empty() && t.numel() != 0) bad(op, std::string(arg) + " has no data");
  if (t.dtype() != DType::F32)
    bad(op, std::string(arg) + " must be F32, got " + std::string(dtype_name(t.dtype())));
  if (!t.is_contiguous()) bad(op, std::string(arg) + " must be contiguous");
  if (ndim >= 0 && t.ndim() != ndim)
    bad(op, std::string(arg) + " must have " + std::to_string(ndim) + " dims, got " + t.shape_string());
}

void act(const Tensor& t, const char* op, const char* arg, bool bf16, int ndim) {
  if (!bf16 || t.dtype() != DType::BF16) return f32(t, op, arg, ndim);
  if (t.empty() && t.numel() != 0) bad(op, std::string(arg) + " has no data");
  if (!t.is_contiguous()) bad(op, std::string(arg) + " must be contiguous");
  if (ndim >= 0 && t.ndim() != ndim)
    bad(op, std::string(arg) + " must have " + std::to_string(ndim) + " dims, got " + t.shape_string());
}

void same_dtype(const Tensor& a, const Tensor& b, const char* op, const char* what) {
  if (a.dtype() != b.dtype())
    bad(op, std::string(what) + " must have one dtype, got " + std::string(dtype_name(a.dtype())) + " and " +
                std::string(dtype_name(b.dtype())));
}

int64_t rows_of(const Tensor& t) { return t.ndim() == 0 ? 1 : t.dim(0); }

int64_t row_width(const Tensor& t) {
  int64_t w = 1;
  for (int i = 1; i < t.ndim(); ++i) w *= t.dim(i);
  return w;
}

void same_numel(const Tensor& a, const Tensor& b, const char* op) {
  if (a.numel() != b.numel()) bad(op, "size mismatch: " + a.shape_string() + " vs " + b.shape_string());
}

void weight(const Tensor& w, const char* op) {
  if (w.ndim() != 2) bad(op, "weight must be 2-D, got " + w.shape_string());
  if (!w.is_contiguous()) bad(op, "weight must be contiguous");
  if (w.dtype() != DType::F32 && w.dtype() != DType::BF16 && w.dtype() != DType::F16)
    bad(op, "weight dtype " + std::string(dtype_name(w.dtype())) + " not supported (F32/BF16/F16)");
}

void download(const Tensor& t) {
  if (!t.is_contiguous()) bad("download", "tensor must be contiguous");
}

void copy_rows(const Tensor& src, const Tensor& dst, int64_t row0) {
  if (!src.is_contiguous() || !dst.is_contiguous()) bad("copy_rows", "tensors must be contiguous");
  if (src.dtype() != dst.dtype()) bad("copy_rows", "dtype mismatch");
  if (row_width(src) != row_width(dst) || src.ndim() < 1 || dst.ndim() < 1)
    bad("copy_rows", "row size mismatch: " + src.shape_string() + " into " + dst.shape_string());
  if (row0 < 0 || row0 + rows_of(src) > rows_of(dst))
    bad("copy_rows", "rows [" + std::to_string(row0) + ", " + std::to_string(row0 + rows_of(src)) +
                         ") outside destination " + dst.shape_string());
}

void embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) {
  weight(table, "embedding");
  f32(out, "embedding", "out", 2);
  const int64_t n = static_cast<int64_t>(ids.size());
  if (out.dim(0) != n || out.dim(1) != table.dim(1))
    bad("embedding", "out " + out.shape_string() + " must be [" + std::to_string(n) + ", " +
                         std::to_string(table.dim(1)) + "]");
  for (int32_t id : ids)
    if (id < 0 || id >= table.dim(0))
      bad("embedding", "token id " + std::to_string(id) + " out of range [0, " + std::to_string(table.dim(0)) + ")");
}

void linear(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y, bool bf16) {
  weight(w, "linear");
  act(x, "linear", "x", bf16);
  act(y, "linear", "y", bf16);
  const int64_t N = w.dim(0), K = w.dim(1);
  const int64_t M = rows_of(x);
  if (row_width(x) != K) bad("linear", "x " + x.shape_string() + " does not match weight " + w.shape_string());
  if (rows_of(y) != M || row_width(y) != N)
    bad("linear", "y " + y.shape_string() + " must be [" + std::to_string(M) + ", " + std::to_string(N) + "]");
  if (bias) {
    f32(*bias, "linear", "bias");
    if (bias->numel() != N) bad("linear", "bias " + bias->shape_string() + " must have " + std::to_string(N) + " elements");
  }
}

void rmsnorm(const Tensor& x, const Tensor& w, const Tensor& y, bool bf16) {
  act(x, "rmsnorm", "x", bf16);
  f32(w, "rmsnorm", "weight");
  act(y, "rmsnorm", "y", bf16);
  same_numel(x, y, "rmsnorm");
  const int64_t dim = w.numel();
  if (dim == 0 || x.numel() % dim != 0)
    bad("rmsnorm", "x " + x.shape_string() + " is not a whole number of rows of width " + std::to_string(dim));
}

void rope(const Tensor& x, const Tensor& cos, const Tensor& sin, bool bf16) {
  act(x, "rope", "x", bf16, 3);
  f32(cos, "rope", "cos", 2);
  f32(sin, "rope", "sin", 2);
  if (cos.shape() != sin.shape()) bad("rope", "cos and sin shapes differ");
  if (cos.dim(0) != x.dim(0) || 2 * cos.dim(1) > x.dim(2))
    bad("rope", "table " + cos.shape_string() + " does not fit x " + x.shape_string());
}

void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, int64_t pos0, int window,
               const Tensor& out, bool bf16) {
  act(q, "attention", "q", bf16, 3);
  act(k_cache, "attention", "k_cache", bf16, 3);
  act(v_cache, "attention", "v_cache", bf16, 3);
  act(out, "attention", "out", bf16, 3);
  same_dtype(q, out, "attention", "q and out");
  same_dtype(k_cache, v_cache, "attention", "k_cache and v_cache");
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
}

void paged_attention(const Tensor& q, const Tensor& k_blocks, const Tensor& v_blocks,
                     std::span<const PagedAttentionSeq> seqs, std::span<const int32_t> block_tables, int window,
                     const Tensor& out, bool bf16) {
  const char* op = "paged_attention";
  act(q, op, "q", bf16, 3);
  act(k_blocks, op, "k_blocks", bf16, 4);
  act(v_blocks, op, "v_blocks", bf16, 4);
  act(out, op, "out", bf16, 3);
  same_dtype(q, out, op, "q and out");
  same_dtype(k_blocks, v_blocks, op, "k_blocks and v_blocks");
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
}

void swiglu(const Tensor& gate, const Tensor& up, const Tensor& out, bool bf16) {
  act(gate, "swiglu", "gate", bf16);
  act(up, "swiglu", "up", bf16);
  act(out, "swiglu", "out", bf16);
  same_dtype(gate, up, "swiglu", "gate and up");
  same_dtype(gate, out, "swiglu", "gate and out");
  same_numel(gate, up, "swiglu");
  same_numel(gate, out, "swiglu");
}

void add(const Tensor& a, const Tensor& b, bool bf16) {
  act(a, "add", "a", bf16);
  act(b, "add", "b", bf16);
  if (a.dtype() == DType::BF16 && b.dtype() != DType::BF16) bad("add", "a BF16 a needs a BF16 b");
  same_numel(a, b, "add");
}

void scale_rows_by_sigmoid(const Tensor& x, const Tensor& g, bool bf16) {
  act(x, "scale_rows_by_sigmoid", "x", bf16);
  f32(g, "scale_rows_by_sigmoid", "g");
  if (g.numel() != rows_of(x))
    bad("scale_rows_by_sigmoid", "gate " + g.shape_string() + " needs one value per row of " + x.shape_string());
}

void route_top_k(const Tensor& logits, int k) {
  f32(logits, "route_top_k", "logits", 2);
  if (k <= 0 || k > logits.dim(1))
    bad("route_top_k", "k=" + std::to_string(k) + " must be in [1, " + std::to_string(logits.dim(1)) + "]");
}

void gather_rows(const Tensor& src, std::span<const int32_t> rows, const Tensor& dst, bool bf16) {
  act(src, "gather_rows", "src", bf16);
  act(dst, "gather_rows", "dst", bf16);
  same_dtype(src, dst, "gather_rows", "src and dst");
  const int64_t n = static_cast<int64_t>(rows.size());
  if (rows_of(dst) != n || row_width(dst) != row_width(src))
    bad("gather_rows", "dst " + dst.shape_string() + " must hold " + std::to_string(n) + " rows of src " + src.shape_string());
  for (int32_t r : rows)
    if (r < 0 || r >= rows_of(src)) bad("gather_rows", "row " + std::to_string(r) + " out of range");
}

void scatter_rows(const Tensor& src, std::span<const int32_t> rows, const Tensor& dst, bool bf16) {
  act(src, "scatter_rows", "src", bf16);
  act(dst, "scatter_rows", "dst", bf16);
  same_dtype(src, dst, "scatter_rows", "src and dst");
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
}

void scatter_add_rows(const Tensor& src, std::span<const int32_t> rows, std::span<const float> weights,
                      const Tensor& dst, bool bf16) {
  act(src, "scatter_add_rows", "src", bf16);
  f32(dst, "scatter_add_rows", "dst");
  const int64_t n = static_cast<int64_t>(rows.size());
  if (static_cast<int64_t>(weights.size()) != n || rows_of(src) < n || row_width(dst) != row_width(src))
    bad("scatter_add_rows", "src " + src.shape_string() + " / rows / weights / dst " + dst.shape_string() + " disagree");
  for (int32_t r : rows)
    if (r < 0 || r >= rows_of(dst)) bad("scatter_add_rows", "row " + std::to_string(r) + " out of range");
}

}  // namespace nova::kernels::checks
