#include "serve/app/embedder.h"

#include <cmath>

#include "model/kv_cache.h"

namespace nova::serve::app {

void l2_normalize(std::vector<float>& v) {
  double ss = 0;
  for (float x : v) ss += static_cast<double>(x) * x;
  if (ss <= 0) return;
  const double inv = 1.0 / std::sqrt(ss);
  for (float& x : v) x = static_cast<float>(x * inv);
}

std::vector<float> Embedder::embed(std::span<const int32_t> ids) const {
  const auto& c = model_->config();
  const auto M = static_cast<int64_t>(ids.size());
  const int64_t H = c.hidden_size;
  std::vector<float> hidden;
  {
    std::lock_guard lock(mu_);
    auto cache = model::KvCache::allocate(model_->backend(), c.num_layers, std::max<int64_t>(M, 1), c.num_kv_heads,
                                          c.head_dim);
    model_->forward_hidden(ids, 0, cache, hidden);
  }
  std::vector<double> sum(static_cast<size_t>(H), 0.0);
  for (int64_t r = 0; r < M; ++r)
    for (int64_t h = 0; h < H; ++h) sum[static_cast<size_t>(h)] += hidden[static_cast<size_t>(r * H + h)];
  std::vector<float> out(static_cast<size_t>(H));
  for (int64_t h = 0; h < H; ++h) out[static_cast<size_t>(h)] = static_cast<float>(sum[static_cast<size_t>(h)] / static_cast<double>(M));
  l2_normalize(out);
  return out;
}

}  // namespace nova::serve::app
