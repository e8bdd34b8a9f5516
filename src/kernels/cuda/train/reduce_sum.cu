// Deterministic sum (or sum of squares) of a float buffer in double: a fixed number of blocks for
// a given n, each summing a fixed strided subset and reducing in a fixed tree order into
// scratch, then one block summing the block results in order. No atomics: same bits every run.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

constexpr int kThreads = 256;

int64_t block_count(int64_t n) { return std::max<int64_t>(1, std::min<int64_t>(1024, (n + 8191) / 8192)); }

// Fixed-order block reduction of one double per thread; thread 0 gets the total.
__device__ double block_sum(double x) {
  __shared__ double part[kThreads / 32];
  x = warp_sum(x);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = x;
  __syncthreads();
  double t = 0.0;
  if (threadIdx.x == 0)
    for (int w = 0; w < kThreads / 32; ++w) t += part[w];
  return t;
}

__global__ void sum_partial_kernel(double* partial, const float* x, int64_t n, bool square, bool vec) {
  double acc = 0.0;
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  const int64_t nv = vec ? n / 4 : 0;
  for (int64_t i = blockIdx.x * int64_t(kThreads) + threadIdx.x; i < nv; i += stride) {
    const float4 v = reinterpret_cast<const float4*>(x)[i];
    if (square) acc += double(v.x) * v.x + double(v.y) * v.y + double(v.z) * v.z + double(v.w) * v.w;
    else acc += double(v.x) + double(v.y) + double(v.z) + double(v.w);
  }
  for (int64_t i = nv * 4 + blockIdx.x * int64_t(kThreads) + threadIdx.x; i < n; i += stride)
    acc += square ? double(x[i]) * x[i] : double(x[i]);
  const double t = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

__global__ void sum_final_kernel(double* out, const double* partial, int64_t count) {
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double t = block_sum(acc);
  if (threadIdx.x == 0) *out = t;
}

}  // namespace

size_t sum_scratch_doubles(int64_t n) { return static_cast<size_t>(block_count(n)); }

void sum_f32(double* out, const float* x, int64_t n, bool square, double* scratch, cudaStream_t stream) {
  if (n <= 0) {
    check_cuda(cudaMemsetAsync(out, 0, sizeof(double), stream), "cudaMemsetAsync(sum)");
    return;
  }
  const int64_t blocks = block_count(n);
  sum_partial_kernel<<<unsigned(blocks), kThreads, 0, stream>>>(scratch, x, n, square, aligned16(x));
  check_launch("sum_partial_kernel");
  sum_final_kernel<<<1, kThreads, 0, stream>>>(out, scratch, blocks);
  check_launch("sum_final_kernel");
}

}  // namespace nova::kernels::cuda::train
