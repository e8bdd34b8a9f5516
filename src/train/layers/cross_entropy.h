// Token cross-entropy over logits [rows, vocab] against target ids, as torch's
// F.cross_entropy(reduction="mean", ignore_index=-100): rows whose target is the ignore index
// count for nothing; the mean is over the remaining rows (the caller divides, see below).
#pragma once

#include <cstdint>

namespace nova::train {

inline constexpr int32_t kIgnoreIndex = -100;

struct CrossEntropySum {
  double loss_sum = 0.0;  // sum over counted rows of logsumexp(logits) - logits[target]
  int64_t count = 0;      // rows whose target is not kIgnoreIndex
};

// Throws nova::Error (naming "cross_entropy", the target and its row) for a target outside
// [0, vocab) that is not kIgnoreIndex. The functions below run it first; a device path calls it
// before queueing work whose kernel cannot throw.
void check_targets(const int32_t* targets, int64_t rows, int64_t vocab);

// Throws nova::Error for a target outside [0, vocab) that is not kIgnoreIndex.
CrossEntropySum cross_entropy_forward(const float* logits, const int32_t* targets, int64_t rows, int64_t vocab);

// dlogits[r, :] = dloss * (softmax(logits[r]) - onehot(target[r])) for counted rows, 0 for ignored
// ones; dloss is d(total loss)/d(loss of one row), e.g. 1 / count for the mean. dlogits may alias
// logits (the buffer is overwritten row by row).
void cross_entropy_backward(float* dlogits, const float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                            float dloss);

// Both at once, in place: returns the forward's sums and overwrites logits with dlogits as
// cross_entropy_backward would write them (one exp per logit instead of three; the training
// step's path). The loss equals cross_entropy_forward's bit for bit.
CrossEntropySum cross_entropy_forward_backward(float* logits, const int32_t* targets, int64_t rows, int64_t vocab,
                                               float dloss);

}  // namespace nova::train
