#include "train/gpu/gpu_decoder_layer.h"

#ifdef NOVA_HAVE_CUDA

#include <type_traits>

#include "kernels/cuda/cuda_check.cuh"

namespace nova::train::gpu {

using kernels::cuda::check_cuda;

namespace {

struct Dims {
  int64_t M, H, D, Hq, Hkv, q_out, kv_out, I;
};

Dims dims(const formats::ModelConfig& c, int64_t M) {
  const int64_t D = c.head_dim, Hq = c.num_heads, Hkv = c.num_kv_heads;
  return {M, c.hidden_size, D, Hq, Hkv, Hq * D, Hkv * D, c.intermediate_size};
}

const float* opt(const float* base, int64_t off) { return off >= 0 ? base + off : nullptr; }

template <class T>
MoePass<T> moe_pass(const LayerPass<T>& pass) {
  MoePass<T> m;
  m.config = pass.config;
  m.rows = pass.rows();
  m.params = pass.params;
  m.grads = pass.grads;
  m.weights = pass.weights;
  m.gemm = pass.gemm;
  m.stream = pass.stream;
  m.profile = pass.profile;
  m.dprob = pass.moe_dprob;
  return m;
}

// The residual gradient as a GEMM operand: itself in fp32 mode; in bf16 mode its copy in s.dy,
// which the rmsnorm backward that last updated dx wrote.
template <class T>
const T* as_operand(const float* dx, const LayerScratch<T>& s) {
  if constexpr (std::is_same_v<T, float>)
    return dx;
  else
    return s.dy;
}

}  // namespace

ops::AttentionDims attention_dims(const formats::ModelConfig& c, int64_t B, int64_t T, int layer, float scale) {
  const bool sliding = c.sliding_window > 0 && (c.layer_sliding.empty() || c.layer_sliding[layer]);
  ops::AttentionDims d;
  d.B = B;
  d.T = T;
  d.q_heads = c.num_heads;
  d.kv_heads = c.num_kv_heads;
  d.head_dim = c.head_dim;
  d.window = sliding ? c.sliding_window : 0;
  d.scale = scale;
  return d;
}

template <class T>
void layer_forward(float* x_out, const LayerActs<T>& a, const float* x_in, int layer, const LayerOffsets& p,
                   const LayerPass<T>& pass, const LayerScratch<T>& s) {
  const formats::ModelConfig& c = *pass.config;
  const Dims d = dims(c, pass.rows());
  const cudaStream_t st = pass.stream;
  ops::TrainGemm& gemm = *pass.gemm;
  const float* P = pass.params;
  const T* W = pass.weights;
  StepProfile* prof = pass.profile;

  mark(prof, "rmsnorm fwd");
  ops::rmsnorm_forward<float, T>(a.h1, a.rstd1, x_in, P + p.input_norm, d.M, d.H, pass.eps, st);
  mark(prof, "gemm fwd qkv");
  if (c.qk_norm) {
    gemm.forward<T>(a.q_raw, a.h1, W + p.q_w, opt(P, p.q_b), d.M, d.q_out, d.H, st);
    gemm.forward<T>(a.k_raw, a.h1, W + p.k_w, opt(P, p.k_b), d.M, d.kv_out, d.H, st);
    gemm.forward<T>(a.v, a.h1, W + p.v_w, opt(P, p.v_b), d.M, d.kv_out, d.H, st);
    mark(prof, "qk norm fwd");
    ops::rmsnorm_forward<T, T>(a.q, a.q_rstd, a.q_raw, P + p.q_norm, d.M * d.Hq, d.D, pass.eps, st);
    ops::rmsnorm_forward<T, T>(a.k, a.k_rstd, a.k_raw, P + p.k_norm, d.M * d.Hkv, d.D, pass.eps, st);
  } else {
    gemm.forward<T>(a.q, a.h1, W + p.q_w, opt(P, p.q_b), d.M, d.q_out, d.H, st);
    gemm.forward<T>(a.k, a.h1, W + p.k_w, opt(P, p.k_b), d.M, d.kv_out, d.H, st);
    gemm.forward<T>(a.v, a.h1, W + p.v_w, opt(P, p.v_b), d.M, d.kv_out, d.H, st);
  }
  mark(prof, "rope fwd");
  ops::rope_forward<T>(a.q, d.M, d.Hq, d.D, pass.cos, pass.sin, pass.half, st);
  ops::rope_forward<T>(a.k, d.M, d.Hkv, d.D, pass.cos, pass.sin, pass.half, st);
  mark(prof, "attention fwd");
  ops::attention_forward<T>(a.attn, a.lse, a.q, a.k, a.v, attention_dims(c, pass.B, pass.T_len, layer, pass.scale),
                            s.attn_workspace, st);
  mark(prof, "gemm fwd o");
  gemm.forward<T>(s.tmp, a.attn, W + p.o_w, opt(P, p.o_b), d.M, d.H, d.q_out, st);
  mark(prof, "residual add");
  ops::residual_add<T>(a.mid, x_in, s.tmp, d.M * d.H, st);

  mark(prof, "rmsnorm fwd");
  ops::rmsnorm_forward<float, T>(a.h2, a.rstd2, a.mid, P + p.post_norm, d.M, d.H, pass.eps, st);
  if (p.is_moe) {  // x_out = mid + moe(h2), the residual add included
    moe_forward<T>(x_out, a.mid, a.h2, layer, p.moe, a.moe, s.moe, moe_pass(pass));
    return;
  }
  mark(prof, "gemm fwd gate|up");
  if (p.fused_gate_up) {  // a.gate holds [M, 2I]: each row gate then up
    gemm.forward<T>(a.gate, a.h2, W + p.gate_w, nullptr, d.M, 2 * d.I, d.H, st);
    mark(prof, "swiglu fwd");
    ops::swiglu_forward_fused<T>(a.act, a.gate, d.M, d.I, st);
  } else {
    gemm.forward<T>(a.gate, a.h2, W + p.gate_w, opt(P, p.gate_b), d.M, d.I, d.H, st);
    gemm.forward<T>(a.up, a.h2, W + p.up_w, opt(P, p.up_b), d.M, d.I, d.H, st);
    mark(prof, "swiglu fwd");
    ops::swiglu_forward<T>(a.act, a.gate, a.up, d.M * d.I, st);
  }
  mark(prof, "gemm fwd down");
  gemm.forward<T>(s.tmp, a.act, W + p.down_w, opt(P, p.down_b), d.M, d.H, d.I, st);
  mark(prof, "residual add");
  ops::residual_add<T>(x_out, a.mid, s.tmp, d.M * d.H, st);
}

template <class T>
void layer_backward(float* dx, const float* x_in, const LayerActs<T>& a, int layer, const LayerOffsets& p,
                    const LayerPass<T>& pass, const LayerScratch<T>& s) {
  const formats::ModelConfig& c = *pass.config;
  const Dims d = dims(c, pass.rows());
  const cudaStream_t st = pass.stream;
  ops::TrainGemm& gemm = *pass.gemm;
  const float* P = pass.params;
  float* G = pass.grads;
  const T* W = pass.weights;
  StepProfile* prof = pass.profile;

  // What the rmsnorm backwards write besides dx: its copy as the next GEMM operand (bf16 mode).
  T* const dx_copy = std::is_same_v<T, float> ? nullptr : s.dy;

  // FFN branch: dx (the gradient of x_out) is also that of down's output.
  const T* dy = as_operand<T>(dx, s);
  if (p.is_moe) {
    moe_backward<T>(s.dh, dx, a.h2, p.moe, a.moe, s.moe, moe_pass(pass));
  } else {
    mark(prof, "gemm dX down");
    gemm.backward_input<T>(s.dact, dy, W + p.down_w, d.M, d.H, d.I, false, st);
    mark(prof, "gemm dW down");
    gemm.backward_weight<T>(G + p.down_w, dy, a.act, d.M, d.H, d.I, st);
    mark(prof, "bias bwd");
    if (p.down_b >= 0) ops::bias_backward<T>(G + p.down_b, dy, d.M, d.H, st);
    T* dgate = a.gate;  // in place: the activations are not needed again
    T* dup = a.up;
    if (p.fused_gate_up) {  // one [M, 2I] gradient against the [2I, H] weight (gate then up rows)
      mark(prof, "swiglu bwd");
      ops::swiglu_backward_fused<T>(dgate, s.dact, a.gate, d.M, d.I, st);
      mark(prof, "gemm dX gate|up");
      gemm.backward_input<T>(s.dh, dgate, W + p.gate_w, d.M, 2 * d.I, d.H, false, st);
      mark(prof, "gemm dW gate|up");
      gemm.backward_weight<T>(G + p.gate_w, dgate, a.h2, d.M, 2 * d.I, d.H, st);
    } else {
      mark(prof, "swiglu bwd");
      ops::swiglu_backward<T>(dgate, dup, s.dact, a.gate, a.up, d.M * d.I, st);
      mark(prof, "gemm dX gate|up");
      gemm.backward_input<T>(s.dh, dgate, W + p.gate_w, d.M, d.I, d.H, false, st);
      gemm.backward_input<T>(s.dh, dup, W + p.up_w, d.M, d.I, d.H, true, st);
      mark(prof, "gemm dW gate|up");
      gemm.backward_weight<T>(G + p.gate_w, dgate, a.h2, d.M, d.I, d.H, st);
      gemm.backward_weight<T>(G + p.up_w, dup, a.h2, d.M, d.I, d.H, st);
      mark(prof, "bias bwd");
      if (p.gate_b >= 0) ops::bias_backward<T>(G + p.gate_b, dgate, d.M, d.I, st);
      if (p.up_b >= 0) ops::bias_backward<T>(G + p.up_b, dup, d.M, d.I, st);
    }
  }
  mark(prof, "rmsnorm bwd");
  ops::rmsnorm_backward<float, T>(dx, G + p.post_norm, s.dh, a.mid, P + p.post_norm, a.rstd2, d.M, d.H,
                                  s.norm_scratch, dx_copy, st);

  // Attention branch: dx is now the gradient of mid.
  dy = as_operand<T>(dx, s);
  mark(prof, "gemm dX o");
  gemm.backward_input<T>(s.dattn, dy, W + p.o_w, d.M, d.H, d.q_out, false, st);
  mark(prof, "gemm dW o");
  gemm.backward_weight<T>(G + p.o_w, dy, a.attn, d.M, d.H, d.q_out, st);
  mark(prof, "bias bwd");
  if (p.o_b >= 0) ops::bias_backward<T>(G + p.o_b, dy, d.M, d.H, st);
  mark(prof, "attention bwd");
  ops::attention_backward<T>(s.dq, s.dk, s.dv, s.dattn, a.attn, a.lse, a.q, a.k, a.v,
                             attention_dims(c, pass.B, pass.T_len, layer, pass.scale), s.attn_workspace, st);
  mark(prof, "rope bwd");
  ops::rope_backward<T>(s.dq, d.M, d.Hq, d.D, pass.cos, pass.sin, pass.half, st);
  ops::rope_backward<T>(s.dk, d.M, d.Hkv, d.D, pass.cos, pass.sin, pass.half, st);
  const T* dq = s.dq;
  const T* dk = s.dk;
  if (c.qk_norm) {  // rmsnorm_backward accumulates into dx: start from zero
    mark(prof, "qk norm bwd");
    check_cuda(cudaMemsetAsync(s.dq_raw, 0, sizeof(T) * d.M * d.q_out, st), "cudaMemsetAsync");
    check_cuda(cudaMemsetAsync(s.dk_raw, 0, sizeof(T) * d.M * d.kv_out, st), "cudaMemsetAsync");
    ops::rmsnorm_backward<T, T>(s.dq_raw, G + p.q_norm, s.dq, a.q_raw, P + p.q_norm, a.q_rstd, d.M * d.Hq, d.D,
                                s.norm_scratch, st);
    ops::rmsnorm_backward<T, T>(s.dk_raw, G + p.k_norm, s.dk, a.k_raw, P + p.k_norm, a.k_rstd, d.M * d.Hkv, d.D,
                                s.norm_scratch, st);
    dq = s.dq_raw;
    dk = s.dk_raw;
  }
  mark(prof, "gemm dX qkv");
  gemm.backward_input<T>(s.dh, dq, W + p.q_w, d.M, d.q_out, d.H, false, st);
  gemm.backward_input<T>(s.dh, dk, W + p.k_w, d.M, d.kv_out, d.H, true, st);
  gemm.backward_input<T>(s.dh, s.dv, W + p.v_w, d.M, d.kv_out, d.H, true, st);
  mark(prof, "gemm dW qkv");
  gemm.backward_weight<T>(G + p.q_w, dq, a.h1, d.M, d.q_out, d.H, st);
  gemm.backward_weight<T>(G + p.k_w, dk, a.h1, d.M, d.kv_out, d.H, st);
  gemm.backward_weight<T>(G + p.v_w, s.dv, a.h1, d.M, d.kv_out, d.H, st);
  mark(prof, "bias bwd");
  if (p.q_b >= 0) ops::bias_backward<T>(G + p.q_b, dq, d.M, d.q_out, st);
  if (p.k_b >= 0) ops::bias_backward<T>(G + p.k_b, dk, d.M, d.kv_out, st);
  if (p.v_b >= 0) ops::bias_backward<T>(G + p.v_b, s.dv, d.M, d.kv_out, st);
  mark(prof, "rmsnorm bwd");
  ops::rmsnorm_backward<float, T>(dx, G + p.input_norm, s.dh, x_in, P + p.input_norm, a.rstd1, d.M, d.H,
                                  s.norm_scratch, dx_copy, st);
}

template void layer_forward<float>(float*, const LayerActs<float>&, const float*, int, const LayerOffsets&,
                                   const LayerPass<float>&, const LayerScratch<float>&);
template void layer_forward<ops::bf16>(float*, const LayerActs<ops::bf16>&, const float*, int, const LayerOffsets&,
                                       const LayerPass<ops::bf16>&, const LayerScratch<ops::bf16>&);
template void layer_backward<float>(float*, const float*, const LayerActs<float>&, int, const LayerOffsets&,
                                    const LayerPass<float>&, const LayerScratch<float>&);
template void layer_backward<ops::bf16>(float*, const float*, const LayerActs<ops::bf16>&, int, const LayerOffsets&,
                                        const LayerPass<ops::bf16>&, const LayerScratch<ops::bf16>&);

}  // namespace nova::train::gpu

#endif  // NOVA_HAVE_CUDA
