// forward_hidden: the final-normed hidden states that embeddings pool. Checked against the
// transformers reference logits: hidden W_lm^T (lm_head read straight from the checkpoint, or
// the embedding when tied) must give the fixture's logits row for row.
#include "model/transformer.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "formats/safetensors.h"
#include "model/weight_names.h"
#include "model_fixture.h"

namespace nova {
namespace {

using model::Transformer;

class HiddenStates : public ::testing::TestWithParam<std::string> {};

TEST_P(HiddenStates, TimesLmHeadGivesReferenceLogits) {
  const std::string dir = test::model_dir(GetParam());
  auto model = Transformer::load(dir);
  const auto& cfg = model->config();
  const auto ckpt = formats::Checkpoint::open_dir(dir);
  const Tensor lm = ckpt.get(cfg.tie_word_embeddings && !ckpt.contains(model::weight_names::kLmHead) ? model::weight_names::kEmbed
                                                                                                 : model::weight_names::kLmHead)
                        .to_f32();
  const float* w = lm.data_as<float>();
  const int64_t H = cfg.hidden_size, V = cfg.vocab_size;
  for (const test::ModelCase& c : test::model_cases(GetParam())) {
    const auto M = static_cast<int64_t>(c.input_ids.size());
    auto cache = model::KvCache::allocate(model->backend(), cfg.num_layers, M, cfg.num_kv_heads, cfg.head_dim);
    std::vector<float> hidden;
    model->forward_hidden(c.input_ids, 0, cache, hidden);
    ASSERT_EQ(hidden.size(), static_cast<size_t>(M * H));
    std::vector<float> logits(static_cast<size_t>(M * V));
    for (int64_t r = 0; r < M; ++r)
      for (int64_t v = 0; v < V; ++v) {
        double acc = 0;
        for (int64_t h = 0; h < H; ++h) acc += static_cast<double>(hidden[r * H + h]) * w[v * H + h];
        logits[r * V + v] = static_cast<float>(acc);
      }
    EXPECT_LE(test::max_abs_diff(logits, c.logits), 1e-4) << GetParam() << " prompt of " << M;
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HiddenStates, ::testing::Values("qwen3", "llama-mha-tied", "mixtral-moe"));

TEST(HiddenStatesErrors, ValidatesLikeForward) {
  auto model = Transformer::load(test::model_dir("qwen3"));
  const auto& cfg = model->config();
  auto cache = model::KvCache::allocate(model->backend(), cfg.num_layers, 4, cfg.num_kv_heads, cfg.head_dim);
  std::vector<float> hidden;
  const std::vector<int32_t> too_long(5, 1), bad_id = {static_cast<int32_t>(cfg.vocab_size)};
  EXPECT_THROW(model->forward_hidden(too_long, 0, cache, hidden), Error);
  EXPECT_THROW(model->forward_hidden(bad_id, 0, cache, hidden), Error);
  EXPECT_THROW(model->forward_hidden({}, 0, cache, hidden), Error);
}

}  // namespace
}  // namespace nova
