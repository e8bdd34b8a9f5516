// CudaBackend's decode fusions (backend.h: rmsnorm_linears, rmsnorm_linear_swiglu, linear_add):
// at batch 1 with 16-bit weights each is one GEMV launch (gemv.cu) — the RMSNorm folded into the
// dot products, the residual add into the epilogue — so a decode layer needs no norm or add
// kernels. Other shapes, and every call under NOVA_CUDA_FOLD=0 (for comparisons), fall back to
// Backend's compositions.
#include <cstdlib>
#include <cstring>

#include "kernels/cuda/cuda_backend_impl.cuh"

namespace nova::kernels::cuda::detail {

namespace {

// Whether rmsnorm(x, norm_w) can be folded into a GEMV: one F32 row, F32 weights of its width,
// both 16-byte aligned (the kernels read 8 elements at a time).
bool fold_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("NOVA_CUDA_FOLD");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return on;
}

bool norm_foldable(const Tensor& x, const Tensor& norm_w) {
  return fold_enabled() && rows_of(x) == 1 && x.dtype() == DType::F32 && norm_w.dtype() == DType::F32 &&
         norm_w.numel() == row_width(x) && reinterpret_cast<uintptr_t>(norm_w.data()) % 16 == 0;
}

}  // namespace

void CudaBackend::rmsnorm_linears(const Tensor& x, const Tensor& norm_w, float eps, std::span<const LinearPart> parts) {
  checks::f32(x, "rmsnorm_linears", "x");
  bool fused = !parts.empty() && parts.size() <= static_cast<size_t>(kGemvMaxParts) && norm_foldable(x, norm_w);
  for (const LinearPart& p : parts) {
    checks::linear(x, *p.w, p.bias, *p.y, /*bf16=*/true);
    fused = fused && !p.bias && gemv_fits(x, *p.w) && p.w->dtype() == parts[0].w->dtype() &&
            p.y->dtype() == parts[0].y->dtype() && p.w->dim(0) > 0 && p.w->dim(1) > 0;
  }
  if (!fused) return Backend::rmsnorm_linears(x, norm_w, eps, parts);
  checks::rmsnorm(x, norm_w, x, /*bf16=*/true);
  const GemvParts g = gemv_parts(parts);
  enqueue(&launch_rmsnorm_gemv_parts, x.data_as<float>(), norm_w.data_as<float>(), eps, g, parts[0].w->dtype(),
          parts[0].w->dim(1), parts[0].y->dtype());
}

void CudaBackend::rmsnorm_linear_swiglu(const Tensor& x, const Tensor& norm_w, float eps, const Tensor& w_gate,
                                        const Tensor& w_up, Tensor& out) {
  checks::f32(x, "rmsnorm_linear_swiglu", "x");
  checks::linear(x, w_gate, nullptr, out, /*bf16=*/true);
  checks::linear(x, w_up, nullptr, out, /*bf16=*/true);
  if (!(norm_foldable(x, norm_w) && gemv_fits(x, w_gate) && gemv_fits(x, w_up) && w_gate.dtype() == w_up.dtype() &&
        w_gate.dim(0) > 0))
    return Backend::rmsnorm_linear_swiglu(x, norm_w, eps, w_gate, w_up, out);
  checks::rmsnorm(x, norm_w, x, /*bf16=*/true);
  enqueue(&launch_rmsnorm_gemv_swiglu, x.data_as<float>(), norm_w.data_as<float>(), eps, w_gate.data(), w_up.data(),
          w_gate.dtype(), w_gate.dim(0), w_gate.dim(1), out.data(), out.dtype());
}

void CudaBackend::linear_add(const Tensor& a, const Tensor& w, const Tensor* bias, Tensor& x) {
  checks::f32(x, "linear_add", "x");  // the residual stream
  checks::linear(a, w, bias, x, /*bf16=*/true);
  if (bias || !fold_enabled() || !gemv_fits(a, w) || w.dim(0) == 0) return Backend::linear_add(a, w, bias, x);
  enqueue(&launch_gemv_add, a.data(), a.dtype(), w.data(), w.dtype(), w.dim(0), w.dim(1), x.data_as<float>());
}

}  // namespace nova::kernels::cuda::detail
