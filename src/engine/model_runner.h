// What the engine's step loop runs a scheduled step on. TransformerRunner is the real one (a
// Transformer over a paged KV cache); tests may substitute a fake.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

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
};

class TransformerRunner final : public ModelRunner {
 public:
  // A paged cache of num_blocks x block_size tokens on the model's backend.
  TransformerRunner(std::shared_ptr<const model::Transformer> model, int64_t num_blocks, int64_t block_size);
  int vocab_size() const override { return model_->config().vocab_size; }
  int64_t max_positions() const override { return model_->config().max_position_embeddings; }
  void run(const SchedulerOutput& step, std::vector<float>& logits) override;

 private:
  std::shared_ptr<const model::Transformer> model_;
  model::PagedKvCache cache_;
};

}  // namespace nova::engine
