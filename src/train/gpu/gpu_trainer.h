// The GPU twin of train/trainer.h: one optimiser step over micro-batches on a GpuTrainModel,
// with Trainer::step's semantics: grads zeroed, each micro-batch's forward+backward weighted by
// its share of the step's counted targets, NaN/Inf guard (skip: parameters, optimiser state and
// step count unchanged), global-norm clipping as train/grad_clip.h and torch.optim.AdamW as
// train/adamw.h (one fused kernel over the flat buffers, scalars derived as adamw.cpp does).
// MoE models: the objective includes GpuTrainOptions::router_aux_loss_coef * the load-balancing
// loss (StepResult::aux_loss), as TrainModel's does.
// One host synchronisation per step (the loss sums and the gradient norm), plus one per MoE
// layer forward (its experts' row counts, gpu_moe_layer.h).
//
// Checkpoints: download() fills a host ParamStore and AdamW (the CPU trainer's types) so that
// train/checkpoint.h writes them unchanged; upload() resumes from them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "formats/hf_config.h"
#include "train/adamw.h"
#include "train/batch.h"
#include "train/gpu/gpu_train_model.h"
#include "train/param_store.h"
#include "train/train_model.h"
#include "train/trainer.h"

namespace nova::train {

class GpuTrainer {
 public:
  // host params: the initial values (e.g. init_params_random or load_params). Throws nova::Error
  // before allocating when the model cannot be trained on the GPU (check_gpu_training).
  GpuTrainer(const formats::ModelConfig& config, const ParamStore& params, TrainerConfig trainer,
             GpuTrainOptions options);
  ~GpuTrainer();
  GpuTrainer(const GpuTrainer&) = delete;
  GpuTrainer& operator=(const GpuTrainer&) = delete;

  StepResult step(std::span<const Batch> micro_batches);  // Trainer::step's semantics
  StepResult step(const Batch& batch) { return step(std::span<const Batch>(&batch, 1)); }
  int64_t step_count() const { return step_; }
  int64_t skipped_steps() const { return skipped_; }
  const TrainerConfig& config() const { return config_; }

  // The objective of `batch` (forward only; no gradients touched): ce_loss and tokens as
  // TrainModel::forward reports them.
  LossParts evaluate(const Batch& batch);

  // `params` and `optimizer` (made over `params`) receive the device values, m, v and step count.
  void download(ParamStore& params, AdamW& optimizer) const;
  // The inverse (resume): values, m, v and step count from the host.
  void upload(const ParamStore& params, const AdamW& optimizer);

  GpuTrainModel& model() { return *model_; }

 private:
  std::unique_ptr<GpuTrainModel> model_;
  TrainerConfig config_;
  int64_t step_ = 0, skipped_ = 0;
  struct State;
  std::unique_ptr<State> state_;  // m, v and the AdamW segments on the device
};

}  // namespace nova::train
