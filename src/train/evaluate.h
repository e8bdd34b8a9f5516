// Held-out loss and perplexity: the mean next-token cross-entropy over every counted target of a
// token stream, read in order (data::SequentialLoader, the last window padded and masked).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "data/data_loader.h"
#include "data/token_stream.h"
#include "train/batch.h"
#include "train/train_model.h"

namespace nova::train {

// A loader batch as the trainer takes it: targets whose mask is 0 become -100 (ignored).
Batch to_train_batch(const data::Batch& b);

struct EvalResult {
  double loss = 0.0;        // mean cross-entropy (nats) over the counted targets
  double perplexity = 0.0;  // exp(loss)
  int64_t tokens = 0;       // counted targets
  int64_t batches = 0;
};

// The first `max_batches` batches (0: all) of `stream` in order, each scored by `forward` (the
// objective's parts, no gradients: TrainModel::forward on the CPU, GpuTrainer::evaluate on a GPU).
// Throws nova::Error when the stream is shorter than one window (seq_len + 1 tokens) or has no
// counted target.
EvalResult evaluate_loss_with(const std::function<LossParts(const Batch&)>& forward,
                              std::shared_ptr<const data::TokenStream> stream, int64_t batch_size, int64_t seq_len,
                              int64_t max_batches = 0);
// evaluate_loss_with(model.forward).
EvalResult evaluate_loss(TrainModel& model, std::shared_ptr<const data::TokenStream> stream, int64_t batch_size,
                         int64_t seq_len, int64_t max_batches = 0);

}  // namespace nova::train
