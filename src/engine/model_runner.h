// What the engine's step loop runs a scheduled step on. TransformerRunner is the real one (a
// Transformer over a paged KV cache); tests may substitute a fake.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/device_sampler.h"
#include "engine/scheduler.h"
#include "model/paged_kv_cache.h"
#include "model/transformer.h"

namespace nova::engine {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual int vocab_size() const = 0;
  // The most positions one sequence may use (the model's context).
  virtual int64_t max_positions() const = 0;
  // Runs one step; writes the next-token logits of every sequence with `samples`, in order:
  // [step.num_sampling(), vocab].
  virtual void run(const SchedulerOutput& step, std::vector<float>& logits) = 0;

  // Whether run_sampled() is offered: the model's backend samples on the device, so the logits
  // never reach the host (engine/device_sampler.h). The engine then calls it instead of run().
  virtual bool samples_on_device() const { return false; }
  // Runs one step and samples the next token of every sequence with `samples`, in order
  // (sampling.size() == step.num_sampling()). Default: throws (no device sampling).
  virtual std::vector<SampleOutcome> run_sampled(const SchedulerOutput& step, const DeviceSampling& sampling);
};

class TransformerRunner final : public ModelRunner {
 public:
  // A paged cache of num_blocks x block_size tokens on the model's backend.
  TransformerRunner(std::shared_ptr<const model::Transformer> model, int64_t num_blocks, int64_t block_size);
  int vocab_size() const override { return model_->config().vocab_size; }
  int64_t max_positions() const override { return model_->config().max_position_embeddings; }
  void run(const SchedulerOutput& step, std::vector<float>& logits) override;
  bool samples_on_device() const override { return model_->backend().samples_on_device(); }
  std::vector<SampleOutcome> run_sampled(const SchedulerOutput& step, const DeviceSampling& sampling) override;

 private:
  model::BatchInput batch_of(const SchedulerOutput& step) const;

  std::shared_ptr<const model::Transformer> model_;
  model::PagedKvCache cache_;
};

}  // namespace nova::engine
