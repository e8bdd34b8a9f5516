// Prefill attention on tensor cores: causal (optionally sliding-window) GQA attention over the
// paged fp32 KV cache, FlashAttention-2 style — each block owns 64 or 128 virtual rows (see
// attention.cu: query row v / group, q head kv_head * group + v % group) of one kv head and walks
// the visible keys in tiles of 64, keeping the output in registers and the softmax online.
//
// Precision: Q (pre-multiplied by scale * log2 e), K, V and the probabilities P are rounded to
// bf16 in shared memory for the bf16 mma (wmma 16x16x16); scores, the running max and sum, and
// the output accumulate in fp32. Each operand carries bf16's unit roundoff 2^-9, so outputs land
// within ~1e-2 of the fp32 result relative to their scale (the test's bound). The backend sends
// only large prefills here (CudaBackend::run_attention); decode and short prompts keep the fp32
// kernel, and NOVA_CUDA_ATTN=fp32 keeps it for everything.
//
// Per warp and key tile: S = Q K^T (4 accumulator fragments, 16 rows x 64 keys) -> shared memory
// -> a lane pair per row applies the mask, updates max/sum and writes P (bf16) -> O = O * corr +
// P V on the accumulator fragments. wmma's fragment layout is opaque, so the row of each
// accumulator element is learned once by loading a matrix of row numbers into a fragment; the
// per-row rescale then reads corr[row] from shared memory.
#include <mma.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/ops.cuh"

namespace nova::kernels::cuda {

namespace {

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;

// D <= 64: 4 warps (64 rows; ~170 registers, 3 blocks per SM); D <= 128: 8 warps (128 rows:
// half the K/V traffic per query row; 255 registers, one block per SM). Measured on an H100, the
// other choice costs 10% (1B, D = 64) and 11% (8B, D = 128) of 8k-token prefill.
template <int kFrags> __host__ __device__ constexpr int warps_for() { return kFrags == 4 ? 4 : 8; }
constexpr int kKeys = 64;               // keys per tile
constexpr int kLdS = kKeys + 4;         // fp32 score row stride (wmma: a multiple of 4)
constexpr int kLdP = kKeys + 8;         // bf16 probability row stride (a multiple of 8)

struct Layout {
  int ldh;  // bf16 row stride of Q, K, V: D + 8 (16-byte multiple; shifts banks between rows)
  size_t q, k, v, s, p, info, keys, total;  // byte offsets (all multiples of 32, as wmma needs)
};
__host__ __device__ inline Layout layout(int D, int kWarps) {
  const int kRows = 16 * kWarps;  // one 16-row wmma strip per warp
  Layout L{};
  L.ldh = D + 8;
  const size_t tile = size_t(64) * L.ldh * sizeof(bf16);
  L.q = 0;
  L.k = L.q + size_t(kRows) * L.ldh * sizeof(bf16);
  L.v = L.k + tile;
  L.s = L.v + tile;
  L.p = L.s + size_t(kRows) * kLdS * sizeof(float);
  L.info = L.p + size_t(kRows) * kLdP * sizeof(bf16);
  L.keys = L.info + size_t(kWarps) * 32 * sizeof(float);  // per warp: corr[16], 1/l[16]
  L.total = L.keys + size_t(kKeys) * sizeof(int64_t);      // the tile's cache offsets
  return L;
}

__device__ __forceinline__ void store_bf16x4(bf16* dst, float4 v) {
  reinterpret_cast<__nv_bfloat162*>(dst)[0] = __floats2bfloat162_rn(v.x, v.y);
  reinterpret_cast<__nv_bfloat162*>(dst)[1] = __floats2bfloat162_rn(v.z, v.w);
}

using AccFrag = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// kFrags: D / 16 rounded up to the instantiation's bound (4: D <= 64, 8: D <= 128); fragment
// arrays are indexed by unrolled constants only, so they stay in registers.
template <int kFrags>
__global__ void __launch_bounds__(warps_for<kFrags>() * 32) attention_tc_kernel(const __grid_constant__ AttnArgs a) {
  constexpr int kWarps = warps_for<kFrags>(), kRows = 16 * kWarps;
  extern __shared__ __align__(128) unsigned char smem[];
  const int D = a.head_dim, nd = D / 16, D4 = D / 4;
  const Layout L = layout(D, kWarps);
  bf16* qs = reinterpret_cast<bf16*>(smem + L.q);
  bf16* ks = reinterpret_cast<bf16*>(smem + L.k);
  bf16* vs = reinterpret_cast<bf16*>(smem + L.v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x & 31;
  float* ss = reinterpret_cast<float*>(smem + L.s) + warp * 16 * kLdS;  // this warp's 16 rows
  bf16* ps = reinterpret_cast<bf16*>(smem + L.p) + warp * 16 * kLdP;
  float* corr_s = reinterpret_cast<float*>(smem + L.info) + warp * 32;
  float* linv_s = corr_s + 16;
  int64_t* key_off = reinterpret_cast<int64_t*>(smem + L.keys);

  const AttnSeq* seqs = a.seqs ? a.seqs : a.seqs_inline;
  const AttnTile* tiles = a.seqs ? a.tiles : a.tiles_inline;
  const int32_t* tables = a.seqs ? a.tables : a.tables_inline;
  // Heaviest tiles (latest rows: most keys) first, so the causal triangle's tail balances.
  const AttnTile tile = tiles[a.num_tiles - 1 - blockIdx.x];
  const AttnSeq seq = seqs[tile.seq];
  const int kvh = blockIdx.y;
  const int group = a.q_heads / a.kv_heads;
  const float qscale = a.scale * 1.4426950408889634f;  // scores in log2 units: exp2f below

  // Q tile, scaled, as bf16; rows past the tile are zeros.
  for (int idx = threadIdx.x; idx < kRows * D4; idx += kWarps * 32) {
    const int vi = idx / D4, c = idx % D4;
    float4 x = make_float4(0.f, 0.f, 0.f, 0.f);
    if (vi < tile.nv) {
      const int v = tile.v0 + vi;
      x = reinterpret_cast<const float4*>(
          static_cast<const float*>(a.q) + ((seq.q_begin + v / group) * a.q_heads + kvh * group + v % group) * D)[c];
      x.x *= qscale;
      x.y *= qscale;
      x.z *= qscale;
      x.w *= qscale;
    }
    store_bf16x4(qs + vi * L.ldh + 4 * c, x);
  }

  // The row of each accumulator element: load a matrix whose entries are their row numbers.
  for (int e = lane; e < 256; e += 32) ss[(e / 16) * kLdS + e % 16] = float(e / 16);
  __syncwarp();
  AccFrag row_of;
  wmma::load_matrix_sync(row_of, ss, kLdS, wmma::mem_row_major);

  // This lane's share of the softmax: row r of the warp's strip, key half h.
  const int r = lane >> 1, h = lane & 1;
  const int vi_r = warp * 16 + r;
  const bool row_valid = vi_r < tile.nv;
  const int64_t pos_r = seq.pos0 + (tile.v0 + vi_r) / group;
  float m_r = -INFINITY, l_r = 0.0f;

  AccFrag o[kFrags];
#pragma unroll
  for (int n = 0; n < kFrags; ++n) wmma::fill_fragment(o[n], 0.0f);

  const int64_t pos_lo = seq.pos0 + tile.v0 / group;
  const int64_t pos_hi = seq.pos0 + (tile.v0 + tile.nv - 1) / group;
  const int64_t end = pos_hi + 1;
  const int64_t begin = a.window > 0 ? max(int64_t{0}, pos_lo - a.window + 1) : 0;

  for (int64_t t0 = begin; t0 < end; t0 += kKeys) {
    __syncthreads();  // every warp is done with the previous K/V tile (and, first time, Q is written)
    // One block-table lookup (and 64-bit division) per key, not per 16-byte piece.
    if (threadIdx.x < kKeys) {
      const int64_t p = t0 + threadIdx.x;
      int64_t off = -1;
      if (p < end) {
        const int64_t blk = tables[seq.table_begin + p / a.block_size];
        off = ((blk * a.block_size + p % a.block_size) * a.kv_heads + kvh) * D;
      }
      key_off[threadIdx.x] = off;
    }
    __syncthreads();
    // K/V tile: fp32 from the paged cache -> bf16; keys past `end` are zeros (P is 0 there too,
    // and 0 * finite keeps the sum clean). Four 16-byte loads of each in flight per thread.
    constexpr int kStep = kWarps * 32;
    for (int base = threadIdx.x; base < kKeys * D4; base += 4 * kStep) {
      float4 kx[4], vx[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int idx = base + u * kStep;
        kx[u] = vx[u] = make_float4(0.f, 0.f, 0.f, 0.f);
        if (idx < kKeys * D4) {
          const int j = idx / D4, c = idx % D4;
          const int64_t off = key_off[j];
          if (off >= 0) {
            kx[u] = reinterpret_cast<const float4*>(static_cast<const float*>(a.k) + off)[c];
            vx[u] = reinterpret_cast<const float4*>(static_cast<const float*>(a.v) + off)[c];
          }
        }
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int idx = base + u * kStep;
        if (idx < kKeys * D4) {
          const int j = idx / D4, c = idx % D4;
          store_bf16x4(ks + j * L.ldh + 4 * c, kx[u]);
          store_bf16x4(vs + j * L.ldh + 4 * c, vx[u]);
        }
      }
    }
    __syncthreads();

    // S = Q K^T for this warp's 16 rows and the tile's 64 keys.
    AccFrag sf[4];
#pragma unroll
    for (int n = 0; n < 4; ++n) wmma::fill_fragment(sf[n], 0.0f);
#pragma unroll
    for (int kk = 0; kk < kFrags; ++kk) {
      if (kk < nd) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qa;
        wmma::load_matrix_sync(qa, qs + warp * 16 * L.ldh + kk * 16, L.ldh);
#pragma unroll
        for (int n = 0; n < 4; ++n) {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kb;  // K^T
          wmma::load_matrix_sync(kb, ks + n * 16 * L.ldh + kk * 16, L.ldh);
          wmma::mma_sync(sf[n], qa, kb, sf[n]);
        }
      }
    }
#pragma unroll
    for (int n = 0; n < 4; ++n) wmma::store_matrix_sync(ss + n * 16, sf[n], kLdS, wmma::mem_row_major);
    __syncwarp();

    // Online softmax: the lane pair of row r splits its 64 keys.
    float sv[32];
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      const int64_t p = t0 + h * 32 + j;
      const bool ok = row_valid && p <= pos_r && (a.window == 0 || pos_r - p < a.window);
      sv[j] = ok ? ss[r * kLdS + h * 32 + j] : -INFINITY;
      mx = fmaxf(mx, sv[j]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float m_new = fmaxf(m_r, mx);
    float corr = 1.0f, sum = 0.0f;
    if (m_new != -INFINITY) {  // else nothing visible yet: P = 0, O and l unchanged
      corr = exp2f(m_r - m_new);
#pragma unroll
      for (int j = 0; j < 32; ++j) {
        sv[j] = exp2f(sv[j] - m_new);  // exp2(-inf) = 0 for masked keys
        sum += sv[j];
      }
    } else {
#pragma unroll
      for (int j = 0; j < 32; ++j) sv[j] = 0.0f;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l_r = l_r * corr + sum;
    m_r = m_new;
#pragma unroll
    for (int j = 0; j < 32; j += 2)
      *reinterpret_cast<__nv_bfloat162*>(ps + r * kLdP + h * 32 + j) = __floats2bfloat162_rn(sv[j], sv[j + 1]);
    if (h == 0) corr_s[r] = corr;
    __syncwarp();

    // O = O * corr + P V.
#pragma unroll
    for (int n = 0; n < kFrags; ++n)
      if (n < nd)
#pragma unroll
        for (int i = 0; i < o[n].num_elements; ++i) o[n].x[i] *= corr_s[static_cast<int>(row_of.x[i])];
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pa[4];
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) wmma::load_matrix_sync(pa[kk], ps + kk * 16, kLdP);
#pragma unroll
    for (int n = 0; n < kFrags; ++n) {
      if (n < nd) {
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {
          wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vb;
          wmma::load_matrix_sync(vb, vs + kk * 16 * L.ldh + n * 16, L.ldh);
          wmma::mma_sync(o[n], pa[kk], vb, o[n]);
        }
      }
    }
  }

  // Normalise by 1/l and write out through the warp's score buffer, 64 columns at a time.
  if (h == 0) linv_s[r] = l_r > 0.0f ? 1.0f / l_r : 0.0f;
  __syncwarp();
  const int64_t out_row =
      row_valid ? ((seq.q_begin + (tile.v0 + vi_r) / group) * a.q_heads + kvh * group + (tile.v0 + vi_r) % group) : 0;
#pragma unroll
  for (int n0 = 0; n0 < kFrags; n0 += 4) {
    if (n0 >= nd) break;
    __syncwarp();  // the previous batch has been read
#pragma unroll
    for (int n = n0; n < n0 + 4 && n < kFrags; ++n) {
      if (n < nd) {
#pragma unroll
        for (int i = 0; i < o[n].num_elements; ++i) o[n].x[i] *= linv_s[static_cast<int>(row_of.x[i])];
        wmma::store_matrix_sync(ss + (n - n0) * 16, o[n], kLdS, wmma::mem_row_major);
      }
    }
    __syncwarp();
    const int width = min(64, D - n0 * 16);  // columns in this batch, a multiple of 16
    if (row_valid) {
      float* dst = static_cast<float*>(a.out) + out_row * D + n0 * 16;
      const float4* src = reinterpret_cast<const float4*>(ss + r * kLdS);
      for (int c = h; c < width / 4; c += 2) reinterpret_cast<float4*>(dst)[c] = src[c];  // the pair interleaves
    }
  }
}

}  // namespace

int attention_tc_tile_rows(int head_dim) { return 16 * (head_dim <= 64 ? warps_for<4>() : warps_for<8>()); }

void prepare_attention_tc() {
  const int bytes = static_cast<int>(layout(kAttnTcMaxHeadDim, 8).total);
  check_cuda(cudaFuncSetAttribute(attention_tc_kernel<4>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
             "cudaFuncSetAttribute(attention_tc<4>)");
  check_cuda(cudaFuncSetAttribute(attention_tc_kernel<8>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
             "cudaFuncSetAttribute(attention_tc<8>)");
}

void launch_attention_tc(const AttnArgs& a, cudaStream_t s) {
  if (a.num_tiles == 0) return;
  const dim3 grid(static_cast<unsigned>(a.num_tiles), static_cast<unsigned>(a.kv_heads));
  if (a.head_dim <= 64) {
    constexpr int w = warps_for<4>();
    attention_tc_kernel<4><<<grid, w * 32, layout(a.head_dim, w).total, s>>>(a);
  } else {
    constexpr int w = warps_for<8>();
    attention_tc_kernel<8><<<grid, w * 32, layout(a.head_dim, w).total, s>>>(a);
  }
  check_launch("attention (tensor cores)");
}

}  // namespace nova::kernels::cuda
