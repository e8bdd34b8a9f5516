// AdamW with torch.optim.AdamW's semantics and float32 rounding (its single-tensor CPU path):
//   p *= 1 - lr * wd                       (decoupled decay, params with >= 2 dims only)
//   m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// The state (m, v per parameter and the step count) is enumerable as named tensors so a
// checkpoint writer can save it with save_safetensors and restore it with load_state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "train/param_store.h"

namespace nova::train {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;  // applied to Param::decays() parameters only
};

// One step's float32 scalars, derived as torch does (Python floats, i.e. double, rounded to
// float32 where they meet a float32 tensor); the CPU loop and the GPU kernel both take these.
struct AdamWScalars {
  float neg_step_size = 0, bias2_sqrt = 1, one_minus_b1 = 0, b2 = 0, one_minus_b2 = 0, eps = 0, decay = 1;
};
// For update number `step` (1-based) at learning rate `lr`.
AdamWScalars adamw_scalars(const AdamWConfig& config, double lr, int64_t step);

class AdamW {
 public:
  // `params` must outlive the optimiser; its parameter set must not change afterwards.
  AdamW(ParamStore& params, AdamWConfig config = {});

  // One update of every parameter from its grad at learning rate `lr`; the step count goes up.
  void step(double lr);

  const AdamWConfig& config() const { return config_; }
  int64_t step_count() const { return step_; }

  // "exp_avg.<param name>", "exp_avg_sq.<param name>" (F32 views of the live state) and "step"
  // (I64 [1], a copy).
  std::map<std::string, Tensor> state_tensors() const;
  // The inverse: every tensor state_tensors() names must be present with the right shape and
  // dtype, else nova::Error naming `where` and the tensor. Copies the values in.
  void load_state(const std::map<std::string, Tensor>& state, const std::string& where);

 private:
  ParamStore& params_;
  AdamWConfig config_;
  int64_t step_ = 0;
  std::vector<Tensor> m_, v_;  // parallel to params_.params()
};

}  // namespace nova::train
