// Launchers of the MoE kernels (CudaBackend::moe_experts, cuda_backend_moe.cu): for few rows, two
// GEMV launches that route inside; otherwise routing on the device, a plan (per-expert counts,
// offsets by a prefix sum, each assignment's row in the expert-grouped permutation, the GEMM
// tiles), the grouped expert GEMMs and the combine back into token order. Nothing here needs a
// host-side count: grids are sized by upper bounds and the blocks past the plan's tile count
// exit, so a decode step stays one CUDA graph.
//
// Terms: an assignment i = row * k + j is row `row`'s j-th expert choice; the permuted rows
// [0, rows * k) hold the assignments grouped by expert (expert 0's first); a tile is a run of at
// most tile_rows permuted rows of one expert, the M-block of a grouped GEMM.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/dtype.h"

namespace nova::kernels::cuda {

struct MoeTile {
  int32_t expert, begin, end, pad;  // permuted rows [begin, end) of `expert`
};
// One expert's weights on the device (the pointer table is an argument-block array).
struct MoeExpertPtrs {
  const void* gate;
  const void* up;
  const void* down;
};

constexpr int kMoeMaxExperts = 1024;  // the plan kernel's shared-memory tables
constexpr int kMoeMaxK = 32;          // launch_route_top_k's limit
constexpr int kMoeMmaRows = 64;       // tile rows on the tensor-core path

// Tiles a plan may produce: sum over experts of ceil(count / tile_rows) <= n / tile_rows + experts used.
inline int64_t moe_max_tiles(int64_t assignments, int64_t experts, int tile_rows) {
  return (assignments + tile_rows - 1) / tile_rows + std::min<int64_t>(experts, assignments);
}

// ---- routing.cu ----
// From expert[n] (launch_route_top_k's output, n = rows * k): pos[i] = the permuted row of
// assignment i, perm_token[p] = the token row of permuted row p, tiles[0, *num_tiles) in expert
// order. One block; counts by shared-memory atomics (positions within an expert may differ from run
// to run — each permuted row is computed on its own, so results do not).
void launch_moe_plan(const int32_t* expert, int64_t n, int k, int64_t experts, int tile_rows, int32_t* pos,
                     int32_t* perm_token, MoeTile* tiles, int32_t* num_tiles, cudaStream_t s);

// ---- moe_permute.cu ----
// xp[p, :] = bf16(x[perm_token[p], :]) for p < n (x F32 or BF16; width % 8 == 0).
void launch_moe_gather(const void* x, DType x_dtype, int64_t width, const int32_t* perm_token, int64_t n, void* xp,
                       cudaStream_t s);
// out[r, :] += sum over r's k assignments in expert order of weight[i] * y[pos[i], :], y the sum of
// `splits` planes `plane` floats apart (fp32, each product rounded then added, as
// scatter_add_rows; no atomics: one block per row).
void launch_moe_combine(const float* y, int64_t width, int splits, int64_t plane, const int32_t* expert,
                        const float* weight, const int32_t* pos, int64_t rows, int k, float* out, cudaStream_t s);

// ---- moe_gemv.cu: few rows (decode), two launches, each warp routing its row itself ----
// h[i, n] = silu(gate_e[n] . x[row]) * (up_e[n] . x[row]) for every assignment i = row * k + j, e
// its expert; x F32 or BF16 [rows, hidden]; weights BF16 or F32; h F32 [rows * k, inter].
void launch_moe_gemv_gate_up(const float* logits, int64_t experts, int k, bool normalize, const void* x,
                             DType x_dtype, int64_t rows, const MoeExpertPtrs* ptrs, DType w_dtype, int64_t inter,
                             int64_t hidden, float* h, cudaStream_t s);
// out[row, n] += sum over the row's choices in expert order of weight_j * (down_e[n] . h[row * k + j]).
void launch_moe_gemv_down_combine(const float* logits, int64_t experts, int k, bool normalize, const float* h,
                                  int64_t rows, const MoeExpertPtrs* ptrs, DType w_dtype, int64_t hidden,
                                  int64_t inter, float* out, cudaStream_t s);
bool moe_gemv_supports(DType w_dtype, int64_t hidden, int64_t inter);

// ---- moe_mma.cu: grouped GEMMs on tensor cores (BF16 weights; tiles of kMoeMmaRows rows) ----
// h[p, :] (BF16) = silu(xp[p] gate_e^T) * (xp[p] up_e^T), xp BF16 [*, hidden] (launch_moe_gather).
void launch_moe_mma_gate_up(const void* xp, const MoeTile* tiles, const int32_t* num_tiles, int64_t max_tiles,
                            const MoeExpertPtrs* experts, int64_t inter, int64_t hidden, void* h, cudaStream_t s);
// y[z][p, :] (F32) = h[p] down_e^T over split z of K (z < splits; planes `plane` floats apart),
// h BF16 [*, inter].
void launch_moe_mma_down(const void* h, const MoeTile* tiles, const int32_t* num_tiles, int64_t max_tiles,
                         const MoeExpertPtrs* experts, int64_t hidden, int64_t inter, int splits, int64_t plane,
                         float* y, cudaStream_t s);
// The K splits for launch_moe_mma_down on a GPU of sm_count SMs (1 when blocks are plenty).
int moe_mma_down_splits(int64_t max_tiles, int64_t hidden, int64_t inter, int sm_count);
bool moe_mma_supports(DType w_dtype, int64_t hidden, int64_t inter);

}  // namespace nova::kernels::cuda
