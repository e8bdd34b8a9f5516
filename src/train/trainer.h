// One optimiser step over micro-batches: zero grads, forward+backward of each micro-batch
// (gradient accumulation), NaN/Inf guard, global-norm clipping, AdamW at the scheduled lr.
//
// Accumulation: the step's objective is the cross-entropy mean over *all* counted targets of the
// step's micro-batches (each micro-batch weighted by its share of them; equal shares 1/n when no
// target is ignored), plus the aux loss weighted the same way, so n micro-batches of B/n rows
// give the gradient of one batch of B rows.
//
// A step whose loss or gradient norm is not finite (or that has no counted target) is skipped:
// parameters, optimiser state and step count are left as they were, grads zeroed, and the
// StepResult says why.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "train/adamw.h"
#include "train/batch.h"
#include "train/lr_schedule.h"
#include "train/train_model.h"

namespace nova::train {

struct TrainerConfig {
  AdamWConfig adamw;
  LrSchedule schedule;
  double grad_clip = 1.0;  // max global grad norm; <= 0 disables clipping
};

struct StepResult {
  int64_t step = 0;        // 0-based index of this optimiser step (of the next one when skipped)
  double loss = 0.0;       // the step's objective (see above)
  double ce_loss = 0.0;
  double aux_loss = 0.0;
  double grad_norm = 0.0;  // global norm before clipping
  double lr = 0.0;         // the lr used (or that would have been)
  int64_t tokens = 0;      // counted target positions over the micro-batches
  bool skipped = false;
  std::string skip_reason;  // empty unless skipped
};

class Trainer {
 public:
  // `model` must outlive the trainer.
  Trainer(TrainModel& model, TrainerConfig config);

  StepResult step(std::span<const Batch> micro_batches);
  StepResult step(const Batch& batch) { return step(std::span<const Batch>(&batch, 1)); }

  TrainModel& model() { return model_; }
  AdamW& optimizer() { return optimizer_; }
  const TrainerConfig& config() const { return config_; }
  int64_t step_count() const { return optimizer_.step_count(); }
  int64_t skipped_steps() const { return skipped_; }

  // Called after the backward of every step, before the norm is taken (fault injection in tests,
  // gradient logging).
  void set_grad_hook(std::function<void(ParamStore&)> hook) { grad_hook_ = std::move(hook); }

 private:
  TrainModel& model_;
  TrainerConfig config_;
  AdamW optimizer_;
  int64_t skipped_ = 0;
  std::function<void(ParamStore&)> grad_hook_;
};

}  // namespace nova::train
