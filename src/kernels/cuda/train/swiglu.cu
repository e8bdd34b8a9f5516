// SwiGLU out = silu(gate) * up and its gradient, elementwise, eight elements per 16-byte access.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

__device__ __forceinline__ float sigmoid(float g) { return 1.0f / (1.0f + expf(-g)); }

template <class T>
__global__ void swiglu_forward_kernel(T* out, const T* gate, const T* up, int64_t n, bool vec) {
  const int64_t nv = vec ? n / 8 : 0;
  for (int64_t i = global_thread(); i < nv; i += grid_threads()) {
    float g[8], u[8], o[8];
    load8(gate + i * 8, g);
    load8(up + i * 8, u);
    for (int k = 0; k < 8; ++k) o[k] = g[k] * sigmoid(g[k]) * u[k];
    store8(out + i * 8, o);
  }
  for (int64_t i = nv * 8 + global_thread(); i < n; i += grid_threads()) {
    const float g = to_f32(gate[i]);
    out[i] = from_f32<T>(g * sigmoid(g) * to_f32(up[i]));
  }
}

__device__ __forceinline__ void swiglu_grad(float d, float g, float u, float& dg, float& du) {
  const float s = sigmoid(g);
  dg = d * u * s * (1.0f + g * (1.0f - s));
  du = d * g * s;
}

template <class T>
__global__ void swiglu_backward_kernel(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t n,
                                       bool vec) {
  const int64_t nv = vec ? n / 8 : 0;
  for (int64_t i = global_thread(); i < nv; i += grid_threads()) {
    float d[8], g[8], u[8], dg[8], du[8];
    load8(dout + i * 8, d);
    load8(gate + i * 8, g);
    load8(up + i * 8, u);
    for (int k = 0; k < 8; ++k) swiglu_grad(d[k], g[k], u[k], dg[k], du[k]);
    store8(dgate + i * 8, dg);
    store8(dup + i * 8, du);
  }
  for (int64_t i = nv * 8 + global_thread(); i < n; i += grid_threads()) {
    float dg, du;
    swiglu_grad(to_f32(dout[i]), to_f32(gate[i]), to_f32(up[i]), dg, du);
    dgate[i] = from_f32<T>(dg);
    dup[i] = from_f32<T>(du);
  }
}

// The fused gate|up layout: row r of gu holds gate then up (2 * inter values); eight columns per
// 16-byte access when inter % 8 == 0 and the buffers are aligned.
template <class T>
__global__ void swiglu_forward_fused_kernel(T* out, const T* gu, int64_t rows, int64_t inter, bool vec) {
  if (vec) {
    const int64_t per_row = inter / 8, n = rows * per_row;
    for (int64_t i = global_thread(); i < n; i += grid_threads()) {
      const int64_t r = i / per_row, c = (i - r * per_row) * 8;
      float g[8], u[8], o[8];
      load8(gu + r * 2 * inter + c, g);
      load8(gu + r * 2 * inter + inter + c, u);
      for (int k = 0; k < 8; ++k) o[k] = g[k] * sigmoid(g[k]) * u[k];
      store8(out + r * inter + c, o);
    }
    return;
  }
  const int64_t n = rows * inter;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t r = i / inter, c = i - r * inter;
    const float g = to_f32(gu[r * 2 * inter + c]);
    out[i] = from_f32<T>(g * sigmoid(g) * to_f32(gu[r * 2 * inter + inter + c]));
  }
}

template <class T>
__global__ void swiglu_backward_fused_kernel(T* dgu, const T* dout, const T* gu, int64_t rows, int64_t inter,
                                             bool vec) {
  if (vec) {
    const int64_t per_row = inter / 8, n = rows * per_row;
    for (int64_t i = global_thread(); i < n; i += grid_threads()) {
      const int64_t r = i / per_row, c = (i - r * per_row) * 8;
      float d[8], g[8], u[8], dg[8], du[8];
      load8(dout + r * inter + c, d);
      load8(gu + r * 2 * inter + c, g);
      load8(gu + r * 2 * inter + inter + c, u);
      for (int k = 0; k < 8; ++k) swiglu_grad(d[k], g[k], u[k], dg[k], du[k]);
      store8(dgu + r * 2 * inter + c, dg);
      store8(dgu + r * 2 * inter + inter + c, du);
    }
    return;
  }
  const int64_t n = rows * inter;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    const int64_t r = i / inter, c = i - r * inter;
    float dg, du;
    swiglu_grad(to_f32(dout[i]), to_f32(gu[r * 2 * inter + c]), to_f32(gu[r * 2 * inter + inter + c]), dg, du);
    dgu[r * 2 * inter + c] = from_f32<T>(dg);
    dgu[r * 2 * inter + inter + c] = from_f32<T>(du);
  }
}

}  // namespace

template <class T>
void swiglu_forward_fused(T* out, const T* gu, int64_t rows, int64_t inter, cudaStream_t stream) {
  if (rows <= 0 || inter <= 0) return;
  const bool vec = inter % 8 == 0 && aligned16(out) && aligned16(gu);
  swiglu_forward_fused_kernel<T><<<grid_for(rows * inter / 8 + 1, 256), 256, 0, stream>>>(out, gu, rows, inter, vec);
  check_launch("swiglu_forward_fused_kernel");
}

template <class T>
void swiglu_backward_fused(T* dgu, const T* dout, const T* gu, int64_t rows, int64_t inter, cudaStream_t stream) {
  if (rows <= 0 || inter <= 0) return;
  const bool vec = inter % 8 == 0 && aligned16(dgu) && aligned16(dout) && aligned16(gu);
  swiglu_backward_fused_kernel<T><<<grid_for(rows * inter / 8 + 1, 256), 256, 0, stream>>>(dgu, dout, gu, rows,
                                                                                           inter, vec);
  check_launch("swiglu_backward_fused_kernel");
}

template <class T>
void swiglu_forward(T* out, const T* gate, const T* up, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = aligned16(out) && aligned16(gate) && aligned16(up);
  swiglu_forward_kernel<T><<<grid_for(n / 8 + 1, 256), 256, 0, stream>>>(out, gate, up, n, vec);
  check_launch("swiglu_forward_kernel");
}

template <class T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const bool vec = aligned16(dgate) && aligned16(dup) && aligned16(dout) && aligned16(gate) && aligned16(up);
  swiglu_backward_kernel<T><<<grid_for(n / 8 + 1, 256), 256, 0, stream>>>(dgate, dup, dout, gate, up, n, vec);
  check_launch("swiglu_backward_kernel");
}

template void swiglu_forward<float>(float*, const float*, const float*, int64_t, cudaStream_t);
template void swiglu_forward<bf16>(bf16*, const bf16*, const bf16*, int64_t, cudaStream_t);
template void swiglu_backward<float>(float*, float*, const float*, const float*, const float*, int64_t, cudaStream_t);
template void swiglu_backward<bf16>(bf16*, bf16*, const bf16*, const bf16*, const bf16*, int64_t, cudaStream_t);
template void swiglu_forward_fused<float>(float*, const float*, int64_t, int64_t, cudaStream_t);
template void swiglu_forward_fused<bf16>(bf16*, const bf16*, int64_t, int64_t, cudaStream_t);
template void swiglu_backward_fused<float>(float*, const float*, const float*, int64_t, int64_t, cudaStream_t);
template void swiglu_backward_fused<bf16>(bf16*, const bf16*, const bf16*, int64_t, int64_t, cudaStream_t);

}  // namespace nova::kernels::cuda::train
