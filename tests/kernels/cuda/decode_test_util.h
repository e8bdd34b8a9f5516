// Shared by the decode-kernel tests (GEMV, decode attention, decode fusions): environment switches
// for one scope, and activations held on the device as float32 or bf16, chosen at run time like
// the backend's activation dtype.
#pragma once

#include <cstdlib>
#include <string>

namespace nova::test {

// An environment variable set (or, value null, unset) for one scope, restored after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value) setenv(name, value, 1);
    else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_.c_str(), old_.c_str(), 1);
    else unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

}  // namespace nova::test

#ifdef NOVA_HAVE_CUDA

#include <vector>

#include "core/dtype.h"
#include "train/cuda/train_ops_test_util.h"

namespace nova::test {

// A vector of dtype `t` (F32 or BF16) on the device.
struct Act {
  DType t;
  DeviceArray<float> f32;
  DeviceArray<__nv_bfloat16> b16;
  Act(DType t_, size_t n) : t(t_), f32(t_ == DType::F32 ? n : 0), b16(t_ == DType::BF16 ? n : 0) {}
  Act(DType t_, const std::vector<float>& v) : Act(t_, v.size()) {
    if (t == DType::F32) f32.upload(v);
    else if (t == DType::BF16) b16.upload(v);  // other dtypes: nothing on the device (refusal tests)
  }
  void* ptr() const { return t == DType::F32 ? static_cast<void*>(f32.get()) : static_cast<void*>(b16.get()); }
  std::vector<float> download() const { return t == DType::F32 ? f32.download() : b16.download(); }
};

}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
