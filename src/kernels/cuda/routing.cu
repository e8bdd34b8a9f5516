// MoE routing on the device: per row, softmax over the experts in float32, then the top k
// (ties: lower index first) with optional renormalisation — the CPU kernel's exact order of
// operations, so both pick the same experts. One thread per row: rows are few and experts
// (at most a few hundred) are read from L1.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/ops.cuh"

namespace nova::kernels::cuda {

namespace {

constexpr int kMaxK = 32;

__global__ void route_kernel(const float* logits, int64_t rows, int64_t experts, int k, bool normalize,
                             int32_t* expert, float* weight) {
  const int64_t r = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (r >= rows) return;
  const float* lr = logits + r * experts;
  float mx = -INFINITY;
  for (int64_t e = 0; e < experts; ++e) mx = fmaxf(mx, lr[e]);
  float sum = 0.0f;
  for (int64_t e = 0; e < experts; ++e) sum += expf(lr[e] - mx);
  int32_t chosen[kMaxK];
  float p_chosen[kMaxK];
  float top_sum = 0.0f;
  for (int i = 0; i < k; ++i) {
    int32_t best = -1;
    float best_p = 0.0f;
    for (int64_t e = 0; e < experts; ++e) {
      bool taken = false;
      for (int j = 0; j < i; ++j) taken = taken || chosen[j] == e;
      if (taken) continue;
      const float p = expf(lr[e] - mx) / sum;
      if (best < 0 || p > best_p) {  // strict: the lower index wins a tie
        best = static_cast<int32_t>(e);
        best_p = p;
      }
    }
    chosen[i] = best;
    p_chosen[i] = best_p;
    top_sum += best_p;
  }
  for (int i = 0; i < k; ++i) {
    expert[r * k + i] = chosen[i];
    weight[r * k + i] = normalize ? p_chosen[i] / top_sum : p_chosen[i];
  }
}

}  // namespace

void launch_route_top_k(const float* logits, int64_t rows, int64_t experts, int k, bool normalize, int32_t* expert,
                        float* weight, cudaStream_t s) {
  if (rows == 0) return;
  if (k > kMaxK) fail("route_top_k", "k=" + std::to_string(k) + " exceeds the CUDA kernel's limit of 32");
  route_kernel<<<grid_for(rows, 128), 128, 0, s>>>(logits, rows, experts, k, normalize, expert, weight);
  check_launch("route_top_k");
}

}  // namespace nova::kernels::cuda
