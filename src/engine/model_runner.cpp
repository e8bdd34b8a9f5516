#include "engine/model_runner.h"

#include "core/error.h"

namespace nova::engine {

std::vector<SampleOutcome> ModelRunner::run_sampled(const SchedulerOutput&, const DeviceSampling&) {
  fail("model runner", "does not sample on the device (samples_on_device() is false)");
}

TransformerRunner::TransformerRunner(std::shared_ptr<const model::Transformer> model, int64_t num_blocks,
                                     int64_t block_size)
    : model_(std::move(model)), cache_(model_->new_paged_cache(num_blocks, block_size)) {}

model::BatchInput TransformerRunner::batch_of(const SchedulerOutput& step) const {
  model::BatchInput batch;
  for (const ScheduledSequence& s : step.sequences)
    batch.sequences.push_back({s.tokens, s.pos0, s.block_table, s.samples ? 1 : 0});
  return batch;
}

void TransformerRunner::run(const SchedulerOutput& step, std::vector<float>& logits) {
  logits.clear();
  if (step.sequences.empty()) return;
  model_->forward_batch(batch_of(step), cache_, logits);
}

std::vector<SampleOutcome> TransformerRunner::run_sampled(const SchedulerOutput& step, const DeviceSampling& sampling) {
  require(sampling.size() == static_cast<size_t>(step.num_sampling()), "model runner",
          std::to_string(sampling.size()) + " sampling rows for " + std::to_string(step.num_sampling()) +
              " sampling sequences");
  if (step.sequences.empty()) return {};
  const Tensor logits = model_->forward_batch_logits(batch_of(step), cache_);
  if (logits.empty()) return {};
  return sampling.run(model_->backend(), logits);
}

}  // namespace nova::engine
