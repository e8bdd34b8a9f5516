// The residual stream's elementwise ops: out = x + delta (fp32 stream, T delta) and dtype
// conversion, eight elements per 16-byte access.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

template <class T>
__global__ void residual_add_kernel(float* out, const float* x, const T* delta, int64_t n, bool vec) {
  const int64_t nv = vec ? n / 8 : 0;
  for (int64_t i = global_thread(); i < nv; i += grid_threads()) {
    float a[8], d[8];
    load8(x + i * 8, a);
    load8(delta + i * 8, d);
    for (int k = 0; k < 8; ++k) a[k] += d[k];
    store8(out + i * 8, a);
  }
  for (int64_t i = nv * 8 + global_thread(); i < n; i += grid_threads()) out[i] = x[i] + to_f32(delta[i]);
}

template <class TDst, class TSrc>
__global__ void convert_kernel(TDst* dst, const TSrc* src, int64_t n, bool vec) {
  const int64_t nv = vec ? n / 8 : 0;
  for (int64_t i = global_thread(); i < nv; i += grid_threads()) {
    float a[8];
    load8(src + i * 8, a);
    store8(dst + i * 8, a);
  }
  for (int64_t i = nv * 8 + global_thread(); i < n; i += grid_threads()) dst[i] = from_f32<TDst>(to_f32(src[i]));
}

}  // namespace

template <class T>
void residual_add(float* out, const float* x, const T* delta, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = aligned16(out) && aligned16(x) && aligned16(delta);
  residual_add_kernel<T><<<grid_for(n / 8 + 1, 256), 256, 0, stream>>>(out, x, delta, n, vec);
  check_launch("residual_add_kernel");
}

template <class TDst, class TSrc>
void convert(TDst* dst, const TSrc* src, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = aligned16(dst) && aligned16(src);
  convert_kernel<TDst, TSrc><<<grid_for(n / 8 + 1, 256), 256, 0, stream>>>(dst, src, n, vec);
  check_launch("convert_kernel");
}

template void residual_add<float>(float*, const float*, const float*, int64_t, cudaStream_t);
template void residual_add<bf16>(float*, const float*, const bf16*, int64_t, cudaStream_t);
template void convert<float, float>(float*, const float*, int64_t, cudaStream_t);
template void convert<bf16, float>(bf16*, const float*, int64_t, cudaStream_t);
template void convert<float, bf16>(float*, const bf16*, int64_t, cudaStream_t);

}  // namespace nova::kernels::cuda::train
