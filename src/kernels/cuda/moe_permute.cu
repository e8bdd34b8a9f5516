// The MoE permutation's two ends (moe.cuh): token rows gathered into expert order as the tensor
// cores' BF16 operand, and the experts' outputs combined back into token order. The combine is
// deterministic: each output row is one block's, its experts summed in index order (the order
// the default composition's scatter_add_rows calls take), with no atomics.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/moe.cuh"

namespace nova::kernels::cuda {

namespace {

// 8 elements of x as 8 bf16 (one 16-byte store).
__device__ __forceinline__ uint4 to_bf16x8(const float* p) {
  const float4 a = __ldg(reinterpret_cast<const float4*>(p)), b = __ldg(reinterpret_cast<const float4*>(p) + 1);
  const __nv_bfloat162 v[4] = {__floats2bfloat162_rn(a.x, a.y), __floats2bfloat162_rn(a.z, a.w),
                               __floats2bfloat162_rn(b.x, b.y), __floats2bfloat162_rn(b.z, b.w)};
  return *reinterpret_cast<const uint4*>(v);
}
__device__ __forceinline__ uint4 to_bf16x8(const __nv_bfloat16* p) { return __ldg(reinterpret_cast<const uint4*>(p)); }

template <class X>
__global__ void gather_kernel(const X* __restrict__ x, int64_t width, const int32_t* __restrict__ perm_token, int64_t n,
                              __nv_bfloat16* __restrict__ xp) {
  const int64_t chunks = width / 8, total = n * chunks;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t p = i / chunks, c = i % chunks;
    *reinterpret_cast<uint4*>(xp + p * width + c * 8) = to_bf16x8(x + perm_token[p] * width + c * 8);
  }
}

__global__ void combine_kernel(const float* __restrict__ y, int64_t width, int splits, int64_t plane,
                               const int32_t* __restrict__ expert,
                               const float* __restrict__ weight, const int32_t* __restrict__ pos, int k,
                               float* __restrict__ out) {
  __shared__ int32_t s_expert[kMoeMaxK], s_pos[kMoeMaxK];
  __shared__ float s_weight[kMoeMaxK];
  const int64_t r = blockIdx.x;
  if (threadIdx.x == 0) {  // the row's choices, sorted by expert (insertion sort: k <= 32)
    for (int j = 0; j < k; ++j) {
      const int64_t i = r * k + j;
      const int32_t e = expert[i];
      int at = j;
      for (; at > 0 && s_expert[at - 1] > e; --at) {
        s_expert[at] = s_expert[at - 1];
        s_pos[at] = s_pos[at - 1];
        s_weight[at] = s_weight[at - 1];
      }
      s_expert[at] = e;
      s_pos[at] = pos[i];
      s_weight[at] = weight[i];
    }
  }
  __syncthreads();
  float* o = out + r * width;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
    float acc = o[c];
    for (int j = 0; j < k; ++j) {
      const float* yj = y + s_pos[j] * width + c;
      float v = yj[0];
      for (int z = 1; z < splits; ++z) v += yj[z * plane];
      acc = __fadd_rn(acc, __fmul_rn(s_weight[j], v));
    }
    o[c] = acc;
  }
}

}  // namespace

void launch_moe_gather(const void* x, DType x_dtype, int64_t width, const int32_t* perm_token, int64_t n, void* xp,
                       cudaStream_t s) {
  if (n == 0) return;
  const unsigned blocks = grid_for(n * (width / 8), 256);
  auto* out = static_cast<__nv_bfloat16*>(xp);
  if (x_dtype == DType::BF16)
    gather_kernel<<<blocks, 256, 0, s>>>(static_cast<const __nv_bfloat16*>(x), width, perm_token, n, out);
  else
    gather_kernel<<<blocks, 256, 0, s>>>(static_cast<const float*>(x), width, perm_token, n, out);
  check_launch("moe_gather");
}

void launch_moe_combine(const float* y, int64_t width, int splits, int64_t plane, const int32_t* expert,
                        const float* weight, const int32_t* pos, int64_t rows, int k, float* out, cudaStream_t s) {
  if (rows == 0) return;
  const int threads = width >= 1024 ? 256 : 128;
  combine_kernel<<<static_cast<unsigned>(rows), threads, 0, s>>>(y, width, splits, plane, expert, weight, pos, k,
                                                                 out);
  check_launch("moe_combine");
}

}  // namespace nova::kernels::cuda
