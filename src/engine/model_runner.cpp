#include "engine/model_runner.h"

namespace nova::engine {

TransformerRunner::TransformerRunner(std::shared_ptr<const model::Transformer> model, int64_t num_blocks,
                                     int64_t block_size)
    : model_(std::move(model)), cache_(model_->new_paged_cache(num_blocks, block_size)) {}

void TransformerRunner::run(const SchedulerOutput& step, std::vector<float>& logits) {
  logits.clear();
  if (step.sequences.empty()) return;
  model::BatchInput batch;
  for (const ScheduledSequence& s : step.sequences)
    batch.sequences.push_back({s.tokens, s.pos0, s.block_table, s.samples ? 1 : 0});
  model_->forward_batch(batch, cache_, logits);
}

}  // namespace nova::engine
