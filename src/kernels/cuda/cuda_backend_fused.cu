// CudaBackend's overrides of Backend's fused ops (backend.h): at batch 1 with 16-bit weights each
// is one kernel (fused.cu, gemv.cu); other shapes fall back to the composed default.
#include "kernels/cuda/cuda_backend_impl.cuh"

namespace nova::kernels::cuda::detail {

void CudaBackend::linears(const Tensor& x, std::span<const LinearPart> parts) {
  bool fused = parts.size() >= 2 && parts.size() <= static_cast<size_t>(kGemvMaxParts) && rows_of(x) == 1;
  for (const LinearPart& p : parts) {
    checks::linear(x, *p.w, p.bias, *p.y);
    fused = fused && !p.bias && gemv_fits(x, *p.w) && p.w->dtype() == parts[0].w->dtype() &&
            p.w->dim(0) > 0 && p.w->dim(1) > 0;
  }
  if (!fused) return Backend::linears(x, parts);
  GemvParts g{};
  g.parts = static_cast<int64_t>(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    g.w[i] = parts[i].w->data();
    g.y[i] = parts[i].y->data_as<float>();
    g.rows[i] = parts[i].w->dim(0);
  }
  enqueue(&launch_gemv_parts, x.data_as<float>(), g, parts[0].w->dtype(), parts[0].w->dim(1));
}

void CudaBackend::linear_swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up, Tensor& out) {
  checks::linear(x, w_gate, nullptr, out);
  checks::linear(x, w_up, nullptr, out);
  if (!(gemv_fits(x, w_gate) && gemv_fits(x, w_up) && w_gate.dtype() == w_up.dtype() && w_gate.dim(0) > 0))
    return Backend::linear_swiglu(x, w_gate, w_up, out);
  enqueue(&launch_gemv_swiglu, x.data_as<float>(), w_gate.data(), w_up.data(), w_gate.dtype(), w_gate.dim(0),
          w_gate.dim(1), out.data_as<float>());
}

void CudaBackend::add_rmsnorm(Tensor& x, const Tensor& delta, const Tensor& w, float eps, Tensor& y) {
  checks::add(x, delta);
  checks::rmsnorm(x, w, y);
  if (y.data() == x.data() || y.data() == delta.data()) bad("add_rmsnorm", "y must not alias x or delta");
  const int64_t dim = w.numel();
  enqueue(&launch_add_rmsnorm, x.data_as<float>(), delta.data_as<float>(), x.numel() / dim, dim, w.data_as<float>(),
          eps, y.data_as<float>());
}

void CudaBackend::rope_store_kv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                std::span<const int32_t> rows, Tensor& k_dst, Tensor& v_dst) {
  checks::rope(q, cos, sin);
  checks::rope(k, cos, sin);
  checks::f32(v, "rope_store_kv", "v", 3);
  if (v.shape() != k.shape()) bad("rope_store_kv", "v " + v.shape_string() + " must match k " + k.shape_string());
  const int64_t n = k.dim(0), width = row_width(k);
  if (q.dim(0) != n) bad("rope_store_kv", "q and k must have the same rows");
  checks::f32(k_dst, "rope_store_kv", "k_dst");
  checks::f32(v_dst, "rope_store_kv", "v_dst");
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
  RopeStoreArgs a{};
  a.q = q.data_as<float>();
  a.k = k.data_as<float>();
  a.v = v.data_as<float>();
  a.cos = cos.data_as<float>();
  a.sin = sin.data_as<float>();
  a.rows = d_rows;
  a.k_dst = k_dst.data_as<float>();
  a.v_dst = v_dst.data_as<float>();
  a.n = n;
  a.q_heads = q.dim(1);
  a.kv_heads = k.dim(1);
  a.head_dim = k.dim(2);
  a.half = cos.dim(1);
  enqueue(&launch_rope_store_kv, a);
}

}  // namespace nova::kernels::cuda::detail
