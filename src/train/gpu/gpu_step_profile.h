// Per-phase GPU time of the training step (NOVA_TRAIN_PROFILE=1; NOVA_TRAIN_PROFILE=2 also prints
// every step). The model marks the start of each op group on its stream ("gemm dW ffn", "attention
// bwd", ...); an event is recorded at each mark, and once the stream has been synchronised the time
// between consecutive events goes to the earlier mark's phase, summed over layers. Off (the
// default), the model holds no profiler and every mark is one null-pointer test.
//
// One profile cycle runs from the first mark after a synchronisation (the optimiser step queued
// after the previous step's loss read) to the next read of the step's scalars. Beside the GPU
// phases it reports the host's view: the time spent enqueueing (host clock between the first and
// the last mark) and the wall time to the end of the synchronisation. GPU time that exceeds the
// sum of kernel time (the host not keeping the GPU fed) shows up inside the phase the GPU was
// waiting in; "host enqueue" close to or above "wall" means the host is the bottleneck.
// Internal to the GPU trainer; CUDA builds only.
#pragma once

#ifdef NOVA_HAVE_CUDA

#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace nova::train::gpu {

class StepProfile {
 public:
  // Non-null when NOVA_TRAIN_PROFILE is set to a non-zero value.
  static StepProfile* from_env(cudaStream_t stream);

  explicit StepProfile(cudaStream_t stream, bool every_step);
  ~StepProfile();  // prints the summary: mean per training step, the first two cycles left out
  StepProfile(const StepProfile&) = delete;
  StepProfile& operator=(const StepProfile&) = delete;

  // From here on, the stream's time goes to `phase` (a string literal: kept by pointer).
  void mark(const char* phase);
  // Call after the stream was synchronised, the last mark ("(end)", whose time is not counted)
  // recorded before the synchronisation: closes the cycle and accumulates it.
  void end_cycle();

 private:
  cudaEvent_t event(size_t i);
  void print(const std::map<std::string, double>& ms, double wall_ms, double enqueue_ms, int steps,
             const char* title) const;

  cudaStream_t stream_;
  bool every_step_;
  std::vector<cudaEvent_t> events_;
  std::vector<const char*> phases_;
  std::chrono::steady_clock::time_point first_host_, last_host_;
  std::map<std::string, double> total_ms_;
  double total_wall_ms_ = 0, total_enqueue_ms_ = 0;
  int cycles_ = 0, counted_ = 0;
};

// Marks a phase when profiling (p non-null).
inline void mark(StepProfile* p, const char* phase) {
  if (p) p->mark(phase);
}

}  // namespace nova::train::gpu

#endif  // NOVA_HAVE_CUDA
