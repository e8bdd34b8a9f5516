// Where a training step's time goes: wall time per phase (matmul forward / dX / dW, attention
// forward / backward, norms, elementwise, cross-entropy, optimizer, ...), summed over every call
// since the last reset. Off by default; when off a PhaseScope costs one relaxed atomic load.
// The phases run on the calling thread (their parallel_for blocks until done), so the sums are
// wall time, and they add up to (almost) the step time; bench_train_step prints them.
#pragma once

#include <array>
#include <cstdint>

namespace nova::train {

enum class Phase : int {
  Embedding,
  Norm,          // RMSNorm forward + backward (also the qk-norm)
  MatmulFwd,     // linear layers' forward, LM head included
  MatmulDx,      // linear backward, input gradient dY W
  MatmulDw,      // linear backward, weight gradient dY^T X (+ bias)
  AttnFwd,       // scores, softmax, P V
  AttnBwd,
  Rope,
  Elementwise,   // SwiGLU, residual adds
  CrossEntropy,  // loss and its gradient
  MoeRouting,    // router softmax / top-k, gathers and scatters
  Optimizer,     // gradient norm, clipping, AdamW, zeroing grads
  kCount
};

const char* phase_name(Phase p);

struct PhaseTotals {
  std::array<double, static_cast<int>(Phase::kCount)> seconds{};
  std::array<int64_t, static_cast<int>(Phase::kCount)> calls{};
};

void set_step_profiling(bool on);
bool step_profiling();
void reset_step_profile();
PhaseTotals step_profile();

// Adds the wall time of its lifetime to `phase` when profiling is on.
class PhaseScope {
 public:
  explicit PhaseScope(Phase phase);
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  Phase phase_;
  int64_t start_ns_ = -1;  // -1: profiling was off at construction
};

}  // namespace nova::train
