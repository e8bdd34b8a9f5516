// Trainable parameters: float32 tensors under their Hugging Face names, each with a gradient of
// the same shape beside it. The store owns both; everything else (layers, optimiser, checkpoint
// writers) refers to parameters through it, so saving a model is save_safetensors(values()).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace nova::train {

struct Param {
  std::string name;
  Tensor value;  // F32, contiguous
  Tensor grad;   // F32, same shape, zero until a backward accumulates into it

  int64_t numel() const { return value.numel(); }
  float* data() { return value.data_as<float>(); }
  float* grad_data() { return grad.data_as<float>(); }
  // AdamW decays matrices and embeddings only, never norm weights or biases (ndim < 2).
  bool decays() const { return value.ndim() >= 2; }
};

// A parameter as layers see it: its values and where its gradient accumulates. Both null for an
// absent parameter (e.g. a bias the architecture does not have).
struct ParamView {
  float* value = nullptr;
  float* grad = nullptr;
  explicit operator bool() const { return value != nullptr; }
};

class ParamStore {
 public:
  // Adds a zero parameter; names must be unique. References to earlier parameters stay valid.
  Param& add(const std::string& name, std::vector<int64_t> shape);

  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Throws nova::Error naming the parameter when absent.
  Param& get(const std::string& name);
  const Param& get(const std::string& name) const;
  ParamView view(const std::string& name);  // {nullptr, nullptr} when absent

  // In insertion order (the model's layout order).
  std::deque<Param>& params() { return params_; }
  const std::deque<Param>& params() const { return params_; }
  size_t size() const { return params_.size(); }
  int64_t numel() const;  // total trainable scalars

  void zero_grad();
  // Name -> value / grad views (for save_safetensors and comparisons against references).
  std::map<std::string, Tensor> values() const;
  std::map<std::string, Tensor> grads() const;
  // Overwrites every parameter's values from `tensors` (any float dtype, converted); each name
  // must be present with the right shape, else nova::Error naming `where` and the tensor.
  void load_values(const std::map<std::string, Tensor>& tensors, const std::string& where);

 private:
  std::deque<Param> params_;
  std::map<std::string, size_t> index_;
};

}  // namespace nova::train
