#include "train/evaluate.h"

#include <cmath>

#include "core/error.h"

namespace nova::train {

Batch to_train_batch(const data::Batch& b) {
  Batch out;
  out.B = b.rows;
  out.T = b.seq_len;
  out.inputs = b.inputs;
  out.targets = b.targets;
  for (size_t i = 0; i < out.targets.size() && i < b.mask.size(); ++i)
    if (!b.mask[i]) out.targets[i] = -100;
  return out;
}

EvalResult evaluate_loss_with(const std::function<LossParts(const Batch&)>& forward,
                              std::shared_ptr<const data::TokenStream> stream, int64_t batch_size, int64_t seq_len,
                              int64_t max_batches) {
  require(stream && stream->size() >= static_cast<uint64_t>(seq_len) + 1, "evaluation data",
          "needs at least seq_len + 1 = " + std::to_string(seq_len + 1) + " tokens, has " +
              std::to_string(stream ? stream->size() : 0));
  data::SequentialLoader loader(std::move(stream), batch_size, seq_len);
  EvalResult r;
  double sum = 0.0;  // summed cross-entropy over counted targets
  while (max_batches == 0 || r.batches < max_batches) {
    const auto b = loader.next();
    if (!b) break;
    const LossParts parts = forward(to_train_batch(*b));
    sum += parts.ce_loss * static_cast<double>(parts.tokens);
    r.tokens += parts.tokens;
    ++r.batches;
  }
  require(r.tokens > 0, "evaluation data", "no counted target token (every position is masked)");
  r.loss = sum / static_cast<double>(r.tokens);
  r.perplexity = std::exp(r.loss);
  return r;
}

EvalResult evaluate_loss(TrainModel& model, std::shared_ptr<const data::TokenStream> stream, int64_t batch_size,
                         int64_t seq_len, int64_t max_batches) {
  return evaluate_loss_with([&](const Batch& b) { return model.forward(b); }, std::move(stream), batch_size, seq_len,
                            max_batches);
}

}  // namespace nova::train
