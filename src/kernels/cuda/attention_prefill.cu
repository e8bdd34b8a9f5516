// Prefill attention for BF16 activations and a BF16 KV cache: FlashAttention-2 on mma.sync, the
// training forward's tile code (train/attention_mma.cuh: forward_tile, the ldmatrix / cp.async
// helpers) over the inference cache layout — q [rows, q_heads, D], K/V in blocks
// [num_blocks, block_size, kv_heads, D] reached through each sequence's block table (a contiguous
// cache is one block of `capacity` slots), query rows at positions pos0 + i (chunked prefill),
// GQA and sliding windows.
//
// A block per (query tile of one sequence, q head), 4 warps of 16 or 32 rows; heaviest tiles (the
// latest rows: most keys) first. K/V tiles are double-buffered in shared memory and fetched with
// cp.async one tile ahead, each 16-byte piece from its own cache slot, so paging costs only the
// per-row block-table lookups. Scores, softmax and the output accumulate in fp32; P is rounded to
// bf16 for the P.V mma (as in training); the output is rounded to bf16 once.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/ops.cuh"
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
// Blocks per SM the register allocation must allow: 4 for D = 64 (128 registers, no spills to
// speak of: 16 warps per SM instead of 12), 1 for D = 128 (210 registers: 2 fit anyway; capping
// at 128 would spill ~500 bytes).
template <int D>
constexpr int kMinBlocks = D == 64 ? 4 : 1;

template <int D>
constexpr size_t prefill_bytes() {
  return sizeof(bf16) * (kRows<D> + 4 * kTile) * (D + kPad);  // Q, 2 x K, 2 x V
}

// Starts copying the K and V rows of cache positions [p0, p0 + 64) of kv head `kvh` into Kt, Vt
// ([64][D + kPad]); zeros from position `end` on. Part of the caller's next commit group.
// Positions and block sizes fit 32 bits (the checks bound caches far below that): 32-bit division.
template <int D>
__device__ __forceinline__ void load_kv_async(bf16* Kt, bf16* Vt, const AttnArgs& a, const int32_t* table,
                                              int64_t p0, int64_t end, int kvh) {
  constexpr int kChunks = D / 8;
  const bf16* k = static_cast<const bf16*>(a.k);
  const bf16* v = static_cast<const bf16*>(a.v);
  const uint32_t bs = static_cast<uint32_t>(a.block_size);
  for (int idx = threadIdx.x; idx < kTile * kChunks; idx += kThreads) {
    const int r = idx / kChunks, c = (idx % kChunks) * 8;
    const int64_t p = p0 + r;
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

template <int D>
__global__ void __launch_bounds__(kThreads, kMinBlocks<D>) prefill_mma_kernel(const __grid_constant__ AttnArgs a) {
  constexpr int S = D + kPad, MT = kMt<D>, R = kRows<D>;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);
  bf16* Ks[2] = {Qs + R * S, Qs + (R + kTile) * S};
  bf16* Vs[2] = {Qs + (R + 2 * kTile) * S, Qs + (R + 3 * kTile) * S};
  const int warp = threadIdx.x / 32, t = threadIdx.x % 4, g = (threadIdx.x % 32) / 4;

  const AttnSeq* seqs = a.seqs ? a.seqs : a.seqs_inline;
  const AttnTile* tiles = a.seqs ? a.tiles : a.tiles_inline;
  const int32_t* tables = a.seqs ? a.tables : a.tables_inline;
  const AttnTile tile = tiles[a.num_tiles - 1 - blockIdx.x];
  const AttnSeq seq = seqs[tile.seq];
  const int32_t* table = tables + seq.table_begin;
  const int h = blockIdx.y, kvh = h / (a.q_heads / a.kv_heads);

  // Query rows v0 .. v0 + nv - 1 of the sequence sit at positions qpos0 + r; warp w owns block rows
  // w * 16 * MT .. + 16 * MT - 1.
  const int64_t qpos0 = seq.pos0 + tile.v0;
  const int64_t end = qpos0 + tile.nv;  // keys [0, end) exist; no row sees past its own position
  const int64_t lo = a.window > 0 ? max(int64_t{0}, qpos0 - a.window + 1) : 0;
  const int64_t first = lo / kTile * kTile;

  const bf16* q = static_cast<const bf16*>(a.q);
  for (int idx = threadIdx.x; idx < R * (D / 8); idx += kThreads) {
    const int r = idx / (D / 8), c = (idx % (D / 8)) * 8;
    const bool valid = r < tile.nv;
    cp_async16(Qs + r * S + c, valid ? q + ((seq.q_begin + tile.v0 + r) * a.q_heads + h) * D + c : q, valid);
  }
  cp_async_commit();
  load_kv_async<D>(Ks[0], Vs[0], a, table, first, end, kvh);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
  const int row0 = warp * 16 * MT;  // the warp's first row in the block
  uint32_t qa[MT][D / 16][4];
  #pragma unroll
  for (int mt = 0; mt < MT; ++mt)
    #pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) load_a(qa[mt][kk], Qs, S, row0 + 16 * mt, kk * 16);
  float o[MT][D / 8][4] = {};
  float m[MT][2], l[MT][2];
  int64_t row[MT][2];  // positions (rows past nv: never stored)
  #pragma unroll
  for (int mt = 0; mt < MT; ++mt)
    #pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      m[mt][hr] = -INFINITY;
      l[mt][hr] = 0.0f;
      row[mt][hr] = qpos0 + row0 + 16 * mt + g + 8 * hr;
    }
  const float sl2 = a.scale * kLog2e;
  const int window = a.window;
  int buf = 0;
  for (int64_t k0 = first; k0 < end; k0 += kTile, buf ^= 1) {
    if (k0 + kTile < end) {
      load_kv_async<D>(Ks[buf ^ 1], Vs[buf ^ 1], a, table, k0 + kTile, end, kvh);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    // Every (row, key) of the tile visible: all keys at or before the block's first row, inside
    // its last row's window, and present.
    const bool full = k0 + kTile - 1 <= qpos0 && (window <= 0 || k0 > qpos0 + R - 1 - window) && k0 + kTile <= end;
    forward_tile_mt<D, MT>(o, m, l, qa, Ks[buf], Vs[buf], k0, !full, sl2, [&](int mt, int hr, int64_t col) {
      const int64_t p = row[mt][hr];
      return col <= p && col < end && (window <= 0 || p - col < window);
    });
    __syncthreads();
  }
  bf16* out = static_cast<bf16*>(a.out);
  #pragma unroll
  for (int mt = 0; mt < MT; ++mt)
    #pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const float lsum = quad_sum(l[mt][hr]);
      const int r = row0 + 16 * mt + g + 8 * hr;
      if (r >= tile.nv) continue;
      const float mul = lsum > 0.0f ? 1.0f / lsum : 0.0f;
      bf16* p = out + ((seq.q_begin + tile.v0 + r) * a.q_heads + h) * D + 2 * t;
      #pragma unroll
      for (int n = 0; n < D / 8; ++n)
        *reinterpret_cast<__nv_bfloat162*>(p + 8 * n) =
            __floats2bfloat162_rn(o[mt][n][2 * hr] * mul, o[mt][n][2 * hr + 1] * mul);
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
  const dim3 grid(static_cast<unsigned>(a.num_tiles), static_cast<unsigned>(a.q_heads));
  if (a.head_dim == 64) prefill_mma_kernel<64><<<grid, kThreads, prefill_bytes<64>(), s>>>(a);
  else prefill_mma_kernel<128><<<grid, kThreads, prefill_bytes<128>(), s>>>(a);
  check_launch("attention (prefill, mma)");
}

}  // namespace nova::kernels::cuda
