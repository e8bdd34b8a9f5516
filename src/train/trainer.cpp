#include "train/trainer.h"

#include <cmath>

#include "core/error.h"
#include "train/grad_clip.h"
#include "train/step_profile.h"

namespace nova::train {

Trainer::Trainer(TrainModel& model, TrainerConfig config)
    : model_(model), config_(config), optimizer_(model.params(), config.adamw) {}

StepResult Trainer::step(std::span<const Batch> micro_batches) {
  require(!micro_batches.empty(), "trainer", "a step needs at least one micro-batch");
  StepResult r;
  r.step = optimizer_.step_count();
  r.lr = config_.schedule.at(r.step);
  ParamStore& params = model_.params();
  {
    PhaseScope scope(Phase::Optimizer);
    params.zero_grad();
  }
  for (const Batch& b : micro_batches) r.tokens += b.target_count();

  auto skip = [&](std::string why) {
    params.zero_grad();
    ++skipped_;
    r.skipped = true;
    r.skip_reason = std::move(why);
    return r;
  };
  if (r.tokens == 0) return skip("no counted target token in the step's micro-batches");

  for (const Batch& b : micro_batches) {
    const double weight = static_cast<double>(b.target_count()) / static_cast<double>(r.tokens);
    const LossParts parts = model_.forward_backward(b, weight);
    r.loss += weight * parts.loss;
    r.ce_loss += weight * parts.ce_loss;
    r.aux_loss += weight * parts.aux_loss;
  }
  if (grad_hook_) grad_hook_(params);
  PhaseScope scope(Phase::Optimizer);
  r.grad_norm = global_grad_norm(params);
  if (!std::isfinite(r.loss)) return skip("loss is not finite (" + std::to_string(r.loss) + ")");
  if (!std::isfinite(r.grad_norm)) return skip("gradient norm is not finite (" + std::to_string(r.grad_norm) + ")");
  clip_grads(params, r.grad_norm, config_.grad_clip);
  optimizer_.step(r.lr);
  return r;
}

}  // namespace nova::train
