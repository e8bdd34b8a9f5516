// Tensor-core building blocks of the bf16 attention kernels (attention_mma.cu): mma.sync
// m16n8k16 (bf16 in, fp32 accumulate) with fragments read from shared memory by ldmatrix, and the
// global -> shared tile copies (cp.async, row-major tiles). Fragment layouts (PTX ISA,
// "Matrix Fragments for mma.m16n8k16"), lane = 4 g + t:
//   A (16 x 16, row-major): r0 (g, 2t..2t+1), r1 (g+8, 2t..), r2 (g, 2t+8..), r3 (g+8, 2t+8..)
//   B (16 x 8, k x n):      r0 (k 2t..2t+1, n g), r1 (k 2t+8.., n g)
//   C (16 x 8, fp32):       c0 c1 (g, 2t..2t+1), c2 c3 (g+8, 2t..2t+1)
// so two adjacent C tiles of a row block are, rounded to bf16, one A fragment (FlashAttention-2's
// register reuse of P and dS). A B operand stored k-major (V for P.V, K for dS.K, ...) is read
// with ldmatrix.trans, so no transposed copy is made. Shared rows are padded by 8 elements
// (144 or 272 bytes): ldmatrix's 8 rows of 16 bytes then hit 32 different banks.
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>

#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train::mma {

constexpr int kTile = 64;     // queries / keys per block tile
constexpr int kWarps = 4;     // 16 rows of the tile each
constexpr int kThreads = 32 * kWarps;
constexpr int kPad = 8;
constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ void mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const __nv_bfloat16* p) {
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// A fragment of rows [r0, r0 + 16), columns [k0, k0 + 16) of a row-major tile with `stride`
// (lanes 8i..8i+7 address the rows of 8 x 8 matrix i: a0 (rows +0, cols +0), a1 (+8, +0),
// a2 (+0, +8), a3 (+8, +8)).
__device__ __forceinline__ void load_a(uint32_t (&a)[4], const __nv_bfloat16* X, int stride, int r0, int k0) {
  const int lane = threadIdx.x % 32, mi = lane / 8;
  ldmatrix_x4(a, X + (r0 + (mi & 1) * 8 + lane % 8) * stride + k0 + (mi >> 1) * 8);
}

// B fragments of n-tiles [n0, n0 + 8) and [n0 + 8, n0 + 16) over k [k0, k0 + 16) where
// B[k][n] = Y[n][k], Y row-major (rows = n): matrices (n +0, k +0), (n +0, k +8), (n +8, k +0),
// (n +8, k +8).
__device__ __forceinline__ void load_b_pair(uint32_t (&lo)[2], uint32_t (&hi)[2], const __nv_bfloat16* Y, int stride,
                                            int n0, int k0) {
  const int lane = threadIdx.x % 32, mi = lane / 8;
  uint32_t r[4];
  ldmatrix_x4(r, Y + (n0 + (mi >> 1) * 8 + lane % 8) * stride + k0 + (mi & 1) * 8);
  lo[0] = r[0], lo[1] = r[1], hi[0] = r[2], hi[1] = r[3];
}

// B fragments of n-tiles [n0, n0 + 8) and [n0 + 8, n0 + 16) over k [k0, k0 + 16) where
// B[k][n] = X[k][n], X row-major (rows = k): one ldmatrix.x4.trans.
__device__ __forceinline__ void load_b_trans(uint32_t (&lo)[2], uint32_t (&hi)[2], const __nv_bfloat16* X, int stride,
                                             int k0, int n0) {
  const int lane = threadIdx.x % 32, mi = lane / 8;
  const __nv_bfloat16* p = X + (k0 + (mi & 1) * 8 + lane % 8) * stride + n0 + (mi >> 1) * 8;
  const uint32_t addr = static_cast<uint32_t>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(lo[0]), "=r"(lo[1]), "=r"(hi[0]), "=r"(hi[1])
               : "r"(addr));
}

// C tiles 2j and 2j + 1 of a 16-row block as the bf16 A fragment of k-block j.
__device__ __forceinline__ void c_to_a(uint32_t (&a)[4], const float (&lo)[4], const float (&hi)[4]) {
  a[0] = pack_bf16(lo[0], lo[1]);
  a[1] = pack_bf16(lo[2], lo[3]);
  a[2] = pack_bf16(hi[0], hi[1]);
  a[3] = pack_bf16(hi[2], hi[3]);
}

// 16 bytes global -> shared without a register round trip (sm_80+); zeros when !valid.
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool valid) {
  const uint32_t dst = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Starts copying rows [row0, row0 + 64) of head `head` of a [B, T, heads, D] bf16 tensor
// (16-byte aligned rows) into X[64][D + 8]; zeros past T. Part of the caller's next commit group.
template <int D>
__device__ __forceinline__ void load_rows_async(__nv_bfloat16* X, const __nv_bfloat16* x, int64_t b, int64_t row0,
                                               int64_t head, int64_t T, int64_t heads) {
  constexpr int kChunks = D / 8;  // 16-byte pieces per row
  for (int idx = threadIdx.x; idx < kTile * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    const int64_t t = row0 + r;
    const bool valid = t < T;
    cp_async16(X + r * (D + kPad) + c, valid ? x + ((b * T + t) * heads + head) * D + c : x, valid);
  }
}

__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

// One key tile of the FlashAttention-2 forward for a warp's MT x 16 query rows (the training forward
// in attention_mma.cu runs it through forward_tile below, inference prefill in
// kernels/cuda/attention_prefill.cu directly; MT > 1 lets each K / V fragment read from shared memory
// feed MT mma, at MT times the registers): S = Q K^T from the warp's Q fragments qa[mt] and the tile
// Kc ([64][D + kPad] bf16, keys k0 .. k0 + 63), scaled to log2 units by sl2; where `masked`, entries
// with !visible(mt, hr, col) (hr: this lane's row g (0) or g + 8 (1) of m-tile mt; col: the key's
// index) become -inf; the running max m and sum l of those rows (this lane's partial sum: quad_sum it
// at the end) are updated and O = O * alpha + P V, P rounded to bf16 in registers, V from Vc
// ([64][D + kPad]).
template <int D, int MT, class Visible>
__device__ __forceinline__ void forward_tile_mt(float (&o)[MT][D / 8][4], float (&m)[MT][2], float (&l)[MT][2],
                                                const uint32_t (&qa)[MT][D / 16][4], const __nv_bfloat16* Kc,
                                                const __nv_bfloat16* Vc, int64_t k0, bool masked, float sl2,
                                                Visible visible) {
  constexpr int S = D + kPad;
  const int t = threadIdx.x % 4;
  float s[MT][8][4] = {};
  #pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
    #pragma unroll
    for (int j = 0; j < 8; j += 2) {
      uint32_t lo[2], hi[2];
      load_b_pair(lo, hi, Kc, S, 8 * j, 16 * kk);
      #pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma_bf16(s[mt][j], qa[mt][kk], lo[0], lo[1]);
        mma_bf16(s[mt][j + 1], qa[mt][kk], hi[0], hi[1]);
      }
    }
  #pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    float mx[2] = {-INFINITY, -INFINITY};
    #pragma unroll
    for (int j = 0; j < 8; ++j)
      #pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hr = e >> 1;
        const int64_t col = k0 + 8 * j + 2 * t + (e & 1);
        s[mt][j][e] = !masked || visible(mt, hr, col) ? s[mt][j][e] * sl2 : -INFINITY;
        mx[hr] = fmaxf(mx[hr], s[mt][j][e]);
      }
    float alpha[2];
    #pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const float mn = fmaxf(m[mt][hr], quad_max(mx[hr]));
      alpha[hr] = mn == -INFINITY ? 1.0f : exp2f(m[mt][hr] - mn);
      m[mt][hr] = mn;
      l[mt][hr] *= alpha[hr];
    }
    #pragma unroll
    for (int j = 0; j < 8; ++j)
      #pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hr = e >> 1;
        const float p = s[mt][j][e] == -INFINITY ? 0.0f : exp2f(s[mt][j][e] - m[mt][hr]);
        s[mt][j][e] = p;
        l[mt][hr] += p;
      }
    #pragma unroll
    for (int n = 0; n < D / 8; ++n)
      #pragma unroll
      for (int e = 0; e < 4; ++e) o[mt][n][e] *= alpha[e >> 1];
  }
  #pragma unroll
  for (int kk = 0; kk < kTile / 16; ++kk) {
    uint32_t pa[MT][4];
    #pragma unroll
    for (int mt = 0; mt < MT; ++mt) c_to_a(pa[mt], s[mt][2 * kk], s[mt][2 * kk + 1]);
    #pragma unroll
    for (int n = 0; n < D / 8; n += 2) {
      uint32_t lo[2], hi[2];
      load_b_trans(lo, hi, Vc, S, 16 * kk, 8 * n);
      #pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma_bf16(o[mt][n], pa[mt], lo[0], lo[1]);
        mma_bf16(o[mt][n + 1], pa[mt], hi[0], hi[1]);
      }
    }
  }
}

// forward_tile_mt for one m-tile (16 rows per warp): visible(hr, col).
template <int D, class Visible>
__device__ __forceinline__ void forward_tile(float (&o)[D / 8][4], float (&m)[2], float (&l)[2],
                                             const uint32_t (&qa)[D / 16][4], const __nv_bfloat16* Kc,
                                             const __nv_bfloat16* Vc, int64_t k0, bool masked, float sl2,
                                             Visible visible) {
  forward_tile_mt<D, 1>(reinterpret_cast<float(&)[1][D / 8][4]>(o), reinterpret_cast<float(&)[1][2]>(m),
                        reinterpret_cast<float(&)[1][2]>(l), reinterpret_cast<const uint32_t(&)[1][D / 16][4]>(qa),
                        Kc, Vc, k0, masked, sl2, [&](int, int hr, int64_t col) { return visible(hr, col); });
}

}  // namespace nova::kernels::cuda::train::mma

namespace nova::kernels::cuda::train {

// Whether the tensor-core kernels take these dims and pointers (head_dim 64 or 128, 16-byte
// aligned tensors); otherwise the fp32 CUDA-core kernels run.
bool attention_mma_eligible(const AttentionDims& d, std::initializer_list<const void*> ptrs);
void attention_forward_mma(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d,
                           cudaStream_t stream);
// delta: [B, q_heads, T] rowsum(dout * out), already computed.
void attention_backward_mma(bf16* dq, bf16* dk, bf16* dv, const bf16* dout, const float* lse, const float* delta,
                            const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d, cudaStream_t stream);

}  // namespace nova::kernels::cuda::train
