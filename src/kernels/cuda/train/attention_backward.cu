// Fused causal GQA attention backward, FlashAttention-2 style from the forward's lse (P is
// recomputed tile by tile, never stored whole):
//   delta[t] = dout[t] . out[t]
//   dS = P * (dout v^T - delta),  dq = scale dS k,  dk = scale dS^T q,  dv = P^T dout
// Two kernels so that every gradient row has one writer (no atomics, deterministic): dq per query
// tile looping over key tiles; dk and dv per key tile of a kv head looping over its G q heads and
// their query tiles.
#include <cmath>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/attention_mma.cuh"
#include "kernels/cuda/train/attention_tile.cuh"

namespace nova::kernels::cuda::train {

namespace {

using namespace attn;

// delta[b, h, t] = sum_c dout * out: one warp per row.
template <class T>
__global__ void attention_delta_kernel(float* delta, const T* dout, const T* out, AttentionDims d) {
  const int64_t rows = d.B * d.T * d.q_heads;  // in [B, T, H] order
  const int lane = threadIdx.x % 32;
  for (int64_t r = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; r < rows;
       r += int64_t(gridDim.x) * blockDim.x / 32) {
    float acc = 0.0f;
    for (int64_t c = lane; c < d.head_dim; c += 32)
      acc += to_f32(dout[r * d.head_dim + c]) * to_f32(out[r * d.head_dim + c]);
    acc = warp_sum(acc);
    if (lane == 0) {
      const int64_t h = r % d.q_heads, t = (r / d.q_heads) % d.T, b = r / (d.q_heads * d.T);
      delta[(b * d.q_heads + h) * d.T + t] = acc;
    }
  }
}

template <class T, int DM>
__global__ void __launch_bounds__(kThreads) attention_dq_kernel(T* dq, const T* dout, const float* lse,
                                                                const float* delta, const T* q, const T* k,
                                                                const T* v, AttentionDims d) {
  extern __shared__ float smem[];
  float* Qs = smem;
  float* dOs = Qs + kTile * kStride<DM>;
  float* Ks = dOs + kTile * kStride<DM>;
  float* Vs = Ks + kTile * kStride<DM>;
  float* Ps = Vs + kTile * kStride<DM>;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const int64_t q0 = int64_t(blockIdx.x) * kTile, h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (d.q_heads / d.kv_heads);
  load_tile<T, DM>(Qs, q, b, q0, h, d, d.q_heads);
  load_tile<T, DM>(dOs, dout, b, q0, h, d, d.q_heads);
  float row_lse[4], row_delta[4];
  for (int i = 0; i < 4; ++i) {
    const int64_t t = q0 + ty * 4 + i;
    row_lse[i] = t < d.T ? lse[(b * d.q_heads + h) * d.T + t] : 0.0f;
    row_delta[i] = t < d.T ? delta[(b * d.q_heads + h) * d.T + t] : 0.0f;
  }
  float acc[4][DM / 16] = {};
  int64_t first, end;
  key_range(q0, d, first, end);
  for (int64_t k0 = first; k0 < end; k0 += kTile) {
    __syncthreads();
    load_tile<T, DM>(Ks, k, b, k0, kvh, d, d.kv_heads);
    load_tile<T, DM>(Vs, v, b, k0, kvh, d, d.kv_heads);
    __syncthreads();
    float s[4][4], dp[4][4];
    tile_dot<DM>(s, Qs, Ks);
    tile_dot<DM>(dp, dOs, Vs);
    for (int i = 0; i < 4; ++i) {
      const int64_t t = q0 + ty * 4 + i;
      for (int c = 0; c < 4; ++c) {
        const float p = visible(t, k0 + tx + 16 * c, d) ? expf(s[i][c] * d.scale - row_lse[i]) : 0.0f;
        Ps[(ty * 4 + i) * (kTile + 1) + tx + 16 * c] = p * (dp[i][c] - row_delta[i]);
      }
    }
    __syncthreads();
    tile_accumulate<DM>(acc, Ps, Ks);
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t t = q0 + ty * 4 + i;
    if (t >= d.T) continue;
    T* o = dq + ((b * d.T + t) * d.q_heads + h) * d.head_dim;
    for (int c = 0; c < DM / 16; ++c) {
      const int col = tx + 16 * c;
      if (col < d.head_dim) o[col] = from_f32<T>(acc[i][c] * d.scale);
    }
  }
}

template <class T, int DM>
__global__ void __launch_bounds__(kThreads) attention_dkdv_kernel(T* dk, T* dv, const T* dout, const float* lse,
                                                                  const float* delta, const T* q, const T* k,
                                                                  const T* v, AttentionDims d) {
  extern __shared__ float smem[];
  float* Ks = smem;
  float* Vs = Ks + kTile * kStride<DM>;
  float* Qs = Vs + kTile * kStride<DM>;
  float* dOs = Qs + kTile * kStride<DM>;
  float* Ps = dOs + kTile * kStride<DM>;
  float* lse_s = Ps + kTile * (kTile + 1);
  float* delta_s = lse_s + kTile;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const int64_t k0 = int64_t(blockIdx.x) * kTile, kvh = blockIdx.y, b = blockIdx.z;
  const int64_t G = d.q_heads / d.kv_heads;
  load_tile<T, DM>(Ks, k, b, k0, kvh, d, d.kv_heads);
  load_tile<T, DM>(Vs, v, b, k0, kvh, d, d.kv_heads);
  float dk_acc[4][DM / 16] = {}, dv_acc[4][DM / 16] = {};
  // Queries that see keys [k0, k0 + 64): t >= k0, and t < k0 + 63 + window with a window.
  const int64_t q_first = k0 / kTile * kTile;
  const int64_t q_end = d.window > 0 ? (k0 + kTile - 1 + d.window < d.T ? k0 + kTile - 1 + d.window : d.T) : d.T;
  for (int64_t g = 0; g < G; ++g) {
    const int64_t h = kvh * G + g;
    for (int64_t q0 = q_first; q0 < q_end; q0 += kTile) {
      __syncthreads();
      load_tile<T, DM>(Qs, q, b, q0, h, d, d.q_heads);
      load_tile<T, DM>(dOs, dout, b, q0, h, d, d.q_heads);
      if (threadIdx.x < kTile) {
        const int64_t t = q0 + threadIdx.x;
        lse_s[threadIdx.x] = t < d.T ? lse[(b * d.q_heads + h) * d.T + t] : 0.0f;
        delta_s[threadIdx.x] = t < d.T ? delta[(b * d.q_heads + h) * d.T + t] : 0.0f;
      }
      __syncthreads();
      // Transposed tiles: rows are this block's keys, columns the tile's queries.
      float s[4][4], dp[4][4];
      tile_dot<DM>(s, Ks, Qs);
      tile_dot<DM>(dp, Vs, dOs);
      for (int i = 0; i < 4; ++i) {
        const int64_t j = k0 + ty * 4 + i;
        for (int c = 0; c < 4; ++c) {
          const int qi = tx + 16 * c;
          const bool vis = j < d.T && visible(q0 + qi, j, d);
          s[i][c] = vis ? expf(s[i][c] * d.scale - lse_s[qi]) : 0.0f;  // P^T
          dp[i][c] = s[i][c] * (dp[i][c] - delta_s[qi]);                // dS^T
          Ps[(ty * 4 + i) * (kTile + 1) + qi] = s[i][c];
        }
      }
      __syncthreads();
      tile_accumulate<DM>(dv_acc, Ps, dOs);
      __syncthreads();
      for (int i = 0; i < 4; ++i)
        for (int c = 0; c < 4; ++c) Ps[(ty * 4 + i) * (kTile + 1) + tx + 16 * c] = dp[i][c];
      __syncthreads();
      tile_accumulate<DM>(dk_acc, Ps, Qs);
    }
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t j = k0 + ty * 4 + i;
    if (j >= d.T) continue;
    T* ok = dk + ((b * d.T + j) * d.kv_heads + kvh) * d.head_dim;
    T* ov = dv + ((b * d.T + j) * d.kv_heads + kvh) * d.head_dim;
    for (int c = 0; c < DM / 16; ++c) {
      const int col = tx + 16 * c;
      if (col < d.head_dim) {
        ok[col] = from_f32<T>(dk_acc[i][c] * d.scale);
        ov[col] = from_f32<T>(dv_acc[i][c]);
      }
    }
  }
}

template <class T>
void launch_delta(float* delta, const T* dout, const T* out, const AttentionDims& d, cudaStream_t stream) {
  const int64_t rows = d.B * d.T * d.q_heads;
  attention_delta_kernel<T><<<grid_for(rows, 8), 256, 0, stream>>>(delta, dout, out, d);
  check_launch("attention_delta_kernel");
}

template <class T, int DM>
void launch_backward(T* dq, T* dk, T* dv, const T* dout, const float* lse, const T* q, const T* k, const T* v,
                     const AttentionDims& d, const float* delta, cudaStream_t stream) {
  constexpr size_t dq_bytes = 4 * tile_bytes<DM>() + kProbBytes;
  constexpr size_t dkdv_bytes = 4 * tile_bytes<DM>() + kProbBytes + 2 * kTile * sizeof(float);
  static bool configured = false;
  if (!configured) {
    check_cuda(cudaFuncSetAttribute(attention_dq_kernel<T, DM>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    int(dq_bytes)),
               "cudaFuncSetAttribute(attention_dq_kernel)");
    check_cuda(cudaFuncSetAttribute(attention_dkdv_kernel<T, DM>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    int(dkdv_bytes)),
               "cudaFuncSetAttribute(attention_dkdv_kernel)");
    configured = true;
  }
  const unsigned tiles = unsigned((d.T + kTile - 1) / kTile);
  attention_dq_kernel<T, DM><<<dim3(tiles, unsigned(d.q_heads), unsigned(d.B)), kThreads, dq_bytes, stream>>>(
      dq, dout, lse, delta, q, k, v, d);
  check_launch("attention_dq_kernel");
  attention_dkdv_kernel<T, DM><<<dim3(tiles, unsigned(d.kv_heads), unsigned(d.B)), kThreads, dkdv_bytes, stream>>>(
      dk, dv, dout, lse, delta, q, k, v, d);
  check_launch("attention_dkdv_kernel");
}

}  // namespace

template <class T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* out, const float* lse, const T* q, const T* k,
                        const T* v, const AttentionDims& d, void* workspace, cudaStream_t stream) {
  check_attention_dims(d);
  if (d.B == 0 || d.T == 0) return;
  float* delta = static_cast<float*>(workspace);
  launch_delta<T>(delta, dout, out, d, stream);
  if constexpr (std::is_same_v<T, bf16>) {
    if (!attention_mma_disabled() && attention_mma_eligible(d, {dq, dk, dv, dout, q, k, v})) {
      attention_backward_mma(dq, dk, dv, dout, lse, delta, q, k, v, d, stream);
      return;
    }
  }
  if (d.head_dim <= 64) launch_backward<T, 64>(dq, dk, dv, dout, lse, q, k, v, d, delta, stream);
  else launch_backward<T, 128>(dq, dk, dv, dout, lse, q, k, v, d, delta, stream);
}

template void attention_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                        const float*, const float*, const float*, const AttentionDims&, void*,
                                        cudaStream_t);
template void attention_backward<bf16>(bf16*, bf16*, bf16*, const bf16*, const bf16*, const float*, const bf16*,
                                       const bf16*, const bf16*, const AttentionDims&, void*, cudaStream_t);

}  // namespace nova::kernels::cuda::train
