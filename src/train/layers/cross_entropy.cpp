#include "train/layers/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"

namespace nova::train {

namespace {
// max and log(sum(exp(x - max))) of one row, the sum in double.
void log_sum_exp(const float* l, int64_t V, float& mx, double& lse) {
  mx = *std::max_element(l, l + V);
  double s = 0.0;
  for (int64_t j = 0; j < V; ++j) s += std::exp(static_cast<double>(l[j] - mx));
  lse = std::log(s);
}
}  // namespace

CrossEntropySum cross_entropy_forward(const float* logits, const int32_t* targets, int64_t rows, int64_t vocab) {
  for (int64_t r = 0; r < rows; ++r)
    require(targets[r] == kIgnoreIndex || (targets[r] >= 0 && targets[r] < vocab), "cross_entropy",
            "target " + std::to_string(targets[r]) + " at row " + std::to_string(r) + " is outside the vocabulary [0, " +
                std::to_string(vocab) + ") and is not the ignore index -100");
  std::vector<double> loss(static_cast<size_t>(rows), 0.0);
  ThreadPool::global().parallel_for(rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      if (targets[r] == kIgnoreIndex) continue;
      const float* l = logits + r * vocab;
      float mx;
      double lse;
      log_sum_exp(l, vocab, mx, lse);
      loss[r] = lse - static_cast<double>(l[targets[r]] - mx);
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, vocab)));
  CrossEntropySum out;
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] != kIgnoreIndex) {
      out.loss_sum += loss[r];
      ++out.count;
    }
  return out;
}

void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                            float dloss) {
  ThreadPool::global().parallel_for(rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const float* l = logits + r * vocab;
      float* d = dlogits + r * vocab;
      if (targets[r] == kIgnoreIndex) {
        std::fill(d, d + vocab, 0.0f);
        continue;
      }
      float mx;
      double lse;
      log_sum_exp(l, vocab, mx, lse);
      const int32_t t = targets[r];
      for (int64_t j = 0; j < vocab; ++j) {
        const double p = std::exp(static_cast<double>(l[j] - mx) - lse);
        d[j] = static_cast<float>(dloss * (p - (j == t ? 1.0 : 0.0)));
      }
    }
  }, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, vocab)));
}

}  // namespace nova::train
