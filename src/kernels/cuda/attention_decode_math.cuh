// Device-side arithmetic of the decode attention kernel (attention_decode.cu): cache elements as
// float32, activation loads of either dtype, the output store, and RoPE exactly as rope_store_kv
// applies it (fused.cu).
#pragma once

#include <cuda_bf16.h>

#include "kernels/cuda/attention_views.cuh"
#include "kernels/cuda/ops.cuh"

namespace nova::kernels::cuda::attn_decode {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kEmpty = -1e30f;  // the running max before any visible key (finite: no inf - inf)

// 16 bytes of cache elements as loaded, and their float32 values.
template <class KT> struct Vec;
template <> struct Vec<__nv_bfloat16> {
  static constexpr int n = 8;
  using raw = uint4;
  static __device__ __forceinline__ uint4 zero() { return make_uint4(0u, 0u, 0u, 0u); }
  static __device__ __forceinline__ void f32(const uint4& u, float (&f)[8]) {
    const unsigned w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      f[2 * i] = __uint_as_float(w[i] << 16);
      f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
    }
  }
  // f rounded to bf16, as stored (the inverse of f32()).
  static __device__ __forceinline__ uint4 pack(const float (&f)[8]) {
    unsigned w[4];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const __nv_bfloat162 h = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
      w[i] = *reinterpret_cast<const unsigned*>(&h);
    }
    return make_uint4(w[0], w[1], w[2], w[3]);
  }
};
template <> struct Vec<float> {
  static constexpr int n = 4;
  using raw = float4;
  static __device__ __forceinline__ float4 zero() { return make_float4(0.f, 0.f, 0.f, 0.f); }
  static __device__ __forceinline__ void f32(const float4& u, float (&f)[4]) {
    f[0] = u.x, f[1] = u.y, f[2] = u.z, f[3] = u.w;
  }
  static __device__ __forceinline__ float4 pack(const float (&f)[4]) { return make_float4(f[0], f[1], f[2], f[3]); }
};
// K/V loads: ld.global.cg (L2, coherent), not __ldg: the newest K/V rows were written by the
// kernel before (rope_store_kv), and under PDL a non-coherent, invariant load may be issued before
// pdl_wait() (the GEMV's x read that way broke the bf16 fixtures: kernels/cuda/gemv.cu).
template <class KT>
__device__ __forceinline__ typename Vec<KT>::raw load16(const KT* p) {
  return __ldcg(reinterpret_cast<const typename Vec<KT>::raw*>(p));
}

// N activation elements at p (aligned to 4 elements) as float32.
template <int N>
__device__ __forceinline__ void load_act(const float* p, float (&f)[N]) {
#pragma unroll
  for (int i = 0; i < N; i += 4) {
    const float4 x = *reinterpret_cast<const float4*>(p + i);
    f[i] = x.x, f[i + 1] = x.y, f[i + 2] = x.z, f[i + 3] = x.w;
  }
}
template <int N>
__device__ __forceinline__ void load_act(const __nv_bfloat16* p, float (&f)[N]) {
#pragma unroll
  for (int i = 0; i < N; i += 4) {
    const uint2 u = *reinterpret_cast<const uint2*>(p + i);
    f[i] = __uint_as_float(u.x << 16), f[i + 1] = __uint_as_float(u.x & 0xffff0000u);
    f[i + 2] = __uint_as_float(u.y << 16), f[i + 3] = __uint_as_float(u.y & 0xffff0000u);
  }
}
// N activations of dtype `act` at p + i.
template <int N>
__device__ __forceinline__ void load_act_of(const void* p, DType act, int64_t i, float (&f)[N]) {
  if (act == DType::BF16) load_act<N>(static_cast<const __nv_bfloat16*>(p) + i, f);
  else load_act<N>(static_cast<const float*>(p) + i, f);
}
// out[i] in the call's activation dtype.
__device__ __forceinline__ void store_out_at(const AttnArgs& a, int64_t i, float v) {
  if (a.act == DType::BF16) store_out(static_cast<__nv_bfloat16*>(a.out) + i, v);
  else store_out(static_cast<float*>(a.out) + i, v);
}

// x as an activation of dtype `act` holds it (rounded once for BF16).
__device__ __forceinline__ float round_act(DType act, float x) {
  return act == DType::BF16 ? __bfloat162float(__float2bfloat16_rn(x)) : x;
}
// rope_store_kv's arithmetic (fused.cu): two rounded products, then a sum. `own` is feature f of a
// head, `other` its partner f +- half, (c, s) the table entries of f mod half.
__device__ __forceinline__ float rotate(float own, float other, float c, float s, bool low) {
  return low ? __fsub_rn(__fmul_rn(own, c), __fmul_rn(other, s)) : __fadd_rn(__fmul_rn(own, c), __fmul_rn(other, s));
}

}  // namespace nova::kernels::cuda::attn_decode
