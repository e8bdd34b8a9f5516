// Shared by the GPU trainer tests: skipping without a usable CUDA device (CI has none), and
// comparisons of parameter stores.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "train/gpu/gpu_device.h"
#include "train/param_store.h"
#include "../train_fixture.h"

#define NOVA_REQUIRE_GPU()                                                      \
  do {                                                                          \
    std::string nova_gpu_why_;                                                  \
    if (!::nova::train::cuda_device_available(0, &nova_gpu_why_))               \
      GTEST_SKIP() << "no CUDA device for the GPU trainer: " << nova_gpu_why_; \
  } while (0)

namespace nova::train::test {

// The largest per-parameter relative L2 difference of the grads (or values) of two stores, and
// the parameter it belongs to.
struct StoreDiff {
  double worst = 0;
  std::string name;
};
inline StoreDiff compare_stores(const ParamStore& a, const ParamStore& b, bool grads) {
  StoreDiff d;
  for (const Param& p : a.params()) {
    const Param& q = b.get(p.name);
    const Tensor& x = grads ? p.grad : p.value;
    const Tensor& y = grads ? q.grad : q.value;
    const double e = rel_l2(x.data_as<float>(), y.data_as<float>(), p.numel());
    if (e > d.worst || d.name.empty()) {
      d.worst = std::max(d.worst, e);
      d.name = p.name;
    }
  }
  return d;
}

// Byte-equal values (or grads) in every parameter.
inline bool stores_equal(const ParamStore& a, const ParamStore& b, bool grads) {
  for (const Param& p : a.params()) {
    const Param& q = b.get(p.name);
    const Tensor& x = grads ? p.grad : p.value;
    const Tensor& y = grads ? q.grad : q.value;
    if (!std::equal(x.data_as<float>(), x.data_as<float>() + p.numel(), y.data_as<float>())) return false;
  }
  return true;
}

}  // namespace nova::train::test
