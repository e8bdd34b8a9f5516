// The Session of a Transformer: its KV cache and position.
#pragma once

#include <memory>

#include "model/kv_cache.h"
#include "model/session.h"
#include "model/transformer.h"

namespace nova::model {

class TransformerSession final : public Session {
 public:
  TransformerSession(std::shared_ptr<const Transformer> model, int64_t capacity);

  int vocab_size() const override { return model_->config().vocab_size; }
  int64_t length() const override { return length_; }
  int64_t capacity() const override { return cache_.capacity; }
  void forward(std::span<const int32_t> ids, std::vector<float>& logits, bool all_logits = false) override;
  // The model's backend when it samples on the device (a CUDA backend), else null.
  kernels::Backend* device_sampling_backend() const override;
  Tensor forward_logits(std::span<const int32_t> ids) override;
  Tensor forward_logits_from_device(const Tensor& device_ids) override;
  std::unique_ptr<Session> fork() const override;
  void truncate(int64_t n) override;

  // forward() reporting named intermediates (see Probe).
  void forward_traced(std::span<const int32_t> ids, std::vector<float>& logits, bool all_logits, const Probe& probe);

 private:
  TransformerSession(std::shared_ptr<const Transformer> model, KvCache cache, int64_t length);
  std::shared_ptr<const Transformer> model_;
  KvCache cache_;
  int64_t length_ = 0;
};

}  // namespace nova::model
