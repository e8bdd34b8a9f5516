// One transformer block on the GPU, forward and backward: train/decoder_layer.cpp's math as
// kernels/cuda/train/train_ops.h calls; an MoE layer's feed-forward block is gpu_moe_layer.h's. Internal to the GPU trainer; only
// meaningful in a CUDA build.
#pragma once

#ifdef NOVA_HAVE_CUDA

#include <cstdint>

#include "formats/hf_config.h"
#include "kernels/cuda/train/train_ops.h"
#include "train/gpu/gpu_moe_layer.h"
#include "train/gpu/gpu_step_profile.h"

namespace nova::train::gpu {

namespace ops = kernels::cuda::train;

// A layer's parameters as offsets into the flat buffers; -1: absent (biases, qk-norm weights).
struct LayerOffsets {
  int64_t input_norm = -1, post_norm = -1;
  int64_t q_w = -1, q_b = -1, k_w = -1, k_b = -1, v_w = -1, v_b = -1, o_w = -1, o_b = -1;
  int64_t q_norm = -1, k_norm = -1;
  int64_t gate_w = -1, gate_b = -1, up_w = -1, up_b = -1, down_w = -1, down_b = -1;
  // gate and up as one GEMM: up's rows follow gate's in the flat buffers (up_w == gate_w + I*H)
  // and neither has a bias. Then LayerActs::gate holds [M, 2I] (each row gate then up).
  bool fused_gate_up = false;
  bool is_moe = false;  // the feed-forward block is `moe` (the dense FFN offsets stay -1)
  MoeOffsets moe;
};

// Activations one layer's backward reads (model/transformer.h's tensor names). T: float or bf16.
template <class T>
struct LayerActs {
  T *h1 = nullptr, *q_raw = nullptr, *k_raw = nullptr, *q = nullptr, *k = nullptr, *v = nullptr;
  T *attn = nullptr, *h2 = nullptr, *gate = nullptr, *up = nullptr, *act = nullptr;
  float *rstd1 = nullptr, *q_rstd = nullptr, *k_rstd = nullptr, *lse = nullptr, *mid = nullptr, *rstd2 = nullptr;
  MoeActs<T> moe;  // MoE layers
};

// Temporaries shared by every layer (the stream orders their reuse).
template <class T>
struct LayerScratch {
  T *tmp = nullptr;                                   // [M, H]: a block's output before the residual add
  T *dy = nullptr;                                    // [M, H]: the residual gradient as T (bf16 mode;
                                                      // written by the rmsnorm backward that updated it)
  T *dh = nullptr;                                    // [M, H]: a norm output's gradient
  T *dattn = nullptr, *dq = nullptr, *dk = nullptr, *dv = nullptr, *dq_raw = nullptr, *dk_raw = nullptr;
  T *dact = nullptr;                                  // [M, I]
  float* norm_scratch = nullptr;                      // rmsnorm_backward's partial sums
  void* attn_workspace = nullptr;
  MoeScratch<T> moe;                                  // MoE layers
};

// What every layer of one pass shares.
template <class T>
struct LayerPass {
  const formats::ModelConfig* config = nullptr;
  int64_t B = 0, T_len = 0, half = 0;
  const float* cos = nullptr;  // [B*T, half]
  const float* sin = nullptr;
  float eps = 1e-6f, scale = 1.0f;
  const float* params = nullptr;  // fp32 master values (norm weights, biases)
  float* grads = nullptr;
  const T* weights = nullptr;     // GEMM operands: params (fp32 mode) or their bf16 copy
  ops::TrainGemm* gemm = nullptr;
  cudaStream_t stream = nullptr;
  StepProfile* profile = nullptr;  // per-phase timing (NOVA_TRAIN_PROFILE), null when off
  const double* moe_dprob = nullptr;  // [E]: the load-balancing loss' gradient (MoE; null: none)
  int64_t rows() const { return B * T_len; }
};

ops::AttentionDims attention_dims(const formats::ModelConfig& c, int64_t B, int64_t T, int layer, float scale);

// x_out [M, H] (fp32) written from x_in.
template <class T>
void layer_forward(float* x_out, const LayerActs<T>& a, const float* x_in, int layer, const LayerOffsets& p,
                   const LayerPass<T>& pass, const LayerScratch<T>& s);
// dx: on entry the gradient of x_out, on return that of x_in (fp32, in place); parameter grads
// accumulate. Overwrites a.gate / a.up with their gradients. bf16 mode: s.dy must hold dx as T
// on entry (the caller's rmsnorm backward writes it), and holds the returned dx as T on return.
template <class T>
void layer_backward(float* dx, const float* x_in, const LayerActs<T>& a, int layer, const LayerOffsets& p,
                    const LayerPass<T>& pass, const LayerScratch<T>& s);

}  // namespace nova::train::gpu

#endif  // NOVA_HAVE_CUDA
