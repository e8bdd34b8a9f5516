#include "train/gpu/gpu_trainer.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "train/adamw.h"
#include "train/grad_clip.h"

#ifdef NOVA_HAVE_CUDA
#include "kernels/cuda/train/train_ops.h"
#include "train/gpu/gpu_memory.h"
#endif

namespace nova::train {

#ifdef NOVA_HAVE_CUDA

namespace ops = kernels::cuda::train;
using kernels::cuda::check_cuda;

struct GpuTrainer::State {
  gpu::DeviceBlock m, v, segments;
  int32_t n_segments = 0;
};

GpuTrainer::GpuTrainer(const formats::ModelConfig& config, const ParamStore& params, TrainerConfig trainer,
                       GpuTrainOptions options)
    : model_(std::make_unique<GpuTrainModel>(config, params, options)), config_(trainer),
      state_(std::make_unique<State>()) {
  const GpuParamLayout& layout = model_->layout();
  const int64_t n = layout.total();
  state_->m.allocate(sizeof(float) * n);
  state_->v.allocate(sizeof(float) * n);
  check_cuda(cudaMemset(state_->m.as<float>(), 0, sizeof(float) * n), "cudaMemset");
  check_cuda(cudaMemset(state_->v.as<float>(), 0, sizeof(float) * n), "cudaMemset");
  // AdamW's per-parameter segments; decay as adamw.cpp decides it (>= 2 dims and wd != 0).
  std::vector<ops::AdamSegment> segs;
  for (const GpuParamSlot& s : layout.slots()) {
    ops::AdamSegment seg;
    seg.offset = s.offset;
    seg.size = s.numel;
    seg.decays = s.decays && config_.adamw.weight_decay != 0.0 ? 1 : 0;
    segs.push_back(seg);
  }
  state_->n_segments = static_cast<int32_t>(segs.size());
  state_->segments.allocate(sizeof(ops::AdamSegment) * std::max<size_t>(1, segs.size()));
  check_cuda(cudaMemcpy(state_->segments.as<ops::AdamSegment>(), segs.data(), sizeof(ops::AdamSegment) * segs.size(),
                        cudaMemcpyHostToDevice),
             "cudaMemcpy");
}

GpuTrainer::~GpuTrainer() = default;

StepResult GpuTrainer::step(std::span<const Batch> micro_batches) {
  require(!micro_batches.empty(), "trainer", "a step needs at least one micro-batch");
  StepResult r;
  r.step = step_;
  r.lr = config_.schedule.at(r.step);
  for (const Batch& b : micro_batches) r.tokens += b.target_count();
  model_->enqueue_zero_grad();
  auto skip = [&](std::string why) {
    model_->enqueue_zero_grad();
    model_->synchronize();
    ++skipped_;
    r.skipped = true;
    r.skip_reason = std::move(why);
    return r;
  };
  if (r.tokens == 0) return skip("no counted target token in the step's micro-batches");

  // Everything queued; slot i holds micro-batch i's loss sum, slot n the squared gradient norm and
  // (MoE) slot n + 1 + i micro-batch i's load-balancing loss.
  const int n = static_cast<int>(micro_batches.size());
  const bool moe = model_->config().num_experts > 0;
  const double coef = model_->options().router_aux_loss_coef;
  std::vector<double> weights;
  std::vector<int64_t> counts;
  for (int i = 0; i < n; ++i) {
    const Batch& b = micro_batches[static_cast<size_t>(i)];
    const int64_t count = b.target_count();
    const double weight = static_cast<double>(count) / static_cast<double>(r.tokens);
    const float dloss = count > 0 ? static_cast<float>(weight / static_cast<double>(count)) : 0.0f;
    model_->enqueue(b, true, dloss, i, moe ? n + 1 + i : -1, weight * coef);
    weights.push_back(weight);
    counts.push_back(count);
  }
  model_->enqueue_grad_square_sum(n);
  const std::vector<double> sums = model_->read_scalars(moe ? 2 * n + 1 : n + 1);
  for (int i = 0; i < n; ++i) {
    const double ce = counts[static_cast<size_t>(i)] > 0 ? sums[static_cast<size_t>(i)] /
                                                               static_cast<double>(counts[static_cast<size_t>(i)])
                                                         : 0.0;
    const double aux = moe ? sums[static_cast<size_t>(n + 1 + i)] : 0.0;
    r.loss += weights[static_cast<size_t>(i)] * (ce + coef * aux);
    r.ce_loss += weights[static_cast<size_t>(i)] * ce;
    r.aux_loss += weights[static_cast<size_t>(i)] * aux;
  }
  r.grad_norm = std::sqrt(sums[static_cast<size_t>(n)]);
  if (!std::isfinite(r.loss)) return skip("loss is not finite (" + std::to_string(r.loss) + ")");
  if (!std::isfinite(r.grad_norm)) return skip("gradient norm is not finite (" + std::to_string(r.grad_norm) + ")");

  // AdamW with adamw.cpp's scalars and clip_grads' factor, applied inside the kernel.
  ++step_;
  const AdamWScalars a = adamw_scalars(config_.adamw, r.lr, step_);
  ops::AdamScalars s;
  s.neg_step_size = a.neg_step_size;
  s.bias2_sqrt = a.bias2_sqrt;
  s.one_minus_beta1 = a.one_minus_b1;
  s.beta2 = a.b2;
  s.one_minus_beta2 = a.one_minus_b2;
  s.eps = a.eps;
  s.decay = a.decay;
  s.grad_scale = clip_factor(r.grad_norm, config_.grad_clip);
  model_->profile_mark("adamw");
  ops::adamw_step(model_->device_params(), state_->m.as<float>(), state_->v.as<float>(), model_->device_grads(),
                  static_cast<ops::bf16*>(model_->device_params_bf16()), state_->segments.as<ops::AdamSegment>(),
                  state_->n_segments, s, static_cast<cudaStream_t>(model_->stream()));
  return r;
}

LossParts GpuTrainer::evaluate(const Batch& batch) {
  LossParts out;
  const bool moe = model_->config().num_experts > 0;
  out.tokens = model_->enqueue(batch, false, 0.0f, 0, moe ? 1 : -1, 0.0);
  const std::vector<double> sums = model_->read_scalars(moe ? 2 : 1);
  out.ce_loss = out.tokens > 0 ? sums[0] / static_cast<double>(out.tokens) : 0.0;
  out.aux_loss = moe ? sums[1] : 0.0;
  out.loss = out.ce_loss + model_->options().router_aux_loss_coef * out.aux_loss;
  return out;
}

void GpuTrainer::download(ParamStore& params, AdamW& optimizer) const {
  model_->download_params(params);
  const GpuParamLayout& layout = model_->layout();
  std::map<std::string, Tensor> state;
  size_t i = 0;
  for (const Param& p : params.params()) {
    const GpuParamSlot& slot = layout.slots()[i++];
    Tensor m = Tensor::zeros(DType::F32, p.value.shape()), v = Tensor::zeros(DType::F32, p.value.shape());
    check_cuda(cudaMemcpy(m.data_as<float>(), state_->m.as<float>() + slot.offset, sizeof(float) * slot.numel,
                          cudaMemcpyDeviceToHost),
               "cudaMemcpy");
    check_cuda(cudaMemcpy(v.data_as<float>(), state_->v.as<float>() + slot.offset, sizeof(float) * slot.numel,
                          cudaMemcpyDeviceToHost),
               "cudaMemcpy");
    state["exp_avg." + p.name] = m;
    state["exp_avg_sq." + p.name] = v;
  }
  Tensor step = Tensor::zeros(DType::I64, {1});
  step.data_as<int64_t>()[0] = step_;
  state["step"] = step;
  optimizer.load_state(state, "gpu trainer");
}

void GpuTrainer::upload(const ParamStore& params, const AdamW& optimizer) {
  const std::map<std::string, Tensor> state = optimizer.state_tensors();
  model_->upload_params(params);  // checks the layout
  const GpuParamLayout& layout = model_->layout();
  for (const GpuParamSlot& slot : layout.slots()) {
    auto m = state.find("exp_avg." + slot.name), v = state.find("exp_avg_sq." + slot.name);
    require(m != state.end() && v != state.end() && m->second.numel() == slot.numel && v->second.numel() == slot.numel,
            "gpu trainer", "the optimiser state does not match parameter " + slot.name);
    check_cuda(cudaMemcpy(state_->m.as<float>() + slot.offset, m->second.data_as<float>(), sizeof(float) * slot.numel,
                          cudaMemcpyHostToDevice),
               "cudaMemcpy");
    check_cuda(cudaMemcpy(state_->v.as<float>() + slot.offset, v->second.data_as<float>(), sizeof(float) * slot.numel,
                          cudaMemcpyHostToDevice),
               "cudaMemcpy");
  }
  step_ = optimizer.step_count();
}

#else  // !NOVA_HAVE_CUDA

struct GpuTrainer::State {};

GpuTrainer::GpuTrainer(const formats::ModelConfig& config, const ParamStore& params, TrainerConfig trainer,
                       GpuTrainOptions options)
    : model_(std::make_unique<GpuTrainModel>(config, params, options)), config_(trainer) {}  // throws
GpuTrainer::~GpuTrainer() = default;
StepResult GpuTrainer::step(std::span<const Batch>) { fail("gpu trainer", "this nova was built without CUDA"); }
LossParts GpuTrainer::evaluate(const Batch&) { fail("gpu trainer", "this nova was built without CUDA"); }
void GpuTrainer::download(ParamStore&, AdamW&) const { fail("gpu trainer", "this nova was built without CUDA"); }
void GpuTrainer::upload(const ParamStore&, const AdamW&) { fail("gpu trainer", "this nova was built without CUDA"); }

#endif  // NOVA_HAVE_CUDA

}  // namespace nova::train
