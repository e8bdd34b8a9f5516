// Shared by the CUDA backend tests: the process's CUDA backend (or the reason there is none, for
// GTEST_SKIP), host <-> device helpers, and comparisons against the CPU backend.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/backend.h"
#include "kernels/backend_factory.h"

namespace nova::test {

// The CUDA backend shared by every test of the process, or null with `why` set (no CUDA in this
// build, no driver, no device): tests then skip, so CI without a GPU passes.
inline kernels::Backend* cuda_backend(std::string* why) {
  static std::unique_ptr<kernels::Backend> backend;
  static std::string reason;
  static bool tried = false;
  if (!tried) {
    tried = true;
    try {
      backend = kernels::make_backend("cuda");
    } catch (const Error& e) {
      reason = e.what();
    }
  }
  if (!backend && why) *why = reason;
  return backend.get();
}

#define NOVA_REQUIRE_CUDA(var)                                   \
  std::string nova_skip_reason_;                                 \
  kernels::Backend* var = ::nova::test::cuda_backend(&nova_skip_reason_); \
  if (!var) GTEST_SKIP() << "no CUDA backend: " << nova_skip_reason_

inline Tensor host_f32(const std::vector<float>& v, std::vector<int64_t> shape) {
  Tensor t = Tensor::zeros(DType::F32, std::move(shape));
  std::copy(v.begin(), v.end(), t.data_as<float>());
  return t;
}

inline std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// A host tensor of `dtype` holding `v` (rounded to nearest even for 16-bit types).
inline Tensor host_of(DType dtype, const std::vector<float>& v, std::vector<int64_t> shape) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  for (size_t i = 0; i < v.size(); ++i) {
    if (dtype == DType::F32) t.data_as<float>()[i] = v[i];
    else if (dtype == DType::BF16) t.data_as<uint16_t>()[i] = f32_to_bf16(v[i]);
    else t.data_as<uint16_t>()[i] = f32_to_f16(v[i]);
  }
  return t;
}

// v rounded to bf16 and back (the values a BF16 tensor of v holds).
inline std::vector<float> round_bf16(std::vector<float> v) {
  for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

// A backend tensor's values as floats (F32 as is, BF16 widened).
inline std::vector<float> to_host(kernels::Backend& be, const Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::BF16) {
    std::vector<uint16_t> raw(v.size());
    be.download(t, raw.data());
    for (size_t i = 0; i < raw.size(); ++i) v[i] = bf16_to_f32(raw[i]);
  } else {
    be.download(t, v.data());
  }
  return v;
}

inline std::vector<float> values(const Tensor& host) {
  return std::vector<float>(host.data_as<float>(), host.data_as<float>() + host.numel());
}

// max |a - b| / max(1, max |b|): an error relative to the output's scale.
inline double scaled_error(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double err = 0, mag = 1;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    err = std::max(err, std::abs(double(a[i]) - b[i]));
    mag = std::max(mag, std::abs(double(b[i])));
  }
  return err / mag;
}

// A paged_attention call's layout: sequences of (rows, pos0) packed into q rows from `first_row`
// (rows before it are named by no sequence), their blocks of `block_size` slots drawn from a
// shuffled pool with `spare_blocks` unused ones, so tables are neither in order nor dense.
struct PagedLayout {
  std::vector<kernels::PagedAttentionSeq> seqs;
  std::vector<int32_t> tables;
  int64_t total_rows = 0, num_blocks = 0;
};
struct SeqShape {
  int64_t rows, pos0;
};
inline PagedLayout paged_layout(const std::vector<SeqShape>& shapes, int64_t block_size, int64_t spare_blocks,
                                uint32_t seed, int64_t first_row = 0) {
  PagedLayout l;
  l.total_rows = first_row;
  for (const SeqShape& s : shapes) l.num_blocks += (s.pos0 + s.rows + block_size - 1) / block_size;
  l.num_blocks += spare_blocks;
  std::vector<int32_t> perm(static_cast<size_t>(l.num_blocks));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(seed));
  size_t next = 0;
  for (const SeqShape& s : shapes) {
    const int64_t nb = (s.pos0 + s.rows + block_size - 1) / block_size;
    l.seqs.push_back({l.total_rows, s.rows, s.pos0, static_cast<int64_t>(l.tables.size()), nb});
    for (int64_t b = 0; b < nb; ++b) l.tables.push_back(perm[next++]);
    l.total_rows += s.rows;
  }
  return l;
}

}  // namespace nova::test
