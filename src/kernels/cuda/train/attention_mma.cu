// The bf16 causal GQA attention on tensor cores, FlashAttention-2 style (attention_mma.cuh has the
// fragment machinery). 4 warps per block, 16 tile rows each; the tiles a loop walks over are
// double-buffered in shared memory and fetched with cp.async one step ahead:
//   forward: a block per (64-query tile, q head, batch); online softmax in exp2 units; P goes from
//            the S accumulators straight into the P.V mma as bf16. Writes out and lse.
//   dq:      a block per query tile, looping over key tiles: S, dP = dout v^T, dS = P (dP - delta),
//            dq += dS k.
//   dk, dv:  a block per (64-key tile, kv head, batch), looping over the G q heads and their query
//            tiles: S^T = k q^T, dP^T = v dout^T, dv += P^T dout, dk += dS^T q.
// Every gradient row has a single writer: no atomics, reproducible.
#include <cmath>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/attention_mma.cuh"
#include "kernels/cuda/train/train_common.cuh"

namespace nova::kernels::cuda::train {

namespace {

using namespace mma;

__device__ __forceinline__ bool sees(int64_t t, int64_t j, const AttentionDims& d) {
  return j <= t && t < d.T && (d.window <= 0 || j > t - d.window);
}

// Whether some (query, key) pair of the tiles at q0 and k0 is hidden: the diagonal tile, a tile
// the window's edge crosses, or one reaching past T (query rows past T are harmless unmasked:
// never stored, and their zero-filled dout and delta give zero gradient terms; keys past T are not).
__device__ __forceinline__ bool needs_mask(int64_t q0, int64_t k0, const AttentionDims& d) {
  const bool causal_full = k0 + kTile - 1 <= q0;                         // every key <= every query
  const bool window_full = d.window <= 0 || k0 > q0 + kTile - 1 - d.window;  // every key inside the window
  return !(causal_full && window_full && k0 + kTile <= d.T);
}

__device__ __forceinline__ void first_key_tile(int64_t q0, const AttentionDims& d, int64_t& first, int64_t& end) {
  const int64_t lo = d.window > 0 ? (q0 - d.window + 1 > 0 ? q0 - d.window + 1 : 0) : 0;
  first = lo / kTile * kTile;
  end = q0 + kTile < d.T ? q0 + kTile : d.T;
}

// Writes rows g and g + 8 of a warp's 16 x D accumulator (times `mul`) to a [B, T, heads, D] tensor.
template <int D>
__device__ __forceinline__ void store_rows(bf16* x, const float (&acc)[D / 8][4], int64_t b, int64_t row0,
                                           int64_t head, int64_t T, int64_t heads, float mul0, float mul1) {
  const int g = (threadIdx.x % 32) / 4, t = threadIdx.x % 4;
  for (int hr = 0; hr < 2; ++hr) {
    const int64_t row = row0 + g + 8 * hr;
    if (row >= T) continue;
    const float mul = hr ? mul1 : mul0;
    bf16* p = x + ((b * T + row) * heads + head) * D + 2 * t;
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<__nv_bfloat162*>(p + 8 * n) =
          __floats2bfloat162_rn(acc[n][2 * hr] * mul, acc[n][2 * hr + 1] * mul);
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads) mma_forward_kernel(bf16* out, float* lse, const bf16* q, const bf16* k,
                                                               const bf16* v, AttentionDims d) {
  constexpr int S = D + kPad;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);
  bf16* Ks[2] = {Qs + kTile * S, Qs + 2 * kTile * S};  // double-buffered key / value tiles
  bf16* Vs[2] = {Qs + 3 * kTile * S, Qs + 4 * kTile * S};
  const int warp = threadIdx.x / 32, t = threadIdx.x % 4, g = (threadIdx.x % 32) / 4;
  // The last query tiles see the most keys: they start first.
  const int64_t q0 = int64_t(gridDim.x - 1 - blockIdx.x) * kTile, h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (d.q_heads / d.kv_heads);
  int64_t first, end;
  first_key_tile(q0, d, first, end);
  load_rows_async<D>(Qs, q, b, q0, h, d.T, d.q_heads);
  cp_async_commit();
  load_rows_async<D>(Ks[0], k, b, first, kvh, d.T, d.kv_heads);
  load_rows_async<D>(Vs[0], v, b, first, kvh, d.T, d.kv_heads);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
  uint32_t qa[D / 16][4];
  for (int kk = 0; kk < D / 16; ++kk) load_a(qa[kk], Qs, S, warp * 16, kk * 16);
  float o[D / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f};
  const float sl2 = d.scale * kLog2e;
  const int64_t row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  int buf = 0;
  for (int64_t k0 = first; k0 < end; k0 += kTile, buf ^= 1) {
    if (k0 + kTile < end) {  // prefetch the next tile into the other buffer
      load_rows_async<D>(Ks[buf ^ 1], k, b, k0 + kTile, kvh, d.T, d.kv_heads);
      load_rows_async<D>(Vs[buf ^ 1], v, b, k0 + kTile, kvh, d.T, d.kv_heads);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    forward_tile<D>(o, m, l, qa, Ks[buf], Vs[buf], k0, needs_mask(q0, k0, d), sl2,
                    [&](int hr, int64_t col) { return sees(row[hr], col, d); });
    __syncthreads();  // this buffer is refilled two iterations on
  }
  for (int hr = 0; hr < 2; ++hr) l[hr] = quad_sum(l[hr]);
  store_rows<D>(out, o, b, q0 + warp * 16, h, d.T, d.q_heads, 1.0f / l[0], 1.0f / l[1]);
  if (t == 0)
    for (int hr = 0; hr < 2; ++hr)
      if (row[hr] < d.T) lse[(b * d.q_heads + h) * d.T + row[hr]] = (m[hr] + log2f(l[hr])) / kLog2e;
}

template <int D>
__global__ void __launch_bounds__(kThreads) mma_dq_kernel(bf16* dq, const bf16* dout, const float* lse,
                                                          const float* delta, const bf16* q, const bf16* k,
                                                          const bf16* v, AttentionDims d) {
  constexpr int S = D + kPad;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Qs = reinterpret_cast<bf16*>(smem_raw);
  bf16* dOs = Qs + kTile * S;
  bf16* Ks[2] = {Qs + 2 * kTile * S, Qs + 3 * kTile * S};
  bf16* Vs[2] = {Qs + 4 * kTile * S, Qs + 5 * kTile * S};
  const int warp = threadIdx.x / 32, t = threadIdx.x % 4, g = (threadIdx.x % 32) / 4;
  const int64_t q0 = int64_t(gridDim.x - 1 - blockIdx.x) * kTile, h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (d.q_heads / d.kv_heads);
  int64_t first, end;
  first_key_tile(q0, d, first, end);
  load_rows_async<D>(Qs, q, b, q0, h, d.T, d.q_heads);
  load_rows_async<D>(dOs, dout, b, q0, h, d.T, d.q_heads);
  load_rows_async<D>(Ks[0], k, b, first, kvh, d.T, d.kv_heads);
  load_rows_async<D>(Vs[0], v, b, first, kvh, d.T, d.kv_heads);
  cp_async_commit();
  const int64_t row[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  float row_lse[2], row_delta[2];
  for (int hr = 0; hr < 2; ++hr) {
    const bool in = row[hr] < d.T;
    row_lse[hr] = in ? lse[(b * d.q_heads + h) * d.T + row[hr]] * kLog2e : 0.0f;
    row_delta[hr] = in ? delta[(b * d.q_heads + h) * d.T + row[hr]] : 0.0f;
  }
  const float sl2 = d.scale * kLog2e;
  float acc[D / 8][4] = {};
  int buf = 0;
  for (int64_t k0 = first; k0 < end; k0 += kTile, buf ^= 1) {
    if (k0 + kTile < end) {
      load_rows_async<D>(Ks[buf ^ 1], k, b, k0 + kTile, kvh, d.T, d.kv_heads);
      load_rows_async<D>(Vs[buf ^ 1], v, b, k0 + kTile, kvh, d.T, d.kv_heads);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const bf16* Kc = Ks[buf];
    const bf16* Vc = Vs[buf];
    float s[8][4] = {}, dp[8][4] = {};
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t qa[4], da[4];
      load_a(qa, Qs, S, warp * 16, 16 * kk);
      load_a(da, dOs, S, warp * 16, 16 * kk);
      for (int j = 0; j < 8; j += 2) {
        uint32_t lo[2], hi[2];
        load_b_pair(lo, hi, Kc, S, 8 * j, 16 * kk);
        mma_bf16(s[j], qa, lo[0], lo[1]);
        mma_bf16(s[j + 1], qa, hi[0], hi[1]);
        load_b_pair(lo, hi, Vc, S, 8 * j, 16 * kk);
        mma_bf16(dp[j], da, lo[0], lo[1]);
        mma_bf16(dp[j + 1], da, hi[0], hi[1]);
      }
    }
    const bool masked = needs_mask(q0, k0, d);
    for (int j = 0; j < 8; ++j)
      for (int e = 0; e < 4; ++e) {
        const int hr = e >> 1;
        const int64_t col = k0 + 8 * j + 2 * t + (e & 1);
        const float p = !masked || sees(row[hr], col, d) ? exp2f(s[j][e] * sl2 - row_lse[hr]) : 0.0f;
        s[j][e] = p * (dp[j][e] - row_delta[hr]);  // dS
      }
    for (int kk = 0; kk < kTile / 16; ++kk) {
      uint32_t a[4];
      c_to_a(a, s[2 * kk], s[2 * kk + 1]);
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t lo[2], hi[2];
        load_b_trans(lo, hi, Kc, S, 16 * kk, 8 * n);
        mma_bf16(acc[n], a, lo[0], lo[1]);
        mma_bf16(acc[n + 1], a, hi[0], hi[1]);
      }
    }
    __syncthreads();
  }
  store_rows<D>(dq, acc, b, q0 + warp * 16, h, d.T, d.q_heads, d.scale, d.scale);
}

template <int D>
__global__ void __launch_bounds__(kThreads) mma_dkdv_kernel(bf16* dk, bf16* dv, const bf16* dout, const float* lse,
                                                            const float* delta, const bf16* q, const bf16* k,
                                                            const bf16* v, AttentionDims d) {
  constexpr int S = D + kPad;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  bf16* Ks = reinterpret_cast<bf16*>(smem_raw);
  bf16* Vs = Ks + kTile * S;
  bf16* Qs[2] = {Ks + 2 * kTile * S, Ks + 3 * kTile * S};  // double-buffered query-side tiles
  bf16* dOs[2] = {Ks + 4 * kTile * S, Ks + 5 * kTile * S};
  float* lse_s = reinterpret_cast<float*>(Ks + 6 * kTile * S);  // [2][64]
  float* delta_s = lse_s + 2 * kTile;                            // [2][64]
  const int warp = threadIdx.x / 32, t = threadIdx.x % 4, g = (threadIdx.x % 32) / 4;
  const int64_t k0 = int64_t(blockIdx.x) * kTile, kvh = blockIdx.y, b = blockIdx.z;
  const int64_t G = d.q_heads / d.kv_heads;
  // Queries that see keys [k0, k0 + 64): t >= k0, and t < k0 + 63 + window with a window. The
  // steps run over (q head of the group, query tile) pairs.
  const int64_t q_end = d.window > 0 ? (k0 + kTile - 1 + d.window < d.T ? k0 + kTile - 1 + d.window : d.T) : d.T;
  const int64_t tiles = (q_end - k0 + kTile - 1) / kTile, steps = G * tiles;
  // Issues the copies of step `it` into buffer `bb` (lse and delta by plain loads).
  auto stage = [&](int64_t it, int bb) {
    const int64_t h = kvh * G + it / tiles, q0 = k0 + (it % tiles) * kTile;
    load_rows_async<D>(Qs[bb], q, b, q0, h, d.T, d.q_heads);
    load_rows_async<D>(dOs[bb], dout, b, q0, h, d.T, d.q_heads);
    if (threadIdx.x < kTile) {
      const int64_t tq = q0 + threadIdx.x;
      lse_s[bb * kTile + threadIdx.x] = tq < d.T ? lse[(b * d.q_heads + h) * d.T + tq] * kLog2e : 0.0f;
      delta_s[bb * kTile + threadIdx.x] = tq < d.T ? delta[(b * d.q_heads + h) * d.T + tq] : 0.0f;
    }
  };
  load_rows_async<D>(Ks, k, b, k0, kvh, d.T, d.kv_heads);
  load_rows_async<D>(Vs, v, b, k0, kvh, d.T, d.kv_heads);
  if (steps > 0) stage(0, 0);
  cp_async_commit();
  const int64_t key[2] = {k0 + warp * 16 + g, k0 + warp * 16 + g + 8};
  const float sl2 = d.scale * kLog2e;
  float dk_acc[D / 8][4] = {}, dv_acc[D / 8][4] = {};
  int buf = 0;
  for (int64_t it = 0; it < steps; ++it, buf ^= 1) {
    if (it + 1 < steps) {
      stage(it + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const int64_t q0 = k0 + (it % tiles) * kTile;
    const bf16* Qc = Qs[buf];
    const bf16* dOc = dOs[buf];
    const float* lse_c = lse_s + buf * kTile;
    const float* delta_c = delta_s + buf * kTile;
    float s[8][4] = {}, dp[8][4] = {};  // transposed: rows are keys, columns queries
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t ka[4], va[4];
      load_a(ka, Ks, S, warp * 16, 16 * kk);
      load_a(va, Vs, S, warp * 16, 16 * kk);
      for (int j = 0; j < 8; j += 2) {
        uint32_t lo[2], hi[2];
        load_b_pair(lo, hi, Qc, S, 8 * j, 16 * kk);
        mma_bf16(s[j], ka, lo[0], lo[1]);
        mma_bf16(s[j + 1], ka, hi[0], hi[1]);
        load_b_pair(lo, hi, dOc, S, 8 * j, 16 * kk);
        mma_bf16(dp[j], va, lo[0], lo[1]);
        mma_bf16(dp[j + 1], va, hi[0], hi[1]);
      }
    }
    const bool masked = needs_mask(q0, k0, d);
    for (int j = 0; j < 8; ++j)
      for (int e = 0; e < 4; ++e) {
        const int qi = 8 * j + 2 * t + (e & 1);
        const float p = !masked || sees(q0 + qi, key[e >> 1], d) ? exp2f(s[j][e] * sl2 - lse_c[qi]) : 0.0f;
        s[j][e] = p;
        dp[j][e] = p * (dp[j][e] - delta_c[qi]);  // dS^T
      }
    for (int kk = 0; kk < kTile / 16; ++kk) {
      uint32_t pa[4], sa[4];
      c_to_a(pa, s[2 * kk], s[2 * kk + 1]);
      c_to_a(sa, dp[2 * kk], dp[2 * kk + 1]);
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t lo[2], hi[2];
        load_b_trans(lo, hi, dOc, S, 16 * kk, 8 * n);
        mma_bf16(dv_acc[n], pa, lo[0], lo[1]);
        mma_bf16(dv_acc[n + 1], pa, hi[0], hi[1]);
        load_b_trans(lo, hi, Qc, S, 16 * kk, 8 * n);
        mma_bf16(dk_acc[n], sa, lo[0], lo[1]);
        mma_bf16(dk_acc[n + 1], sa, hi[0], hi[1]);
      }
    }
    __syncthreads();
  }
  store_rows<D>(dk, dk_acc, b, k0 + warp * 16, kvh, d.T, d.kv_heads, d.scale, d.scale);
  store_rows<D>(dv, dv_acc, b, k0 + warp * 16, kvh, d.T, d.kv_heads, 1.0f, 1.0f);
}

template <int D>
constexpr size_t forward_bytes() {
  return sizeof(bf16) * 5 * kTile * (D + kPad);
}
template <int D>
constexpr size_t dq_bytes() {
  return sizeof(bf16) * 6 * kTile * (D + kPad);
}
template <int D>
constexpr size_t dkdv_bytes() {
  return sizeof(bf16) * 6 * kTile * (D + kPad) + 4 * kTile * sizeof(float);
}

template <class Kernel>
void allow_smem(Kernel kernel, size_t bytes, bool& done, const char* what) {
  if (done) return;
  check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)), what);
  done = true;
}

template <int D>
void forward_mma(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d,
                 cudaStream_t stream) {
  static bool ready = false;
  allow_smem(mma_forward_kernel<D>, forward_bytes<D>(), ready, "cudaFuncSetAttribute(mma_forward_kernel)");
  const dim3 grid(unsigned((d.T + kTile - 1) / kTile), unsigned(d.q_heads), unsigned(d.B));
  mma_forward_kernel<D><<<grid, kThreads, forward_bytes<D>(), stream>>>(out, lse, q, k, v, d);
  check_launch("mma_forward_kernel");
}

template <int D>
void backward_mma(bf16* dq, bf16* dk, bf16* dv, const bf16* dout, const float* lse, const float* delta, const bf16* q,
                  const bf16* k, const bf16* v, const AttentionDims& d, cudaStream_t stream) {
  static bool ready_dq = false, ready_dkdv = false;
  allow_smem(mma_dq_kernel<D>, dq_bytes<D>(), ready_dq, "cudaFuncSetAttribute(mma_dq_kernel)");
  allow_smem(mma_dkdv_kernel<D>, dkdv_bytes<D>(), ready_dkdv, "cudaFuncSetAttribute(mma_dkdv_kernel)");
  const unsigned tiles = unsigned((d.T + kTile - 1) / kTile);
  mma_dq_kernel<D><<<dim3(tiles, unsigned(d.q_heads), unsigned(d.B)), kThreads, dq_bytes<D>(), stream>>>(
      dq, dout, lse, delta, q, k, v, d);
  check_launch("mma_dq_kernel");
  mma_dkdv_kernel<D><<<dim3(tiles, unsigned(d.kv_heads), unsigned(d.B)), kThreads, dkdv_bytes<D>(), stream>>>(
      dk, dv, dout, lse, delta, q, k, v, d);
  check_launch("mma_dkdv_kernel");
}

}  // namespace

bool attention_mma_eligible(const AttentionDims& d, std::initializer_list<const void*> ptrs) {
  if (d.head_dim != 64 && d.head_dim != 128) return false;
  for (const void* p : ptrs)
    if (!aligned16(p)) return false;
  return true;
}

void attention_forward_mma(bf16* out, float* lse, const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d,
                           cudaStream_t stream) {
  if (d.head_dim == 64) forward_mma<64>(out, lse, q, k, v, d, stream);
  else forward_mma<128>(out, lse, q, k, v, d, stream);
}

void attention_backward_mma(bf16* dq, bf16* dk, bf16* dv, const bf16* dout, const float* lse, const float* delta,
                            const bf16* q, const bf16* k, const bf16* v, const AttentionDims& d, cudaStream_t stream) {
  if (d.head_dim == 64) backward_mma<64>(dq, dk, dv, dout, lse, delta, q, k, v, d, stream);
  else backward_mma<128>(dq, dk, dv, dout, lse, delta, q, k, v, d, stream);
}

}  // namespace nova::kernels::cuda::train
