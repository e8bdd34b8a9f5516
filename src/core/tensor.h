// A Tensor is a typed, shaped view of memory that either owns its buffer or borrows it
// (e.g. from a memory-mapped checkpoint, zero-copy). Row-major strides in elements.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace nova {

class Tensor {
 public:
  Tensor() = default;

  // A new zero-filled tensor owning 64-byte aligned memory.
  static Tensor zeros(DType dtype, std::vector<int64_t> shape);
  // A view of memory owned elsewhere; `keep_alive` (may be null) is held as long as the view.
  static Tensor view(DType dtype, std::vector<int64_t> shape, const void* data,
                     std::shared_ptr<const void> keep_alive = nullptr);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool empty() const { return data_ == nullptr; }
  bool is_contiguous() const;

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <class T> T* data_as() { return static_cast<T*>(data_); }
  template <class T> const T* data_as() const { return static_cast<const T*>(data_); }

  // Same memory, new shape (numel must match; tensor must be contiguous).
  Tensor reshape(std::vector<int64_t> shape) const;
  // Rows [begin, end) of the first dimension, sharing memory.
  Tensor slice_rows(int64_t begin, int64_t end) const;
  // A contiguous float32 copy (converting from bf16/f16 as needed).
  Tensor to_f32() const;

  std::string shape_string() const;

 private:
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  std::vector<int64_t> strides_;
  void* data_ = nullptr;
  std::shared_ptr<const void> owner_;
};

std::vector<int64_t> contiguous_strides(const std::vector<int64_t>& shape);

}  // namespace nova
