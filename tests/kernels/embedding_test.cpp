#include "kernels/cpu/embedding.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/cpu/cpu_backend.h"

namespace nova {
namespace {

TEST(Embedding, GathersRowsOfEveryFloatDtype) {
  const int64_t vocab = 9, dim = 5;
  auto table = test::random_floats(vocab * dim, 31);
  Tensor f32 = Tensor::zeros(DType::F32, {vocab, dim});
  Tensor bf16 = Tensor::zeros(DType::BF16, {vocab, dim});
  Tensor f16 = Tensor::zeros(DType::F16, {vocab, dim});
  for (int64_t i = 0; i < vocab * dim; ++i) {
    f32.data_as<float>()[i] = table[i];
    bf16.data_as<uint16_t>()[i] = f32_to_bf16(table[i]);
    f16.data_as<uint16_t>()[i] = f32_to_f16(table[i]);
  }
  const std::vector<int32_t> ids = {3, 0, 8, 3};
  auto& be = kernels::CpuBackend::instance();
  for (const Tensor* t : {&f32, &bf16, &f16}) {
    Tensor out = Tensor::zeros(DType::F32, {4, dim});
    be.embedding(*t, ids, out);
    const double tol = t->dtype() == DType::F32 ? 0.0 : t->dtype() == DType::BF16 ? 1e-2 : 2e-3;
    for (size_t r = 0; r < ids.size(); ++r)
      for (int64_t i = 0; i < dim; ++i)
        EXPECT_NEAR(out.data_as<float>()[r * dim + i], table[ids[r] * dim + i], tol);
  }
}

TEST(Embedding, RejectsOutOfRangeIds) {
  auto& be = kernels::CpuBackend::instance();
  Tensor table = Tensor::zeros(DType::F32, {4, 2});
  Tensor out = Tensor::zeros(DType::F32, {1, 2});
  const std::vector<int32_t> big = {4}, neg = {-1};
  EXPECT_THROW(be.embedding(table, big, out), Error);
  EXPECT_THROW(be.embedding(table, neg, out), Error);
}

}  // namespace
}  // namespace nova
