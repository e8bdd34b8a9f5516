#include "model/transformer_session.h"

#include "core/error.h"

namespace nova::model {

TransformerSession::TransformerSession(std::shared_ptr<const Transformer> model, int64_t capacity)
    : model_(std::move(model)) {
  const formats::ModelConfig& c = model_->config();
  cache_ = KvCache::allocate(model_->backend(), c.num_layers, capacity, c.num_kv_heads, c.head_dim, model_->kv_dtype());
}

TransformerSession::TransformerSession(std::shared_ptr<const Transformer> model, KvCache cache, int64_t length)
    : model_(std::move(model)), cache_(std::move(cache)), length_(length) {}

void TransformerSession::forward(std::span<const int32_t> ids, std::vector<float>& logits, bool all_logits) {
  model_->forward(ids, length_, cache_, logits, all_logits);
  length_ += static_cast<int64_t>(ids.size());
}

kernels::Backend* TransformerSession::device_sampling_backend() const {
  kernels::Backend& be = model_->backend();
  return be.samples_on_device() ? &be : nullptr;
}

Tensor TransformerSession::forward_logits(std::span<const int32_t> ids) {
  Tensor logits = model_->forward_logits(ids, length_, cache_);
  length_ += static_cast<int64_t>(ids.size());
  return logits;
}

Tensor TransformerSession::forward_logits_from_device(const Tensor& device_ids) {
  Tensor logits = model_->forward_logits(device_ids, length_, cache_);
  length_ += device_ids.numel();
  return logits;
}

void TransformerSession::forward_traced(std::span<const int32_t> ids, std::vector<float>& logits, bool all_logits,
                                        const Probe& probe) {
  model_->forward(ids, length_, cache_, logits, all_logits, &probe);
  length_ += static_cast<int64_t>(ids.size());
}

std::unique_ptr<Session> TransformerSession::fork() const {
  return std::unique_ptr<Session>(
      new TransformerSession(model_, cache_.clone(model_->backend(), length_), length_));
}

void TransformerSession::truncate(int64_t n) {
  require(n >= 0, "Session::truncate", "negative length " + std::to_string(n));
  if (n < length_) length_ = n;
}

}  // namespace nova::model
