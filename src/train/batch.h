// One micro-batch of next-token training data: B sequences of T tokens, and for every position
// the id that should follow it (kIgnoreIndex = -100 for positions that do not count).
// The narrow value type between data loading and the trainer.
#pragma once

#include <cstdint>
#include <vector>

namespace nova::train {

struct Batch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> inputs;   // [B * T] row-major
  std::vector<int32_t> targets;  // [B * T]; -100 = ignored

  // A batch from B rows of T + 1 tokens each: inputs = row[:-1], targets = row[1:].
  static Batch from_sequences(const int32_t* tokens, int64_t B, int64_t T_plus_1);
  // Positions whose target counts (not -100).
  int64_t target_count() const;
  // B, T positive, inputs and targets B*T ids each, every input id in [0, vocab); else
  // nova::Error naming the first bad one. (Targets are cross_entropy's to check.)
  void check(int64_t vocab) const;
};

}  // namespace nova::train
