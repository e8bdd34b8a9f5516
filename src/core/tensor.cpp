#include "core/tensor.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace nova {

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape_) n *= d;
  return n;
}

bool Tensor::is_contiguous() const { return strides_ == contiguous_strides(shape_); }

Tensor Tensor::zeros(DType dtype, std::vector<int64_t> shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.strides_ = contiguous_strides(t.shape_);
  size_t bytes = t.nbytes();
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) fail("tensor", "out of memory allocating " + std::to_string(bytes) + " bytes");
  std::memset(p, 0, rounded);
  t.data_ = p;
  t.owner_ = std::shared_ptr<const void>(p, [](const void* q) { std::free(const_cast<void*>(q)); });
  return t;
}

Tensor Tensor::view(DType dtype, std::vector<int64_t> shape, const void* data,
                    std::shared_ptr<const void> keep_alive) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.strides_ = contiguous_strides(t.shape_);
  t.data_ = const_cast<void*>(data);
  t.owner_ = std::move(keep_alive);
  return t;
}

Tensor Tensor::reshape(std::vector<int64_t> shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  t.strides_ = contiguous_strides(t.shape_);
  if (t.numel() != numel() || !is_contiguous())
    fail("tensor", "cannot reshape " + shape_string() + " to " + t.shape_string());
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  if (shape_.empty() || begin < 0 || end > shape_[0] || begin > end)
    fail("tensor", "row slice out of range for " + shape_string());
  Tensor t = *this;
  t.shape_[0] = end - begin;
  t.data_ = static_cast<char*>(data_) + begin * strides_[0] * static_cast<int64_t>(dtype_size(dtype_));
  return t;
}

Tensor Tensor::to_f32() const {
  if (!is_contiguous()) fail("tensor", "to_f32 needs a contiguous tensor");
  Tensor out = zeros(DType::F32, shape_);
  float* o = out.data_as<float>();
  const int64_t n = numel();
  switch (dtype_) {
    case DType::F32: std::memcpy(o, data_, n * 4); break;
    case DType::BF16: for (int64_t i = 0; i < n; ++i) o[i] = bf16_to_f32(data_as<uint16_t>()[i]); break;
    case DType::F16: for (int64_t i = 0; i < n; ++i) o[i] = f16_to_f32(data_as<uint16_t>()[i]); break;
    default: fail("tensor", std::string("cannot convert ") + std::string(dtype_name(dtype_)) + " to F32");
  }
  return out;
}

std::string Tensor::shape_string() const {
  std::string s = "[";
  for (size_t i = 0; i < shape_.size(); ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "]";
}

}  // namespace nova
