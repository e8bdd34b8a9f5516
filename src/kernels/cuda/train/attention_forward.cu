// Fused causal GQA attention forward (online softmax, FlashAttention-2 loop order): one block per
// (64-query tile, q head, batch), looping over the visible 64-key tiles; writes out and the rows'
// log-sum-exp for the backward. No [T, T] buffer.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/attention_mma.cuh"
#include "kernels/cuda/train/attention_tile.cuh"

namespace nova::kernels::cuda::train {

namespace {

using namespace attn;

template <class T, int DM>
__global__ void __launch_bounds__(kThreads) attention_forward_kernel(T* out, float* lse, const T* q, const T* k,
                                                                     const T* v, AttentionDims d) {
  extern __shared__ float smem[];
  float* Qs = smem;
  float* Ks = Qs + kTile * kStride<DM>;
  float* Vs = Ks + kTile * kStride<DM>;
  float* Ps = Vs + kTile * kStride<DM>;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const int64_t q0 = int64_t(blockIdx.x) * kTile, h = blockIdx.y, b = blockIdx.z;
  const int64_t kvh = h / (d.q_heads / d.kv_heads);
  load_tile<T, DM>(Qs, q, b, q0, h, d, d.q_heads);

  float acc[4][DM / 16] = {};
  float m[4], l[4];
  for (int i = 0; i < 4; ++i) m[i] = -INFINITY, l[i] = 0.0f;
  int64_t first, end;
  key_range(q0, d, first, end);
  for (int64_t k0 = first; k0 < end; k0 += kTile) {
    __syncthreads();  // the previous tile's readers are done
    load_tile<T, DM>(Ks, k, b, k0, kvh, d, d.kv_heads);
    load_tile<T, DM>(Vs, v, b, k0, kvh, d, d.kv_heads);
    __syncthreads();
    float s[4][4];
    tile_dot<DM>(s, Qs, Ks);
    for (int i = 0; i < 4; ++i) {
      const int64_t t = q0 + ty * 4 + i;
      float mx = -INFINITY;
      for (int c = 0; c < 4; ++c) {
        s[i][c] = visible(t, k0 + tx + 16 * c, d) ? s[i][c] * d.scale : -INFINITY;
        mx = fmaxf(mx, s[i][c]);
      }
      const float m_new = fmaxf(m[i], row_max16(mx));
      const float alpha = m_new == -INFINITY ? 1.0f : expf(m[i] - m_new);
      float sum = 0.0f;
      for (int c = 0; c < 4; ++c) {
        const float p = s[i][c] == -INFINITY ? 0.0f : expf(s[i][c] - m_new);
        Ps[(ty * 4 + i) * (kTile + 1) + tx + 16 * c] = p;
        sum += p;
      }
      l[i] = l[i] * alpha + row_sum16(sum);
      m[i] = m_new;
      for (int c = 0; c < DM / 16; ++c) acc[i][c] *= alpha;
    }
    __syncthreads();
    tile_accumulate<DM>(acc, Ps, Vs);
  }
  for (int i = 0; i < 4; ++i) {
    const int64_t t = q0 + ty * 4 + i;
    if (t >= d.T) continue;
    const float inv = 1.0f / l[i];
    T* o = out + ((b * d.T + t) * d.q_heads + h) * d.head_dim;
    for (int c = 0; c < DM / 16; ++c) {
      const int col = tx + 16 * c;
      if (col < d.head_dim) o[col] = from_f32<T>(acc[i][c] * inv);
    }
    if (tx == 0) lse[(b * d.q_heads + h) * d.T + t] = m[i] + logf(l[i]);
  }
}

template <class T, int DM>
void launch_forward(T* out, float* lse, const T* q, const T* k, const T* v, const AttentionDims& d,
                    cudaStream_t stream) {
  constexpr size_t bytes = 3 * tile_bytes<DM>() + kProbBytes;
  static bool configured = false;
  if (!configured) {
    check_cuda(cudaFuncSetAttribute(attention_forward_kernel<T, DM>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    int(bytes)),
               "cudaFuncSetAttribute(attention_forward_kernel)");
    configured = true;
  }
  const dim3 grid(unsigned((d.T + kTile - 1) / kTile), unsigned(d.q_heads), unsigned(d.B));
  attention_forward_kernel<T, DM><<<grid, kThreads, bytes, stream>>>(out, lse, q, k, v, d);
  check_launch("attention_forward_kernel");
}

}  // namespace

void check_attention_dims(const AttentionDims& d) {
  require(d.B >= 0 && d.T >= 0 && d.q_heads > 0 && d.kv_heads > 0 && d.q_heads % d.kv_heads == 0, "attention",
          "q_heads must be a positive multiple of kv_heads");
  require(d.head_dim > 0 && d.head_dim <= 128, "attention",
          "head_dim " + std::to_string(d.head_dim) + " is not supported by the training kernels (1..128)");
  require(d.B <= 65535 && d.q_heads <= 65535, "attention", "batch and head counts must be at most 65535");
}

bool attention_mma_disabled() {
  const char* e = std::getenv("NOVA_TRAIN_ATTN");  // read per call: tests switch it
  return e && std::strcmp(e, "simt") == 0;
}

size_t attention_workspace_bytes(const AttentionDims& d) {
  return static_cast<size_t>(d.B * d.q_heads * d.T) * sizeof(float);  // the backward's rowsum(dout * out)
}

template <class T>
void attention_forward(T* out, float* lse, const T* q, const T* k, const T* v, const AttentionDims& d,
                       void* workspace, cudaStream_t stream) {
  check_attention_dims(d);
  if (d.B == 0 || d.T == 0) return;
  if constexpr (std::is_same_v<T, bf16>) {
    if (!attention_mma_disabled() && attention_mma_eligible(d, {out, q, k, v})) {
      attention_forward_mma(out, lse, q, k, v, d, stream);
      return;
    }
  }
  if (d.head_dim <= 64) launch_forward<T, 64>(out, lse, q, k, v, d, stream);
  else launch_forward<T, 128>(out, lse, q, k, v, d, stream);
}

template void attention_forward<float>(float*, float*, const float*, const float*, const float*, const AttentionDims&,
                                       void*, cudaStream_t);
template void attention_forward<bf16>(bf16*, float*, const bf16*, const bf16*, const bf16*, const AttentionDims&,
                                      void*, cudaStream_t);

}  // namespace nova::kernels::cuda::train
