// Transformer::forward_logits / Session::forward_logits: the last row's logits left on the
// backend must be forward()'s logits, and the session must advance as forward() does.
#include <gtest/gtest.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "model/transformer.h"
#include "model_fixture.h"

namespace nova {
namespace {

using model::Transformer;

class ForwardLogits : public ::testing::TestWithParam<std::string> {};

std::vector<float> downloaded(kernels::Backend& be, const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  be.download(t, out.data());
  return out;
}

TEST_P(ForwardLogits, LastRowOnTheBackendEqualsForward) {
  auto model = Transformer::load(test::model_dir(GetParam()));
  const int64_t V = model->config().vocab_size;
  for (const test::ModelCase& c : test::model_cases(GetParam())) {
    ASSERT_GE(c.input_ids.size(), 2u);
    const std::span<const int32_t> ids(c.input_ids);
    const size_t split = ids.size() / 2;
    auto host = model->new_session(64);
    auto dev = model->new_session(64);
    std::vector<float> expect;
    // A prompt chunk, then one decode token: both paths.
    for (auto part : {ids.subspan(0, split), ids.subspan(split, 1)}) {
      host->forward(part, expect);
      const Tensor got = dev->forward_logits(part);
      ASSERT_EQ(got.ndim(), 2);
      EXPECT_EQ(got.dim(0), 1);
      ASSERT_EQ(got.dim(1), V);
      EXPECT_EQ(got.dtype(), DType::F32);
      EXPECT_EQ(downloaded(model->backend(), got), expect);
      EXPECT_EQ(dev->length(), host->length());
    }
    // And they match the reference row of the last token run.
    const auto row = static_cast<int64_t>(split);
    const std::vector<float> ref(c.logits.begin() + row * V, c.logits.begin() + (row + 1) * V);
    EXPECT_LT(test::max_abs_diff(expect, ref), 1e-3);
  }
}

TEST(ForwardLogitsCpu, CpuSessionsSampleOnTheHost) {
  auto model = Transformer::load(test::model_dir("qwen3"));
  auto s = model->new_session(16);
  EXPECT_EQ(s->device_sampling_backend(), nullptr);  // the CPU backend does not sample
}

TEST(ForwardLogitsCpu, ValidatesLikeForward) {
  auto model = Transformer::load(test::model_dir("qwen3"));
  auto s = model->new_session(4);
  const std::vector<int32_t> bad = {0, model->config().vocab_size};
  EXPECT_THROW(s->forward_logits(bad), Error);
  const std::vector<int32_t> too_long = {1, 2, 3, 4, 5};
  EXPECT_THROW(s->forward_logits(too_long), Error);
  EXPECT_EQ(s->length(), 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ForwardLogits, ::testing::Values("qwen3", "llama-gqa", "mixtral-moe"));

}  // namespace
}  // namespace nova
