// CUDA-graph replay of the backend's work between two synchronising calls (a decode step:
// everything from the first op after one download() to the next), without re-capturing a step
// that looks like the previous ones.
//
// With graphs on, an op does not launch: it records a closure that launches it and appends the
// launch's identity (launcher, pointers, sizes, scalars) to the segment's signature. When the
// segment is full (segment_full()) and at each synchronising call it is flushed: if its signature
// equals one of the graphs kept for that ordinal (the n-th segment since the last sync), that
// executable graph is launched as is — no capture, no update; otherwise the closures are
// captured and instantiated into a new graph that replaces the least recently used one. (Not
// cudaGraphExecUpdate: with kernels launched with programmatic dependencies, updating kept
// graphs in place gave wrong bf16 fixture results on the H100 — BENCHMARKS.md "CUDA".)
//
// What makes steps repeat exactly: values that change every step (token ids, positions, block
// tables, row lists) reach kernels through the step's argument block — host bytes appended to
// a pinned ring (arg()), whose device mirror is filled by one copy per segment before the
// segment's graph runs — so kernel parameters hold only the mirror's addresses. Activation
// pointers repeat because the backend's block cache hands out the same blocks in the same order.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

namespace nova::kernels::cuda {

class StepCapture {
 public:
  explicit StepCapture(bool enabled);
  ~StepCapture();
  StepCapture(const StepCapture&) = delete;
  StepCapture& operator=(const StepCapture&) = delete;

  bool enabled() const { return enabled_; }
  // Whether recorded ops wait for flush().
  bool pending() const { return !ops_.empty(); }
  bool segment_full() const {
    const int limit = behind_step_ ? ahead_ops_ : (ordinal_ == 0 ? first_ops_ : segment_ops_);
    return static_cast<int>(ops_.size()) >= limit;
  }

  // The signature of the op being recorded: call add() for every launch argument, then record().
  void add_word(uint64_t w) { sig_.push_back(w); }
  template <class T>
  void add(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* b = reinterpret_cast<const unsigned char*>(&v);
    for (size_t at = 0; at < sizeof(T); at += 8) {
      uint64_t w = 0;
      std::memcpy(&w, b + at, sizeof(T) - at < 8 ? sizeof(T) - at : 8);
      sig_.push_back(w);
    }
  }
  void record(std::function<void(cudaStream_t)> op) { ops_.push_back(std::move(op)); }

  // Launches the recorded ops (the kept graph of an equal signature, or a new capture), after
  // copying the argument bytes they use to the device. Returns whether anything was launched.
  bool flush(cudaStream_t s);
  // Called once the stream is synchronised: ordinals restart, the argument ring empties.
  void synced();
  // Ends a step without a synchronisation (an asynchronous decode step: the host records the next
  // step while this one runs). Call after flush(). Ordinals restart and the next step stages its
  // arguments in the other half of the ring, so the step after that finds its arguments at the
  // addresses its graphs were captured with (two graphs per segment, one per half); reusing a
  // half first waits until the copies of the step that used it have run (normally long done).
  void step_end(cudaStream_t s);

  // A device address that holds `bytes` of `host` when the ops recorded from now on run; the same
  // bytes under the same tag within one step share one address. Null when the ring is full (the
  // caller synchronises and asks again). With graphs off, or `now` (ops launched at once while
  // graphs are on: a large prefill), the copy is enqueued at once, from the pinned ring: no
  // pageable-memory copy, which may wait for the stream to drain.
  void* arg(int tag, const void* host, size_t bytes, cudaStream_t s, bool now = false);

 private:
  static constexpr size_t kRingBytes = size_t{16} << 20, kHalfBytes = kRingBytes / 2;
  static constexpr int kSlots = 64;       // segments kept per step
  static constexpr int kPerSlot = 4;      // graphs kept per segment (pointer patterns may cycle)
  // The GPU starts on a step's first segment while the host records the rest, so a short first
  // segment and moderate ones after it keep the GPU busy: 1B decode on the H100 (tok/s, one call,
  // BENCHMARKS.md "Fourth round"): first/rest 8/32 703, 16/16 692, 16/96 692, 32/32 678, 96/96 642.
  // Tests that count graphs per step set NOVA_CUDA_SEGMENT_OPS / NOVA_CUDA_FIRST_SEGMENT_OPS
  // (which override these, for measurements) large.
  static constexpr int kSegmentOps = 32, kFirstSegmentOps = 8;
  int segment_ops_ = kSegmentOps, first_ops_ = kFirstSegmentOps;
  // A step recorded behind one still running (after step_end, not a synchronisation) has nothing
  // to gain from starting early, so it goes in long segments: fewer graph launches, and PDL
  // overlap does not cross a graph boundary (1B overlapped decode on the H100: 938.5-944.0 tok/s
  // at 128 against 933.1-934.0 at 8/32, BENCHMARKS.md "Sixth round"). NOVA_CUDA_AHEAD_SEGMENT_OPS
  // overrides it.
  static constexpr int kAheadSegmentOps = 128;
  int ahead_ops_ = kAheadSegmentOps;
  bool behind_step_ = false;  // set by step_end, cleared by synced
  struct Kept {
    std::vector<uint64_t> sig;
    cudaGraphExec_t exec = nullptr;
    uint64_t used = 0;
  };
  struct Staged {
    int tag;
    size_t at, bytes;
  };
  bool enabled_;
  std::vector<std::function<void(cudaStream_t)>> ops_;
  std::vector<uint64_t> sig_;
  int ordinal_ = 0;
  uint64_t clock_ = 0;
  std::vector<std::vector<Kept>> slots_;
  char* ring_ = nullptr;    // pinned host
  char* mirror_ = nullptr;  // device
  size_t ring_used_ = 0, ring_flushed_ = 0;
  // The half staged into now ([half_ * kHalfBytes, +kHalfBytes)); per half, an event after the
  // copies of the last step that used it (step_end), pending until the next synchronisation.
  int half_ = 0;
  cudaEvent_t half_copied_[2] = {nullptr, nullptr};
  bool half_pending_[2] = {false, false};
  std::vector<Staged> staged_;  // this step's, for sharing equal bytes
  // NOVA_CUDA_GRAPHS_STATS=1: counts and host seconds, printed to stderr at destruction.
  bool stats_ = false;
  long replayed_ = 0, captured_ = 0;
  double capture_s_ = 0;
};

}  // namespace nova::kernels::cuda
