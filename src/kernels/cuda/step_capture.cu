#include "kernels/cuda/step_capture.cuh"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cuda/cuda_check.cuh"

namespace nova::kernels::cuda {

namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

StepCapture::StepCapture(bool enabled) : enabled_(enabled), execs_(kSlots, nullptr) {
  const char* st = std::getenv("NOVA_CUDA_GRAPHS_STATS");
  stats_ = st && std::string(st) == "1";
  if (enabled_) check_cuda(cudaHostAlloc(reinterpret_cast<void**>(&ring_), kRingBytes, cudaHostAllocDefault), "cudaHostAlloc(ring)");
}

StepCapture::~StepCapture() {
  if (stats_)
    std::fprintf(stderr, "cuda graphs: %ld updated, %ld instantiated (first update failure: result %ld); host s "
                 "capturing %.3f, ending+updating+launching %.3f\n", updated_, instantiated_, first_failure_,
                 capture_s_, finish_s_);
  for (cudaGraphExec_t e : execs_)
    if (e) cudaGraphExecDestroy(e);
  if (ring_) cudaFreeHost(ring_);
}

void StepCapture::begin(cudaStream_t s) {
  if (!enabled_) return;
  if (capturing_) {
    ++ops_;
    return;
  }
  ops_ = 1;
  check_cuda(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
  capturing_ = true;
  if (stats_) begun_at_ = now();
}

bool StepCapture::end_and_launch(cudaStream_t s) {
  if (!capturing_) return false;
  capturing_ = false;
  const double t0 = stats_ ? now() : 0;
  if (stats_) capture_s_ += t0 - begun_at_;
  cudaGraph_t graph = nullptr;
  check_cuda(cudaStreamEndCapture(s, &graph), "cudaStreamEndCapture (an op failed while captured)");
  const int slot = ordinal_++;
  cudaGraphExec_t exec = slot < kSlots ? execs_[slot] : nullptr;
  if (exec) {
    cudaGraphExecUpdateResultInfo info{};
    if (cudaGraphExecUpdate(exec, graph, &info) == cudaSuccess) {
      ++updated_;
    } else {  // another shape of step: rebuild
      cudaGetLastError();
      if (first_failure_ < 0) first_failure_ = static_cast<long>(info.result);
      cudaGraphExecDestroy(exec);
      execs_[slot] = exec = nullptr;
    }
  }
  if (!exec) {
    const cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
    if (e != cudaSuccess) cudaGraphDestroy(graph);
    check_cuda(e, "cudaGraphInstantiate");
    ++instantiated_;
  }
  cudaGraphDestroy(graph);
  const cudaError_t e = cudaGraphLaunch(exec, s);
  if (slot < kSlots) {
    execs_[slot] = exec;
  } else {  // past the kept slots (rare: very long MoE prefill): run it, then release it
    cudaStreamSynchronize(s);
    cudaGraphExecDestroy(exec);
  }
  check_cuda(e, "cudaGraphLaunch");
  if (stats_) finish_s_ += now() - t0;
  return true;
}

void StepCapture::synced() {
  ordinal_ = 0;
  ring_used_ = 0;
}

void* StepCapture::pin(const void* src, size_t bytes) {
  const size_t at = (ring_used_ + 255) / 256 * 256;
  if (!ring_ || at + bytes > kRingBytes) return nullptr;
  std::memcpy(ring_ + at, src, bytes);
  ring_used_ = at + bytes;
  return ring_ + at;
}

}  // namespace nova::kernels::cuda
