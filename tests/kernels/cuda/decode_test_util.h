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

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "kernels/cuda/ops.cuh"
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

// The paged attention kernels' reference: float64 softmax(q k^T / sqrt(D)) v over each query
// row's visible keys (causal; window > 0: the last `window` positions), GQA, with K/V in the
// cache layout [block][slot][kv head][D] and each sequence's blocks at tables[table_begin ..].
inline std::vector<double> paged_attention_reference(const std::vector<float>& q, const std::vector<float>& k,
                                                     const std::vector<float>& v,
                                                     const std::vector<kernels::cuda::AttnSeq>& seqs,
                                                     const std::vector<int32_t>& tables, int64_t q_heads,
                                                     int64_t kv_heads, int64_t D, int64_t block_size, int window) {
  std::vector<double> out(q.size(), 0.0);
  const int64_t group = q_heads / kv_heads;
  const double scale = 1.0f / std::sqrt(static_cast<float>(D));  // the kernels' scale
  std::vector<double> sc;
  std::vector<int64_t> off;
  for (const kernels::cuda::AttnSeq& s : seqs)
    for (int64_t r = 0; r < s.q_rows; ++r)
      for (int64_t h = 0; h < q_heads; ++h) {
        const int64_t pos = s.pos0 + r, kvh = h / group;
        const int64_t lo = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
        const float* qr = &q[((s.q_begin + r) * q_heads + h) * D];
        sc.clear();
        off.clear();
        for (int64_t p = lo; p <= pos; ++p) {
          const int64_t blk = tables[s.table_begin + p / block_size];
          off.push_back(((blk * block_size + p % block_size) * kv_heads + kvh) * D);
          double d = 0;
          for (int64_t i = 0; i < D; ++i) d += double(qr[i]) * k[off.back() + i];
          sc.push_back(d * scale);
        }
        const double mx = *std::max_element(sc.begin(), sc.end());
        double sum = 0;
        for (double& x : sc) sum += (x = std::exp(x - mx));
        double* o = &out[((s.q_begin + r) * q_heads + h) * D];
        for (size_t j = 0; j < sc.size(); ++j)
          for (int64_t i = 0; i < D; ++i) o[i] += sc[j] * v[off[j] + i];
        for (int64_t i = 0; i < D; ++i) o[i] /= sum;
      }
  return out;
}

}  // namespace nova::test

#endif  // NOVA_HAVE_CUDA
