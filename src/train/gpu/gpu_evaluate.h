// train/evaluate.h's held-out loss, computed by the GPU trainer's model (forward only).
#pragma once

#include <cstdint>
#include <memory>

#include "data/token_stream.h"
#include "train/evaluate.h"
#include "train/gpu/gpu_trainer.h"

namespace nova::train {

// As evaluate_loss: the first `max_batches` batches (0: all) of `stream` in order.
EvalResult evaluate_loss_gpu(GpuTrainer& trainer, std::shared_ptr<const data::TokenStream> stream, int64_t batch_size,
                             int64_t seq_len, int64_t max_batches = 0);

}  // namespace nova::train
