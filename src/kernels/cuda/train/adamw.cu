// Fused AdamW over every parameter segment in one launch (blockIdx.y = segment). Each operation is
// rounded separately (no FMA contraction) in train/adamw.cpp's order, so the update matches the
// CPU optimiser bit for bit.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ void adam_update(float& w, float& m, float& v, float grad, bool decays,
                                            const AdamScalars& s) {
  const float g = __fmul_rn(grad, s.grad_scale);
  if (decays) w = __fmul_rn(w, s.decay);
  m = __fadd_rn(m, __fmul_rn(s.one_minus_beta1, __fsub_rn(g, m)));
  v = __fadd_rn(__fmul_rn(v, s.beta2), __fmul_rn(__fmul_rn(s.one_minus_beta2, g), g));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.bias2_sqrt), s.eps);
  w = __fadd_rn(w, __fdiv_rn(__fmul_rn(s.neg_step_size, m), denom));
}

__global__ void __launch_bounds__(kThreads) adamw_kernel(float* params, float* m, float* v, const float* grads,
                                                         bf16* params_bf16, const AdamSegment* segments,
                                                         AdamScalars s) {
  const AdamSegment seg = segments[blockIdx.y];
  float* p = params + seg.offset;
  float* mp = m + seg.offset;
  float* vp = v + seg.offset;
  const float* gp = grads + seg.offset;
  bf16* pb = params_bf16 ? params_bf16 + seg.offset : nullptr;
  const bool decays = seg.decays != 0;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  const int64_t first = blockIdx.x * int64_t(kThreads) + threadIdx.x;
  // float4 path when the segment starts on a 16-byte boundary (the buffers are cudaMalloc'd).
  const int64_t nv = seg.offset % 4 == 0 ? seg.size / 4 : 0;
  for (int64_t i = first; i < nv; i += stride) {
    float4 w4 = reinterpret_cast<float4*>(p)[i], m4 = reinterpret_cast<float4*>(mp)[i],
           v4 = reinterpret_cast<float4*>(vp)[i];
    const float4 g4 = reinterpret_cast<const float4*>(gp)[i];
    adam_update(w4.x, m4.x, v4.x, g4.x, decays, s);
    adam_update(w4.y, m4.y, v4.y, g4.y, decays, s);
    adam_update(w4.z, m4.z, v4.z, g4.z, decays, s);
    adam_update(w4.w, m4.w, v4.w, g4.w, decays, s);
    reinterpret_cast<float4*>(p)[i] = w4;
    reinterpret_cast<float4*>(mp)[i] = m4;
    reinterpret_cast<float4*>(vp)[i] = v4;
    if (pb) {
      __nv_bfloat162* b2 = reinterpret_cast<__nv_bfloat162*>(pb + i * 4);
      b2[0] = __floats2bfloat162_rn(w4.x, w4.y);
      b2[1] = __floats2bfloat162_rn(w4.z, w4.w);
    }
  }
  for (int64_t i = nv * 4 + first; i < seg.size; i += stride) {
    float w = p[i], mi = mp[i], vi = vp[i];
    adam_update(w, mi, vi, gp[i], decays, s);
    p[i] = w, mp[i] = mi, vp[i] = vi;
    if (pb) pb[i] = __float2bfloat16_rn(w);
  }
}

}  // namespace

void adamw_step(float* params, float* m, float* v, const float* grads, bf16* params_bf16, const AdamSegment* segments,
                int32_t n_segments, const AdamScalars& s, cudaStream_t stream) {
  if (n_segments <= 0) return;
  require(n_segments <= 65535, "adamw_step", "at most 65535 parameter segments per launch");
  require(aligned16(params) && aligned16(m) && aligned16(v) && aligned16(grads) &&
              (!params_bf16 || reinterpret_cast<uintptr_t>(params_bf16) % 8 == 0),
          "adamw_step", "the flat buffers must be 16-byte aligned (bf16 copy: 8-byte)");
  // The host does not know the segment sizes (they live on the device): a fixed grid per segment,
  // about two blocks per SM for the largest; blocks past a small segment's end return at once.
  static int sms = 0;
  if (sms == 0) {
    int dev = 0;
    check_cuda(cudaGetDevice(&dev), "cudaGetDevice");
    check_cuda(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
  }
  adamw_kernel<<<dim3(unsigned(2 * sms), unsigned(n_segments)), kThreads, 0, stream>>>(params, m, v, grads,
                                                                                        params_bf16, segments, s);
  check_launch("adamw_kernel");
}

}  // namespace nova::kernels::cuda::train
