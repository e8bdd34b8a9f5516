#include "kernels/cpu/embedding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>

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

// Backend::embedding_ids' default (ids held by the backend, e.g. a device sample's picks): the
// same rows as embedding(); an id outside the vocabulary (never checked on the host) reads row 0.
TEST(Embedding, IdsHeldByTheBackendGatherTheSameRows) {
  auto& be = kernels::CpuBackend::instance();
  const int64_t vocab = 6, dim = 3;
  const auto values = test::random_floats(vocab * dim, 7);
  Tensor table = Tensor::zeros(DType::F32, {vocab, dim});
  std::copy(values.begin(), values.end(), table.data_as<float>());
  Tensor ids = Tensor::zeros(DType::I32, {4});
  const int32_t held[] = {5, 2, -3, 6};
  std::copy(std::begin(held), std::end(held), ids.data_as<int32_t>());
  Tensor out = Tensor::zeros(DType::F32, {4, dim});
  be.embedding_ids(table, ids, out);
  const int32_t expect[] = {5, 2, 0, 0};
  for (int r = 0; r < 4; ++r)
    for (int64_t i = 0; i < dim; ++i) EXPECT_EQ(out.data_as<float>()[r * dim + i], values[expect[r] * dim + i]);
  Tensor f32_ids = Tensor::zeros(DType::F32, {4});
  EXPECT_THROW(be.embedding_ids(table, f32_ids, out), Error);
}

}  // namespace
}  // namespace nova
