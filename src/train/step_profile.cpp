#include "train/step_profile.h"

#include <atomic>
#include <chrono>
#include <mutex>

namespace nova::train {

namespace {
std::atomic<bool> g_on{false};
std::mutex g_mu;  // phases can nest in different threads' calls (e.g. two models): keep sums exact
PhaseTotals g_totals;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

const char* phase_name(Phase p) {
  switch (p) {
    case Phase::Embedding: return "embedding";
    case Phase::Norm: return "rmsnorm";
    case Phase::MatmulFwd: return "matmul fwd";
    case Phase::MatmulDx: return "matmul dX";
    case Phase::MatmulDw: return "matmul dW";
    case Phase::AttnFwd: return "attention fwd";
    case Phase::AttnBwd: return "attention bwd";
    case Phase::Rope: return "rope";
    case Phase::Elementwise: return "elementwise";
    case Phase::CrossEntropy: return "cross-entropy";
    case Phase::MoeRouting: return "moe routing";
    case Phase::Optimizer: return "optimizer";
    case Phase::kCount: break;
  }
  return "?";
}

void set_step_profiling(bool on) { g_on.store(on, std::memory_order_relaxed); }
bool step_profiling() { return g_on.load(std::memory_order_relaxed); }

void reset_step_profile() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_totals = PhaseTotals{};
}

PhaseTotals step_profile() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_totals;
}

PhaseScope::PhaseScope(Phase phase) : phase_(phase) {
  if (step_profiling()) start_ns_ = now_ns();
}

PhaseScope::~PhaseScope() {
  if (start_ns_ < 0) return;
  const double s = static_cast<double>(now_ns() - start_ns_) * 1e-9;
  std::lock_guard<std::mutex> lock(g_mu);
  g_totals.seconds[static_cast<int>(phase_)] += s;
  ++g_totals.calls[static_cast<int>(phase_)];
}

}  // namespace nova::train
