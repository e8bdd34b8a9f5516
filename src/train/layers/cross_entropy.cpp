#include "train/layers/cross_entropy.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "train/layers/vec_math.h"
#include "train/step_profile.h"

namespace nova::train {

void check_targets(const int32_t* targets, int64_t rows, int64_t vocab) {
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] != kIgnoreIndex && (targets[r] < 0 || targets[r] >= vocab))  // message only when bad
      fail("cross_entropy", "target " + std::to_string(targets[r]) + " at row " + std::to_string(r) +
                                " is outside the vocabulary [0, " + std::to_string(vocab) +
                                ") and is not the ignore index -100");
}

namespace {

// One row's loss log(sum_j exp(l_j - max)) - (l_target - max); `e` receives exp(l - max) (it may
// be l itself: the target's logit is read first). Forward and fused forward+backward share it,
// so both report the same loss bit for bit.
double row_loss(const float* l, int64_t V, int32_t target, float* e, double& sum_out) {
  const float mx = *std::max_element(l, l + V);
  const float lt = l[target];
  if (e != l) std::copy(l, l + V, e);
  sum_out = exp_scaled_sum(e, V, 1.0f, mx);
  return std::log(sum_out) - static_cast<double>(lt - mx);
}

int64_t row_grain(int64_t vocab) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, vocab)); }

CrossEntropySum total(const std::vector<double>& loss, const int32_t* targets, int64_t rows) {
  CrossEntropySum out;
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] != kIgnoreIndex) {
      out.loss_sum += loss[r];
      ++out.count;
    }
  return out;
}
}  // namespace

CrossEntropySum cross_entropy_forward(const float* logits, const int32_t* targets, int64_t rows, int64_t vocab) {
  PhaseScope scope(Phase::CrossEntropy);
  check_targets(targets, rows, vocab);
  std::vector<double> loss(static_cast<size_t>(rows), 0.0);
  ThreadPool::global().parallel_for(rows, [&](int64_t b, int64_t e) {
    std::vector<float> ex(static_cast<size_t>(vocab));
    for (int64_t r = b; r < e; ++r) {
      if (targets[r] == kIgnoreIndex) continue;
      double sum;
      loss[r] = row_loss(logits + r * vocab, vocab, targets[r], ex.data(), sum);
    }
  }, row_grain(vocab));
  return total(loss, targets, rows);
}

namespace {
// d = dloss * (e / sum - onehot(target)), e = exp(l - max) already in d.
void softmax_grad_row(float* d, int64_t vocab, int32_t target, double sum, float dloss) {
  const float scale = static_cast<float>(dloss / sum);
  for (int64_t j = 0; j < vocab; ++j) d[j] *= scale;
  d[target] -= dloss;
}
}  // namespace

void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                            float dloss) {
  PhaseScope scope(Phase::CrossEntropy);
  ThreadPool::global().parallel_for(rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* d = dlogits + r * vocab;
      if (targets[r] == kIgnoreIndex) {
        std::fill(d, d + vocab, 0.0f);
        continue;
      }
      double sum;
      row_loss(logits + r * vocab, vocab, targets[r], d, sum);  // d may alias the logits row
      softmax_grad_row(d, vocab, targets[r], sum, dloss);
    }
  }, row_grain(vocab));
}

CrossEntropySum cross_entropy_forward_backward(float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                                               float dloss) {
  PhaseScope scope(Phase::CrossEntropy);
  check_targets(targets, rows, vocab);
  std::vector<double> loss(static_cast<size_t>(rows), 0.0);
  ThreadPool::global().parallel_for(rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      float* l = logits + r * vocab;
      if (targets[r] == kIgnoreIndex) {
        std::fill(l, l + vocab, 0.0f);
        continue;
      }
      double sum;
      loss[r] = row_loss(l, vocab, targets[r], l, sum);
      softmax_grad_row(l, vocab, targets[r], sum, dloss);
    }
  }, row_grain(vocab));
  return total(loss, targets, rows);
}

}  // namespace nova::train
