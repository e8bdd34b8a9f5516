// Whole-model checks on tiny random configurations of every family: the training forward equals
// the inference forward (model::Transformer over a checkpoint saved from the ParamStore), and
// every parameter's gradient matches finite differences of the loss (tied head, biases,
// qk-norm, sliding window, MoE router + experts + aux loss, shared expert gate).
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "formats/safetensors.h"
#include "gradcheck_util.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/transformer.h"
#include "support/fixtures.h"
#include "tiny_configs.h"
#include "train/model_params.h"
#include "train/train_model.h"

namespace nova::train {
namespace {

using test::expect_grad_matches;

TrainModel make_model(const formats::ModelConfig& c, uint32_t seed, double aux_coef = 0.0) {
  ParamStore p = make_params(c);
  init_params_random(p, seed, 0.3f);
  // Norm weights away from 1 so their gradients matter.
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.6f, 1.4f);
  for (Param& q : p.params())
    if (q.name.find("norm.weight") != std::string::npos)
      for (int64_t i = 0; i < q.numel(); ++i) q.data()[i] = u(rng);
  return TrainModel(c, std::move(p), {.recompute = false, .router_aux_loss_coef = aux_coef});
}

class TinyModels : public ::testing::TestWithParam<int> {};

TEST_P(TinyModels, ForwardMatchesInferenceTransformer) {
  const auto [name, c] = test::tiny_configs()[GetParam()];
  TrainModel m = make_model(c, 11);
  const Batch b = test::random_batch(1, 9, c.vocab_size, 3);
  m.forward(b);
  const std::string dir = nova::test::scratch_dir("train_" + name);
  formats::save_safetensors(dir + "/model.safetensors", m.params().values());
  auto inference = model::Transformer::create(c, formats::Checkpoint::open_dir(dir), kernels::CpuBackend::instance());
  std::vector<float> logits;
  inference->new_session(16)->forward(b.inputs, logits, true);
  const std::vector<float>& ours = m.last_logits();
  ASSERT_EQ(logits.size(), ours.size());
  double max_diff = 0;
  for (size_t i = 0; i < ours.size(); ++i) max_diff = std::max(max_diff, double(std::abs(ours[i] - logits[i])));
  EXPECT_LE(max_diff, 1e-4) << name;
}

TEST_P(TinyModels, GradientsMatchFiniteDifferences) {
  const auto [name, c] = test::tiny_configs()[GetParam()];
  const bool moe = c.num_experts > 0;
  TrainModel m = make_model(c, 21, moe ? 0.3 : 0.0);
  Batch b = test::random_batch(2, 6, c.vocab_size, 5);
  b.targets[3] = -100;  // an ignored position
  m.params().zero_grad();
  const LossParts parts = m.forward_backward(b);
  EXPECT_EQ(parts.tokens, 11);
  if (moe) {
    EXPECT_GT(parts.aux_loss, 0.0);
  }
  auto loss = [&] { return m.forward(b).loss; };
  // The whole tensor moves along a +/-1 direction scaled to a total step of norm `step` (so the
  // check stays in the linear regime); MoE: small enough that no token's expert choice flips.
  const double step = moe ? 2e-3 : 1e-2;
  for (Param& p : m.params().params()) {
    const std::vector<float> grad(p.grad_data(), p.grad_data() + p.numel());
    const double h = step / std::sqrt(double(p.numel()));
    expect_grad_matches(name + " " + p.name, p.data(), grad.data(), p.numel(), loss, h, 2e-2, 1e-6, 2);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, TinyModels, ::testing::Range(0, int(test::tiny_configs().size())),
                         [](const ::testing::TestParamInfo<int>& i) { return test::tiny_configs()[i.param].first; });

TEST(TinyModels, SavedParamsReloadUnderTheSameNames) {
  for (const auto& [name, c] : test::tiny_configs()) {
    TrainModel m = make_model(c, 31);
    const std::string dir = nova::test::scratch_dir("train_reload_" + name);
    formats::save_safetensors(dir + "/model.safetensors", m.params().values());
    const ParamStore back = load_params(c, formats::Checkpoint::open_dir(dir));
    ASSERT_EQ(back.size(), m.params().size()) << name;
    for (const Param& p : m.params().params())
      EXPECT_EQ(0, std::memcmp(p.value.data(), back.get(p.name).value.data(), p.value.nbytes())) << p.name;
    if (c.tie_word_embeddings) {
      EXPECT_FALSE(back.contains("lm_head.weight"));
    }
  }
}

TEST(TinyModels, BadBatchesThrow) {
  const formats::ModelConfig c = test::tiny_configs()[0].second;
  TrainModel m = make_model(c, 41);
  Batch b = test::random_batch(1, 4, c.vocab_size, 1);
  b.inputs[2] = c.vocab_size;
  EXPECT_THROW(m.forward(b), nova::Error);
  b = test::random_batch(1, 4, c.vocab_size, 1);
  b.targets[0] = 1000;
  EXPECT_THROW(m.forward_backward(b), nova::Error);
  b.targets.pop_back();
  EXPECT_THROW(m.forward(b), nova::Error);
}

}  // namespace
}  // namespace nova::train
