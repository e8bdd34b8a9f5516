// CudaBackend's overrides of Backend's fused ops (backend.h): at batch 1 with 16-bit weights each
// is one kernel (fused.cu, gemv.cu). Over several rows (a prefill) with weights the loader placed
// back to back (q|k|v, gate|up: model_weights.cpp), linears / linear_swiglu /
// linears_rope_store_kv run one cuBLASLt GEMM over the packed weights and one kernel after it
// (split_columns, swiglu_packed, or rope_store_kv reading the GEMM's output in place: fused.cu);
// other shapes fall back to the composed default.
#include "kernels/cuda/cuda_backend_impl.cuh"

namespace nova::kernels::cuda::detail {

namespace {

// Whether matrices w[0], w[1], ... lie back to back in memory, one dtype and input width, so that
// x times them all is one GEMM over [sum of rows, K] (the model loader places a layer's q|k|v and
// gate|up so: model_weights.cpp). Checked by address at each call: any other placement (weights
// replaced or loaded apart) takes the per-matrix path.
bool back_to_back(std::span<const Tensor* const> w) {
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i]->dtype() != w[0]->dtype() || w[i]->dim(1) != w[0]->dim(1) || w[i]->dim(0) <= 0 || w[i]->dim(1) <= 0)
      return false;
    if (i > 0 && static_cast<const char*>(w[i - 1]->data()) + w[i - 1]->nbytes() != w[i]->data()) return false;
  }
  return true;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

bool CudaBackend::packed_gemm_fits(const Tensor& x, std::span<const Tensor* const> w, DType yt) const {
  // Several rows (one row is the GEMVs' case), x in the weights' dtype (no conversion), y in it or F32.
  const DType wt = w[0]->dtype();
  return packed_gemms_ && rows_of(x) >= 2 && x.dtype() == wt && (yt == wt || yt == DType::F32) && back_to_back(w) &&
         aligned16(x.data());
}

void CudaBackend::linears(const Tensor& x, std::span<const LinearPart> parts) {
  bool fused = parts.size() >= 2 && parts.size() <= static_cast<size_t>(kGemvMaxParts) && rows_of(x) == 1;
  bool packed = parts.size() >= 2 && parts.size() <= static_cast<size_t>(kSplitMaxParts);
  std::vector<const Tensor*> ws;
  for (const LinearPart& p : parts) {
    checks::linear(x, *p.w, p.bias, *p.y, /*bf16=*/true);
    fused = fused && !p.bias && gemv_fits(x, *p.w) && p.w->dtype() == parts[0].w->dtype() &&
            p.y->dtype() == parts[0].y->dtype() && p.w->dim(0) > 0 && p.w->dim(1) > 0;
    packed = packed && !p.bias && p.y->dtype() == parts[0].y->dtype() && aligned16(p.y->data()) &&
             p.w->dim(0) * static_cast<int64_t>(dtype_size(p.y->dtype())) % 16 == 0;
    ws.push_back(p.w);
  }
  if (!fused && packed && packed_gemm_fits(x, ws, parts[0].y->dtype())) {
    // One GEMM over the packed weights into a temporary [M, sum of rows], then its columns to
    // each part's y (one pass over the output, a few microseconds at a prefill's 512 rows,
    // against a GEMM per part whose narrow k / v tiles leave most of the GPU idle).
    const int64_t M = rows_of(x), K = parts[0].w->dim(1);
    const DType wt = parts[0].w->dtype(), yt = parts[0].y->dtype();
    ColumnSplit split{};
    split.parts = static_cast<int64_t>(parts.size());
    int64_t N = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      split.dst[i] = parts[i].y->data();
      split.bytes[i] = parts[i].w->dim(0) * static_cast<int64_t>(dtype_size(yt));
      N += parts[i].w->dim(0);
    }
    auto tmp = device_bytes(static_cast<size_t>(M * N) * dtype_size(yt));  // free again after (stream order)
    void* yp = tmp.get();
    const void *xp = x.data(), *wp = parts[0].w->data();
    LtMatmul* lt = lt_.get();
    enqueue_call(
        0x4c744d61746d756cULL, [=](cudaStream_t s) { lt->run(xp, wp, wt, M, N, K, yp, yt, s); }, xp, wp, wt, M, N, K,
        yp, yt);
    enqueue(&launch_split_columns, static_cast<const void*>(yp), M, split);
    return;
  }
  if (!fused) return Backend::linears(x, parts);
  const GemvParts g = gemv_parts(parts);
  enqueue(&launch_gemv_parts, x.data(), x.dtype(), g, parts[0].w->dtype(), parts[0].w->dim(1), parts[0].y->dtype());
}

void CudaBackend::linear_swiglu(const Tensor& x, const Tensor& w_gate, const Tensor& w_up, Tensor& out) {
  checks::linear(x, w_gate, nullptr, out, /*bf16=*/true);
  checks::linear(x, w_up, nullptr, out, /*bf16=*/true);
  const Tensor* gu[] = {&w_gate, &w_up};
  if (packed_gemm_fits(x, gu, out.dtype()) && w_gate.dim(0) % 8 == 0 && aligned16(out.data())) {
    // One GEMM over the packed gate|up weights into a temporary [M, 2 N] (rounded to out's dtype,
    // as the composition rounds gate and up), then the SwiGLU of its two halves.
    const int64_t M = rows_of(x), N = w_gate.dim(0), K = w_gate.dim(1);
    const DType wt = w_gate.dtype(), yt = out.dtype();
    auto tmp = device_bytes(static_cast<size_t>(M * 2 * N) * dtype_size(yt));
    void* yp = tmp.get();
    const void *xp = x.data(), *wp = w_gate.data();
    LtMatmul* lt = lt_.get();
    enqueue_call(
        0x4c744d61746d756cULL, [=](cudaStream_t s) { lt->run(xp, wp, wt, M, 2 * N, K, yp, yt, s); }, xp, wp, wt, M,
        2 * N, K, yp, yt);
    enqueue(&launch_swiglu_packed, static_cast<const void*>(yp), M, N, out.data(), yt);
    return;
  }
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

// rope_store_kv's checks, then its launch arguments (rows staged for the device; n == 0: none).
RopeStoreArgs CudaBackend::rope_store_args(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos,
                                           const Tensor& sin, std::span<const int32_t> rows, const Tensor& k_dst,
                                           const Tensor& v_dst) {
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
  // In range and distinct, without a table of dst's size (a cache may hold 100k slots). Consecutive
  // rows (a contiguous cache, a paged one within a block: the usual prefill) need no sort, which
  // costs a long prefill ~10-300 us of host time per layer.
  bool consecutive = true;
  for (size_t i = 1; i < rows.size() && consecutive; ++i) consecutive = rows[i] == rows[i - 1] + 1;
  if (consecutive && !rows.empty()) {
    if (rows.front() < 0) bad("rope_store_kv", "row " + std::to_string(rows.front()) + " out of range");
    if (rows.back() >= rows_of(k_dst)) bad("rope_store_kv", "row " + std::to_string(rows.back()) + " out of range");
  } else {
    std::vector<int32_t> sorted(rows.begin(), rows.end());
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (sorted[i] < 0 || sorted[i] >= rows_of(k_dst))
        bad("rope_store_kv", "row " + std::to_string(sorted[i]) + " out of range");
      if (i > 0 && sorted[i] == sorted[i - 1]) bad("rope_store_kv", "row " + std::to_string(sorted[i]) + " repeats");
    }
  }
  RopeStoreArgs a;
  std::memset(&a, 0, sizeof a);  // padding too: the bytes are the launch's signature
  if (n == 0) return a;
  const int32_t* d_rows = arg(kRows, rows);
  a.q = const_cast<void*>(q.data());
  a.k = const_cast<void*>(k.data());
  a.v = v.data();
  a.cos = cos.data_as<float>();
  a.sin = sin.data_as<float>();
  a.rows = d_rows;
  a.k_dst = const_cast<void*>(k_dst.data());
  a.v_dst = const_cast<void*>(v_dst.data());
  a.n = n;
  a.q_heads = q.dim(1);
  a.kv_heads = k.dim(1);
  a.head_dim = k.dim(2);
  a.half = cos.dim(1);
  a.act = q.dtype();
  a.kv = k_dst.dtype();
  return a;
}

void CudaBackend::rope_store_kv(Tensor& q, Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                                std::span<const int32_t> rows, Tensor& k_dst, Tensor& v_dst) {
  const RopeStoreArgs a = rope_store_args(q, k, v, cos, sin, rows, k_dst, v_dst);
  if (a.n > 0) enqueue(&launch_rope_store_kv, a);
}

void CudaBackend::linears_rope_store_kv(const Tensor& x, std::span<const LinearPart> qkv, const Tensor& cos,
                                        const Tensor& sin, std::span<const int32_t> rows, Tensor& k_dst,
                                        Tensor& v_dst) {
  if (qkv.size() != 3) bad("linears_rope_store_kv", "needs the q, k and v parts");
  for (const LinearPart& p : qkv) checks::linear(x, *p.w, p.bias, *p.y, /*bf16=*/true);
  Tensor &q = *qkv[0].y, &k = *qkv[1].y, &v = *qkv[2].y;
  const Tensor* ws[] = {qkv[0].w, qkv[1].w, qkv[2].w};
  const DType yt = q.dtype();
  bool fused = !qkv[0].bias && !qkv[1].bias && !qkv[2].bias && k.dtype() == yt && v.dtype() == yt &&
               q.ndim() == 3 && k.ndim() == 3 && v.ndim() == 3 && packed_gemm_fits(x, ws, yt);
  RopeStoreArgs a{};
  if (fused) {
    a = rope_store_args(q, k, v, cos, sin, rows, k_dst, v_dst);
    a.packed_row = q.dim(1) * q.dim(2) + 2 * k.dim(1) * k.dim(2);
    fused = a.n > 0 && rope_store_kv_reads_packed(a);
  }
  // Otherwise the composition (linears: one GEMM and a column split where the weights allow it).
  if (!fused) return Backend::linears_rope_store_kv(x, qkv, cos, sin, rows, k_dst, v_dst);
  // One GEMM over the packed q|k|v weights into a temporary [M, q + k + v columns], read in place
  // by the RoPE + K/V store kernel, which writes q, k, v whole: no column split.
  const int64_t M = rows_of(x), N = a.packed_row, K = x.dim(1);
  const DType wt = qkv[0].w->dtype();
  auto tmp = device_bytes(static_cast<size_t>(M * N) * dtype_size(yt));  // free again after (stream order)
  void* yp = tmp.get();
  const void *xp = x.data(), *wp = qkv[0].w->data();
  LtMatmul* lt = lt_.get();
  enqueue_call(
      0x4c744d61746d756cULL, [=](cudaStream_t s) { lt->run(xp, wp, wt, M, N, K, yp, yt, s); }, xp, wp, wt, M, N, K, yp,
      yt);
  a.packed = yp;
  enqueue(&launch_rope_store_kv, a);
}

}  // namespace nova::kernels::cuda::detail
