// Activation element access for kernels templated on the activation type (F32 or BF16, backend.h's
// [bf16] ops): loads widen to fp32 exactly, stores round to nearest even once. Vector forms move
// four elements at a time (16 bytes of F32, 8 bytes of BF16).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "kernels/cuda/cuda_check.cuh"

namespace nova::kernels::cuda {

using bf16_t = __nv_bfloat16;

__device__ __forceinline__ float act_load(const float* p) { return *p; }
__device__ __forceinline__ float act_load(const bf16_t* p) { return __bfloat162float(*p); }
__device__ __forceinline__ void act_store(float* p, float v) { *p = v; }
__device__ __forceinline__ void act_store(bf16_t* p, float v) { *p = __float2bfloat16_rn(v); }

__device__ __forceinline__ float4 act_load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ float4 act_load4(const bf16_t* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
  const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
  return make_float4(a.x, a.y, b.x, b.y);
}
__device__ __forceinline__ void act_store4(float* p, float4 v) { *reinterpret_cast<float4*>(p) = v; }
__device__ __forceinline__ void act_store4(bf16_t* p, float4 v) {
  const __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y), b = __floats2bfloat162_rn(v.z, v.w);
  uint2 u;
  u.x = *reinterpret_cast<const uint32_t*>(&a);
  u.y = *reinterpret_cast<const uint32_t*>(&b);
  *reinterpret_cast<uint2*>(p) = u;
}

// Calls f(T{}) with T the element type of activation dtype `t` (F32 or BF16); `what` names the
// launcher in the error for any other dtype.
template <class F>
inline void with_act(DType t, const char* what, F&& f) {
  if (t == DType::F32) f(float{});
  else if (t == DType::BF16) f(bf16_t{});
  else fail(what, "activation dtype " + std::string(dtype_name(t)) + " not supported (F32/BF16)");
}

}  // namespace nova::kernels::cuda
