#include "train/gpu/gpu_moe_layer.h"

#ifdef NOVA_HAVE_CUDA

#include <string>

#include "kernels/cuda/cuda_check.cuh"
#include "model/weight_names.h"

namespace nova::train::gpu {

namespace names = model::weight_names;
namespace ops = kernels::cuda::train;
using kernels::cuda::check_cuda;

MoeOffsets moe_offsets(const formats::ModelConfig& c, int l, const GpuParamLayout& layout) {
  const int64_t H = c.hidden_size, I = c.moe_intermediate_size, S = c.shared_expert_intermediate_size;
  const names::ExpertLayout& lay = names::expert_layouts()[c.model_type == "mixtral" ? 0 : 1];
  MoeOffsets o;
  o.router = layout.require(names::layer(l, lay.router));
  o.fused_gate_up = true;
  for (int e = 0; e < c.num_experts; ++e) {
    o.gate.push_back(layout.require(names::expert(l, lay.gate, e)));
    o.up.push_back(layout.require(names::expert(l, lay.up, e)));
    o.down.push_back(layout.require(names::expert(l, lay.down, e)));
    o.fused_gate_up = o.fused_gate_up && o.up.back() == o.gate.back() + I * H;
  }
  if (S > 0) {
    o.shared_gate = layout.require(names::layer(l, std::string(names::kSharedGate) + ".weight"));
    o.shared_up = layout.require(names::layer(l, std::string(names::kSharedUp) + ".weight"));
    o.shared_down = layout.require(names::layer(l, std::string(names::kSharedDown) + ".weight"));
    o.shared_fused = o.shared_up == o.shared_gate + S * H;
    o.shared_expert_gate = layout.require(names::layer(l, names::kSharedExpertGate));
  }
  return o;
}

int64_t moe_permuted_capacity(const formats::ModelConfig& c, int64_t rows) {
  return ops::moe_permuted_bound(rows * c.experts_per_token, c.num_experts);
}

namespace {

// gate|up of `rows` rows: gu [rows, 2I] when fused, else gate into gu and up into `up` ([rows, I] each).
template <class T>
void gate_up_forward(T* gu, T* up, const T* x, const T* W, int64_t gate_w, int64_t up_w, bool fused, int64_t rows,
                     int64_t H, int64_t I, ops::TrainGemm& gemm, cudaStream_t st) {
  if (rows == 0) return;
  if (fused) {
    gemm.forward<T>(gu, x, W + gate_w, nullptr, rows, 2 * I, H, st);
  } else {
    gemm.forward<T>(gu, x, W + gate_w, nullptr, rows, I, H, st);
    gemm.forward<T>(up, x, W + up_w, nullptr, rows, I, H, st);
  }
}

}  // namespace

template <class T>
void moe_forward(float* x_out, const float* mid, const T* h2, int layer, const MoeOffsets& p, const MoeActs<T>& a,
                 const MoeScratch<T>& s, const MoePass<T>& pass) {
  const formats::ModelConfig& c = *pass.config;
  const int64_t M = pass.rows, H = c.hidden_size, I = c.moe_intermediate_size, S = c.shared_expert_intermediate_size;
  const int E = c.num_experts, K = c.experts_per_token;
  const cudaStream_t st = pass.stream;
  const float* P = pass.params;
  const T* W = pass.weights;
  ops::TrainGemm& gemm = *pass.gemm;
  StepProfile* prof = pass.profile;

  mark(prof, "moe routing");
  ops::moe_route<T>(a.probs, a.top_expert, a.top_weight, S > 0 ? a.sh_logit : nullptr, h2, P + p.router,
                    S > 0 ? P + p.shared_expert_gate : nullptr, M, H, E, K, c.norm_topk_prob, st);
  ops::moe_stats(s.counts, s.stats + int64_t{layer} * 2 * E, s.chunk_counts, s.chunk_psum, a.probs, a.top_expert, M,
                 K, E, st);
  check_cuda(cudaMemcpyAsync(s.host_counts, s.counts, sizeof(int32_t) * E, cudaMemcpyDeviceToHost, st),
             "cudaMemcpyAsync(moe counts)");
  ops::moe_plan(a.pos, a.perm_assign, a.top_expert, s.counts, s.chunk_counts, M, K, E, st);
  // Shared expert first: its GEMMs do not need the counts, so they overlap the host's wait.
  if (S > 0) {
    mark(prof, "moe shared fwd");
    gate_up_forward<T>(a.sh_gu, a.sh_up, h2, W, p.shared_gate, p.shared_up, p.shared_fused, M, H, S, gemm, st);
    if (p.shared_fused)
      ops::swiglu_forward_fused<T>(a.sh_act, a.sh_gu, M, S, st);
    else
      ops::swiglu_forward<T>(a.sh_act, a.sh_gu, a.sh_up, M * S, st);
    gemm.forward<T>(a.sh_out, a.sh_act, W + p.shared_down, nullptr, M, H, S, st);
  }
  mark(prof, "moe counts sync");
  check_cuda(cudaStreamSynchronize(st), "cudaStreamSynchronize(moe counts)");
  a.offsets[0] = 0;
  for (int e = 0; e < E; ++e)
    a.offsets[e + 1] = a.offsets[e] + ops::moe_padded_rows(s.host_counts[e]);
  const int64_t permuted = a.offsets[E];

  mark(prof, "moe gather");
  ops::moe_gather<T>(a.xp, h2, a.perm_assign, permuted, K, H, st);
  mark(prof, "moe gemm fwd gate|up");
  for (int e = 0; e < E; ++e) {
    const int64_t o = a.offsets[e], n = a.offsets[e + 1] - o;
    if (p.fused_gate_up)
      gate_up_forward<T>(a.gu + o * 2 * I, nullptr, a.xp + o * H, W, p.gate[e], p.up[e], true, n, H, I, gemm, st);
    else
      gate_up_forward<T>(a.gu + o * I, a.up + o * I, a.xp + o * H, W, p.gate[e], p.up[e], false, n, H, I, gemm, st);
  }
  mark(prof, "moe swiglu fwd");
  if (p.fused_gate_up)
    ops::swiglu_forward_fused<T>(a.act, a.gu, permuted, I, st);
  else
    ops::swiglu_forward<T>(a.act, a.gu, a.up, permuted * I, st);
  mark(prof, "moe gemm fwd down");
  for (int e = 0; e < E; ++e) {
    const int64_t o = a.offsets[e], n = a.offsets[e + 1] - o;
    if (n > 0) gemm.forward<T>(a.y + o * H, a.act + o * I, W + p.down[e], nullptr, n, H, I, st);
  }
  mark(prof, "moe combine");
  ops::moe_combine<T>(x_out, mid, a.y, a.pos, a.top_expert, a.top_weight, S > 0 ? a.sh_out : nullptr, a.sh_logit, M,
                      K, H, st);
}

template <class T>
void moe_backward(T* dh, const float* dout, const T* h2, const MoeOffsets& p, const MoeActs<T>& a,
                  const MoeScratch<T>& s, const MoePass<T>& pass) {
  const formats::ModelConfig& c = *pass.config;
  const int64_t M = pass.rows, H = c.hidden_size, I = c.moe_intermediate_size, S = c.shared_expert_intermediate_size;
  const int E = c.num_experts, K = c.experts_per_token;
  const cudaStream_t st = pass.stream;
  const float* P = pass.params;
  float* G = pass.grads;
  const T* W = pass.weights;
  ops::TrainGemm& gemm = *pass.gemm;
  StepProfile* prof = pass.profile;
  const int64_t permuted = a.offsets[E];

  mark(prof, "moe combine bwd");
  ops::moe_expert_output_grad<T>(s.dyp, s.dweight, dout, a.y, a.perm_assign, a.top_weight, permuted, K, H, st);
  ops::moe_router_grad<T>(s.dl, s.dsh, a.probs, a.top_expert, a.top_weight, s.dweight, pass.dprob, dout,
                          S > 0 ? a.sh_out : nullptr, a.sh_logit, M, H, E, K, c.norm_topk_prob, st);
  mark(prof, "moe gemm bwd down");
  for (int e = 0; e < E; ++e) {
    const int64_t o = a.offsets[e], n = a.offsets[e + 1] - o;
    if (n == 0) continue;
    gemm.backward_input<T>(s.dact + o * I, s.dyp + o * H, W + p.down[e], n, H, I, false, st);
    gemm.backward_weight<T>(G + p.down[e], s.dyp + o * H, a.act + o * I, n, H, I, st);
  }
  mark(prof, "moe swiglu bwd");
  if (p.fused_gate_up)
    ops::swiglu_backward_fused<T>(a.gu, s.dact, a.gu, permuted, I, st);
  else
    ops::swiglu_backward<T>(a.gu, a.up, s.dact, a.gu, a.up, permuted * I, st);
  // The experts' input gradients go to s.dyp (every output gradient is consumed above).
  T* dxp = s.dyp;
  mark(prof, "moe gemm bwd gate|up");
  for (int e = 0; e < E; ++e) {
    const int64_t o = a.offsets[e], n = a.offsets[e + 1] - o;
    if (n == 0) continue;
    if (p.fused_gate_up) {
      gemm.backward_input<T>(dxp + o * H, a.gu + o * 2 * I, W + p.gate[e], n, 2 * I, H, false, st);
      gemm.backward_weight<T>(G + p.gate[e], a.gu + o * 2 * I, a.xp + o * H, n, 2 * I, H, st);
    } else {
      gemm.backward_input<T>(dxp + o * H, a.gu + o * I, W + p.gate[e], n, I, H, false, st);
      gemm.backward_input<T>(dxp + o * H, a.up + o * I, W + p.up[e], n, I, H, true, st);
      gemm.backward_weight<T>(G + p.gate[e], a.gu + o * I, a.xp + o * H, n, I, H, st);
      gemm.backward_weight<T>(G + p.up[e], a.up + o * I, a.xp + o * H, n, I, H, st);
    }
  }
  mark(prof, "moe input grad");
  ops::moe_input_grad<T>(dh, dxp, a.pos, a.top_expert, s.dl, P + p.router, S > 0 ? P + p.shared_expert_gate : nullptr,
                         M, K, H, E, st);
  if (S > 0) {
    mark(prof, "moe shared bwd");
    gemm.backward_input<T>(s.dact, s.dsh, W + p.shared_down, M, H, S, false, st);
    gemm.backward_weight<T>(G + p.shared_down, s.dsh, a.sh_act, M, H, S, st);
    if (p.shared_fused) {
      ops::swiglu_backward_fused<T>(a.sh_gu, s.dact, a.sh_gu, M, S, st);
      gemm.backward_input<T>(dh, a.sh_gu, W + p.shared_gate, M, 2 * S, H, true, st);
      gemm.backward_weight<T>(G + p.shared_gate, a.sh_gu, h2, M, 2 * S, H, st);
    } else {
      ops::swiglu_backward<T>(a.sh_gu, a.sh_up, s.dact, a.sh_gu, a.sh_up, M * S, st);
      gemm.backward_input<T>(dh, a.sh_gu, W + p.shared_gate, M, S, H, true, st);
      gemm.backward_input<T>(dh, a.sh_up, W + p.shared_up, M, S, H, true, st);
      gemm.backward_weight<T>(G + p.shared_gate, a.sh_gu, h2, M, S, H, st);
      gemm.backward_weight<T>(G + p.shared_up, a.sh_up, h2, M, S, H, st);
    }
  }
  mark(prof, "moe router dW");
  ops::moe_router_weight_grad<T>(G + p.router, S > 0 ? G + p.shared_expert_gate : nullptr, s.dl, h2, M, H, E,
                                 s.router_grad_scratch, st);
}

template void moe_forward<float>(float*, const float*, const float*, int, const MoeOffsets&, const MoeActs<float>&,
                                 const MoeScratch<float>&, const MoePass<float>&);
template void moe_forward<ops::bf16>(float*, const float*, const ops::bf16*, int, const MoeOffsets&,
                                     const MoeActs<ops::bf16>&, const MoeScratch<ops::bf16>&,
                                     const MoePass<ops::bf16>&);
template void moe_backward<float>(float*, const float*, const float*, const MoeOffsets&, const MoeActs<float>&,
                                  const MoeScratch<float>&, const MoePass<float>&);
template void moe_backward<ops::bf16>(ops::bf16*, const float*, const ops::bf16*, const MoeOffsets&,
                                      const MoeActs<ops::bf16>&, const MoeScratch<ops::bf16>&,
                                      const MoePass<ops::bf16>&);

}  // namespace nova::train::gpu

#endif  // NOVA_HAVE_CUDA
