// The training step's kernels on the GPU: forward and backward of every op of
// train/decoder_layer.h (dense layers), the LM head's cross-entropy, the global gradient norm and
// a fused AdamW. Plain C++ declarations (g++ includes this; the definitions are in the .cu files
// beside it), on device pointers, enqueued on `stream`, never synchronising.
//
// Precision, as PyTorch's bf16 autocast runs a Llama: `T` is the storage type of the matmul-side
// activations (q, k, v, attention output, FFN intermediates, logits): float (the fp32 mode, exact
// to the CPU path's rounding order aside) or __nv_bfloat16 (mixed precision: bf16 GEMM inputs and
// outputs, fp32 accumulation). The residual stream, its gradient, norm statistics, every
// parameter (the fp32 master) and every parameter gradient are float32 in both modes; the
// bf16 mode's GEMMs read a bf16 copy of the weights that adamw_step refreshes.
//
// Shapes use the CPU training layers' layouts (train/layers/*.h), which are the tests' reference:
// tokens are rows; q/k/v are [B, T, heads, head_dim]; weights are [out, in] as nn.Linear stores
// them.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace nova::kernels::cuda::train {

using bf16 = __nv_bfloat16;

// ---- GEMMs (cuBLASLt; one handle, workspace and cached plan per shape) ----
// fp32 mode: full fp32 math (TF32 off). bf16 mode: tensor cores, fp32 accumulation.
class TrainGemm {
 public:
  TrainGemm();
  ~TrainGemm();
  TrainGemm(const TrainGemm&) = delete;
  TrainGemm& operator=(const TrainGemm&) = delete;

  // y[M, N] = x[M, K] w[N, K]^T (+ bias[N], null: none).
  template <class T>
  void forward(T* y, const T* x, const T* w, const float* bias, int64_t M, int64_t N, int64_t K, cudaStream_t stream);
  // dx[M, K] = dy[M, N] w[N, K], or dx += that when `accumulate`.
  template <class T>
  void backward_input(T* dx, const T* dy, const T* w, int64_t M, int64_t N, int64_t K, bool accumulate,
                      cudaStream_t stream);
  // dw[N, K] += dy[M, N]^T x[M, K] (fp32 gradient, accumulated).
  template <class T>
  void backward_weight(float* dw, const T* dy, const T* x, int64_t M, int64_t N, int64_t K, cudaStream_t stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// db[N] += column sums of dy[M, N].
template <class T>
void bias_backward(float* db, const T* dy, int64_t M, int64_t N, cudaStream_t stream);

// ---- embedding ----
// out[i, :] = table[ids[i], :] for i < n (fp32 residual stream).
void embedding_forward(float* out, const int32_t* ids, int64_t n, const float* table, int64_t dim, cudaStream_t stream);
// Deterministic scatter-add dtable[ids[i], :] += dout[i, :], from the ids grouped on the host:
// token unique_ids[u] occurs at rows positions[offsets[u] .. offsets[u + 1]) (offsets has
// n_unique + 1 entries). build_embedding_groups makes the three arrays from the batch's ids.
void embedding_backward(float* dtable, const float* dout, const int32_t* unique_ids, const int32_t* offsets,
                        const int32_t* positions, int64_t n_unique, int64_t dim, cudaStream_t stream);
// Host side: the groups embedding_backward reads, from the batch's n ids (host memory, each in
// [0, vocab)): unique_ids ascending (n entries suffice), offsets (n + 1), positions (n: each
// token's rows in batch order, so its gradient sums in that order). A counting sort, O(n + vocab)
// with `counts` as scratch, so the host grouping a step's ids does not keep the GPU waiting.
// Returns the number of distinct ids.
int64_t build_embedding_groups(const int32_t* ids, int64_t n, int64_t vocab, int32_t* unique_ids, int32_t* offsets,
                               int32_t* positions, std::vector<int32_t>& counts);

// ---- RMSNorm over groups of `dim` (the block norms read the fp32 residual: TIn = float; the
// per-head q/k norm of Qwen3 reads T) ----
// y = w * (x * rstd), rstd[g] = 1 / sqrt(mean(x^2) + eps) written.
template <class TIn, class TOut>
void rmsnorm_forward(TOut* y, float* rstd, const TIn* x, const float* w, int64_t groups, int64_t dim, float eps,
                     cudaStream_t stream);
// dx += d/dx (accumulated: the residual's gradient already holds the skip path's part) and
// dw += d/dw. `scratch` holds rmsnorm_backward_scratch_floats(groups, dim) floats (the dw
// partial sums, reduced deterministically).
template <class TIn, class TOut>
void rmsnorm_backward(TIn* dx, float* dw, const TOut* dy, const TIn* x, const float* w, const float* rstd,
                      int64_t groups, int64_t dim, float* scratch, cudaStream_t stream);
// (Added by train_perf.) The same, and dx_copy (null: none) := the updated dx converted to TOut
// (the residual gradient as the next GEMM's operand, without a separate convert pass).
template <class TIn, class TOut>
void rmsnorm_backward(TIn* dx, float* dw, const TOut* dy, const TIn* x, const float* w, const float* rstd,
                      int64_t groups, int64_t dim, float* scratch, TOut* dx_copy, cudaStream_t stream);
size_t rmsnorm_backward_scratch_floats(int64_t groups, int64_t dim);

// ---- RoPE, rotate_half convention, in place ----
// x [rows, heads, head_dim]; cos, sin [rows, half] (fp32, one table row per x row); the first
// 2*half features of each head rotate as pairs (i, i + half). backward rotates by -angle.
template <class T>
void rope_forward(T* x, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                  int64_t half, cudaStream_t stream);
template <class T>
void rope_backward(T* dx, int64_t rows, int64_t heads, int64_t head_dim, const float* cos, const float* sin,
                   int64_t half, cudaStream_t stream);

// ---- SwiGLU: out = silu(gate) * up ----
template <class T>
void swiglu_forward(T* out, const T* gate, const T* up, int64_t n, cudaStream_t stream);
// dgate, dup written (may alias gate / up: the backward reads each element before writing it).
template <class T>
void swiglu_backward(T* dgate, T* dup, const T* dout, const T* gate, const T* up, int64_t n, cudaStream_t stream);

// (Added by train_perf.) The same on the fused gate|up GEMM's output gu [rows, 2 * inter]: each
// row is gate (inter values) then up. out [rows, inter]; dgu [rows, 2 * inter] written (may alias
// gu: each element is read before it is written).
template <class T>
void swiglu_forward_fused(T* out, const T* gu, int64_t rows, int64_t inter, cudaStream_t stream);
template <class T>
void swiglu_backward_fused(T* dgu, const T* dout, const T* gu, int64_t rows, int64_t inter, cudaStream_t stream);

// ---- residual ----
// out[i] = x[i] + delta[i] (out may alias x): the fp32 residual plus a block's T output.
template <class T>
void residual_add(float* out, const float* x, const T* delta, int64_t n, cudaStream_t stream);
// dst[i] = src[i] converted (e.g. the fp32 residual gradient to T for a GEMM's dy).
template <class TDst, class TSrc>
void convert(TDst* dst, const TSrc* src, int64_t n, cudaStream_t stream);

// ---- causal GQA attention (train/layers/attention.h's math, window 0 = full causal) ----
struct AttentionDims {
  int64_t B = 0, T = 0, q_heads = 0, kv_heads = 0, head_dim = 0;
  int64_t window = 0;
  float scale = 1.0f;
};
// Device scratch the two calls need for these dims (bytes; may be 0 for a fused kernel). The
// caller owns it; forward and backward of one layer use the same dims.
size_t attention_workspace_bytes(const AttentionDims& d);
// out [B, T, q_heads, head_dim] written; lse [B, q_heads, T] (fp32 log-sum-exp of each row's
// scaled scores) written for the backward.
template <class T>
void attention_forward(T* out, float* lse, const T* q, const T* k, const T* v, const AttentionDims& d,
                       void* workspace, cudaStream_t stream);
// dq, dk, dv written (not accumulated), from dout and the forward's out and lse.
template <class T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* out, const float* lse, const T* q, const T* k,
                        const T* v, const AttentionDims& d, void* workspace, cudaStream_t stream);

// ---- cross-entropy, fused forward + backward, in place ----
// For each row r with targets[r] != -100: row_loss[r] = logsumexp(logits[r]) - logits[r][target]
// and logits[r] is overwritten by dloss * (softmax(logits[r]) - onehot(target)); ignored rows get
// row_loss 0 and a zero gradient. Targets outside [0, vocab) other than -100 must be rejected on
// the host before the call (the kernel treats them as ignored).
template <class T>
void cross_entropy_forward_backward(T* logits, float* row_loss, const int32_t* targets, int64_t rows, int64_t vocab,
                                    float dloss, cudaStream_t stream);

// ---- reductions and the optimiser (fp32, flat buffers) ----
// *out = sum of x[0..n) in double, in a fixed order (deterministic); scratch holds
// sum_scratch_doubles(n) doubles. square: sum of squares instead.
void sum_f32(double* out, const float* x, int64_t n, bool square, double* scratch, cudaStream_t stream);
size_t sum_scratch_doubles(int64_t n);

// torch.optim.AdamW (train/adamw.h's float32 rounding) over segments of flat buffers, one launch:
// every parameter is a segment [offset, offset + size) of params / m / v / grads; `decays`
// says whether weight decay applies (>= 2-dim parameters). grads are multiplied by grad_scale
// first (the clip factor; 1 when not clipping). params_bf16 (null in fp32 mode) receives the
// updated parameters rounded to bf16 (the copy the bf16 GEMMs read).
struct AdamSegment {
  int64_t offset = 0, size = 0;
  int32_t decays = 0;
};
struct AdamScalars {  // as train/adamw.cpp derives them from (lr, step, config), float32
  float neg_step_size = 0, bias2_sqrt = 1, one_minus_beta1 = 0.1f, beta2 = 0.95f, one_minus_beta2 = 0.05f,
        eps = 1e-8f, decay = 1.0f, grad_scale = 1.0f;
};
void adamw_step(float* params, float* m, float* v, const float* grads, bf16* params_bf16, const AdamSegment* segments,
                int32_t n_segments, const AdamScalars& s, cudaStream_t stream);

}  // namespace nova::kernels::cuda::train
