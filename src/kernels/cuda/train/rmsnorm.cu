// RMSNorm over groups of `dim`, one warp per group. Sums of squares and the backward's dot
// product in double, rounded as train/layers/rmsnorm.cpp rounds them. The weight gradient is
// summed over fixed chunks of groups into `scratch`, then the chunk sums in a fixed order: the
// same result every run, no atomics. The backward is one pass over dy and x: each block owns a
// chunk, its warps update dx row by row and add the row's dw terms into per-warp shared-memory
// rows (a second pass over dy and x for dw alone cost a third of the backward's traffic); the
// warps' rows are then summed in warp order into the chunk's scratch row.
#include <type_traits>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

constexpr int kWarpsPerBlock = 8;

// N consecutive values as floats: one 16-byte (float) or 8-byte (bf16) access for N = 4, which
// needs 4-aligned columns and buffers (the rows are then aligned too).
template <int N>
__device__ __forceinline__ void load_n(const float* p, float (&f)[N]) {
  if constexpr (N == 4) {
    const float4 a = *reinterpret_cast<const float4*>(p);
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w;
  } else {
    for (int k = 0; k < N; ++k) f[k] = p[k];
  }
}
template <int N>
__device__ __forceinline__ void load_n(const bf16* p, float (&f)[N]) {
  if constexpr (N == 4) {
    const uint2 u = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&u.y));
    f[0] = a.x, f[1] = a.y, f[2] = b.x, f[3] = b.y;
  } else {
    for (int k = 0; k < N; ++k) f[k] = __bfloat162float(p[k]);
  }
}
// Stores f rounded to T (each value as from_f32 rounds it).
template <int N>
__device__ __forceinline__ void store_n(float* p, const float (&f)[N]) {
  if constexpr (N == 4)
    *reinterpret_cast<float4*>(p) = make_float4(f[0], f[1], f[2], f[3]);
  else
    for (int k = 0; k < N; ++k) p[k] = f[k];
}
template <int N>
__device__ __forceinline__ void store_n(bf16* p, const float (&f)[N]) {
  if constexpr (N == 4) {
    uint2 u;
    *reinterpret_cast<__nv_bfloat162*>(&u.x) = __floats2bfloat162_rn(f[0], f[1]);
    *reinterpret_cast<__nv_bfloat162*>(&u.y) = __floats2bfloat162_rn(f[2], f[3]);
    *reinterpret_cast<uint2*>(p) = u;
  } else {
    for (int k = 0; k < N; ++k) p[k] = __float2bfloat16_rn(f[k]);
  }
}
// f as a T would hold it.
template <class T, int N>
__device__ __forceinline__ void round_to(float (&f)[N]) {
  if constexpr (std::is_same_v<T, bf16>)
    for (int k = 0; k < N; ++k) f[k] = __bfloat162float(__float2bfloat16_rn(f[k]));
}

// Each lane takes kN consecutive columns at a time (kN = 4 when dim % 4 == 0 and the buffers are
// 16-byte aligned, else 1).
template <class TIn, class TOut, int kN>
__global__ void rmsnorm_forward_kernel(TOut* y, float* rstd, const TIn* x, const float* w, int64_t groups, int64_t dim,
                                       float eps) {
  const int lane = threadIdx.x % 32;
  for (int64_t g = blockIdx.x * int64_t(kWarpsPerBlock) + threadIdx.x / 32; g < groups;
       g += int64_t(gridDim.x) * kWarpsPerBlock) {
    const TIn* xr = x + g * dim;
    double ss = 0.0;
#pragma unroll 2
    for (int64_t i = lane * kN; i < dim; i += 32 * kN) {
      float xv[kN];
      load_n<kN>(xr + i, xv);
      for (int k = 0; k < kN; ++k) ss += double(xv[k]) * double(xv[k]);
    }
    ss = warp_sum(ss);
    const float mean = static_cast<float>(ss / static_cast<double>(dim));
    const float inv = __fdiv_rn(1.0f, __fsqrt_rn(__fadd_rn(mean, eps)));
    if (lane == 0 && rstd) rstd[g] = inv;
    TOut* yr = y + g * dim;
#pragma unroll 2
    for (int64_t i = lane * kN; i < dim; i += 32 * kN) {
      float xv[kN], wv[kN], yv[kN];
      load_n<kN>(xr + i, xv);
      load_n<kN>(w + i, wv);
      for (int k = 0; k < kN; ++k) yv[k] = __fmul_rn(wv[k], __fmul_rn(xv[k], inv));
      store_n<kN>(yr + i, yv);
    }
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

// Chunking of the groups for dw: at most 2048 chunks of at least 8 groups (enough blocks of the
// fused kernel to keep every SM's memory pipe busy at 8K rows).
int64_t rows_per_chunk(int64_t groups) { return std::max<int64_t>(8, (groups + 2047) / 2048); }
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

constexpr int kFusedWarps = 4;

// dx += d/dx for the groups of chunk blockIdx.x (as rmsnorm_dx_kernel), dx_copy (if not null) :=
// the new dx as TOut, and scratch[chunk, col] = the chunk's dw terms (dynamic shared memory:
// kFusedWarps * dim floats).
template <class TIn, class TOut, int kN>
__global__ void __launch_bounds__(32 * kFusedWarps)
    rmsnorm_backward_fused_kernel(TIn* dx, TOut* dx_copy, float* scratch, const TOut* dy, const TIn* x,
                                  const float* w, const float* rstd, int64_t groups, int64_t dim, int64_t per_chunk) {
  extern __shared__ float acc[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* mine = acc + warp * dim;
  for (int64_t i = lane; i < dim; i += 32) mine[i] = 0.0f;
  const int64_t begin = blockIdx.x * per_chunk, end = begin + per_chunk < groups ? begin + per_chunk : groups;
  for (int64_t g = begin + warp; g < end; g += kFusedWarps) {
    const TIn* xr = x + g * dim;
    const TOut* dyr = dy + g * dim;
    const double r = rstd[g];
    const float rf = rstd[g];
    double dot = 0.0;
#pragma unroll 2
    for (int64_t i = lane * kN; i < dim; i += 32 * kN) {
      float dyv[kN], xv[kN], wv[kN];
      load_n<kN>(dyr + i, dyv);
      load_n<kN>(xr + i, xv);
      load_n<kN>(w + i, wv);
      for (int k = 0; k < kN; ++k) dot += double(dyv[k]) * wv[k] * (xv[k] * r);
    }
    const double mean = warp_sum(dot) / static_cast<double>(dim);
    TIn* dxr = dx + g * dim;
#pragma unroll 2
    for (int64_t i = lane * kN; i < dim; i += 32 * kN) {
      float dyv[kN], xv[kN], wv[kN], dxv[kN];
      load_n<kN>(dyr + i, dyv);
      load_n<kN>(xr + i, xv);
      load_n<kN>(w + i, wv);
      load_n<kN>(dxr + i, dxv);
      for (int k = 0; k < kN; ++k) {
        const float d = static_cast<float>(r * (double(dyv[k]) * wv[k] - xv[k] * r * mean));
        dxv[k] = dxv[k] + d;
        mine[i + k] += dyv[k] * __fmul_rn(xv[k], rf);
      }
      round_to<TIn, kN>(dxv);  // the value dx holds, which the copy converts
      store_n<kN>(dxr + i, dxv);
      if (dx_copy) store_n<kN>(dx_copy + g * dim + i, dxv);
    }
  }
  __syncthreads();
  for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
    float t = 0.0f;
    for (int k = 0; k < kFusedWarps; ++k) t += acc[k * dim + i];
    scratch[blockIdx.x * dim + i] = t;
  }
}

// dw[col] += the sum of scratch[., col] over the chunks: a block owns 32 columns, its 16 row
// lanes sum strided chunks in double, then the lanes' sums are added in lane order.
__global__ void rmsnorm_dw_reduce_kernel(float* dw, const float* scratch, int64_t chunks, int64_t dim) {
  __shared__ double part[16][33];
  const int64_t col = blockIdx.x * 32 + threadIdx.x;
  double s = 0.0;
  if (col < dim)
    for (int64_t c = threadIdx.y; c < chunks; c += 16) s += scratch[c * dim + col];
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < dim) {
    double t = 0.0;
    for (int k = 0; k < 16; ++k) t += part[k][threadIdx.x];
    dw[col] += static_cast<float>(t);
  }
}

// The fused kernel's shared memory, or 0 when a row of every warp does not fit (then two passes).
size_t fused_smem_bytes(int64_t dim) {
  const size_t bytes = sizeof(float) * kFusedWarps * static_cast<size_t>(dim);
  return bytes <= size_t{200} * 1024 ? bytes : 0;
}

}  // namespace

size_t rmsnorm_backward_scratch_floats(int64_t groups, int64_t dim) {
  return groups <= 0 || dim <= 0 ? 0 : static_cast<size_t>(chunk_count(groups) * dim);
}

template <class TIn, class TOut>
void rmsnorm_forward(TOut* y, float* rstd, const TIn* x, const float* w, int64_t groups, int64_t dim, float eps,
                     cudaStream_t stream) {
  if (groups <= 0 || dim <= 0) return;
  const bool vec = dim % 4 == 0 && aligned16(y) && aligned16(x) && aligned16(w);
  const unsigned blocks = grid_for(groups, kWarpsPerBlock, 65535);
  if (vec)
    rmsnorm_forward_kernel<TIn, TOut, 4><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(y, rstd, x, w, groups, dim, eps);
  else
    rmsnorm_forward_kernel<TIn, TOut, 1><<<blocks, 32 * kWarpsPerBlock, 0, stream>>>(y, rstd, x, w, groups, dim, eps);
  check_launch("rmsnorm_forward_kernel");
}

template <class TIn, class TOut>
void rmsnorm_backward(TIn* dx, float* dw, const TOut* dy, const TIn* x, const float* w, const float* rstd,
                      int64_t groups, int64_t dim, float* scratch, cudaStream_t stream) {
  rmsnorm_backward<TIn, TOut>(dx, dw, dy, x, w, rstd, groups, dim, scratch, nullptr, stream);
}

template <class TIn, class TOut>
void rmsnorm_backward(TIn* dx, float* dw, const TOut* dy, const TIn* x, const float* w, const float* rstd,
                      int64_t groups, int64_t dim, float* scratch, TOut* dx_copy, cudaStream_t stream) {
  if (groups <= 0 || dim <= 0) return;
  const int64_t chunks = chunk_count(groups);
  const size_t smem = fused_smem_bytes(dim);
  if (dx && smem > 0) {
    const bool vec = dim % 4 == 0 && aligned16(dx) && aligned16(dy) && aligned16(x) && aligned16(w) &&
                     (!dx_copy || aligned16(dx_copy));
    auto kernel = vec ? rmsnorm_backward_fused_kernel<TIn, TOut, 4> : rmsnorm_backward_fused_kernel<TIn, TOut, 1>;
    if (smem > size_t{48} * 1024)
      check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)),
                 "cudaFuncSetAttribute(rmsnorm_backward)");
    kernel<<<unsigned(chunks), 32 * kFusedWarps, smem, stream>>>(dx, dx_copy, scratch, dy, x, w, rstd, groups, dim,
                                                                rows_per_chunk(groups));
    check_launch("rmsnorm_backward_fused_kernel");
    rmsnorm_dw_reduce_kernel<<<unsigned((dim + 31) / 32), dim3(32, 16), 0, stream>>>(dw, scratch, chunks, dim);
    check_launch("rmsnorm_dw_reduce_kernel");
    return;
  }
  if (dx) {
    rmsnorm_dx_kernel<TIn, TOut><<<grid_for(groups, kWarpsPerBlock, 65535), 32 * kWarpsPerBlock, 0, stream>>>(
        dx, dy, x, w, rstd, groups, dim);
    check_launch("rmsnorm_dx_kernel");
    if (dx_copy) {
      if constexpr (std::is_same_v<TIn, TOut>)
        check_cuda(cudaMemcpyAsync(dx_copy, dx, sizeof(TIn) * size_t(groups * dim), cudaMemcpyDeviceToDevice, stream),
                   "cudaMemcpyAsync(rmsnorm dx copy)");
      else
        convert<TOut, TIn>(dx_copy, dx, groups * dim, stream);
    }
  }
  rmsnorm_dw_partial_kernel<TIn, TOut><<<dim3(unsigned((dim + 31) / 32), unsigned(chunks)), dim3(32, 8), 0, stream>>>(
      scratch, dy, x, rstd, groups, dim, rows_per_chunk(groups));
  check_launch("rmsnorm_dw_partial_kernel");
  rmsnorm_dw_reduce_kernel<<<unsigned((dim + 31) / 32), dim3(32, 16), 0, stream>>>(dw, scratch, chunks, dim);
  check_launch("rmsnorm_dw_reduce_kernel");
}

#define NOVA_RMSNORM(TIn, TOut)                                                                                   \
  template void rmsnorm_forward<TIn, TOut>(TOut*, float*, const TIn*, const float*, int64_t, int64_t, float,      \
                                           cudaStream_t);                                                          \
  template void rmsnorm_backward<TIn, TOut>(TIn*, float*, const TOut*, const TIn*, const float*, const float*,    \
                                            int64_t, int64_t, float*, cudaStream_t);                             \
  template void rmsnorm_backward<TIn, TOut>(TIn*, float*, const TOut*, const TIn*, const float*, const float*,    \
                                            int64_t, int64_t, float*, TOut*, cudaStream_t);
NOVA_RMSNORM(float, float)
NOVA_RMSNORM(float, bf16)
NOVA_RMSNORM(bf16, bf16)
#undef NOVA_RMSNORM

}  // namespace nova::kernels::cuda::train
