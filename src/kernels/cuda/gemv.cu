// Decode at batch 1: y = W x with W [N, K] in bf16/f16 and x, y in float32. The step is bound by
// streaming W once from HBM, so each warp owns one output row and reads it with 16-byte loads
// (8 weights per lane per load, several loads in flight); x stays float32 (no conversion pass,
// and the products are exact in fp32, more accurate than the bf16-activation GEMM path).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kWarps = 8;

__device__ __forceinline__ void unpack8(const uint4& p, float (&f)[8], const __nv_bfloat16*) {
  const uint32_t u[4] = {p.x, p.y, p.z, p.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(u[i] << 16);
    f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
  }
}

__device__ __forceinline__ void unpack8(const uint4& p, float (&f)[8], const __half*) {
  const __half2* h = reinterpret_cast<const __half2*>(&p);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 v = __half22float2(h[i]);
    f[2 * i] = v.x;
    f[2 * i + 1] = v.y;
  }
}

template <class T>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const float* __restrict__ x, const T* __restrict__ w,
                                                           int64_t N, int64_t K, float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int64_t n = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32;
  if (n >= N) return;
  const uint4* wr = reinterpret_cast<const uint4*>(w + n * K);
  const float4* xv = reinterpret_cast<const float4*>(x);
  const int64_t chunks = K / 8;
  float acc0 = 0.0f, acc1 = 0.0f;
  int64_t c = lane;
  // Two chunks per iteration, both loads issued before either is used.
  for (; c + 32 < chunks; c += 64) {
    const uint4 p0 = __ldg(wr + c), p1 = __ldg(wr + c + 32);
    float f0[8], f1[8];
    unpack8(p0, f0, static_cast<const T*>(nullptr));
    unpack8(p1, f1, static_cast<const T*>(nullptr));
    const float4 a0 = __ldg(xv + 2 * c), a1 = __ldg(xv + 2 * c + 1);
    const float4 b0 = __ldg(xv + 2 * (c + 32)), b1 = __ldg(xv + 2 * (c + 32) + 1);
    acc0 += f0[0] * a0.x + f0[1] * a0.y + f0[2] * a0.z + f0[3] * a0.w + f0[4] * a1.x + f0[5] * a1.y +
            f0[6] * a1.z + f0[7] * a1.w;
    acc1 += f1[0] * b0.x + f1[1] * b0.y + f1[2] * b0.z + f1[3] * b0.w + f1[4] * b1.x + f1[5] * b1.y +
            f1[6] * b1.z + f1[7] * b1.w;
  }
  for (; c < chunks; c += 32) {
    const uint4 p0 = __ldg(wr + c);
    float f0[8];
    unpack8(p0, f0, static_cast<const T*>(nullptr));
    const float4 a0 = __ldg(xv + 2 * c), a1 = __ldg(xv + 2 * c + 1);
    acc0 += f0[0] * a0.x + f0[1] * a0.y + f0[2] * a0.z + f0[3] * a0.w + f0[4] * a1.x + f0[5] * a1.y +
            f0[6] * a1.z + f0[7] * a1.w;
  }
  const float acc = warp_sum(acc0 + acc1);
  if (lane == 0) y[n] = acc;
}

}  // namespace

bool gemv_supports(DType dtype, int64_t K) { return (dtype == DType::BF16 || dtype == DType::F16) && K % 8 == 0; }

void launch_gemv(const float* x, const void* w, DType dtype, int64_t N, int64_t K, float* y, cudaStream_t s) {
  if (N == 0) return;
  const unsigned blocks = static_cast<unsigned>((N + kWarps - 1) / kWarps);
  if (dtype == DType::BF16)
    gemv_kernel<<<blocks, kWarps * 32, 0, s>>>(x, static_cast<const __nv_bfloat16*>(w), N, K, y);
  else
    gemv_kernel<<<blocks, kWarps * 32, 0, s>>>(x, static_cast<const __half*>(w), N, K, y);
  check_launch("gemv");
}

}  // namespace nova::kernels::cuda
