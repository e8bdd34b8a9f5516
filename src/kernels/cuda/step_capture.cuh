// Opt-in CUDA-graph replay of the backend's work between two synchronising calls (a decode step:
// everything from the first op after one download() to the next). The backend enqueues as usual
// while its stream is being captured; at the synchronising call the capture becomes a graph that
// updates the executable graph of the same ordinal (segments since the last sync: a dense decode
// step is one segment, an MoE step one per routing decision) and is launched. Replaying one graph
// replaces hundreds of kernel launches (~5 us of host time each) by one, so a step stops being
// bound by the host. Host data an op sends in the middle of a capture goes through a pinned ring
// (a graph can only copy from pinned memory), valid until the next synchronisation.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <vector>

namespace nova::kernels::cuda {

class StepCapture {
 public:
  explicit StepCapture(bool enabled);
  ~StepCapture();
  StepCapture(const StepCapture&) = delete;
  StepCapture& operator=(const StepCapture&) = delete;

  bool enabled() const { return enabled_; }
  bool capturing() const { return capturing_; }
  // Starts capturing `s` (relaxed mode) unless disabled or already capturing; counts the op.
  void begin(cudaStream_t s);
  // A segment is cut after this many ops, so the GPU runs the first part of a step while the
  // host still captures the rest (one capture per step would leave the GPU idle meanwhile).
  bool segment_full() const { return capturing_ && ops_ >= kSegmentOps; }
  // Ends the capture, if any, and launches it; returns whether a graph was launched.
  bool end_and_launch(cudaStream_t s);
  // Called once the stream is synchronised: ordinals restart, the pinned ring empties.
  void synced();
  // A pinned copy of `bytes` of host data, valid until synced(); null when the ring is full.
  void* pin(const void* src, size_t bytes);

 private:
  static constexpr size_t kRingBytes = size_t{16} << 20;
  static constexpr int kSlots = 64;
  static constexpr int kSegmentOps = 64;
  int ops_ = 0;
  bool enabled_;
  bool capturing_ = false;
  int ordinal_ = 0;
  std::vector<cudaGraphExec_t> execs_;
  char* ring_ = nullptr;
  size_t ring_used_ = 0;
  // NOVA_CUDA_GRAPHS_STATS=1: counts and host seconds, printed to stderr at destruction.
  bool stats_ = false;
  long updated_ = 0, instantiated_ = 0, first_failure_ = -1;
  double capture_s_ = 0, finish_s_ = 0, begun_at_ = 0;
};

}  // namespace nova::kernels::cuda
