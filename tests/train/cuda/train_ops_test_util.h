// Shared by the GPU training-kernel tests: a skip when there is no GPU, device buffers holding
// float or bf16 (uploaded from / downloaded to float vectors), random inputs and the error
// measures the tolerances are stated in.
#pragma once

#ifdef NOVA_HAVE_CUDA

#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"

namespace nova::test {

// Why the GPU tests cannot run here ("" when they can): no driver or no device.
inline std::string no_gpu_reason() {
  static const std::string reason = [] {
    int n = 0;
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) return std::string(cudaGetErrorString(e));
    return n == 0 ? std::string("no CUDA device") : std::string();
  }();
  return reason;
}

#define NOVA_REQUIRE_GPU()                                          \
  do {                                                              \
    const std::string nova_why_ = ::nova::test::no_gpu_reason();    \
    if (!nova_why_.empty()) GTEST_SKIP() << "no GPU: " << nova_why_; \
  } while (0)

inline void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("test", std::string(what) + ": " + cudaGetErrorString(e));
}

// n elements of T on the device.
template <class T>
class DeviceArray {
 public:
  explicit DeviceArray(size_t n) : n_(n) {
    cuda_ok(cudaMalloc(&p_, std::max<size_t>(n, 1) * sizeof(T)), "cudaMalloc");
    cuda_ok(cudaMemset(p_, 0, std::max<size_t>(n, 1) * sizeof(T)), "cudaMemset");
  }
  template <class S>
  explicit DeviceArray(const std::vector<S>& host) : DeviceArray(host.size()) {
    upload(host);
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;

  T* get() const { return p_; }
  size_t size() const { return n_; }

  template <class S>
  void upload(const std::vector<S>& host) {
    EXPECT_EQ(host.size(), n_);
    std::vector<T> tmp(n_);
    for (size_t i = 0; i < n_; ++i) {
      if constexpr (std::is_same_v<T, __nv_bfloat16>) tmp[i] = __float2bfloat16_rn(static_cast<float>(host[i]));
      else tmp[i] = static_cast<T>(host[i]);
    }
    cuda_ok(cudaMemcpy(p_, tmp.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  }
  // As floats (bf16 widened exactly); synchronises.
  std::vector<float> download() const {
    std::vector<T> tmp(n_);
    cuda_ok(cudaDeviceSynchronize(), "kernel");
    cuda_ok(cudaMemcpy(tmp.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
    std::vector<float> out(n_);
    for (size_t i = 0; i < n_; ++i) {
      if constexpr (std::is_same_v<T, __nv_bfloat16>) out[i] = __bfloat162float(tmp[i]);
      else out[i] = static_cast<float>(tmp[i]);
    }
    return out;
  }
  std::vector<T> raw() const {
    std::vector<T> tmp(n_);
    cuda_ok(cudaDeviceSynchronize(), "kernel");
    cuda_ok(cudaMemcpy(tmp.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
    return tmp;
  }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

inline std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// What a value looks like after a round trip through T (bf16: round to nearest even).
template <class T>
std::vector<float> rounded_to(std::vector<float> v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

// max |a - b| / max |b| (0 when both are all zero): the error relative to the reference's scale.
inline double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double err = 0, mag = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    err = std::max(err, std::abs(double(a[i]) - b[i]));
    mag = std::max(mag, std::abs(double(b[i])));
  }
  return mag == 0 ? err : err / mag;
}

// Tolerances: fp32 mode against the CPU layers (reduction order and exp differ), bf16 mode
// against the CPU layers run on bf16-rounded inputs (outputs rounded to bf16: 2^-8 relative per
// value, a few of those through a chain of ops).
template <class T>
constexpr double kTol = std::is_same_v<T, float> ? 1e-5 : 1e-2;

}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
