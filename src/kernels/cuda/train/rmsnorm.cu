// RMSNorm over groups of `dim`, one warp per group. Sums of squares and the backward's dot
// product in double, rounded as train/layers/rmsnorm.cpp rounds them. The weight gradient is
// summed over fixed chunks of groups into `scratch`, then the chunk sums in chunk order: the same
// result every run, no atomics.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

constexpr int kWarpsPerBlock = 8;

template <class TIn, class TOut>
__global__ void rmsnorm_forward_kernel(TOut* y, float* rstd, const TIn* x, const float* w, int64_t groups, int64_t dim,
                                       float eps) {
  const int lane = threadIdx.x % 32;
  for (int64_t g = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / 32; g < groups;
       g += int64_t(gridDim.x) * kWarpsPerBlock) {
    const TIn* xr = x + g * dim;
    double ss = 0.0;
    for (int64_t i = lane; i < dim; i += 32) {
      const double v = to_f32(xr[i]);
      ss += v * v;
    }
    ss = warp_sum(ss);
    const float mean = static_cast<float>(ss / static_cast<double>(dim));
    const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(mean, eps)));
    if (lane == 0 && rstd) rstd[g] = inv;
    TOut* yr = y + g * dim;
    for (int64_t i = lane; i < dim; i += 32) yr[i] = from_f32<TOut>(__fmul_rn(w[i], __fmul_rn(to_f32(xr[i]), inv)));
  }
}

template <class TIn, class TOut>
__global__ void rmsnorm_dx_kernel(TIn* dx, const TOut* dy, const TIn* x, const float* w, const float* rstd,
                                  int64_t groups, int64_t dim) {
  const int lane = threadIdx.x % 32;
  for (int64_t g = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / 32; g < groups;
       g += int64_t(gridDim.x) * kWarpsPerBlock) {
    const TIn* xr = x + g * dim;
    const TOut* dyr = dy + g * dim;
    const double r = rstd[g];
    // n = x * r; dx = r * (dy*w - n * mean(dy*w*n)).
    double dot = 0.0;
    for (int64_t i = lane; i < dim; i += 32) dot += double(to_f32(dyr[i])) * w[i] * (to_f32(xr[i]) * r);
    const double mean = warp_sum(dot) / static_cast<double>(dim);
    TIn* dxr = dx + g * dim;
    for (int64_t i = lane; i < dim; i += 32) {
      const float d = static_cast<float>(r * (double(to_f32(dyr[i])) * w[i] - to_f32(xr[i]) * r * mean));
      dxr[i] = from_f32<TIn>(to_f32(dxr[i]) + d);
    }
  }
}

// Chunking of the groups for dw: at most 512 chunks of at least 64 groups.
int64_t rows_per_chunk(int64_t groups) { return std::max<int64_t>(64, (groups + 511) / 512); }
int64_t chunk_count(int64_t groups) { return (groups + rows_per_chunk(groups) - 1) / rows_per_chunk(groups); }

// scratch[c, col] = sum over the groups of chunk c of dy * (x * rstd); block (32 columns, 8 row lanes).
template <class TIn, class TOut>
__global__ void rmsnorm_dw_partial_kernel(float* scratch, const TOut* dy, const TIn* x, const float* rstd,
                                          int64_t groups, int64_t dim, int64_t per_chunk) {
  __shared__ float part[8][33];
  const int64_t col = blockIdx.x * 32 + threadIdx.x;
  const int64_t begin = blockIdx.y * per_chunk, end = begin + per_chunk < groups ? begin + per_chunk : groups;
  float acc = 0.0f;
  if (col < dim)
    for (int64_t g = begin + threadIdx.y; g < end; g += 8)
      acc += to_f32(dy[g * dim + col]) * __fmul_rn(to_f32(x[g * dim + col]), rstd[g]);
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && col < dim) {
    float s = 0.0f;
    for (int k = 0; k < 8; ++k) s += part[k][threadIdx.x];
    scratch[blockIdx.y * dim + col] = s;
  }
}

__global__ void rmsnorm_dw_reduce_kernel(float* dw, const float* scratch, int64_t chunks, int64_t dim) {
  for (int64_t col = global_thread(); col < dim; col += grid_threads()) {
    double s = 0.0;
    for (int64_t c = 0; c < chunks; ++c) s += scratch[c * dim + col];
    dw[col] += static_cast<float>(s);
  }
}

}  // namespace

size_t rmsnorm_backward_scratch_floats(int64_t groups, int64_t dim) {
  return groups <= 0 || dim <= 0 ? 0 : static_cast<size_t>(chunk_count(groups) * dim);
}

template <class TIn, class TOut>
void rmsnorm_forward(TOut* y, float* rstd, const TIn* x, const float* w, int64_t groups, int64_t dim, float eps,
                     cudaStream_t stream) {
  if (groups <= 0 || dim <= 0) return;
  rmsnorm_forward_kernel<TIn, TOut><<<grid_for(groups, kWarpsPerBlock, 65535), 32 * kWarpsPerBlock, 0, stream>>>(
      y, rstd, x, w, groups, dim, eps);
  check_launch("rmsnorm_forward_kernel");
}

template <class TIn, class TOut>
void rmsnorm_backward(TIn* dx, float* dw, const TOut* dy, const TIn* x, const float* w, const float* rstd,
                      int64_t groups, int64_t dim, float* scratch, cudaStream_t stream) {
  if (groups <= 0 || dim <= 0) return;
  if (dx) {
    rmsnorm_dx_kernel<TIn, TOut><<<grid_for(groups, kWarpsPerBlock, 65535), 32 * kWarpsPerBlock, 0, stream>>>(
        dx, dy, x, w, rstd, groups, dim);
    check_launch("rmsnorm_dx_kernel");
  }
  const int64_t chunks = chunk_count(groups);
  rmsnorm_dw_partial_kernel<TIn, TOut><<<dim3(unsigned((dim + 31) / 32), unsigned(chunks)), dim3(32, 8), 0, stream>>>(
      scratch, dy, x, rstd, groups, dim, rows_per_chunk(groups));
  check_launch("rmsnorm_dw_partial_kernel");
  rmsnorm_dw_reduce_kernel<<<grid_for(dim, 256), 256, 0, stream>>>(dw, scratch, chunks, dim);
  check_launch("rmsnorm_dw_reduce_kernel");
}

#define NOVA_RMSNORM(TIn, TOut)                                                                                   \
  template void rmsnorm_forward<TIn, TOut>(TOut*, float*, const TIn*, const float*, int64_t, int64_t, float,      \
                                           cudaStream_t);                                                          \
  template void rmsnorm_backward<TIn, TOut>(TIn*, float*, const TOut*, const TIn*, const float*, const float*,    \
                                            int64_t, int64_t, float*, cudaStream_t);
NOVA_RMSNORM(float, float)
NOVA_RMSNORM(float, bf16)
NOVA_RMSNORM(bf16, bf16)
#undef NOVA_RMSNORM

}  // namespace nova::kernels::cuda::train
