#include "kernels/cuda/step_capture.cuh"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kernels/cuda/cuda_check.cuh"

namespace nova::kernels::cuda {

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

StepCapture::StepCapture(bool enabled) : enabled_(enabled), slots_(kSlots) {
  const char* st = std::getenv("NOVA_CUDA_GRAPHS_STATS");
  stats_ = st && std::string(st) == "1";
  auto ops_env = [](const char* name, int fallback) {
    const char* v = std::getenv(name);
    const int n = v ? std::atoi(v) : 0;
    return n > 0 ? n : fallback;
  };
  segment_ops_ = ops_env("NOVA_CUDA_SEGMENT_OPS", kSegmentOps);
  first_ops_ = ops_env("NOVA_CUDA_FIRST_SEGMENT_OPS", kFirstSegmentOps);
  ahead_ops_ = ops_env("NOVA_CUDA_AHEAD_SEGMENT_OPS", kAheadSegmentOps);
  check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&ring_), kRingBytes, cudaHostAllocDefault), "cudaHostAlloc(args)");
  if (cudaMalloc(reinterpret_cast<void**>(&mirror_), kRingBytes) != cudaSuccess) {
    cudaFreeHost(ring_);
    fail("cuda", "cudaMalloc of the step argument block failed");
  }
  for (cudaEvent_t& e : half_copied_) {
    if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) {
      for (cudaEvent_t made : half_copied_)
        if (made) cudaEventDestroy(made);
      cudaFree(mirror_);
      cudaFreeHost(ring_);
      fail("cuda", "cudaEventCreate for the step argument block failed");
    }
  }
}

StepCapture::~StepCapture() {
  if (stats_)
    std::fprintf(stderr, "cuda graphs: %ld segments replayed, %ld captured (host s capturing %.3f)\n", replayed_,
                 captured_, capture_s_);
  for (auto& slot : slots_)
    for (Kept& k : slot)
      if (k.exec) cudaGraphExecDestroy(k.exec);
  for (cudaEvent_t e : half_copied_) cudaEventDestroy(e);
  cudaFree(mirror_);
  cudaFreeHost(ring_);
}

void* StepCapture::arg(int tag, const void* host, size_t bytes, cudaStream_t s, bool now) {
  // Launched at once: the bytes staged so far must be on the device first (one copy of all not
  // yet copied; the ring is rewritten only after the stream has synchronised).
  auto copy_pending = [&] {
    if ((now || !enabled_) && ring_used_ > ring_flushed_) {
      check_cuda(cudaMemcpyAsync(mirror_ + ring_flushed_, ring_ + ring_flushed_, ring_used_ - ring_flushed_,
                                 cudaMemcpyHostToDevice, s),
                 "cudaMemcpyAsync(args)");
      ring_flushed_ = ring_used_;
    }
  };
  // Equal bytes staged earlier this step (a decode step's attention descriptors are the same
  // for every layer, a prefill's row lists too): the same address, so every layer reads one copy.
  for (size_t i = staged_.size() > 64 ? staged_.size() - 64 : 0; i < staged_.size(); ++i) {
    const Staged& e = staged_[i];
    if (e.tag == tag && e.bytes == bytes && std::memcmp(ring_ + e.at, host, bytes) == 0) {
      copy_pending();
      return mirror_ + e.at;
    }
  }
  const size_t at = (ring_used_ + 15) / 16 * 16;
  if (at + bytes > (half_ + 1) * kHalfBytes) return nullptr;
  std::memcpy(ring_ + at, host, bytes);
  ring_used_ = at + bytes;
  staged_.push_back({tag, at, bytes});
  copy_pending();
  return mirror_ + at;
}

bool StepCapture::flush(cudaStream_t s) {
  if (ops_.empty()) return false;
  // The argument bytes of this segment's ops (earlier segments' are on the device already).
  if (ring_used_ > ring_flushed_) {
    check_cuda(cudaMemcpyAsync(mirror_ + ring_flushed_, ring_ + ring_flushed_, ring_used_ - ring_flushed_,
                               cudaMemcpyHostToDevice, s),
               "cudaMemcpyAsync(args)");
    ring_flushed_ = ring_used_;
  }
  const int slot = ordinal_++;
  std::vector<Kept>* kept = slot < kSlots ? &slots_[slot] : nullptr;
  auto clear = [&] {
    ops_.clear();
    sig_.clear();
  };
  if (kept) {
    for (Kept& k : *kept) {
      if (k.sig != sig_) continue;
      k.used = ++clock_;
      clear();
      ++replayed_;
      check_cuda(cudaGraphLaunch(k.exec, s), "cudaGraphLaunch");
      return true;
    }
  }
  // A segment not seen before: capture it.
  const double t0 = stats_ ? now() : 0;
  check_cuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  try {
    for (auto& op : ops_) op(s);
  } catch (...) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(s, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    clear();
    throw;
  }
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s, &graph);
  std::vector<uint64_t> sig;
  sig.swap(sig_);
  clear();
  check_cuda(ended, "cudaStreamEndCapture (an op failed while captured)");
  Kept* into = nullptr;
  if (kept && static_cast<int>(kept->size()) == kPerSlot) {  // replace the least recently used
    into = &(*kept)[0];
    for (Kept& k : *kept)
      if (k.used < into->used) into = &k;
    cudaGraphExecDestroy(into->exec);  // launched before the last synchronisation: finished
    into->exec = nullptr;
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
  if (e != cudaSuccess) {
    cudaGraphDestroy(graph);
    if (into) kept->erase(kept->begin() + (into - kept->data()));
    check_cuda(e, "cudaGraphInstantiate");
  }
  cudaGraphDestroy(graph);
  ++captured_;
  if (stats_) capture_s_ += now() - t0;
  const cudaError_t launched = cudaGraphLaunch(exec, s);
  if (!kept) {  // past the kept slots (rare: a very long MoE prefill): run it, then release it
    cudaStreamSynchronize(s);
    cudaGraphExecDestroy(exec);
  } else if (into) {
    into->exec = exec;
    into->sig = std::move(sig);
    into->used = ++clock_;
  } else {
    kept->push_back({std::move(sig), exec, ++clock_});
  }
  check_cuda(launched, "cudaGraphLaunch");
  return true;
}

void StepCapture::synced() {
  ordinal_ = 0;
  behind_step_ = false;
  half_ = 0;
  ring_used_ = ring_flushed_ = 0;
  half_pending_[0] = half_pending_[1] = false;
  staged_.clear();
}

void StepCapture::step_end(cudaStream_t s) {
  if (!ops_.empty()) fail("cuda", "StepCapture::step_end with recorded ops not flushed");
  check_cuda(cudaEventRecord(half_copied_[half_], s), "cudaEventRecord(step arguments)");
  half_pending_[half_] = true;
  half_ ^= 1;
  if (half_pending_[half_]) {
    check_cuda(cudaEventSynchronize(half_copied_[half_]), "cudaEventSynchronize(step arguments)");
    half_pending_[half_] = false;
  }
  ordinal_ = 0;
  behind_step_ = true;
  ring_used_ = ring_flushed_ = static_cast<size_t>(half_) * kHalfBytes;
  staged_.clear();
}

}  // namespace nova::kernels::cuda
