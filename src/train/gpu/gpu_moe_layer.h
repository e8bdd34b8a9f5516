// A mixture-of-experts feed-forward block on the GPU, forward and backward: train/layers/moe.h's
// math (router softmax, top-k with ties to the lower index, norm_topk_prob, the Qwen2-MoE shared
// expert with its sigmoid gate, the load-balancing loss' gradient through dprob) as
// kernels/cuda/train/moe_train_ops.h kernels plus one TrainGemm call per expert and product.
//
// Host synchronisation: the per-expert GEMMs need each expert's row count on the host, so every
// MoE forward (also a recompute's) waits once for the routing (a few small kernels) and reads the
// E counts. The permuted rows of an expert are padded (zero rows, moe_padded_rows: <= ~3%), which
// bounds the distinct GEMM shapes cuBLASLt plans are cached for.
//
// Precision: the router (and the shared expert's gate) run in fp32 from the fp32 master weights
// in both modes, so the routing decisions do not depend on bf16 rounding; the experts' GEMMs and
// activations use T like the dense layers. Internal to the GPU trainer; CUDA builds only.
#pragma once

#ifdef NOVA_HAVE_CUDA

#include <cstdint>
#include <vector>

#include "formats/hf_config.h"
#include "kernels/cuda/train/moe_train_ops.h"
#include "train/gpu/gpu_param_layout.h"
#include "train/gpu/gpu_step_profile.h"

namespace nova::train::gpu {

// One MoE layer's parameters as offsets into the flat buffers (-1: absent).
struct MoeOffsets {
  int64_t router = -1;                    // [E, H]
  std::vector<int64_t> gate, up, down;    // per expert: [I, H], [I, H], [H, I]
  bool fused_gate_up = false;             // every expert's up rows follow its gate rows
  int64_t shared_gate = -1, shared_up = -1, shared_down = -1;  // shared expert (S = its width)
  bool shared_fused = false;
  int64_t shared_expert_gate = -1;        // [1, H]
};

// The offsets of layer `layer` (an MoE layer of `c`) in a layout; throws when one is missing.
MoeOffsets moe_offsets(const formats::ModelConfig& c, int layer, const GpuParamLayout& layout);

// Rows of the permuted (expert-grouped, padded) buffers for `rows` token rows.
int64_t moe_permuted_capacity(const formats::ModelConfig& c, int64_t rows);

// What one MoE layer's backward reads (written by its forward). T: float or bf16.
template <class T>
struct MoeActs {
  float* probs = nullptr;          // [M, E]
  int32_t* top_expert = nullptr;   // [M, K]
  float* top_weight = nullptr;     // [M, K]
  int32_t* pos = nullptr;          // [M * K]: each assignment's permuted row
  int32_t* perm_assign = nullptr;  // [cap]: each permuted row's assignment, -1 on padding
  T* xp = nullptr;                 // [cap, H] gathered inputs
  T* gu = nullptr;                 // [cap, 2I] gate|up (fused), or gate [cap, I] with up below
  T* up = nullptr;                 // [cap, I] (unfused only)
  T* act = nullptr;                // [cap, I]
  T* y = nullptr;                  // [cap, H] expert outputs
  T *sh_gu = nullptr, *sh_up = nullptr, *sh_act = nullptr, *sh_out = nullptr;  // shared expert
  float* sh_logit = nullptr;       // [M]
  int64_t* offsets = nullptr;      // host, E + 1: each expert's first permuted row (written by the forward)
};

// Temporaries shared by every MoE layer.
template <class T>
struct MoeScratch {
  int32_t* counts = nullptr;       // device [E]
  int32_t* chunk_counts = nullptr; // device [moe_stat_chunks(M) * E]
  double* chunk_psum = nullptr;    // device [moe_stat_chunks(M) * E]
  int32_t* host_counts = nullptr;  // pinned host [E]
  T* dyp = nullptr;                // [cap, H]: the experts' output gradients, then their input gradients
  T* dact = nullptr;               // [max(cap * I, M * S)]
  float* dweight = nullptr;        // [M * K]
  float* dl = nullptr;             // [M, E + 1] router (and shared gate) logit gradients
  T* dsh = nullptr;                // [M, H] shared expert output gradient
  double* stats = nullptr;         // [layers][2E]: RouterStats per layer (zero for dense layers)
  float* router_grad_scratch = nullptr;  // moe_router_weight_grad's partial sums
};

template <class T>
struct MoePass {
  const formats::ModelConfig* config = nullptr;
  int64_t rows = 0;
  const float* params = nullptr;  // fp32 master values
  float* grads = nullptr;
  const T* weights = nullptr;     // GEMM operands
  kernels::cuda::train::TrainGemm* gemm = nullptr;
  cudaStream_t stream = nullptr;
  StepProfile* profile = nullptr;
  const double* dprob = nullptr;  // [E] load-balancing loss gradient per router probability; null: none
};

// x_out [M, H] (fp32) = mid + moe(h2). Synchronises the stream once (the experts' row counts).
template <class T>
void moe_forward(float* x_out, const float* mid, const T* h2, int layer, const MoeOffsets& p, const MoeActs<T>& a,
                 const MoeScratch<T>& s, const MoePass<T>& pass);
// dh [M, H] (T) := the gradient of h2, from dout = the gradient of x_out (fp32); parameter grads
// accumulate. Overwrites a.gu / a.sh_gu with their gradients.
template <class T>
void moe_backward(T* dh, const float* dout, const T* h2, const MoeOffsets& p, const MoeActs<T>& a,
                  const MoeScratch<T>& s, const MoePass<T>& pass);

}  // namespace nova::train::gpu

#endif  // NOVA_HAVE_CUDA
