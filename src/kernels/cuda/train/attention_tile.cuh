// The tile machinery of the fused causal GQA attention kernels (attention_forward.cu,
// attention_backward.cu): 64 x 64 tiles of queries x keys, 256 threads as a 16 x 16 grid; thread
// (ty, tx) owns tile rows ty*4 .. ty*4+3 and tile columns tx + 16c, so the 16 threads of a row
// group are 16 lanes of one warp (row statistics reduce with 16-lane shuffles). Tiles live in
// shared memory as fp32 (bf16 inputs are widened on load), rows padded to DM + 1 floats so that
// both row- and column-wise reads are free of bank conflicts; head dims below DM are zero-padded.
// Everything is fp32 FMA on CUDA cores: the correct first cut, a tensor-core version is the next.
#pragma once

#include <cstdint>

#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {
// nova::Error unless the kernels support these dims (attention_forward.cu).
void check_attention_dims(const AttentionDims& d);
// NOVA_TRAIN_ATTN=simt: the bf16 mode uses the fp32 CUDA-core kernels too (tests, debugging).
bool attention_mma_disabled();
}  // namespace nova::kernels::cuda::train

namespace nova::kernels::cuda::train::attn {

constexpr int kTile = 64;
constexpr int kThreads = 256;

template <int DM>
constexpr int kStride = DM + 1;  // floats per shared row

// rows [row0, row0 + 64) of head `head` of a [B, T, heads, d] tensor into s[64][DM + 1], zeros
// past T and past d.
template <class T, int DM>
__device__ __forceinline__ void load_tile(float* s, const T* x, int64_t b, int64_t row0, int64_t head,
                                          const AttentionDims& dims, int64_t heads) {
  const int64_t d = dims.head_dim;
  for (int idx = threadIdx.x; idx < kTile * DM; idx += kThreads) {
    const int r = idx / DM, c = idx % DM;
    const int64_t t = row0 + r;
    float val = 0.0f;
    if (t < dims.T && c < d) val = to_f32(x[((b * dims.T + t) * heads + head) * d + c]);
    s[r * kStride<DM> + c] = val;
  }
}

// acc[i][c] = sum_k A[ty*4 + i][k] * Bm[tx + 16c][k] over k < DM (A, Bm padded tiles).
template <int DM>
__device__ __forceinline__ void tile_dot(float (&acc)[4][4], const float* A, const float* Bm) {
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 4; ++c) acc[i][c] = 0.0f;
#pragma unroll 8
  for (int k = 0; k < DM; ++k) {
    float a[4], bv[4];
    for (int i = 0; i < 4; ++i) a[i] = A[(ty * 4 + i) * kStride<DM> + k];
    for (int c = 0; c < 4; ++c) bv[c] = Bm[(tx + 16 * c) * kStride<DM> + k];
    for (int i = 0; i < 4; ++i)
      for (int c = 0; c < 4; ++c) acc[i][c] += a[i] * bv[c];
  }
}

// acc[i][c] += sum_j P[ty*4 + i][j] * V[j][tx + 16c] over j < 64 (P: [64][65], V padded tile).
template <int DM>
__device__ __forceinline__ void tile_accumulate(float (&acc)[4][DM / 16], const float* P, const float* V) {
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll 4
  for (int j = 0; j < kTile; ++j) {
    float p[4];
    for (int i = 0; i < 4; ++i) p[i] = P[(ty * 4 + i) * (kTile + 1) + j];
    for (int c = 0; c < DM / 16; ++c) {
      const float vv = V[j * kStride<DM> + tx + 16 * c];
      for (int i = 0; i < 4; ++i) acc[i][c] += p[i] * vv;
    }
  }
}

// Whether query t may attend to key j (causal, sliding window when window > 0).
__device__ __forceinline__ bool visible(int64_t t, int64_t j, const AttentionDims& d) {
  return j <= t && t < d.T && (d.window <= 0 || j > t - d.window);
}

// Sum / max across the 16 lanes of a row group.
__device__ __forceinline__ float row_sum16(float x) {
  for (int o = 8; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}
__device__ __forceinline__ float row_max16(float x) {
  for (int o = 8; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

// The key tiles a query tile [q0, q0 + 64) sees: [first, end) in steps of 64.
__device__ __forceinline__ void key_range(int64_t q0, const AttentionDims& d, int64_t& first, int64_t& end) {
  const int64_t lo = d.window > 0 ? (q0 - d.window + 1 > 0 ? q0 - d.window + 1 : 0) : 0;
  first = lo / kTile * kTile;
  end = q0 + kTile < d.T ? q0 + kTile : d.T;
}

template <int DM>
constexpr size_t tile_bytes() {
  return sizeof(float) * kTile * kStride<DM>;
}
constexpr size_t kProbBytes = sizeof(float) * kTile * (kTile + 1);

}  // namespace nova::kernels::cuda::train::attn
