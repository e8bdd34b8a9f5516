// MoE routing on the device: per row, softmax over the experts in float32, then the top k
// (ties: lower index first) with optional renormalisation — the CPU kernel's exact order of
// operations, so both pick the same experts. One thread per row: rows are few and experts
// (at most a few hundred) are read from L1.
//
// Then the MoE plan (moe.cuh): the permutation that groups a step's assignments by expert and
// the grouped GEMMs' tiles, computed on the device so no count ever reaches the host.
#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/moe.cuh"
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

constexpr int kPlanThreads = 1024;

__global__ void __launch_bounds__(kPlanThreads) moe_plan_kernel(const int32_t* __restrict__ expert, int n, int k,
                                                                 int experts, int tile_rows, int32_t* pos,
                                                                 int32_t* __restrict__ perm_token,
                                                                 MoeTile* __restrict__ tiles,
                                                                 int32_t* __restrict__ num_tiles) {
  __shared__ int count[kMoeMaxExperts], offset[kMoeMaxExperts], tile_offset[kMoeMaxExperts];
  for (int e = threadIdx.x; e < experts; e += blockDim.x) count[e] = 0;
  __syncthreads();
  // Each assignment's rank within its expert (the same thread reads it back below).
  for (int i = threadIdx.x; i < n; i += blockDim.x) pos[i] = atomicAdd(&count[expert[i]], 1);
  __syncthreads();
  // Exclusive prefix sums of the counts and of the tiles per expert: warp 0, 32 experts a round.
  if (threadIdx.x < 32) {
    const int lane = threadIdx.x;
    int rows_before = 0, tiles_before = 0;
    for (int base = 0; base < experts; base += 32) {
      const int e = base + lane;
      const int c = e < experts ? count[e] : 0, t = (c + tile_rows - 1) / tile_rows;
      int ic = c, it = t;  // inclusive scans across the warp
      for (int o = 1; o < 32; o <<= 1) {
        const int uc = __shfl_up_sync(0xffffffffu, ic, o), ut = __shfl_up_sync(0xffffffffu, it, o);
        if (lane >= o) ic += uc, it += ut;
      }
      if (e < experts) {
        offset[e] = rows_before + ic - c;
        tile_offset[e] = tiles_before + it - t;
      }
      rows_before += __shfl_sync(0xffffffffu, ic, 31);
      tiles_before += __shfl_sync(0xffffffffu, it, 31);
    }
    if (lane == 0) *num_tiles = tiles_before;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const int p = offset[expert[i]] + pos[i];
    pos[i] = p;
    perm_token[p] = i / k;
  }
  for (int e = threadIdx.x; e < experts; e += blockDim.x) {
    const int begin = offset[e], end = begin + count[e];
    int t = tile_offset[e];
    for (int r = begin; r < end; r += tile_rows) tiles[t++] = MoeTile{e, r, min(end, r + tile_rows), 0};
  }
}

}  // namespace

void launch_moe_plan(const int32_t* expert, int64_t n, int k, int64_t experts, int tile_rows, int32_t* pos,
                     int32_t* perm_token, MoeTile* tiles, int32_t* num_tiles, cudaStream_t s) {
  if (experts > kMoeMaxExperts) fail("moe_experts", "more than 1024 experts: beyond the CUDA plan kernel's tables");
  if (n > (int64_t{1} << 30)) fail("moe_experts", "too many token rows for the CUDA plan kernel");
  moe_plan_kernel<<<1, kPlanThreads, 0, s>>>(expert, static_cast<int>(n), k, static_cast<int>(experts), tile_rows,
                                             pos, perm_token, tiles, num_tiles);
  check_launch("moe_plan");
}

void launch_route_top_k(const float* logits, int64_t rows, int64_t experts, int k, bool normalize, int32_t* expert,
                        float* weight, cudaStream_t s) {
  if (rows == 0) return;
  if (k > kMaxK) fail("route_top_k", "k=" + std::to_string(k) + " exceeds the CUDA kernel's limit of 32");
  route_kernel<<<grid_for(rows, 128), 128, 0, s>>>(logits, rows, experts, k, normalize, expert, weight);
  check_launch("route_top_k");
}

}  // namespace nova::kernels::cuda
