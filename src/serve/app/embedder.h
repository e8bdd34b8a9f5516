// /v1/embeddings' vectors: the mean of the model's final hidden states (after the last
// RMSNorm, before lm_head) over every token of the input, L2-normalised. Mean pooling over a
// causal model's states is the simple, model-agnostic choice (no special pooling token needed);
// normalising makes dot products cosine similarities, as OpenAI's embeddings are.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "model/transformer.h"

namespace nova::serve::app {

class Embedder {
 public:
  explicit Embedder(std::shared_ptr<const model::Transformer> model) : model_(std::move(model)) {}

  int64_t dimensions() const { return model_->config().hidden_size; }
  // `ids` must be non-empty, inside the vocabulary and fit the context (nova::Error otherwise).
  // One embedding forward at a time: each is a full prefill, and running several would only
  // slow the engine's step loop further without finishing any sooner on a CPU.
  std::vector<float> embed(std::span<const int32_t> ids) const;

 private:
  std::shared_ptr<const model::Transformer> model_;
  mutable std::mutex mu_;
};

// Scales `v` to unit L2 norm (an all-zero vector stays zero).
void l2_normalize(std::vector<float>& v);

}  // namespace nova::serve::app
