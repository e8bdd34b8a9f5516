#include "train/gpu/gpu_step_profile.h"

#ifdef NOVA_HAVE_CUDA

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "kernels/cuda/cuda_check.cuh"

namespace nova::train::gpu {

using kernels::cuda::check_cuda;

namespace {
// The first cycles include cuBLASLt plan creation and first-touch costs.
constexpr int kSkippedCycles = 2;
}  // namespace

StepProfile* StepProfile::from_env(cudaStream_t stream) {
  const char* v = std::getenv("NOVA_TRAIN_PROFILE");
  if (!v || !*v || std::string(v) == "0") return nullptr;
  return new StepProfile(stream, std::string(v) == "2");
}

StepProfile::StepProfile(cudaStream_t stream, bool every_step) : stream_(stream), every_step_(every_step) {}

StepProfile::~StepProfile() {
  if (counted_ > 0) {
    std::map<std::string, double> mean;
    for (const auto& [k, v] : total_ms_) mean[k] = v / counted_;
    print(mean, total_wall_ms_ / counted_, total_enqueue_ms_ / counted_, counted_, "mean per step");
  }
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
}

cudaEvent_t StepProfile::event(size_t i) {
  while (events_.size() <= i) {
    cudaEvent_t e = nullptr;
    check_cuda(cudaEventCreate(&e), "cudaEventCreate(profile)");
    events_.push_back(e);
  }
  return events_[i];
}

void StepProfile::mark(const char* phase) {
  const size_t i = phases_.size();
  check_cuda(cudaEventRecord(event(i), stream_), "cudaEventRecord(profile)");
  phases_.push_back(phase);
  last_host_ = std::chrono::steady_clock::now();
  if (i == 0) first_host_ = last_host_;
}

void StepProfile::end_cycle() {
  if (phases_.size() < 2) {
    phases_.clear();
    return;
  }
  const auto done = std::chrono::steady_clock::now();
  check_cuda(cudaEventSynchronize(events_[phases_.size() - 1]), "cudaEventSynchronize(profile)");
  std::map<std::string, double> ms;
  for (size_t i = 0; i + 1 < phases_.size(); ++i) {
    float t = 0;
    check_cuda(cudaEventElapsedTime(&t, events_[i], events_[i + 1]), "cudaEventElapsedTime(profile)");
    ms[phases_[i]] += t;
  }
  const double wall = std::chrono::duration<double, std::milli>(done - first_host_).count();
  const double enqueue = std::chrono::duration<double, std::milli>(last_host_ - first_host_).count();
  phases_.clear();
  ++cycles_;
  if (every_step_) print(ms, wall, enqueue, 1, ("step " + std::to_string(cycles_)).c_str());
  // The mean covers whole training steps only: an optimiser update and a backward (not the first
  // step, which has no update yet, nor an evaluation's forward).
  if (cycles_ <= kSkippedCycles || !ms.count("adamw") || !ms.count("lm head dW")) return;
  for (const auto& [k, v] : ms) total_ms_[k] += v;
  total_wall_ms_ += wall;
  total_enqueue_ms_ += enqueue;
  ++counted_;
}

void StepProfile::print(const std::map<std::string, double>& ms, double wall_ms, double enqueue_ms, int steps,
                        const char* title) const {
  std::vector<std::pair<double, std::string>> rows;
  double gpu = 0;
  for (const auto& [k, v] : ms) {
    rows.emplace_back(v, k);
    gpu += v;
  }
  std::sort(rows.rbegin(), rows.rend());
  std::fprintf(stderr, "train profile (%s, %d step%s): GPU %.2f ms, host wall %.2f ms, host enqueue %.2f ms\n", title,
               steps, steps == 1 ? "" : "s", gpu, wall_ms, enqueue_ms);
  for (const auto& [v, k] : rows)
    std::fprintf(stderr, "  %-24s %9.3f ms %6.2f%%\n", k.c_str(), v, gpu > 0 ? 100.0 * v / gpu : 0.0);
  std::fflush(stderr);
}

}  // namespace nova::train::gpu

#endif  // NOVA_HAVE_CUDA
