// Prefill attention for BF16 activations and a BF16 KV cache: FlashAttention-2 on mma.sync (the
// training kernels' mma / ldmatrix / cp.async helpers, train/attention_mma.cuh) over the inference
// cache layout — q [rows, q_heads, D], K/V in blocks
// [num_blocks, block_size, kv_heads, D] reached through each sequence's block table (a contiguous
// cache is one block of `capacity` slots), query rows at positions pos0 + i (chunked prefill),
// GQA and sliding windows.
//
// A block per (query tile of one sequence, q head), 4 warps of 16 rows; heaviest tiles (the
// latest rows: most keys) first. K/V tiles are double-buffered in shared memory and fetched with
// cp.async one tile ahead, each 16-byte piece from its own cache slot, so paging costs only the
// per-row block-table lookups (one lookup per tile where the tile's keys lie in one cache block).
// Scores, softmax and the output accumulate in fp32; P is rounded to bf16 for the P.V mma (as in
// training); the output is rounded to bf16 once. The tile step is inference's own (prefill_tile):
// per-element masks only on tiles that need them, the scale folded into one FFMA before each ex2,
// no per-element -inf test. On an H100 this took one 1B layer's 8k-token causal attention from
// 2.15 ms (128 TFLOP/s, train::mma::forward_tile_mt) to 1.21 ms (226), an 8B layer's from 4.10 ms
// to 2.11 ms (260).
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"
#include "kernels/cuda/pdl_launch.cuh"
#include "kernels/cuda/train/attention_mma.cuh"

namespace nova::kernels::cuda {

namespace {

using namespace train::mma;
using bf16 = __nv_bfloat16;

// m-tiles (16 query rows) per warp: 1 (64-row blocks). Two for D = 64 (each K / V fragment read
// from shared memory feeding two mma, 128-row blocks) measured slower on an H100: 254 registers,
// 8 warps per SM instead of 12 — 1B 8k-token attention 2.69 ms per layer vs 2.23 ms.
template <int D>
constexpr int kMt = 1;
template <int D>
constexpr int kRows = 4 * 16 * kMt<D>;
// Blocks per SM the register allocation must allow: 4 for D = 64 (128 registers, 16 warps per SM;
// ptxas spills ~64 bytes, yet it measured ~1% faster on an H100 than 3 blocks of 151 registers
// without spills: 1B 8k-token attention 1.21 vs 1.22 ms per layer), 1 for D = 128 (210 registers:
// 2 fit anyway; capping at 128 would spill ~500 bytes).
template <int D>
constexpr int kMinBlocks = D == 64 ? 4 : 1;

template <int D>
constexpr size_t prefill_bytes() {
  return sizeof(bf16) * (kRows<D> + 4 * kTile) * (D + kPad);  // Q, 2 x (K, V)
}

// 2^x on the special-function unit, subnormal results flushed to zero (exp2f adds a range fix-up
// around the same instruction; p below 2^-126 of the row's maximum changes nothing).
__device__ __forceinline__ float exp2_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Starts copying the K and V rows of cache positions [p0, p0 + 64) of kv head `kvh` into Kt, Vt
// ([64][D + kPad]); zeros from position `end` on (p0 < end). Part of the caller's next commit group.
// Positions and block sizes fit 32 bits (the checks bound caches far below that): 32-bit division.
// When the tile's present keys lie in one cache block (a contiguous cache; blocks of >= 64 slots)
// one block-table lookup serves the whole tile; otherwise each row looks up its own block.
template <int D>
__device__ __forceinline__ void load_kv_async(bf16* Kt, bf16* Vt, const AttnArgs& a, const int32_t* table,
                                              int p0, int end, int kvh) {
  constexpr int kChunks = D / 8;
  const bf16* k = static_cast<const bf16*>(a.k);
  const bf16* v = static_cast<const bf16*>(a.v);
  const uint32_t bs = static_cast<uint32_t>(a.block_size);
  const uint32_t p0_32 = static_cast<uint32_t>(p0);
  const uint32_t blk = p0_32 / bs, rem = p0_32 % bs;
  const int present = min(end - p0, kTile);
  if (rem + static_cast<uint32_t>(present) <= bs) {
    const int64_t base = ((int64_t{table[blk]} * bs + rem) * a.kv_heads + kvh) * D;
    const bf16* kb = k + base;
    const bf16* vb = v + base;
    const int row_stride = a.kv_heads * D;
    #pragma unroll
    for (int idx = threadIdx.x; idx < kTile * kChunks; idx += kThreads) {
      const int r = idx / kChunks, c = (idx % kChunks) * 8;
      const bool valid = r < present;
      const int off = r * row_stride + c;
      cp_async16(Kt + r * (D + kPad) + c, valid ? kb + off : k, valid);
      cp_async16(Vt + r * (D + kPad) + c, valid ? vb + off : v, valid);
    }
    return;
  }
  for (int idx = threadIdx.x; idx < kTile * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    const int p = p0 + r;
    const bool valid = p < end;
    int64_t off = 0;
    if (valid) {
      const uint32_t p32 = static_cast<uint32_t>(p);
      off = ((int64_t{table[p32 / bs]} * bs + p32 % bs) * a.kv_heads + kvh) * D + c;
    }
    cp_async16(Kt + r * (D + kPad) + c, k + off, valid);
    cp_async16(Vt + r * (D + kPad) + c, v + off, valid);
  }
}

// One key tile of the FlashAttention-2 forward for a warp's 16 query rows, inference's own form of
// train::mma::forward_tile (same mma / ldmatrix fragments; the training kernel keeps its code):
// S = Q K^T from qa and Kc ([64][D + kPad], keys kr0 .. kr0 + 63 counted from the block's first
// query position); only where kMasked, entries with !visible(hr, key) become -inf (wholly visible
// tiles skip the per-element test). The running max m stays in raw score units (sl2 = scale *
// log2 e > 0 keeps the order), so each probability is one FFMA and one ex2: p = 2^(s sl2 - m sl2).
// l is this lane's partial row sum (quad_sum at the end); O = O * alpha + P V with P rounded to
// bf16 in registers, V from Vc ([64][D + kPad]).
template <int D, bool kMasked, class Visible>
__device__ __forceinline__ void prefill_tile(float (&o)[D / 8][4], float (&m)[2], float (&l)[2],
                                             const uint32_t (&qa)[D / 16][4], const bf16* Kc, const bf16* Vc,
                                             int kr0, float sl2, [[maybe_unused]] Visible visible) {
  constexpr int S = D + kPad;
  [[maybe_unused]] const int t = threadIdx.x % 4;
  float s[8][4] = {};
  #pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
    #pragma unroll
    for (int j = 0; j < 8; j += 2) {
      uint32_t lo[2], hi[2];
      load_b_pair(lo, hi, Kc, S, 8 * j, 16 * kk);
      mma_bf16(s[j], qa[kk], lo[0], lo[1]);
      mma_bf16(s[j + 1], qa[kk], hi[0], hi[1]);
    }
  float mx[2] = {m[0], m[1]};
  #pragma unroll
  for (int j = 0; j < 8; ++j)
    #pragma unroll
    for (int e = 0; e < 4; ++e) {
      if constexpr (kMasked) {
        if (!visible(e >> 1, kr0 + 8 * j + 2 * t + (e & 1))) s[j][e] = -INFINITY;
      }
      mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
    }
  float ms[2];  // the new max in log2 units; 0 while the row has seen no visible key (every p is 0)
  #pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const float mn = quad_max(mx[hr]);
    const float alpha = mn == -INFINITY ? 1.0f : exp2_ftz((m[hr] - mn) * sl2);
    ms[hr] = mn == -INFINITY ? 0.0f : mn * sl2;
    m[hr] = mn;
    l[hr] *= alpha;
    #pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][2 * hr] *= alpha;
      o[n][2 * hr + 1] *= alpha;
    }
  }
  #pragma unroll
  for (int j = 0; j < 8; ++j)
    #pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float p = exp2_ftz(fmaf(s[j][e], sl2, -ms[e >> 1]));
      s[j][e] = p;
      l[e >> 1] += p;
    }
  #pragma unroll
  for (int kk = 0; kk < kTile / 16; ++kk) {
    uint32_t pa[4];
    c_to_a(pa, s[2 * kk], s[2 * kk + 1]);
    #pragma unroll
    for (int n = 0; n < D / 8; n += 2) {
      uint32_t lo[2], hi[2];
      load_b_trans(lo, hi, Vc, S, 16 * kk, 8 * n);
      mma_bf16(o[n], pa, lo[0], lo[1]);
      mma_bf16(o[n + 1], pa, hi[0], hi[1]);
    }
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads, kMinBlocks<D>) prefill_mma_kernel(const __grid_constant__ AttnArgs a) {
  constexpr int S = D + kPad, R = kRows<D>;
  static_assert(kMt<D> == 1, "prefill_tile handles one m-tile per warp");
  extern __shared__ __align__(16) unsigned char smem_raw[];
  // Q [R][S], then K / V tile buffers b at K(b) = Qs + (R + 2 b kTile) S, V(b) = K(b) + kTile S
  // (pointers computed, not an array indexed by the buffer: that would live in local memory).
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);
  const auto kbuf = [&](int b) { return Qs + (R + 2 * b * kTile) * S; };
  const int warp = threadIdx.x / 32, t = threadIdx.x % 4, g = (threadIdx.x % 32) / 4;

  pdl_wait();  // launched with PDL: q and the K/V rows were written by the kernel before
  const AttnSeq* seqs = a.seqs ? a.seqs : a.seqs_inline;
  const AttnTile* tiles = a.seqs ? a.tiles : a.tiles_inline;
  const int32_t* tables = a.seqs ? a.tables : a.tables_inline;
  const AttnTile tile = tiles[a.num_tiles - 1 - blockIdx.x];
  const AttnSeq seq = seqs[tile.seq];
  const int32_t* table = tables + seq.table_begin;
  const int h = blockIdx.y, kvh = h / (a.q_heads / a.kv_heads);

  // Query rows v0 .. v0 + nv - 1 of the sequence sit at positions qpos0 + r; warp w owns block rows
  // w * 16 .. w * 16 + 15.
  // Positions fit 32 bits (the host's checks bound caches far below that).
  const int qpos0 = static_cast<int>(seq.pos0) + tile.v0, nv = tile.nv;
  const int end = qpos0 + nv;  // keys [0, end) exist; no row sees past its own position
  const int lo = a.window > 0 ? max(0, qpos0 - a.window + 1) : 0;
  const int first = lo / kTile * kTile;

  const bf16* q = static_cast<const bf16*>(a.q);
  for (int idx = threadIdx.x; idx < R * (D / 8); idx += kThreads) {
    const int r = idx / (D / 8), c = (idx % (D / 8)) * 8;
    const bool valid = r < tile.nv;
    cp_async16(Qs + r * S + c, valid ? q + ((seq.q_begin + tile.v0 + r) * a.q_heads + h) * D + c : q, valid);
  }
  cp_async_commit();
  load_kv_async<D>(kbuf(0), kbuf(0) + kTile * S, a, table, first, end, kvh);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
  const int row0 = warp * 16;  // the warp's first row in the block
  uint32_t qa[D / 16][4];
  #pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) load_a(qa[kk], Qs, S, row0, kk * 16);
  float o[D / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  // This lane's rows and the keys, as positions minus qpos0 (rows past nv: never stored).
  const int rr[2] = {row0 + g, row0 + g + 8};
  const float sl2 = a.scale * kLog2e;
  const int window = a.window;
  const auto visible = [&](int hr, int key) {
    return key <= rr[hr] && key < nv && (window <= 0 || rr[hr] - key < window);
  };
  int buf = 0;
  for (int k0 = first; k0 < end; k0 += kTile, buf ^= 1) {
    if (k0 + kTile < end) {
      load_kv_async<D>(kbuf(buf ^ 1), kbuf(buf ^ 1) + kTile * S, a, table, k0 + kTile, end, kvh);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    // Every (row, key) of the tile visible: all keys at or before the block's first row, inside
    // its last row's window, and present.
    const bool full = k0 + kTile - 1 <= qpos0 && (window <= 0 || k0 > qpos0 + R - 1 - window) && k0 + kTile <= end;
    const bf16* Kc = kbuf(buf);
    if (full) prefill_tile<D, false>(o, m, l, qa, Kc, Kc + kTile * S, k0 - qpos0, sl2, visible);
    else prefill_tile<D, true>(o, m, l, qa, Kc, Kc + kTile * S, k0 - qpos0, sl2, visible);
    __syncthreads();
  }
  bf16* out = static_cast<bf16*>(a.out);
  #pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const float lsum = quad_sum(l[hr]);
    const int r = row0 + g + 8 * hr;
    if (r >= tile.nv) continue;
    const float mul = lsum > 0.0f ? 1.0f / lsum : 0.0f;
    bf16* p = out + ((seq.q_begin + tile.v0 + r) * a.q_heads + h) * D + 2 * t;
    #pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<__nv_bfloat162*>(p + 8 * n) =
          __floats2bfloat162_rn(o[n][2 * hr] * mul, o[n][2 * hr + 1] * mul);
  }
}

}  // namespace

bool attention_prefill_supports(int head_dim) { return head_dim == 64 || head_dim == 128; }
int attention_prefill_tile_rows(int head_dim) { return head_dim == 64 ? kRows<64> : kRows<128>; }

void prepare_attention_prefill() {
  check_cuda(cudaFuncSetAttribute(prefill_mma_kernel<64>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(prefill_bytes<64>())),
             "cudaFuncSetAttribute(prefill_mma<64>)");
  check_cuda(cudaFuncSetAttribute(prefill_mma_kernel<128>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(prefill_bytes<128>())),
             "cudaFuncSetAttribute(prefill_mma<128>)");
}

void launch_attention_prefill(const AttnArgs& a, cudaStream_t s) {
  if (a.num_tiles == 0) return;
  // The running max is kept in raw score units: a positive scale keeps their order.
  require(a.scale > 0.0f, "attention (prefill, mma)", "the score scale must be positive");
  const dim3 grid(static_cast<unsigned>(a.num_tiles), static_cast<unsigned>(a.q_heads));
  // With PDL: launched while the RoPE + K/V store before it finishes (it waits before any read).
  if (a.head_dim == 64)
    launch_pdl(prefill_mma_kernel<64>, grid, dim3(kThreads), prefill_bytes<64>(), s, 1, "attention (prefill, mma)", a);
  else
    launch_pdl(prefill_mma_kernel<128>, grid, dim3(kThreads), prefill_bytes<128>(), s, 1, "attention (prefill, mma)", a);
}

}  // namespace nova::kernels::cuda
