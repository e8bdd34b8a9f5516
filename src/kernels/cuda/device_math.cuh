// Device-side helpers shared by the kernels: weight-element loads for each storage dtype, warp
// reductions, and launch-size arithmetic.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/kernel_trace.cuh"

namespace nova::kernels::cuda {

// One stored weight element as float32 (exact for all three dtypes).
template <class T> __device__ __forceinline__ float to_f32(T v);
template <> __device__ __forceinline__ float to_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f32<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <> __device__ __forceinline__ float to_f32<__half>(__half v) { return __half2float(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Programmatic dependent launch (Hopper and later; no-ops before): a kernel launched with the
// programmatic-serialization attribute (launch_gemv*) may start while the kernel before it
// finishes, and must call pdl_wait() before reading what that kernel wrote or writing anything.
// pdl_trigger() lets the next such kernel start now instead of when this one's blocks exit.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  NOVA_TRACE_POINT(1);
}
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Blocks for `n` items at `per_block` each, capped so a grid-stride loop covers the rest.
inline unsigned grid_for(int64_t n, int per_block, int64_t cap = 65535LL * 16) {
  int64_t g = (n + per_block - 1) / per_block;
  if (g < 1) g = 1;
  if (g > cap) g = cap;
  return static_cast<unsigned>(g);
}

}  // namespace nova::kernels::cuda
