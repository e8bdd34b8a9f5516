// Causal (optionally sliding-window) attention over a paged KV cache, GQA-aware, in one fused
// kernel with an online softmax (flash-attention style), plus a flash-decoding combine pass.
//
// Work split: a block owns one kv head and a tile of 16 "virtual rows" of one sequence, where
// virtual row v is (query row v / group, q head kv_head * group + v % group): the q heads that
// share a kv head share every K/V tile the block loads into shared memory. When the grid would
// be too small to fill the GPU (decode: one or a few query rows), each tile's key range is
// split across `splits` blocks that write unnormalised partial results (o, max, sum), and the
// last of them to finish merges them (with a counter per tile; without one, a second kernel).
// The contiguous cache of Backend::attention is the same kernel with
// one block holding the whole cache. q/out (AttnArgs::act) and the K/V cache (AttnArgs::kv) are
// float32 or bf16 in memory (a kernel per pair); shared memory and all the math are float32.
// Decode-shaped calls of head_dim 64 / 128 run attention_decode.cu instead, large prefills the
// tensor-core kernels: this one takes small prefill chunks, other head dims, unaligned tensors.
#include <cuda_bf16.h>

#include <cfloat>

#include "core/error.h"

#include "kernels/cuda/attention_views.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/pdl_launch.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kRowsPerWarp = kAttnTileRows / kWarps;
constexpr int kKeys = 32;  // keys per shared-memory tile: one per lane
constexpr int kPerLane = kAttnMaxHeadDim / 32;
// Shared memory: Q [16][D], K [32][D + 4] (the pad makes each quarter-warp's 16-byte row reads
// hit distinct banks), V [32][D]. D is a multiple of 4 (checked by the backend).
size_t smem_bytes(int D) { return sizeof(float) * (size_t(kAttnTileRows) * D + size_t(kKeys) * (D + 4) + size_t(kKeys) * D); }

struct KeyRange {
  int64_t begin, end;
};

// The keys block `split` of a tile attends to: the tile's whole causal/window range, cut into
// `splits` chunks of whole 32-key tiles.
__device__ KeyRange key_range(const AttnArgs& a, const AttnSeq& seq, const AttnTile& tile, int group, int split) {
  const int64_t pos_lo = seq.pos0 + tile.v0 / group;
  const int64_t pos_hi = seq.pos0 + (tile.v0 + tile.nv - 1) / group;
  const int64_t end = pos_hi + 1;
  const int64_t begin = a.window > 0 ? max(int64_t{0}, pos_lo - a.window + 1) : 0;
  int64_t chunk = (end - begin + a.splits - 1) / a.splits;
  chunk = (chunk + kKeys - 1) / kKeys * kKeys;
  const int64_t b = begin + split * chunk;
  return {min(b, end), min(b + chunk, end)};
}

__device__ __forceinline__ float dot4(const float4& a, const float4& b) { return a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w; }

// Four elements at p (16-byte aligned for float, 8-byte for bf16) as float32.
__device__ __forceinline__ float4 load4(const float* p) { return *reinterpret_cast<const float4*>(p); }
__device__ __forceinline__ float4 load4(const __nv_bfloat16* p) {
  const uint2 u = *reinterpret_cast<const uint2*>(p);
  return make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u), __uint_as_float(u.y << 16),
                     __uint_as_float(u.y & 0xffff0000u));
}

// out = the merge of the splits' partial results of every virtual row of a tile, kv head kvh, by
// the threads of one block: each row's (max, sum) pairs of all splits are staged in shared
// memory in one pass, then every output element's partials are loaded independently (two
// memory round trips, not one per split). Partials are read from L2 (other SMs wrote them).
template <class QT>
__device__ void combine_tile(const AttnArgs& a, const AttnTile& tile, const AttnSeq& seq, int kvh) {
  __shared__ float2 ml[kAttnTileRows][kAttnMaxSplits];
  const int D = a.head_dim, group = a.q_heads / a.kv_heads, S = a.splits;
  const int64_t stride = a.total_rows * a.q_heads;
  auto row_head = [&](int vi) {
    const int v = tile.v0 + vi;
    return (seq.q_begin + v / group) * a.q_heads + kvh * group + v % group;
  };
  for (int e = threadIdx.x; e < tile.nv * S; e += blockDim.x) {
    const int vi = e / S, z = e % S;
    ml[vi][z] = __ldcg(reinterpret_cast<const float2*>(a.part_ml) + z * stride + row_head(vi));
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < tile.nv * D; idx += blockDim.x) {
    const int vi = idx / D, d = idx % D;
    const int64_t rh = row_head(vi);
    float mx = -INFINITY;
    for (int z = 0; z < S; ++z) mx = fmaxf(mx, ml[vi][z].x);
    float sum = 0.0f, acc = 0.0f;
#pragma unroll 8
    for (int z = 0; z < S; ++z) {
      const float2 mlz = ml[vi][z];
      // An empty split (no visible key) has max -inf, sum 0 and o 0: weight 0.
      const float w = mlz.x == -INFINITY ? 0.0f : expf(mlz.x - mx);
      sum += w * mlz.y;
      acc += w * __ldcg(a.part_o + (z * stride + rh) * D + d);
    }
    store_out(static_cast<QT*>(a.out) + rh * D + d, sum > 0.0f ? acc / sum : 0.0f);
  }
}

// K/V elements as loaded, before the conversion to float32: a prefetched tile stays in this form
// in registers until its loads are needed (converting at the load would wait for them at once).
template <class KT> struct Raw;
template <> struct Raw<float> {
  using type = float4;
  static __device__ __forceinline__ float4 load(const float* p) { return *reinterpret_cast<const float4*>(p); }
  static __device__ __forceinline__ float4 zero() { return make_float4(0.f, 0.f, 0.f, 0.f); }
  static __device__ __forceinline__ float4 f32(const float4& v) { return v; }
};
template <> struct Raw<__nv_bfloat16> {
  using type = uint2;
  static __device__ __forceinline__ uint2 load(const __nv_bfloat16* p) { return *reinterpret_cast<const uint2*>(p); }
  static __device__ __forceinline__ uint2 zero() { return make_uint2(0u, 0u); }
  static __device__ __forceinline__ float4 f32(const uint2& u) {
    return make_float4(__uint_as_float(u.x << 16), __uint_as_float(u.x & 0xffff0000u), __uint_as_float(u.y << 16),
                       __uint_as_float(u.y & 0xffff0000u));
  }
};

// 4-element K/V pieces of a 32-key tile each thread keeps in flight (all of them up to head_dim
// 128; larger heads load the rest when the tile is stored to shared memory).
constexpr int kPrefetch = kKeys * 128 / 4 / (kWarps * 32);

// Launched with programmatic dependent launch: what depends only on the step's argument block
// (descriptors, the first tile's block-table lookups) is done before pdl_wait(), overlapping the
// kernel before (which writes the K/V rows this reads). Each 32-key tile's K/V loads are issued
// one tile ahead into registers (with the next tile's block-table lookups), so a block's chain is
// one memory round trip per tile, overlapped with the previous tile's arithmetic.
template <class QT, class KT>
__global__ void __launch_bounds__(kWarps * 32) attention_kernel(const __grid_constant__ AttnArgs a) {
  using R = Raw<KT>;
  extern __shared__ float4 smem4[];
  __shared__ int64_t key_off[2][kKeys];  // element offset of each key of a tile (-1: none), two tiles
  pdl_trigger();  // the output projection's GEMV may start loading its weights now
  float* smem = reinterpret_cast<float*>(smem4);
  const int D = a.head_dim, KP = D + 4;
  float* qs = smem;                     // [16][D]
  float* ks = qs + kAttnTileRows * D;   // [32][D + 4]
  float* vs = ks + kKeys * KP;          // [32][D]
  const AttnViews w = attn_views(a);
  const AttnTile tile = w.tiles[blockIdx.x];
  const AttnSeq seq = w.seqs[tile.seq];
  const int kvh = blockIdx.y, split = blockIdx.z;
  const int group = a.q_heads / a.kv_heads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  const int D4 = D / 4;
  const QT* q = static_cast<const QT*>(a.q);
  const KT* kc = static_cast<const KT*>(a.k);
  const KT* vc = static_cast<const KT*>(a.v);
  QT* out = static_cast<QT*>(a.out);
  const KeyRange kr = key_range(a, seq, tile, group, split);

  // Element offsets of keys t0 .. t0 + 31 into key_off[buf], by the first warp.
  auto lookup = [&](int64_t t0, int buf) {
    if (threadIdx.x < kKeys) {
      const int64_t p = t0 + threadIdx.x;
      int64_t off = -1;
      if (p < kr.end) {
        const int64_t blk = w.tables[seq.table_begin + p / a.block_size];
        off = ((blk * a.block_size + p % a.block_size) * a.kv_heads + kvh) * D;
      }
      key_off[buf][threadIdx.x] = off;
    }
  };
  typename R::type pk[kPrefetch], pv[kPrefetch];
  // Issues the K/V loads of the tile whose offsets are in key_off[buf] (4-element pieces spread
  // over the block).
  auto prefetch = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kPrefetch; ++i) {
      const int e = threadIdx.x + i * kWarps * 32;
      pk[i] = pv[i] = R::zero();
      if (e < kKeys * D4) {
        const int64_t off = key_off[buf][e / D4];
        if (off >= 0) {
          pk[i] = R::load(kc + off + 4 * (e % D4));
          pv[i] = R::load(vc + off + 4 * (e % D4));
        }
      }
    }
  };
  // Stores the prefetched tile (and any pieces past the prefetch, loaded now) to shared memory.
  auto commit = [&](int buf) {
#pragma unroll
    for (int i = 0; i < kPrefetch; ++i) {
      const int e = threadIdx.x + i * kWarps * 32;
      if (e < kKeys * D4) {
        const int j = e / D4, c = e % D4;
        reinterpret_cast<float4*>(ks + j * KP)[c] = R::f32(pk[i]);
        reinterpret_cast<float4*>(vs + j * D)[c] = R::f32(pv[i]);
      }
    }
    for (int e = threadIdx.x + kPrefetch * kWarps * 32; e < kKeys * D4; e += kWarps * 32) {
      const int j = e / D4, c = e % D4;
      const int64_t off = key_off[buf][j];
      float4 kv = make_float4(0.f, 0.f, 0.f, 0.f), vv = kv;
      if (off >= 0) {
        kv = R::f32(R::load(kc + off + 4 * c));
        vv = R::f32(R::load(vc + off + 4 * c));
      }
      reinterpret_cast<float4*>(ks + j * KP)[c] = kv;
      reinterpret_cast<float4*>(vs + j * D)[c] = vv;
    }
  };

  lookup(kr.begin, 0);  // block tables are the step's argument block: ready before the kernel before ends
  __syncthreads();
  pdl_wait();  // q and the K/V rows were written by the kernels before
  if (kr.begin < kr.end) prefetch(0);

  // Q: warp w fills virtual rows w, w + 4, ...; lanes copy 4-element pieces.
  for (int vi = warp; vi < kAttnTileRows; vi += kWarps) {
    const QT* src = nullptr;
    if (vi < tile.nv) {
      const int v = tile.v0 + vi;
      src = q + ((seq.q_begin + v / group) * a.q_heads + kvh * group + v % group) * D;
    }
    for (int c = lane; c < D4; c += 32)
      reinterpret_cast<float4*>(qs + vi * D)[c] = src ? load4(src + 4 * c) : make_float4(0.f, 0.f, 0.f, 0.f);
  }

  bool valid[kRowsPerWarp];
  int64_t pos[kRowsPerWarp];
  float m[kRowsPerWarp], l[kRowsPerWarp], o[kRowsPerWarp][kPerLane];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int vi = warp * kRowsPerWarp + i;
    valid[i] = vi < tile.nv;
    pos[i] = seq.pos0 + (tile.v0 + vi) / group;
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int dd = 0; dd < kPerLane; ++dd) o[i][dd] = 0.0f;
  }

  int buf = 0;
  for (int64_t t0 = kr.begin; t0 < kr.end; t0 += kKeys, buf ^= 1) {
    __syncthreads();  // the previous tile is no longer read; this tile's loads were issued from key_off[buf]
    const bool more = t0 + kKeys < kr.end;
    if (more) lookup(t0 + kKeys, buf ^ 1);  // that buffer's tile was issued before the barrier
    commit(buf);
    __syncthreads();
    if (more) prefetch(buf ^ 1);  // in flight while this tile is scored

    // Scores: lane j scores key t0 + j against the warp's rows.
    float s[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) s[i] = 0.0f;
    const float4* qw = reinterpret_cast<const float4*>(qs + warp * kRowsPerWarp * D);
    const float4* kl = reinterpret_cast<const float4*>(ks + lane * KP);
    for (int c = 0; c < D4; ++c) {
      const float4 k4 = kl[c];
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) s[i] += dot4(qw[i * D4 + c], k4);
    }
    const int64_t p = t0 + lane;
    float prob[kRowsPerWarp];
#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const bool ok = valid[i] && p < kr.end && p <= pos[i] && (a.window == 0 || pos[i] - p < a.window);
      const float si = ok ? s[i] * a.scale : -INFINITY;
      const float tile_max = warp_max(si);
      prob[i] = 0.0f;
      if (tile_max == -INFINITY) continue;  // warp-uniform: nothing visible in this tile
      const float m_new = fmaxf(m[i], tile_max);
      const float corr = expf(m[i] - m_new);  // 0 on the first visible tile
      prob[i] = ok ? expf(si - m_new) : 0.0f;
      l[i] = l[i] * corr + warp_sum(prob[i]);
      m[i] = m_new;
#pragma unroll
      for (int dd = 0; dd < kPerLane; ++dd) o[i][dd] *= corr;
    }
    const int jmax = static_cast<int>(kr.end - t0 < kKeys ? kr.end - t0 : kKeys);
    for (int j = 0; j < jmax; ++j) {
      float pj[kRowsPerWarp];
#pragma unroll
      for (int i = 0; i < kRowsPerWarp; ++i) pj[i] = __shfl_sync(0xffffffffu, prob[i], j);
#pragma unroll
      for (int dd = 0; dd < kPerLane; ++dd) {
        const int d = lane + 32 * dd;
        if (d < D) {
          const float vd = vs[j * D + d];
#pragma unroll
          for (int i = 0; i < kRowsPerWarp; ++i) o[i][dd] += pj[i] * vd;
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    if (!valid[i]) continue;
    const int v = tile.v0 + warp * kRowsPerWarp + i;
    const int64_t row = seq.q_begin + v / group;
    const int64_t rh = row * a.q_heads + kvh * group + v % group;
    if (a.splits == 1) {
      const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
#pragma unroll
      for (int dd = 0; dd < kPerLane; ++dd)
        if (lane + 32 * dd < D) store_out(out + rh * D + lane + 32 * dd, o[i][dd] * inv);
    } else {
      const int64_t prh = int64_t{split} * a.total_rows * a.q_heads + rh;
#pragma unroll
      for (int dd = 0; dd < kPerLane; ++dd)
        if (lane + 32 * dd < D) a.part_o[prh * D + lane + 32 * dd] = o[i][dd];
      if (lane == 0) {
        a.part_ml[2 * prh] = m[i];
        a.part_ml[2 * prh + 1] = l[i];
      }
    }
  }
  if (a.splits > 1 && a.counters) {
    // The last of the tile's split blocks to finish merges them (no second kernel): the partials
    // are made visible before the count, and read back from L2 (another SM's writes).
    __shared__ bool is_last;
    __threadfence();
    __syncthreads();
    int* count = a.counters + int64_t{blockIdx.x} * a.kv_heads + kvh;
    if (threadIdx.x == 0) is_last = atomicAdd(count, 1) == a.splits - 1;
    __syncthreads();
    if (is_last) {
      __threadfence();
      combine_tile<QT>(a, tile, seq, kvh);
      if (threadIdx.x == 0) *count = 0;  // ready for the next call
    }
  }
}

// Merges the splits' partial results of every virtual row of a tile.
template <class QT>
__global__ void combine_kernel(const __grid_constant__ AttnArgs a) {
  pdl_trigger();
  const AttnViews w = attn_views(a);
  const AttnTile tile = w.tiles[blockIdx.x];
  combine_tile<QT>(a, tile, w.seqs[tile.seq], blockIdx.y);
}

using AttnKernel = void (*)(AttnArgs);

// The kernel for a call's (activation, cache) dtypes: F32 or BF16 each.
AttnKernel kernel_for(DType act, DType kv) {
  auto ok = [](DType t) { return t == DType::F32 || t == DType::BF16; };
  if (!ok(act) || !ok(kv)) fail("attention", "q/out and the K/V cache must be F32 or BF16");
  if (act == DType::BF16)
    return kv == DType::BF16 ? attention_kernel<__nv_bfloat16, __nv_bfloat16> : attention_kernel<__nv_bfloat16, float>;
  return kv == DType::BF16 ? attention_kernel<float, __nv_bfloat16> : attention_kernel<float, float>;
}

}  // namespace

void prepare_attention() {
  for (DType act : {DType::F32, DType::BF16})
    for (DType kv : {DType::F32, DType::BF16})
      check_cuda(cudaFuncSetAttribute(kernel_for(act, kv), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      static_cast<int>(smem_bytes(kAttnMaxHeadDim))),
                 "cudaFuncSetAttribute(attention)");
}

void launch_attention(const AttnArgs& a, cudaStream_t s) {
  if (a.num_tiles == 0) return;
  const size_t smem = smem_bytes(a.head_dim);
  const dim3 grid(static_cast<unsigned>(a.num_tiles), static_cast<unsigned>(a.kv_heads),
                  static_cast<unsigned>(a.splits));
  launch_pdl(kernel_for(a.act, a.kv), grid, dim3(kWarps * 32), smem, s, 1, "attention", a);
  if (a.splits > 1 && !a.counters) {
    if (a.act == DType::BF16) combine_kernel<__nv_bfloat16><<<dim3(grid.x, grid.y), 128, 0, s>>>(a);
    else combine_kernel<float><<<dim3(grid.x, grid.y), 128, 0, s>>>(a);
    check_launch("attention combine");
  }
}

}  // namespace nova::kernels::cuda
