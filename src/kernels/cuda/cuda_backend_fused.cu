// CudaBackend's overrides of Backend's fused ops (backend.h): at batch 1 with 16-bit weights each
// is one kernel (fused.cu, gemv.cu); other shapes fall back to the composed default.
#include "kernels/cuda/cuda_backend_impl.cuh"

namespace nova::kernels::cuda::detail {

void CudaBackend::linears(const Tensor& x, std::span<const LinearPart> parts) {
  bool fused = parts.size() >= 2 && parts.size() <= static_cast<size_t>(kGemvMaxParts) && rows_of(x) == 1;
  for (const LinearPart& p : parts) {
    checks::linear(x, *p.w, p.bias, *p.y, /*bf16=*/true);
    fused = fused && !p.bias && gemv_fits(x, *p.w) && p.w->dtype() == parts[0].w->dtype() &&
            p.y->dtype() == parts[0].y->dtype() && p.w->dim(0) > 0 && p.w->dim(1) > 0;
  }
  if (!fused) return Backend::linears(x, parts);
  GemvParts g{};
  g.parts = static_cast<int64_t>(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    g.w[i] = parts[i].w->data();
    g.y[i] = parts[i].y->data();
    g.rows[i] = parts[i].w->dim(0);
  }
  enqueue(&launch_gemv_parts, x.data(), x.dtype(), g, parts[0].w->dtype(), parts[0].w->dim(1), parts[0].y->dtype());
}

void CudaBackend::linear_swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up, Tensor& out) {
  checks::linear(x, w_gate, nullptr, out, /*bf16=*/true);
  checks::linear(x, w_up, nullptr, out, /*bf16=*/true);
  if (!(gemv_fits(x, w_gate) && gemv_fits(x, w_up) && w_gate.dtype() == w_up.dtype() && w_gate.dim(0) > 0))
    return Backend::linear_swiglu(x, w_gate, w_up, out);
  enqueue(&launch_gemv_swiglu, x.data(), x.dtype(), w_gate.data(), w_up.data(), w_gate.dtype(), w_gate.dim(0),
          w_gate.dim(1), out.data(), out.dtype());
}

void CudaBackend::add_rmsnorm(Tensor& x, const Tensor& delta, const Tensor& w, float eps, Tensor& y) {
  checks::f32(x, "add_rmsnorm", "x");  // the residual stream
  checks::add(x, delta, /*bf16=*/true);
  checks::rmsnorm(x, w, y, /*bf16=*/true);
  if (y.data() == x.data() || y.data() == delta.data()) bad("add_rmsnorm", "y must not alias x or delta");
  const int64_t dim = w.numel();
  enqueue(&launch_add_rmsnorm, x.data_as<float>(), delta.data(), delta.dtype(), x.numel() / dim, dim,
          w.data_as<float>(), eps, y.data(), y.dtype());
}

void CudaBackend::rope_store_kv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                std::span<const int32_t> rows, Tensor& k_dst, Tensor& v_dst) {
  checks::rope(q, cos, sin, /*bf16=*/true);
  checks::rope(k, cos, sin, /*bf16=*/true);
  checks::act(v, "rope_store_kv", "v", /*bf16=*/true, 3);
  checks::same_dtype(q, k, "rope_store_kv", "q and k");
  checks::same_dtype(k, v, "rope_store_kv", "k and v");
  if (v.shape() != k.shape()) bad("rope_store_kv", "v " + v.shape_string() + " must match k " + k.shape_string());
  const int64_t n = k.dim(0), width = row_width(k);
  if (q.dim(0) != n) bad("rope_store_kv", "q and k must have the same rows");
  checks::act(k_dst, "rope_store_kv", "k_dst", /*bf16=*/true);
  checks::act(v_dst, "rope_store_kv", "v_dst", /*bf16=*/true);
  checks::same_dtype(k_dst, v_dst, "rope_store_kv", "k_dst and v_dst");
  if (row_width(k_dst) != width || row_width(v_dst) != width || rows_of(k_dst) != rows_of(v_dst))
    bad("rope_store_kv", "k_dst " + k_dst.shape_string() + " / v_dst " + v_dst.shape_string() +
                             " must hold rows of k " + k.shape_string());
  if (static_cast<int64_t>(rows.size()) != n)
    bad("rope_store_kv", std::to_string(rows.size()) + " rows given for " + std::to_string(n) + " K/V rows");
  // In range and distinct, without a table of dst's size (a cache may hold 100k slots).
  std::vector<int32_t> sorted(rows.begin(), rows.end());
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (sorted[i] < 0 || sorted[i] >= rows_of(k_dst))
      bad("rope_store_kv", "row " + std::to_string(sorted[i]) + " out of range");
    if (i > 0 && sorted[i] == sorted[i - 1]) bad("rope_store_kv", "row " + std::to_string(sorted[i]) + " repeats");
  }
  if (n == 0) return;
  const int32_t* d_rows = arg(kRows, rows);
  RopeStoreArgs a;
  std::memset(&a, 0, sizeof a);  // padding too: the bytes are the launch's signature
  a.q = q.data();
  a.k = k.data();
  a.v = v.data();
  a.cos = cos.data_as<float>();
  a.sin = sin.data_as<float>();
  a.rows = d_rows;
  a.k_dst = k_dst.data();
  a.v_dst = v_dst.data();
  a.n = n;
  a.q_heads = q.dim(1);
  a.kv_heads = k.dim(1);
  a.head_dim = k.dim(2);
  a.half = cos.dim(1);
  a.act = q.dtype();
  a.kv = k_dst.dtype();
  enqueue(&launch_rope_store_kv, a);
}

}  // namespace nova::kernels::cuda::detail
