#include "train/param_store.h"

#include <algorithm>

#include "core/error.h"
#include "core/thread_pool.h"

namespace nova::train {

Param& ParamStore::add(const std::string& name, std::vector<int64_t> shape) {
  require(!contains(name), name, "parameter added twice");
  Param p;
  p.name = name;
  p.value = Tensor::zeros(DType::F32, shape);
  p.grad = Tensor::zeros(DType::F32, std::move(shape));
  index_[name] = params_.size();
  params_.push_back(std::move(p));
  return params_.back();
}

Param& ParamStore::get(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) fail(name, "no such trainable parameter");
  return params_[it->second];
}

const Param& ParamStore::get(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(name, "no such trainable parameter");
  return params_[it->second];
}

ParamView ParamStore::view(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) return {};
  Param& p = params_[it->second];
  return {p.data(), p.grad_data()};
}

int64_t ParamStore::numel() const {
  int64_t n = 0;
  for (const Param& p : params_) n += p.numel();
  return n;
}

void ParamStore::zero_grad() {
  for (Param& p : params_) {
    float* g = p.grad_data();
    ThreadPool::global().parallel_for(p.numel(), [&](int64_t b, int64_t e) { std::fill(g + b, g + e, 0.0f); },
                                      1 << 16);
  }
}

std::map<std::string, Tensor> ParamStore::values() const {
  std::map<std::string, Tensor> m;
  for (const Param& p : params_) m[p.name] = p.value;
  return m;
}

std::map<std::string, Tensor> ParamStore::grads() const {
  std::map<std::string, Tensor> m;
  for (const Param& p : params_) m[p.name] = p.grad;
  return m;
}

void ParamStore::load_values(const std::map<std::string, Tensor>& tensors, const std::string& where) {
  for (Param& p : params_) {
    auto it = tensors.find(p.name);
    require(it != tensors.end(), where, "missing tensor " + p.name);
    const Tensor& t = it->second;
    require(t.shape() == p.value.shape(), where,
            "tensor " + p.name + " has shape " + t.shape_string() + ", expected " + p.value.shape_string());
    require(t.dtype() == DType::F32 || t.dtype() == DType::BF16 || t.dtype() == DType::F16, where,
            "tensor " + p.name + " is not a float tensor");
    const Tensor f = t.to_f32();
    std::copy_n(f.data_as<float>(), p.numel(), p.data());
  }
}

}  // namespace nova::train
