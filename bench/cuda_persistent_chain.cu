// A design probe for a persistent decode kernel (bench_cuda_decode --micro 2; BENCHMARKS.md "Eighth
// round"): the 1B decode layer's four GEMVs (q|k|v +norm, o +add, gate|up +norm +SwiGLU, down +add)
// for all layers in one launch, against the same chain as one PDL launch per GEMV. One block per
// SM; a producer warp streams the block's weight chunks (8 rows x 2048 columns, 32 KB) into a ring
// of shared-memory slots with bulk copies, running ahead across stage and layer boundaries (it
// waits only for free slots); 8 consumer warps compute from the ring once the stage's input is
// complete (one global counter per stage, one arrival per block). Optionally an attention step
// between q|k|v and o (one block per kv head), to see how much of it the weight stream hides.
// Hopper only (bulk copies and mbarrier transaction counts); not used by the backend.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_persistent_chain.h"

namespace nova::bench {

namespace {

constexpr int kConsumerWarps = 8, kThreads = (kConsumerWarps + 1) * 32;
constexpr int kChunkK = 2048, kChunkBytes = 8 * kChunkK * 2;
constexpr int64_t F = 8192;

// Device code for Hopper only (the kernel below is empty elsewhere).
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
constexpr int64_t H = 2048, QKV = 3072;
__device__ __forceinline__ unsigned smem_addr(const void* p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void mbar_init(uint64_t* b, unsigned count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(b)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect(uint64_t* b, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(b)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(uint64_t* b) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(b)) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t* b, unsigned parity) {
  asm volatile(
      "{\n .reg .pred p;\n WAIT_%=:\n mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n @!p bra WAIT_%=;\n}\n" ::"r"(
          smem_addr(b)),
      "r"(parity)
      : "memory");
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, unsigned bytes, uint64_t* bar, uint64_t policy) {
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;" ::"r"(
          smem_addr(dst)),
      "l"(src), "r"(bytes), "r"(smem_addr(bar)), "l"(policy)
      : "memory");
}
__device__ __forceinline__ void consumers_sync() { asm volatile("bar.sync 1, %0;" ::"n"(kConsumerWarps * 32) : "memory"); }

// Weight stage s of a layer (q|k|v, o, gate|up, down): its tiles, and chunks per tile.
__device__ __forceinline__ int stage_tiles(int s) { return s == 0 ? QKV / 8 : s == 2 ? F / 4 : H / 8; }
__device__ __forceinline__ int stage_chunks(int s) { return s == 3 ? F / kChunkK : 1; }

// The weight rows of chunk c of tile t in stage s of layer l: 8 row pointers (at column c * kChunkK).
__device__ __forceinline__ const __nv_bfloat16* chunk_row(const PersistentChain& a, int l, int s, int t, int c, int r) {
  const __nv_bfloat16* wl = a.w + int64_t{l} * ((QKV + H) * H + 3 * F * H);
  const __nv_bfloat16 *wqkv = wl, *wo = wqkv + QKV * H, *wg = wo + H * H, *wu = wg + F * H, *wd = wu + F * H;
  switch (s) {
    case 0: return wqkv + (int64_t{t} * 8 + r) * H;
    case 1: return wo + (int64_t{t} * 8 + r) * H;
    case 2: return (r < 4 ? wg : wu) + (int64_t{t} * 4 + (r & 3)) * H;
    default: return wd + (int64_t{t} * 8 + r) * F + int64_t{c} * kChunkK;
  }
}

// The attention of kv head g (q heads 4g .. 4g + 3, head_dim 64) over a.context = 512 cached
// positions, by one block's 8 consumer warps (64 keys each, two a lane), into a.attn:
// flash-decoding's arithmetic without the splits. `sm`: shared scratch of at least 2400 floats.
constexpr int kKvHeads = 8, kGroup = 4, kHeadDim = 64;
__device__ void attend_kv_head(const PersistentChain& a, int l, int g, float* sm) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float* qs = sm;                                      // [4][64], scaled for exp2
  float* so = sm + kGroup * kHeadDim;                  // [8 warps][4][64]
  float* sml = so + kConsumerWarps * kGroup * kHeadDim;  // [8 warps][4][2]
  const float scale = 0.125f * 1.4426950408889634f;
  {
    const int i = threadIdx.x;  // 256 = 4 x 64 q values
    const unsigned short raw = __ldcg(reinterpret_cast<const unsigned short*>(a.q) + g * kGroup * kHeadDim + i);
    qs[i] = __uint_as_float(static_cast<unsigned>(raw) << 16) * scale;
  }
  consumers_sync();
  const int64_t row = int64_t{kKvHeads} * kHeadDim;  // one position of the cache
  const __nv_bfloat16* kc = a.kv + int64_t{l} * 2 * a.context * row + g * kHeadDim;
  const __nv_bfloat16* vc = kc + a.context * row;
  const int k0 = warp * (a.context / kConsumerWarps), nk = a.context / kConsumerWarps;  // 64 keys a warp
  float s[2][kGroup];
#pragma unroll
  for (int h = 0; h < 2; ++h) {  // keys k0 + lane, k0 + 32 + lane
    const uint4* kr = reinterpret_cast<const uint4*>(kc + (k0 + h * 32 + lane) * row);
    uint4 kv8[kHeadDim / 8];
#pragma unroll
    for (int j = 0; j < kHeadDim / 8; ++j) kv8[j] = __ldcg(kr + j);
#pragma unroll
    for (int r = 0; r < kGroup; ++r) {
      float acc = 0.0f;
#pragma unroll
      for (int j = 0; j < kHeadDim / 8; ++j) {
        const unsigned u[4] = {kv8[j].x, kv8[j].y, kv8[j].z, kv8[j].w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          acc = fmaf(__uint_as_float(u[e] << 16), qs[r * kHeadDim + j * 8 + 2 * e], acc);
          acc = fmaf(__uint_as_float(u[e] & 0xffff0000u), qs[r * kHeadDim + j * 8 + 2 * e + 1], acc);
        }
      }
      s[h][r] = acc;
    }
  }
  float m[kGroup], lsum[kGroup], o[kGroup][2];
#pragma unroll
  for (int r = 0; r < kGroup; ++r) {
    float mx = fmaxf(s[0][r], s[1][r]);
    for (int x = 16; x > 0; x >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, x));
    s[0][r] = exp2f(s[0][r] - mx), s[1][r] = exp2f(s[1][r] - mx);
    float t = s[0][r] + s[1][r];
    for (int x = 16; x > 0; x >>= 1) t += __shfl_xor_sync(0xffffffffu, t, x);
    m[r] = mx, lsum[r] = t, o[r][0] = o[r][1] = 0.0f;
  }
  // P.V: lane l owns dims 2l, 2l + 1; key kk's weights come from the lane holding it.
  for (int kk = 0; kk < nk; ++kk) {
    const unsigned vv = __ldcg(reinterpret_cast<const unsigned*>(vc + (k0 + kk) * row) + lane);
    const float v0 = __uint_as_float(vv << 16), v1 = __uint_as_float(vv & 0xffff0000u);
#pragma unroll
    for (int r = 0; r < kGroup; ++r) {
      const float p = __shfl_sync(0xffffffffu, kk < 32 ? s[0][r] : s[1][r], kk & 31);
      o[r][0] = fmaf(p, v0, o[r][0]), o[r][1] = fmaf(p, v1, o[r][1]);
    }
  }
#pragma unroll
  for (int r = 0; r < kGroup; ++r) {
    so[(warp * kGroup + r) * kHeadDim + 2 * lane] = o[r][0];
    so[(warp * kGroup + r) * kHeadDim + 2 * lane + 1] = o[r][1];
    if (lane == 0) sml[(warp * kGroup + r) * 2] = m[r], sml[(warp * kGroup + r) * 2 + 1] = lsum[r];
  }
  consumers_sync();
  {
    const int r = threadIdx.x / kHeadDim, d = threadIdx.x % kHeadDim;
    float mx = -1e30f;
    for (int w = 0; w < kConsumerWarps; ++w) mx = fmaxf(mx, sml[(w * kGroup + r) * 2]);
    float sum = 0.0f, acc = 0.0f;
    for (int w = 0; w < kConsumerWarps; ++w) {
      const float c = exp2f(sml[(w * kGroup + r) * 2] - mx);
      sum += c * sml[(w * kGroup + r) * 2 + 1];
      acc += c * so[(w * kGroup + r) * kHeadDim + d];
    }
    a.attn[(g * kGroup + r) * kHeadDim + d] = __float2bfloat16_rn(acc / sum);
  }
}
#endif

__global__ void __launch_bounds__(kThreads, 1) persistent_chain_kernel(const __grid_constant__ PersistentChain a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) unsigned char smem[];
  const int S = a.slots;
  unsigned char* ring = smem;                                              // S x 32 KB
  float* xs = reinterpret_cast<float*>(smem + S * kChunkBytes);            // [F]
  uint64_t* full = reinterpret_cast<uint64_t*>(xs + F);                    // [S]
  uint64_t* empty = full + S;                                              // [S]
  __shared__ float red[kConsumerWarps];
  __shared__ float rows_out[8];
  __shared__ float s_inv;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int G = gridDim.x, b = blockIdx.x;
  if (threadIdx.x == 0) {
    for (int i = 0; i < S; ++i) mbar_init(&full[i], 1), mbar_init(&empty[i], kConsumerWarps);
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  if (warp == kConsumerWarps) {  // producer
    if (lane != 0) return;
    uint64_t policy;
    asm("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
    unsigned it = 0;
    for (int l = 0; l < a.layers; ++l)
      for (int s = 0; s < 4; ++s)  // (the attention between q|k|v and o streams no weights)
        for (int t = b; t < stage_tiles(s); t += G)
          for (int c = 0; c < stage_chunks(s); ++c, ++it) {
            const unsigned slot = it % S, round = it / S;
            if (round > 0) mbar_wait(&empty[slot], (round - 1) & 1);
            mbar_expect(&full[slot], kChunkBytes);
            unsigned char* dst = ring + slot * kChunkBytes;
            if (s == 2) {  // 4 gate rows, then 4 up rows: two contiguous 16 KB pieces
              bulk_copy(dst, chunk_row(a, l, s, t, c, 0), kChunkBytes / 2, &full[slot], policy);
              bulk_copy(dst + kChunkBytes / 2, chunk_row(a, l, s, t, c, 4), kChunkBytes / 2, &full[slot], policy);
            } else if (s != 3) {  // 8 contiguous rows
              bulk_copy(dst, chunk_row(a, l, s, t, c, 0), kChunkBytes, &full[slot], policy);
            } else {
              for (int r = 0; r < 8; ++r)
                bulk_copy(dst + r * kChunkK * 2, chunk_row(a, l, s, t, c, r), kChunkK * 2, &full[slot], policy);
            }
          }
    return;
  }

  // Consumers: warp w computes row w of each chunk. Steps of a layer: q|k|v, [attention,] o,
  // gate|up, down; step n of the launch waits for counters[n - 1] to reach the grid's size.
  const int steps = a.attention ? 5 : 4;
  unsigned it = 0;
  for (int l = 0; l < a.layers; ++l)
    for (int i = 0; i < steps; ++i) {
      const int n = l * steps + i;
      const bool attend = a.attention && i == 1;
      const int s = a.attention && i > 1 ? i - 1 : i;  // the weight stage (attend: none)
      const int K = s == 3 ? F : H;
      // The step's input, complete once every block has finished the step before.
      if (threadIdx.x == 0 && n > 0 && !a.no_wait) {
        const unsigned* ctr = a.counters + n - 1;
        unsigned v;
        do {
          asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(ctr) : "memory");
        } while (v < static_cast<unsigned>(G));
      }
      consumers_sync();
      if (attend) {
        if (b < kKvHeads) attend_kv_head(a, l, b, xs);
        consumers_sync();
        if (threadIdx.x == 0) {
          __threadfence();
          atomicAdd(a.counters + n, 1u);
        }
        continue;
      }
      float sq = 0.0f;
      constexpr int kT = kConsumerWarps * 32;
      if (s == 0 || s == 2) {  // resid (f32) x norm, all loads in flight at once
        float4 r[H / 4 / kT];
#pragma unroll
        for (int j = 0; j < H / 4 / kT; ++j) r[j] = __ldcg(reinterpret_cast<const float4*>(a.resid) + threadIdx.x + j * kT);
#pragma unroll
        for (int j = 0; j < H / 4 / kT; ++j) {
          const int i = (threadIdx.x + j * kT) * 4;
          const float4 g = *reinterpret_cast<const float4*>(a.norm + i);
          sq = fmaf(r[j].x, r[j].x, fmaf(r[j].y, r[j].y, fmaf(r[j].z, r[j].z, fmaf(r[j].w, r[j].w, sq))));
          *reinterpret_cast<float4*>(xs + i) = make_float4(r[j].x * g.x, r[j].y * g.y, r[j].z * g.z, r[j].w * g.w);
        }
      } else {  // q or h (bf16), written by other blocks in this launch: L2, not a stale L1 line
        const uint4* src = reinterpret_cast<const uint4*>(s == 1 ? (a.attention ? a.attn : a.q) : a.h);
        constexpr int kMax = F / 8 / kT;
        uint4 u[kMax];
        const int n = K / 8 / kT;
#pragma unroll
        for (int j = 0; j < kMax; ++j)
          if (j < n) u[j] = __ldcg(src + threadIdx.x + j * kT);
#pragma unroll
        for (int j = 0; j < kMax; ++j)
          if (j < n) {
            const int i = (threadIdx.x + j * kT) * 8;
            const unsigned w4[4] = {u[j].x, u[j].y, u[j].z, u[j].w};
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              xs[i + 2 * e] = __uint_as_float(w4[e] << 16);
              xs[i + 2 * e + 1] = __uint_as_float(w4[e] & 0xffff0000u);
            }
          }
      }
      if (s == 0 || s == 2) {
        for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
        if (lane == 0) red[warp] = sq;
      }
      consumers_sync();
      if ((s == 0 || s == 2) && threadIdx.x == 0) {
        float t = 0.0f;
        for (int w = 0; w < kConsumerWarps; ++w) t += red[w];
        s_inv = 1.0f / sqrtf(t / static_cast<float>(H) + 1e-5f);
      }
      consumers_sync();  // s_inv
      for (int t = b; t < stage_tiles(s); t += G) {
        float acc = 0.0f;
        for (int c = 0; c < stage_chunks(s); ++c, ++it) {
          const unsigned slot = it % S, round = it / S;
          mbar_wait(&full[slot], round & 1);
          const uint4* row = reinterpret_cast<const uint4*>(ring + slot * kChunkBytes + warp * kChunkK * 2);
          const float* xc = xs + c * kChunkK;
#pragma unroll
          for (int j = 0; j < kChunkK / 256; ++j) {
            const int col = (j * 32 + lane) * 8;
            const uint4 p = row[j * 32 + lane];
            const float4 x0 = *reinterpret_cast<const float4*>(xc + col);
            const float4 x1 = *reinterpret_cast<const float4*>(xc + col + 4);
            acc = fmaf(__uint_as_float(p.x << 16), x0.x, acc);
            acc = fmaf(__uint_as_float(p.x & 0xffff0000u), x0.y, acc);
            acc = fmaf(__uint_as_float(p.y << 16), x0.z, acc);
            acc = fmaf(__uint_as_float(p.y & 0xffff0000u), x0.w, acc);
            acc = fmaf(__uint_as_float(p.z << 16), x1.x, acc);
            acc = fmaf(__uint_as_float(p.z & 0xffff0000u), x1.y, acc);
            acc = fmaf(__uint_as_float(p.w << 16), x1.z, acc);
            acc = fmaf(__uint_as_float(p.w & 0xffff0000u), x1.w, acc);
          }
          __syncwarp();
          if (lane == 0) mbar_arrive(&empty[slot]);
        }
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        // Row `warp` of the tile is this warp's alone: no block barrier (SwiGLU pairs warps w and
        // w + 4 through a barrier of the two).
        if (s == 2) {
          if (lane == 0) rows_out[warp] = acc;
          asm volatile("bar.sync %0, 64;" ::"r"(2 + (warp & 3)) : "memory");
          if (warp < 4 && lane == 0) {
            const float g = acc * s_inv, u = rows_out[warp + 4] * s_inv;
            a.h[t * 4 + warp] = __float2bfloat16_rn(g / (1.0f + __expf(-g)) * u);
          }
          asm volatile("bar.sync %0, 64;" ::"r"(2 + (warp & 3)) : "memory");  // rows_out free again
        } else if (lane == 0) {
          if (s == 0) a.q[t * 8 + warp] = __float2bfloat16_rn(acc * s_inv);
          else a.resid[t * 8 + warp] += acc;
        }
      }
      consumers_sync();
      if (threadIdx.x == 0) {
        __threadfence();
        atomicAdd(a.counters + n, 1u);
      }
    }
#endif
}

}  // namespace

cudaError_t launch_persistent_chain(const PersistentChain& a, int sms, cudaStream_t s) {
  if (a.slots < 1 || a.slots > 6 || (a.attention && a.context != 512)) return cudaErrorInvalidValue;
  const size_t smem = static_cast<size_t>(a.slots) * kChunkBytes + F * 4 + 2 * a.slots * 8;
  const cudaError_t e = cudaFuncSetAttribute(persistent_chain_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(smem));
  if (e != cudaSuccess) return e;
  persistent_chain_kernel<<<sms, kThreads, smem, s>>>(a);
  return cudaGetLastError();
}

}  // namespace nova::bench
