// The transformer against transformers' fp32 reference on every fixture model, with both the
// transformers-5 config.json and the legacy (rope_theta / rope_scaling) config.
#include "model/transformer.h"
#include "model/transformer_session.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "core/error.h"
#include "model_fixture.h"

namespace nova {
namespace {

using model::Transformer;

struct Variant {
  std::string model;
  std::string config;  // "config.json" or "config.legacy.json"
};

class FixtureModel : public ::testing::TestWithParam<Variant> {};

TEST_P(FixtureModel, LogitsAndGreedyMatchTransformers) {
  const Variant& p = GetParam();
  const std::string dir = test::model_dir(p.model);
  auto model = Transformer::load(dir, dir + "/" + p.config);
  for (const test::ModelCase& c : test::model_cases(p.model)) {
    ASSERT_EQ(c.vocab, model->config().vocab_size);
    auto session = model->new_session();
    std::vector<float> logits;
    session->forward(c.input_ids, logits, /*all_logits=*/true);
    EXPECT_LE(test::max_abs_diff(logits, c.logits), 1e-4) << p.model << " " << p.config << " prompt of "
                                                          << c.input_ids.size();
    EXPECT_EQ(test::greedy_continuation(*session, logits, c.vocab, c.greedy.size()), c.greedy)
        << p.model << " " << p.config;
  }
}

// Prefill in chunks and token-by-token decode reuse the KV cache; they must agree with one shot.
class FixtureModelChunks : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureModelChunks, ChunkedPrefillAndDecodeMatchOneShot) {
  const std::string& name = GetParam();
  auto model = Transformer::load(test::model_dir(name));
  const std::vector<int32_t> ids = test::model_cases(name).at(0).input_ids;
  const int64_t V = model->config().vocab_size;
  std::vector<float> one_shot;
  model->new_session()->forward(ids, one_shot, true);

  for (size_t chunk : {size_t{1}, size_t{3}, size_t{8}}) {
    auto s = model->new_session();
    std::vector<float> all, part;
    for (size_t at = 0; at < ids.size(); at += chunk) {
      const size_t n = std::min(chunk, ids.size() - at);
      s->forward(std::span<const int32_t>(ids).subspan(at, n), part, true);
      all.insert(all.end(), part.begin(), part.end());
    }
    EXPECT_EQ(s->length(), static_cast<int64_t>(ids.size()));
    EXPECT_LE(test::max_abs_diff(all, one_shot), 1e-5) << name << " chunk " << chunk;
  }
  // Last-token logits only.
  std::vector<float> last;
  model->new_session()->forward(ids, last, false);
  ASSERT_EQ(static_cast<int64_t>(last.size()), V);
  EXPECT_LE(test::max_abs_diff(last, std::vector<float>(one_shot.end() - V, one_shot.end())), 1e-5);
}

std::vector<Variant> all_variants() {
  std::vector<Variant> v;
  for (const std::string& m : test::fixture_models())
    for (const char* c : {"config.json", "config.legacy.json"}) v.push_back({m, c});
  return v;
}

std::string variant_name(const ::testing::TestParamInfo<Variant>& info) {
  std::string s = info.param.model + (info.param.config == "config.json" ? "" : "_legacy");
  std::replace(s.begin(), s.end(), '-', '_');
  return s;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureModel, ::testing::ValuesIn(all_variants()), variant_name);
INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureModelChunks, ::testing::ValuesIn(test::fixture_models()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

TEST(Transformer, ForkAndTruncateReproduceTheContinuation) {
  auto model = Transformer::load(test::model_dir("qwen2"));
  const std::vector<int32_t> ids = test::model_cases("qwen2").at(0).input_ids;
  const std::span<const int32_t> all(ids);
  auto s = model->new_session();
  std::vector<float> ref, a, b;
  model->new_session()->forward(all, ref, true);
  const int64_t V = model->config().vocab_size;
  const std::vector<float> want_tail(ref.begin() + 10 * V, ref.end());

  s->forward(all.subspan(0, 10), a, true);
  auto f = s->fork();
  EXPECT_EQ(f->length(), 10);
  f->forward(all.subspan(10), b, true);
  EXPECT_LE(test::max_abs_diff(b, want_tail), 1e-5);

  s->forward(std::vector<int32_t>{1, 2, 3}, a);  // diverge, then rewind
  s->truncate(10);
  EXPECT_EQ(s->length(), 10);
  s->forward(all.subspan(10), a, true);
  EXPECT_LE(test::max_abs_diff(a, want_tail), 1e-5);
}

TEST(Transformer, RejectsOutOfRangeIdsAndCapacityOverflow) {
  auto model = Transformer::load(test::model_dir("llama-gqa"));
  auto s = model->new_session(4);
  EXPECT_EQ(s->capacity(), 4);
  std::vector<float> logits;
  EXPECT_THROW(s->forward(std::vector<int32_t>{1, 512}, logits), Error);
  EXPECT_THROW(s->forward(std::vector<int32_t>{-1}, logits), Error);
  EXPECT_EQ(s->length(), 0);
  EXPECT_THROW(s->forward(std::vector<int32_t>{1, 2, 3, 4, 5}, logits), Error);
  s->forward(std::vector<int32_t>{1, 2, 3}, logits);
  EXPECT_THROW(s->forward(std::vector<int32_t>{4, 5}, logits), Error);
  EXPECT_EQ(s->length(), 3);
  s->forward(std::vector<int32_t>{4}, logits);
  EXPECT_EQ(s->length(), 4);
  EXPECT_EQ(model->new_session()->capacity(), model->config().max_position_embeddings);
}

}  // namespace
}  // namespace nova

namespace nova {
namespace {

TEST(Transformer, ProbeNamesEveryLayersIntermediates) {
  auto model = model::Transformer::load(test::model_dir("mixtral-moe"));
  model::TransformerSession s(model, 16);
  std::vector<std::string> names;
  std::vector<float> probed_logits, logits;
  const model::Probe probe = [&](std::string_view name, const Tensor& t) {
    names.emplace_back(name);
    if (name == "logits") probed_logits.assign(t.data_as<float>(), t.data_as<float>() + t.numel());
  };
  s.forward_traced(std::vector<int32_t>{5, 6, 7}, logits, true, probe);
  for (const char* want : {"embed", "layers.0.input_norm", "layers.0.q", "layers.0.attn", "layers.0.attn_out",
                           "layers.1.ffn_out", "layers.1.out", "final_norm", "logits"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  EXPECT_EQ(probed_logits, logits);
  EXPECT_EQ(s.length(), 3);
}

}  // namespace
}  // namespace nova
