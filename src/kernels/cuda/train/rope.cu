// Rotary position embedding in place (rotate_half pairs (i, i + half)); the backward rotates by
// -angle. Products and sums rounded separately (no FMA contraction), as the CPU kernel rounds.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

template <class T, bool kInverse>
__global__ void rope_kernel(T* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                            int64_t half) {
  const int64_t n = rows * heads * half;
  for (int64_t t = global_thread(); t < n; t += grid_threads()) {
    const int64_t i = t % half, rh = t / half, r = rh / heads;
    T* v = x + rh * head_dim;
    const float c = cos[r * half + i], s = sin[r * half + i];
    const float a = to_f32(v[i]), b = to_f32(v[i + half]);
    if (kInverse) {  // da = dy_a c + dy_b s, db = dy_b c - dy_a s
      v[i] = from_f32<T>(__fadd_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
      v[i + half] = from_f32<T>(__fsub_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
    } else {  // y_a = a c - b s, y_b = b c + a s
      v[i] = from_f32<T>(__fsub_rn(__fmul_rn(a, c), __fmul_rn(b, s)));
      v[i + half] = from_f32<T>(__fadd_rn(__fmul_rn(b, c), __fmul_rn(a, s)));
    }
  }
}

template <class T, bool kInverse>
void launch(T* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin, int64_t half,
            cudaStream_t stream) {
  if (rows <= 0 || heads <= 0 || half <= 0) return;
  rope_kernel<T, kInverse><<<grid_for(rows * heads * half, 256), 256, 0, stream>>>(x, rows, heads, head_dim, cos, sin,
                                                                                   half);
  check_launch("rope_kernel");
}

}  // namespace

template <class T>
void rope_forward(T* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                  int64_t half, cudaStream_t stream) {
  launch<T, false>(x, rows, heads, head_dim, cos, sin, half, stream);
}

template <class T>
void rope_backward(T* dx, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                   int64_t half, cudaStream_t stream) {
  launch<T, true>(dx, rows, heads, head_dim, cos, sin, half, stream);
}

#define NOVA_ROPE(T)                                                                                             \
  template void rope_forward<T>(T*, int64_t, int64_t, int64_t, const float*, const float*, int64_t, cudaStream_t); \
  template void rope_backward<T>(T*, int64_t, int64_t, int64_t, const float*, const float*, int64_t, cudaStream_t);
NOVA_ROPE(float)
NOVA_ROPE(bf16)
#undef NOVA_ROPE

}  // namespace nova::kernels::cuda::train
