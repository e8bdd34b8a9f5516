// Decode attention over a paged (or contiguous) KV cache: a few query rows per sequence, GQA,
// sliding window, K/V in float32 or bf16, head_dim 64 or 128, streamed at memory speed.
//
// Work split: a block owns one kv head and a tile of up to kAttnDecodeRows virtual rows of one
// sequence (virtual row v = query row v / group, q head kv_head * group + v % group), so the q
// heads sharing a kv head read its keys once. Within the block, each key row is read by a group
// of lanes, 16 bytes per lane; every lane group keeps its own online softmax over the keys it saw
// (no cross-lane traffic but the dot product's butterfly), merged across the warp by shuffles and
// across the warps through shared memory at the end: no barrier inside the key loop. Each
// iteration's K/V loads are issued before the previous iteration's keys are scored. (A variant
// staging K/V through a cp.async ring in shared memory, 3 iterations ahead, measured slower: 1B
// heads at 32k x 32 sequences 955 us vs 855, 8B heads 1857 vs 1583, on an H100.)
// Long contexts with few blocks split each tile's keys over `splits` blocks (sized by the caller
// from the cache's capacity, so a decode step's grid repeats). Up to 8 splits on Hopper form a
// thread-block cluster and merge through distributed shared memory; otherwise the last split
// block to finish merges the partials from memory (a counter per tile and kv head, reset by that
// block). Either way in split order: deterministic.
// Fused RoPE + K/V store (AttnArgs::rope_cos; Backend::rope_store_attention): q is rotated as it
// is loaded; the split's keys are visited from its end down, so that the first iteration holds a
// decode tile's new positions, and the lanes holding those take them from the step's k / v rows
// (k rotated) and write them into the cache: no rope_store_kv kernel before this one, no barrier,
// no read back.
#include <cooperative_groups.h>
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "core/error.h"

#include "kernels/cuda/attention_decode_math.cuh"
#include "kernels/cuda/attention_views.cuh"
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/pdl_launch.cuh"

namespace nova::kernels::cuda {

namespace {

using namespace attn_decode;  // NOLINT: the shared decode helpers

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kTableStage = 1024;  // block-table entries a block stages in shared memory
constexpr int kMaxClusterSplits = 8;  // the portable cluster size

// The last split block's merge of a tile's partials (o unnormalised, (max, sum) in the log2
// domain), read from L2 (other SMs wrote them). `ml` stages every split's (max, sum).
template <int D>
__device__ void merge_splits(const AttnArgs& a, const AttnTile& tile, const AttnSeq& seq, int kvh, float2* ml) {
  const int group = a.q_heads / a.kv_heads, S = a.splits, nv = tile.nv;
  const int64_t stride = a.total_rows * a.q_heads;
  auto row_head = [&](int r) {
    const int v = tile.v0 + r;
    return (seq.q_begin + v / group) * a.q_heads + kvh * group + v % group;
  };
  for (int e = threadIdx.x; e < nv * S; e += kThreads) {
    const int r = e / S, z = e % S;
    ml[e] = __ldcg(reinterpret_cast<const float2*>(a.part_ml) + z * stride + row_head(r));
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < nv * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    const int64_t rh = row_head(r);
    const float2* mlr = ml + r * S;
    float mx = kEmpty;
    for (int z = 0; z < S; ++z) mx = fmaxf(mx, mlr[z].x);
    float sum = 0.0f, acc = 0.0f;
#pragma unroll 8
    for (int z = 0; z < S; ++z) {
      const float w = exp2f(mlr[z].x - mx);  // an empty split has sum 0 and o 0
      sum += w * mlr[z].y;
      acc += w * __ldcg(a.part_o + (z * stride + rh) * D + d);
    }
    store_out_at(a, rh * D + d, sum > 0.0f ? acc / sum : 0.0f);
  }
}

// The number of blocks in this block's thread-block cluster (1 without clusters).
__device__ __forceinline__ unsigned cluster_size() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  return cooperative_groups::this_cluster().num_blocks();
#else
  return 1;
#endif
}

// The merge of a cluster's split blocks (Hopper), in two halves around one cluster barrier. The
// tile's nv x D outputs are dealt out to the blocks in chunks of blockDim.x (chunk c to block
// c % S). Before the barrier each block pushes its unnormalised o of every output into the owning
// block's `recv_o`, and its (max, sum) of every row into every block's `recv_ml`, through
// distributed shared memory (stores: no round trip); after it each block merges what it owns
// from its own shared memory, and may exit at once (nobody reads it any more). An earlier form
// kept each block's results at home and had the owners read them remotely: a barrier, a remote
// round trip and a second barrier keeping the blocks alive (kernel_trace.cuh, 1B step at context
// 512 on an H100: from the block merge to the output projection's start 4.6 us, now 3.9).
struct ClusterMerge {
  int S, z, chunks, per_owner;  // blocks, this block's rank, chunks of outputs, outputs per source
  __device__ ClusterMerge(int nv, int D) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    namespace cg = cooperative_groups;
    S = static_cast<int>(cg::this_cluster().num_blocks());
    z = static_cast<int>(cg::this_cluster().block_rank());
#else
    S = 1, z = 0;
#endif
    const int n = static_cast<int>(blockDim.x);
    chunks = (nv * D + n - 1) / n;
    per_owner = (chunks + S - 1) / S * n;
  }
  // Output idx's owner and its slot in the owner's recv_o for this block's value.
  __device__ int owner(int idx) const { return (idx / static_cast<int>(blockDim.x)) % S; }
  __device__ int slot(int idx) const {
    const int n = static_cast<int>(blockDim.x), c = idx / n;
    return z * per_owner + (c / S) * n + idx % n;
  }
};

template <class T>
__device__ __forceinline__ void store_remote(T* local_addr, unsigned rank, T v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  *cooperative_groups::this_cluster().map_shared_rank(local_addr, rank) = v;
#endif
}

// The second half: block cm.z merges the outputs it owns from recv_o / recv_ml.
template <int R>
__device__ void merge_cluster_owned(const AttnArgs& a, const AttnTile& tile, const AttnSeq& seq, int kvh, int D,
                                    const ClusterMerge& cm, const float* recv_o, const float2 (*recv_ml)[R]) {
  const int n = static_cast<int>(blockDim.x), group = a.q_heads / a.kv_heads;
  for (int c = cm.z; c < cm.chunks; c += cm.S) {
    const int idx = c * n + static_cast<int>(threadIdx.x);
    if (idx >= tile.nv * D) break;
    const int r = idx / D, d = idx % D, local = (c / cm.S) * n + static_cast<int>(threadIdx.x);
    float mx = kEmpty;
#pragma unroll
    for (int z = 0; z < kMaxClusterSplits; ++z)
      if (z < cm.S) mx = fmaxf(mx, recv_ml[z][r].x);
    float sum = 0.0f, acc = 0.0f;
#pragma unroll
    for (int z = 0; z < kMaxClusterSplits; ++z)
      if (z < cm.S) {
        const float w = exp2f(recv_ml[z][r].x - mx);  // an empty split has sum 0 and o 0
        sum += w * recv_ml[z][r].y;
        acc += w * recv_o[z * cm.per_owner + local];
      }
    const int v = tile.v0 + r;
    const int64_t rh = (seq.q_begin + v / group) * a.q_heads + kvh * group + v % group;
    store_out_at(a, rh * D + d, sum > 0.0f ? acc / sum : 0.0f);
  }
}

__device__ __forceinline__ void cluster_barrier() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cooperative_groups::this_cluster().sync();  // arrive.release + wait.acquire: the pushes are seen
#endif
}
// A block may write another's shared memory only once that block has started: every block
// arrives here at its start and waits just before its first push (long after the others have
// arrived: no stall), one barrier phase ahead of cluster_barrier().
__device__ __forceinline__ void cluster_arrive_started() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
#endif
}
__device__ __forceinline__ void cluster_wait_started() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.wait.aligned;" ::: "memory");
#endif
}

// Launched with programmatic dependent launch: the descriptors and the block's slice of the block
// table are read before pdl_wait() (they are the step's argument block), q and K/V after.
// R: virtual rows per tile held in registers (at least the call's largest tile).
template <class KT, int D, int R>
__global__ void __launch_bounds__(kThreads, 1) attention_decode_kernel(const __grid_constant__ AttnArgs a) {
  using V = Vec<KT>;
  using Raw = typename V::raw;
  constexpr int N = V::n;                  // elements per lane of a key row
  constexpr int LPK = D / N;               // lanes per key row
  constexpr int KPW = 32 / LPK;            // keys per warp-wide load
  constexpr int U = R * N <= 32 ? 4 : 2;   // keys per lane per iteration (registers allowing)
  constexpr int KPI = KPW * U;             // keys per warp iteration
  static_assert(LPK <= 32 && 32 % LPK == 0, "a key row spans a power-of-two share of a warp");
  static_assert(kWarps * KPI >= kAttnDecodeRows, "a tile's new positions fit in one block iteration");
  __shared__ int32_t table[kTableStage];
  __shared__ float so[kWarps][R][D];
  __shared__ float sm[kWarps][R], sl[kWarps][R];
  // Cluster merge: every block's pushed results (ClusterMerge; at most kMaxClusterSplits chunks
  // of outputs per block: R * D <= 4 * kThreads).
  static_assert(R * D <= 4 * kThreads, "a tile's outputs fit the cluster merge's buffers");
  __shared__ float recv_o[kMaxClusterSplits * kThreads];
  __shared__ float2 recv_ml[kMaxClusterSplits][R];
  __shared__ bool is_last;
  NOVA_TRACE_POINT(0);
  const bool clustered = a.splits > 1 && cluster_size() > 1;
  if (clustered) cluster_arrive_started();

  const AttnViews w = attn_views(a);
  const AttnTile tile = w.tiles[blockIdx.x];
  const AttnSeq seq = w.seqs[tile.seq];
  const int kvh = blockIdx.y, split = blockIdx.z;
  const int group = a.q_heads / a.kv_heads, nv = tile.nv;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int kg = lane / LPK, sub = lane % LPK;

  // This split's keys: the tile's causal/window range cut into `splits` chunks of whole 32s.
  const int64_t pos_lo = seq.pos0 + tile.v0 / group;
  const int64_t hi = seq.pos0 + (tile.v0 + nv - 1) / group + 1;
  const int64_t lo = a.window > 0 ? max(int64_t{0}, pos_lo - a.window + 1) : 0;
  int64_t chunk = (hi - lo + a.splits - 1) / a.splits;
  chunk = (chunk + 31) / 32 * 32;
  const int64_t kb = min(lo + split * chunk, hi), ke = min(kb + chunk, hi);

  const int bs = static_cast<int>(a.block_size);
  const int tb0 = static_cast<int>(kb / bs);
  const int ntab = ke > kb ? static_cast<int>((ke - 1) / bs) - tb0 + 1 : 0;
  const bool staged = ntab <= kTableStage;
  const int32_t* gtable = w.tables + seq.table_begin;
  if (staged)
    for (int i = threadIdx.x; i < ntab; i += kThreads) table[i] = gtable[tb0 + i];
  __syncthreads();
  pdl_wait();  // q and the newest K/V rows were written by the kernels before
  NOVA_TRACE_POINT(2);

  const KT* kc = static_cast<const KT*>(a.k);
  const KT* vc = static_cast<const KT*>(a.v);
  const int64_t row_stride = int64_t{a.kv_heads} * D, kvh_off = int64_t{kvh} * D + sub * N;
  const bool pow2 = (bs & (bs - 1)) == 0;
  const int shift = __ffs(bs) - 1;
  // The cache slot of position p (a key of this split).
  auto slot_of = [&](int64_t p) {
    const int pi = static_cast<int>(p);
    const int bi = pow2 ? pi >> shift : pi / bs;
    const int in = pi - bi * bs;
    const int blk = staged ? table[bi - tb0] : __ldg(gtable + bi);
    return int64_t{blk} * bs + in;
  };
  // Element offset of this lane's 16 bytes of key p's row.
  auto key_offset = [&](int64_t p) { return slot_of(p) * row_stride + kvh_off; };
  // Issues the K/V loads of keys base + u * KPW + kg in [kb, lim) (zero elsewhere).
  auto issue = [&](int64_t base, Raw (&kx)[U], Raw (&vx)[U], int64_t lim) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t p = base + u * KPW + kg;
      kx[u] = vx[u] = V::zero();
      if (p >= kb && p < lim) {
        const int64_t off = key_offset(p);
        kx[u] = load16(kc + off);
        vx[u] = load16(vc + off);
      }
    }
  };
  // Fused RoPE + K/V store: the keys of this step's positions [new_lo, ke) come from the step's
  // k / v rows (rotated here), and the lanes holding them also write them into the cache. Its
  // iterations run from the split's end down, so that the first holds the split's last `step`
  // keys, hence every new position of a decode tile (at most kAttnDecodeRows, fewer than `step`);
  // plain calls run forward (the long-context bandwidth was measured that way).
  const bool rope = a.rope_cos != nullptr;
  const int64_t new_lo = rope ? max(kb, seq.pos0) : ke;
  Raw kr[U], vr[U];
  const int64_t step = int64_t{kWarps} * KPI;
  int64_t base = (rope ? ke - step : kb) + warp * KPI;
  const int64_t advance = rope ? -step : step;
  issue(base, kr, vr, new_lo);  // before the q loads: the K/V round trip starts first
  if (new_lo < ke) {  // block-uniform
    const int half = static_cast<int>(a.rope_half);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t p = base + u * KPW + kg;
      if (p < new_lo || p >= ke) continue;
      // This lane's 16 bytes of key p as the cache holds them (rope_store_kv's arithmetic).
      const int64_t row = seq.q_begin + (p - seq.pos0);
      const int64_t src = (row * a.kv_heads + kvh) * D + sub * N;
      float kf[N], vf[N];
      load_act_of<N>(a.new_k, a.act, src, kf);
      load_act_of<N>(a.new_v, a.act, src, vf);
      if (sub * N < 2 * half) {
        const bool low = sub * N < half;
        float other[N], c[N], sn[N];
        load_act_of<N>(a.new_k, a.act, src + (low ? half : -half), other);
        const int64_t j = row * half + (low ? sub * N : sub * N - half);
        load_act<N>(a.rope_cos + j, c);
        load_act<N>(a.rope_sin + j, sn);
#pragma unroll
        for (int e = 0; e < N; ++e) kf[e] = round_act(a.act, rotate(kf[e], other[e], c[e], sn[e], low));
      }
      kr[u] = V::pack(kf);
      vr[u] = V::pack(vf);
      const int64_t off = key_offset(p);
      *reinterpret_cast<Raw*>(const_cast<KT*>(kc) + off) = kr[u];
      *reinterpret_cast<Raw*>(const_cast<KT*>(vc) + off) = vr[u];
    }
  }

  // q slices of the tile's rows, pre-scaled so that the softmax runs on exp2.
  const float qscale = a.scale * kLog2e;
  float q[R][N];
  int rel[R];  // query row of virtual row r, relative to pos_lo
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const int v = tile.v0 + r;
    rel[r] = v / group - tile.v0 / group;
#pragma unroll
    for (int e = 0; e < N; ++e) q[r][e] = 0.0f;
    if (r < nv) {
      const int64_t qrow = seq.q_begin + v / group;
      const int64_t at = (qrow * a.q_heads + kvh * group + v % group) * D + sub * N;
      if (a.act == DType::BF16) load_act<N>(static_cast<const __nv_bfloat16*>(a.q) + at, q[r]);
      else load_act<N>(static_cast<const float*>(a.q) + at, q[r]);
      const int half = static_cast<int>(a.rope_half);
      if (rope && sub * N < 2 * half) {  // rotate as rope_store_kv would have (half % 8 == 0: one side)
        const bool low = sub * N < half;
        const int64_t partner = at + (low ? half : -half);
        float other[N], c[N], sn[N];
        if (a.act == DType::BF16) load_act<N>(static_cast<const __nv_bfloat16*>(a.q) + partner, other);
        else load_act<N>(static_cast<const float*>(a.q) + partner, other);
        const int64_t j = qrow * half + (low ? sub * N : sub * N - half);
        load_act<N>(a.rope_cos + j, c);
        load_act<N>(a.rope_sin + j, sn);
#pragma unroll
        for (int e = 0; e < N; ++e) q[r][e] = round_act(a.act, rotate(q[r][e], other[e], c[e], sn[e], low));
      }
#pragma unroll
      for (int e = 0; e < N; ++e) q[r][e] *= qscale;
    }
  }

  float m[R], l[R], o[R][N];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    m[r] = kEmpty;
    l[r] = 0.0f;
#pragma unroll
    for (int e = 0; e < N; ++e) o[r][e] = 0.0f;
  }
  const int window = a.window;
  // Every virtual row of the tile is the same query row (decode): one visibility test per key.
  const bool one_row = tile.v0 / group == (tile.v0 + nv - 1) / group;

  // Scores keys base + u * KPW + kg (K/V in kx, vx) into the lane group's online softmax.
  auto attend = [&](int64_t base, const Raw (&kx)[U], const Raw (&vx)[U]) {
    float s[U][R];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float kf[N];
      V::f32(kx[u], kf);
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float acc = 0.0f;
#pragma unroll
        for (int e = 0; e < N; ++e) acc = fmaf(q[r][e], kf[e], acc);
        s[u][r] = acc;
      }
    }
#pragma unroll
    for (int x = LPK / 2; x > 0; x >>= 1)
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int r = 0; r < R; ++r) s[u][r] += __shfl_xor_sync(0xffffffffu, s[u][r], x);
    const int d0 = static_cast<int>(base - pos_lo) + kg;  // key position relative to pos_lo
    if (one_row) {  // rows past nv score finite garbage that is never stored
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int d = d0 + u * KPW;
        const int64_t p = base + u * KPW + kg;
        const bool vis = p >= kb && p < ke && d <= 0 && (window == 0 || -d < window);
#pragma unroll
        for (int r = 0; r < R; ++r) s[u][r] = vis ? s[u][r] : -INFINITY;
      }
    } else {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int d = d0 + u * KPW;
        const int64_t p = base + u * KPW + kg;
        const bool in = p >= kb && p < ke;
#pragma unroll
        for (int r = 0; r < R; ++r) {
          const bool vis = in && r < nv && d <= rel[r] && (window == 0 || rel[r] - d < window);
          s[u][r] = vis ? s[u][r] : -INFINITY;
        }
      }
    }
#pragma unroll
    for (int r = 0; r < R; ++r) {
      float mx = m[r];
#pragma unroll
      for (int u = 0; u < U; ++u) mx = fmaxf(mx, s[u][r]);
      const float corr = exp2f(m[r] - mx);
      m[r] = mx;
      float lsum = l[r] * corr;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        s[u][r] = exp2f(s[u][r] - mx);
        lsum += s[u][r];
      }
      l[r] = lsum;
#pragma unroll
      for (int e = 0; e < N; ++e) o[r][e] *= corr;
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      float vf[N];
      V::f32(vx[u], vf);
#pragma unroll
      for (int r = 0; r < R; ++r)
#pragma unroll
        for (int e = 0; e < N; ++e) o[r][e] = fmaf(s[u][r], vf[e], o[r][e]);
    }
  };

  for (; base < ke && base + KPI > kb; base += advance) {
    Raw kn[U], vn[U];
    issue(base + advance, kn, vn, ke);  // the next iteration's loads fly while this one is scored
    attend(base, kr, vr);
#pragma unroll
    for (int u = 0; u < U; ++u) kr[u] = kn[u], vr[u] = vn[u];
  }

  NOVA_TRACE_POINT(3);
  // The output projection may launch now, not at this kernel's start: its weight loads (and the
  // gate|up's behind it) would otherwise queue ahead of this kernel's K/V loads (1B at context
  // 512 on an H100: 942.5 vs 931.4 tok/s, four interleaved pairs; 8k +0.4%, 32k even).
  pdl_trigger();
  // Merge the warp's lane groups (each saw every KPW-th key).
#pragma unroll
  for (int x = LPK; x < 32; x <<= 1)
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const float mo = __shfl_xor_sync(0xffffffffu, m[r], x), lo_ = __shfl_xor_sync(0xffffffffu, l[r], x);
      const float mx = fmaxf(m[r], mo), c1 = exp2f(m[r] - mx), c2 = exp2f(mo - mx);
      m[r] = mx;
      l[r] = l[r] * c1 + lo_ * c2;
#pragma unroll
      for (int e = 0; e < N; ++e) o[r][e] = o[r][e] * c1 + __shfl_xor_sync(0xffffffffu, o[r][e], x) * c2;
    }
  // ... and the block's warps, through shared memory.
  if (kg == 0)
#pragma unroll
    for (int r = 0; r < R; ++r)
#pragma unroll
      for (int e = 0; e < N; ++e) so[warp][r][sub * N + e] = o[r][e];
  if (lane == 0)
#pragma unroll
    for (int r = 0; r < R; ++r) sm[warp][r] = m[r], sl[warp][r] = l[r];
  __syncthreads();
  NOVA_TRACE_POINT(4);
  const ClusterMerge cm(nv, D);
  if (clustered) cluster_wait_started();
  const int64_t stride = a.total_rows * a.q_heads;
  for (int idx = threadIdx.x; idx < nv * D; idx += kThreads) {
    const int r = idx / D, d = idx % D;
    float mx = kEmpty;
#pragma unroll
    for (int ww = 0; ww < kWarps; ++ww) mx = fmaxf(mx, sm[ww][r]);
    float sum = 0.0f, acc = 0.0f;
#pragma unroll
    for (int ww = 0; ww < kWarps; ++ww) {
      const float c = exp2f(sm[ww][r] - mx);
      sum += c * sl[ww][r];
      acc += c * so[ww][r][d];
    }
    const int v = tile.v0 + r;
    const int64_t rh = (seq.q_begin + v / group) * a.q_heads + kvh * group + v % group;
    if (a.splits == 1) {
      store_out_at(a, rh * D + d, sum > 0.0f ? acc / sum : 0.0f);
    } else if (clustered) {
      store_remote(&recv_o[cm.slot(idx)], cm.owner(idx), acc);
      if (d == 0)
        for (int z = 0; z < cm.S; ++z) store_remote(&recv_ml[cm.z][r], z, make_float2(mx, sum));
    } else {
      const int64_t prh = split * stride + rh;
      a.part_o[prh * D + d] = acc;
      if (d == 0) reinterpret_cast<float2*>(a.part_ml)[prh] = make_float2(mx, sum);
    }
  }
  NOVA_TRACE_POINT(5);
  if (a.splits == 1) return;
  if (clustered) {
    cluster_barrier();
    NOVA_TRACE_POINT(6);
    merge_cluster_owned<R>(a, tile, seq, kvh, D, cm, recv_o, recv_ml);
    return;
  }
  // The last of the tile's split blocks merges: the partials are made visible before the count.
  __threadfence();
  __syncthreads();
  int* count = a.counters + int64_t{blockIdx.x} * a.kv_heads + kvh;
  if (threadIdx.x == 0) is_last = atomicAdd(count, 1) == a.splits - 1;
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  merge_splits<D>(a, tile, seq, kvh, reinterpret_cast<float2*>(&so[0][0][0]));
  if (threadIdx.x == 0) *count = 0;  // ready for the next call
}

using Kernel = void (*)(AttnArgs);

template <class KT, int D>
Kernel kernel_r(int rows) {
  if (rows <= 1) return attention_decode_kernel<KT, D, 1>;
  if (rows <= 4) return attention_decode_kernel<KT, D, 4>;
  return attention_decode_kernel<KT, D, 8>;
}

Kernel kernel_for(DType act, DType kv, int D, int rows) {
  auto ok = [](DType t) { return t == DType::F32 || t == DType::BF16; };
  if (!ok(act) || !ok(kv)) fail("attention", "q/out and the K/V cache must be F32 or BF16");
  if (rows > kAttnDecodeRows) fail("attention", "decode tiles hold at most 8 virtual rows");
  if (D == 64) return kv == DType::BF16 ? kernel_r<__nv_bfloat16, 64>(rows) : kernel_r<float, 64>(rows);
  if (D == 128) return kv == DType::BF16 ? kernel_r<__nv_bfloat16, 128>(rows) : kernel_r<float, 128>(rows);
  fail("attention", "the decode kernel takes head_dim 64 or 128, not " + std::to_string(D));
}

// Keys a split block takes at least (NOVA_CUDA_ATTN_SPLIT_KEYS overrides, for tuning).
int64_t min_split_keys() {
  static const int64_t keys = [] {
    const char* env = std::getenv("NOVA_CUDA_ATTN_SPLIT_KEYS");
    const int64_t v = env ? std::atoll(env) : 0;
    return v > 0 ? v : int64_t{64};
  }();
  return keys;
}

// Whether splits merge through a thread-block cluster (Hopper, at most 8 splits;
// NOVA_CUDA_ATTN_DECODE_CLUSTER=0: through memory and a counter instead).
bool use_clusters(int splits) {
  static const bool on = [] {
    const char* env = std::getenv("NOVA_CUDA_ATTN_DECODE_CLUSTER");
    return device_cc_major() >= 9 && !(env && std::string(env) == "0");
  }();
  return on && splits > 1 && splits <= kMaxClusterSplits;
}

}  // namespace

bool attention_decode_supports(int head_dim) {
  // NOVA_CUDA_ATTN_DECODE=0 leaves every call to the general kernel (before/after comparisons).
  static const bool on = [] {
    const char* env = std::getenv("NOVA_CUDA_ATTN_DECODE");
    return !(env && std::string(env) == "0");
  }();
  return on && (head_dim == 64 || head_dim == 128);
}

int attention_decode_splits(int64_t blocks, int64_t max_keys, int sm_count) {
  // One block per SM at most (a block holds an SM's registers): splits that keep the grid within
  // one wave, each with at least min_split_keys() of the cache's capacity.
  int64_t splits = std::min<int64_t>({sm_count / std::max<int64_t>(blocks, 1), max_keys / min_split_keys(),
                                      int64_t{kAttnMaxSplits}});
  // Short of twice a cluster's blocks, a cluster's worth: the cluster merge (no counter, no
  // partials through memory) is worth more than the few extra blocks (a 1B step at a few hundred
  // positions: 9-15 splits). NOVA_CUDA_ATTN_SPLITS_TO_CLUSTER=0 keeps them (comparisons).
  static const bool to_cluster = [] {
    const char* env = std::getenv("NOVA_CUDA_ATTN_SPLITS_TO_CLUSTER");
    return !(env && std::string(env) == "0");
  }();
  if (to_cluster && splits > kMaxClusterSplits && splits < 2 * kMaxClusterSplits && use_clusters(kMaxClusterSplits))
    splits = kMaxClusterSplits;
  return static_cast<int>(std::max<int64_t>(splits, 1));
}

bool attention_decode_fuses_rope(int splits) { return splits == 1 || use_clusters(splits); }

void launch_attention_decode(const AttnArgs& a, cudaStream_t s) {
  if (a.num_tiles == 0) return;
  const Kernel k = kernel_for(a.act, a.kv, a.head_dim, a.tile_rows > 0 ? a.tile_rows : kAttnDecodeRows);
  const bool cluster = use_clusters(a.splits);
  if (a.splits > 1 && !cluster && (!a.counters || !a.part_o || !a.part_ml))
    fail("attention", "the decode kernel's splits need partial buffers and counters");
  if (a.rope_cos && (!a.rope_sin || !a.new_k || !a.new_v || a.rope_half <= 0 || a.rope_half % 8 != 0 ||
                     2 * a.rope_half > a.head_dim))
    fail("attention", "the decode kernel's fused RoPE needs new k/v rows, cos/sin and a rotary half % 8 == 0");
  const dim3 grid(static_cast<unsigned>(a.num_tiles), static_cast<unsigned>(a.kv_heads), static_cast<unsigned>(a.splits));
  launch_pdl(k, grid, dim3(kThreads), 0, s, cluster ? static_cast<unsigned>(a.splits) : 1u, "attention (decode)", a);
}

}  // namespace nova::kernels::cuda
