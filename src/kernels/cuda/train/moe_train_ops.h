// The MoE layer's own kernels in the GPU trainer (train/layers/moe.h's math; the expert GEMMs
// themselves are TrainGemm calls per expert, made by train/gpu/gpu_moe_layer.cpp). Plain C++
// declarations on device pointers, enqueued on `stream`, never synchronising.
//
// Terms (as kernels/cuda/moe.cuh): assignment i = row * k + j is row `row`'s j-th expert choice;
// the permuted rows hold the assignments grouped by expert, expert e's `count_e` rows starting at
// offset_e = sum over e' < e of moe_padded_rows(count_e') (the padding rows are zero, so the
// per-expert GEMMs see few distinct row counts and reuse their cached cuBLASLt plans); within an
// expert, assignments keep their order (ascending rows, as train/layers/moe.cpp gathers them), so
// every result is deterministic.
// `T` is the activations' storage type (float or bf16), as train_ops.h.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/train/train_ops.h"

namespace nova::kernels::cuda::train {

constexpr int kMoeTrainMaxExperts = 256;  // the routing kernel's shared-memory logits
constexpr int kMoeTrainMaxK = 16;

// The permuted rows of an expert with `count` assignments: count rounded up to a granularity of 64
// rows, doubled until it is at least count / 32 (so at most ~3% padding, and row counts that
// differ by a few land on the same size). Host and device compute the same offsets from it.
__host__ __device__ inline int64_t moe_padded_rows(int64_t count) {
  int64_t g = 64;
  while (g * 32 < count) g *= 2;
  return (count + g - 1) / g * g;
}
// An upper bound of the sum of moe_padded_rows over experts whose counts sum to `assignments`.
inline int64_t moe_permuted_bound(int64_t assignments, int64_t experts) {
  return assignments + assignments / 16 + experts * 64;
}

// Router and routing, one warp per row, in fp32 from the fp32 master weights: logits =
// x router_w^T, p = softmax (probs [rows, experts] written), the top-k by p (ties to the lower
// index: top_expert [rows, k]) and their weights (p, or p / their sum when normalize:
// top_weight [rows, k]). shared_gate_w [hidden] (null: none): shared_logit[r] = x[r] . w.
template <class T>
void moe_route(float* probs, int32_t* top_expert, float* top_weight, float* shared_logit, const T* x,
               const float* router_w, const float* shared_gate_w, int64_t rows, int64_t hidden, int experts, int k,
               bool normalize, cudaStream_t stream);

// Per expert e: counts[e] = how many assignments chose e, and stats[e] = that count,
// stats[experts + e] = the column sum of probs (double, fixed order): RouterStats of one layer.
// Computed over chunks of rows: chunk_counts (int32) and chunk_psum (double) hold
// moe_stat_chunks(rows) * experts entries each, and chunk_counts is moe_plan's input.
void moe_stats(int32_t* counts, double* stats, int32_t* chunk_counts, double* chunk_psum, const float* probs,
               const int32_t* top_expert, int64_t rows, int k, int experts, cudaStream_t stream);
int64_t moe_stat_chunks(int64_t rows);

// The permutation from moe_stats' counts and chunk_counts: pos[i] = the permuted row of
// assignment i; perm_assign[p] = the assignment at permuted row p, -1 on padding rows.
void moe_plan(int32_t* pos, int32_t* perm_assign, const int32_t* top_expert, const int32_t* counts,
              const int32_t* chunk_counts, int64_t rows, int k, int experts, cudaStream_t stream);

// xp[p, :] = x[row of perm_assign[p], :] (zero on padding rows), p < permuted.
template <class T>
void moe_gather(T* xp, const T* x, const int32_t* perm_assign, int64_t permuted, int k, int64_t hidden,
                cudaStream_t stream);

// x_out[r, :] = mid[r, :] + (sum over r's assignments in expert order of top_weight * y[pos, :]
// + sigmoid(shared_logit[r]) * shared_out[r, :] when shared_out is not null).
template <class T>
void moe_combine(float* x_out, const float* mid, const T* y, const int32_t* pos, const int32_t* top_expert,
                 const float* top_weight, const T* shared_out, const float* shared_logit, int64_t rows, int k,
                 int64_t hidden, cudaStream_t stream);

// Backward of the combine's routed part: dyp[p, :] = top_weight * dout[row, :] (the expert
// output's gradient; zero on padding rows) and dweight[i] = dout[row, :] . y[p, :].
template <class T>
void moe_expert_output_grad(T* dyp, float* dweight, const float* dout, const T* y, const int32_t* perm_assign,
                            const float* top_weight, int64_t permuted, int k, int64_t hidden, cudaStream_t stream);

// Router logits' gradient dl [rows, experts + (shared ? 1 : 0)] (fp32): from dweight through the
// (normalised) top-k weights and the softmax, plus dprob [experts] (double, null: none; the
// load-balancing loss' gradient of every row's p). With a shared expert (shared_out not null):
// dl[r, experts] = (dout[r] . shared_out[r]) g (1 - g), g = sigmoid(shared_logit[r]), and
// dshared[r, :] = g * dout[r, :].
template <class T>
void moe_router_grad(float* dl, T* dshared, const float* probs, const int32_t* top_expert, const float* top_weight,
                     const float* dweight, const double* dprob, const float* dout, const T* shared_out,
                     const float* shared_logit, int64_t rows, int64_t hidden, int experts, int k, bool normalize,
                     cudaStream_t stream);

// dx[r, :] = sum over r's assignments in expert order of dxp[pos, :] + sum_e dl[r, e] router_w[e, :]
// (+ dl[r, experts] shared_gate_w when not null). Written, not accumulated.
template <class T>
void moe_input_grad(T* dx, const T* dxp, const int32_t* pos, const int32_t* top_expert, const float* dl,
                    const float* router_w, const float* shared_gate_w, int64_t rows, int k, int64_t hidden,
                    int experts, cudaStream_t stream);

// d_router [experts, hidden] += dl[:, :experts]^T x and d_shared_gate [hidden] (null: none) +=
// dl[:, experts]^T x, rows summed in a fixed order (chunks of rows, then the chunks in order);
// `scratch` holds moe_router_weight_grad_scratch_floats(rows, hidden, experts) floats.
template <class T>
void moe_router_weight_grad(float* d_router, float* d_shared_gate, const float* dl, const T* x, int64_t rows,
                            int64_t hidden, int experts, float* scratch, cudaStream_t stream);
size_t moe_router_weight_grad_scratch_floats(int64_t rows, int64_t hidden, int experts);

// transformers' load_balancing_loss_func over `layers` layers' stats ([layers][2 * experts], as
// moe_stats writes; rows_total = the routed rows of all of them): *loss = experts * sum_e
// (count_e / N) (prob_sum_e / N) (null: not written) and dprob[e] = scale * experts * count_e / N^2.
void moe_aux_loss(double* loss, double* dprob, const double* stats, int layers, int experts, int64_t rows_total,
                  double scale, cudaStream_t stream);

}  // namespace nova::kernels::cuda::train
