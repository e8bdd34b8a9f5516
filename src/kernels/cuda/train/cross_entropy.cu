// Fused cross-entropy forward + backward, one block per row: one pass for the running max and
// sum of exponentials (online softmax), a second pass overwriting the row with its gradient.
#include <cmath>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/train/train_common.cuh"
#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

namespace {

constexpr int kThreads = 512;
constexpr int kIgnore = -100;

// (max, sum of exp(x - max)) merged; an empty side has max -inf and sum 0.
__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
  const float mm = fmaxf(m, m2);
  if (mm == -INFINITY) return;
  s = s * expf(m - mm) + s2 * expf(m2 - mm);
  m = mm;
}

__device__ __forceinline__ void accumulate(float& m, float& s, float x) {
  if (x > m) {
    s = s * expf(m - x) + 1.0f;
    m = x;
  } else {
    s += expf(x - m);
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) cross_entropy_kernel(T* logits, float* row_loss, const int32_t* targets,
                                                                 int64_t vocab, float dloss, bool vec) {
  __shared__ float sm[kThreads / 32], ss[kThreads / 32];
  __shared__ float total_m, total_s, target_logit;
  const int64_t row = blockIdx.x;
  T* l = logits + row * vocab;
  const int32_t target = targets[row];
  if (target == kIgnore || target < 0 || target >= vocab) {
    for (int64_t i = threadIdx.x; i < vocab; i += kThreads) l[i] = from_f32<T>(0.0f);
    if (threadIdx.x == 0) row_loss[row] = 0.0f;
    return;
  }
  const int64_t nv = vec ? vocab / 8 : 0;
  float m = -INFINITY, s = 0.0f;
  for (int64_t i = threadIdx.x; i < nv; i += kThreads) {
    float x[8];
    load8(l + i * 8, x);
    for (int k = 0; k < 8; ++k) accumulate(m, s, x[k]);
  }
  for (int64_t i = nv * 8 + threadIdx.x; i < vocab; i += kThreads) accumulate(m, s, to_f32(l[i]));
  for (int o = 16; o > 0; o >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
    merge(m, s, m2, s2);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) sm[warp] = m, ss[warp] = s;
  if (threadIdx.x == 0) target_logit = to_f32(l[target]);  // read before any thread writes the row
  __syncthreads();
  if (threadIdx.x == 0) {
    float bm = sm[0], bs = ss[0];
    for (int w = 1; w < kThreads / 32; ++w) merge(bm, bs, sm[w], ss[w]);
    total_m = bm, total_s = bs;
    row_loss[row] = static_cast<float>(log(double(bs)) - double(target_logit - bm));
  }
  __syncthreads();
  const float mx = total_m, scale = static_cast<float>(double(dloss) / double(total_s));
  for (int64_t i = threadIdx.x; i < nv; i += kThreads) {
    float x[8];
    load8(l + i * 8, x);
    for (int k = 0; k < 8; ++k) {
      x[k] = expf(x[k] - mx) * scale;
      if (i * 8 + k == target) x[k] -= dloss;
    }
    store8(l + i * 8, x);
  }
  for (int64_t i = nv * 8 + threadIdx.x; i < vocab; i += kThreads) {
    float d = expf(to_f32(l[i]) - mx) * scale;
    if (i == target) d -= dloss;
    l[i] = from_f32<T>(d);
  }
}

}  // namespace

template <class T>
void cross_entropy_forward_backward(T* logits, float* row_loss, const int32_t* targets, int64_t rows, int64_t vocab,
                                    float dloss, cudaStream_t stream) {
  if (rows <= 0 || vocab <= 0) return;
  const bool vec = aligned16(logits) && (vocab * int64_t(sizeof(T))) % 16 == 0;
  cross_entropy_kernel<T><<<unsigned(rows), kThreads, 0, stream>>>(logits, row_loss, targets, vocab, dloss, vec);
  check_launch("cross_entropy_kernel");
}

template void cross_entropy_forward_backward<float>(float*, float*, const int32_t*, int64_t, int64_t, float,
                                                    cudaStream_t);
template void cross_entropy_forward_backward<bf16>(bf16*, float*, const int32_t*, int64_t, int64_t, float,
                                                   cudaStream_t);

}  // namespace nova::kernels::cuda::train
