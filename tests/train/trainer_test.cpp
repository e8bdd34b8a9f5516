// The training step machinery: gradient checkpointing (bit-identical grads), gradient
// accumulation, NaN/Inf skipping, clipping, AdamW (torch semantics, decay on >= 2-dim params,
// state save/restore) and the learning-rate schedules.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "formats/safetensors.h"
#include "support/fixtures.h"
#include "tiny_configs.h"
#include "train/grad_clip.h"
#include "train/model_params.h"
#include "train/trainer.h"

namespace nova::train {
namespace {

TrainModel make_model(const formats::ModelConfig& c, bool recompute = false, double aux = 0.0) {
  ParamStore p = make_params(c);
  init_params_random(p, 5, 0.3f);
  return TrainModel(c, std::move(p), {.recompute = recompute, .router_aux_loss_coef = aux});
}

std::vector<float> flat_grads(const ParamStore& s) {
  std::vector<float> g;
  for (const Param& p : s.params()) g.insert(g.end(), p.grad.data_as<float>(), p.grad.data_as<float>() + p.numel());
  return g;
}

std::vector<float> flat_values(const ParamStore& s) {
  std::vector<float> v;
  for (const Param& p : s.params())
    v.insert(v.end(), p.value.data_as<float>(), p.value.data_as<float>() + p.numel());
  return v;
}

TEST(GradientCheckpointing, BitIdenticalGradsForEveryFamily) {
  for (const auto& [name, c] : test::tiny_configs()) {
    const double aux = c.num_experts > 0 ? 0.02 : 0.0;
    TrainModel plain = make_model(c, false, aux), recomputed = make_model(c, true, aux);
    const Batch b = test::random_batch(2, 7, c.vocab_size, 9);
    plain.params().zero_grad();
    recomputed.params().zero_grad();
    const LossParts a = plain.forward_backward(b), r = recomputed.forward_backward(b);
    EXPECT_EQ(a.loss, r.loss) << name;
    const std::vector<float> ga = flat_grads(plain.params()), gr = flat_grads(recomputed.params());
    ASSERT_EQ(ga.size(), gr.size());
    EXPECT_EQ(0, std::memcmp(ga.data(), gr.data(), ga.size() * sizeof(float))) << name;
  }
}

TEST(GradientAccumulation, TwoHalfBatchesEqualOneBatch) {
  for (const auto& [name, c] : test::tiny_configs()) {
    if (c.num_experts > 0) continue;  // the aux loss is per micro-batch by definition
    const Batch full = test::random_batch(4, 8, c.vocab_size, 13);
    Batch half[2];
    for (int i = 0; i < 2; ++i) {
      half[i].B = 2;
      half[i].T = 8;
      half[i].inputs.assign(full.inputs.begin() + i * 16, full.inputs.begin() + (i + 1) * 16);
      half[i].targets.assign(full.targets.begin() + i * 16, full.targets.begin() + (i + 1) * 16);
    }
    TrainModel m1 = make_model(c), m2 = make_model(c);
    TrainerConfig tc;
    tc.schedule.lr = 1e-3;
    Trainer t1(m1, tc), t2(m2, tc);
    const StepResult r1 = t1.step(full);
    const std::vector<float> g1 = flat_grads(m1.params());
    const StepResult r2 = t2.step(std::span<const Batch>(half, 2));
    const std::vector<float> g2 = flat_grads(m2.params());
    EXPECT_NEAR(r1.loss, r2.loss, 1e-6 * r1.loss) << name;
    EXPECT_NEAR(r1.grad_norm, r2.grad_norm, 1e-5 * r1.grad_norm) << name;
    double num = 0, den = 0;
    for (size_t i = 0; i < g1.size(); ++i) {
      num += (double(g1[i]) - g2[i]) * (double(g1[i]) - g2[i]);
      den += double(g1[i]) * g1[i];
    }
    EXPECT_LE(std::sqrt(num / den), 1e-5) << name;
    const std::vector<float> w1 = flat_values(m1.params()), w2 = flat_values(m2.params());
    double max_diff = 0;
    for (size_t i = 0; i < w1.size(); ++i) max_diff = std::max(max_diff, double(std::abs(w1[i] - w2[i])));
    // Adam's first step moves every weight by ~lr * sign(g); tiny gradients may differ in sign.
    EXPECT_LE(max_diff, 2.1e-3) << name;
  }
}

TEST(GradientAccumulation, IgnoredTargetsWeightMicroBatchesByTheirTokens) {
  const formats::ModelConfig c = test::tiny_configs()[0].second;
  Batch full = test::random_batch(2, 6, c.vocab_size, 17);
  for (int i = 0; i < 5; ++i) full.targets[i] = -100;  // the first row keeps 1 target, the second 6
  Batch half[2];
  for (int i = 0; i < 2; ++i) {
    half[i].B = 1;
    half[i].T = 6;
    half[i].inputs.assign(full.inputs.begin() + i * 6, full.inputs.begin() + (i + 1) * 6);
    half[i].targets.assign(full.targets.begin() + i * 6, full.targets.begin() + (i + 1) * 6);
  }
  TrainModel m1 = make_model(c), m2 = make_model(c);
  Trainer t1(m1, {}), t2(m2, {});
  const StepResult r1 = t1.step(full), r2 = t2.step(std::span<const Batch>(half, 2));
  EXPECT_EQ(r1.tokens, 7);
  EXPECT_EQ(r2.tokens, 7);
  EXPECT_NEAR(r1.loss, r2.loss, 1e-6 * r1.loss);
  EXPECT_NEAR(r1.grad_norm, r2.grad_norm, 1e-5 * r1.grad_norm);
}

TEST(NonFiniteGuard, NanInGradsSkipsTheStep) {
  const formats::ModelConfig c = test::tiny_configs()[4].second;  // MoE
  TrainModel m = make_model(c);
  Trainer t(m, {});
  const Batch b = test::random_batch(2, 5, c.vocab_size, 19);
  ASSERT_FALSE(t.step(b).skipped);
  const std::vector<float> before = flat_values(m.params());
  const auto state_before = t.optimizer().state_tensors();
  std::vector<std::vector<float>> m_before;
  for (const auto& [name, tensor] : state_before)
    if (tensor.dtype() == DType::F32)
      m_before.emplace_back(tensor.data_as<float>(), tensor.data_as<float>() + tensor.numel());

  t.set_grad_hook([](ParamStore& s) { s.params()[3].grad_data()[1] = std::numeric_limits<float>::quiet_NaN(); });
  const StepResult r = t.step(b);
  EXPECT_TRUE(r.skipped);
  EXPECT_NE(r.skip_reason.find("gradient norm"), std::string::npos) << r.skip_reason;
  EXPECT_TRUE(std::isnan(r.grad_norm));
  EXPECT_EQ(t.step_count(), 1);
  EXPECT_EQ(t.skipped_steps(), 1);
  const std::vector<float> after = flat_values(m.params());
  EXPECT_EQ(0, std::memcmp(before.data(), after.data(), before.size() * sizeof(float)));
  size_t i = 0;
  for (const auto& [name, tensor] : t.optimizer().state_tensors())
    if (tensor.dtype() == DType::F32) {
      EXPECT_EQ(0, std::memcmp(m_before[i].data(), tensor.data(), tensor.nbytes())) << name;
      ++i;
    }

  t.set_grad_hook([](ParamStore& s) { s.params()[0].grad_data()[0] = INFINITY; });
  EXPECT_TRUE(t.step(b).skipped);
  t.set_grad_hook(nullptr);
  const StepResult ok = t.step(b);
  EXPECT_FALSE(ok.skipped);
  EXPECT_EQ(ok.step, 1);
  EXPECT_EQ(t.step_count(), 2);
}

TEST(NonFiniteGuard, NanLossAndNoTargetsSkip) {
  const formats::ModelConfig c = test::tiny_configs()[0].second;
  TrainModel m = make_model(c);
  Trainer t(m, {});
  Batch b = test::random_batch(1, 5, c.vocab_size, 23);
  Batch none = b;
  none.targets.assign(none.targets.size(), -100);
  const StepResult r0 = t.step(none);
  EXPECT_TRUE(r0.skipped);
  EXPECT_NE(r0.skip_reason.find("no counted target"), std::string::npos);
  m.params().get("model.norm.weight").data()[0] = NAN;
  const StepResult r = t.step(b);
  EXPECT_TRUE(r.skipped);
  EXPECT_NE(r.skip_reason.find("not finite"), std::string::npos);
  EXPECT_EQ(t.step_count(), 0);
}

TEST(GradClip, ScalesToMaxNormLikeTorch) {
  ParamStore s;
  Param& a = s.add("a", {2, 2});
  Param& b = s.add("b", {3});
  const float ga[] = {3, 0, 0, 4}, gb[] = {0, 12, 0};
  std::copy_n(ga, 4, a.grad_data());
  std::copy_n(gb, 3, b.grad_data());
  const double norm = global_grad_norm(s);
  EXPECT_DOUBLE_EQ(norm, 13.0);
  const float coef = clip_grads(s, norm, 1.0);
  EXPECT_FLOAT_EQ(coef, float(1.0 / (13.0 + 1e-6)));
  EXPECT_NEAR(global_grad_norm(s), 1.0, 1e-6);
  EXPECT_EQ(clip_grads(s, global_grad_norm(s), 5.0), 1.0f);  // below max: untouched
  EXPECT_EQ(clip_grads(s, 100.0, 0.0), 1.0f);                 // disabled
}

TEST(AdamW, MatchesTorchFormulaAndDecaysOnlyMatrices) {
  ParamStore s;
  Param& w = s.add("w", {1, 2});
  Param& bias = s.add("bias", {2});
  w.data()[0] = 0.5f;
  w.data()[1] = -1.0f;
  bias.data()[0] = 0.5f;
  bias.data()[1] = -1.0f;
  AdamWConfig cfg;
  cfg.weight_decay = 0.1;
  AdamW opt(s, cfg);
  const double lr = 0.01;
  const float grads[2][2] = {{0.2f, -0.05f}, {-0.1f, 0.3f}};
  double pw[2] = {0.5, -1.0}, pb[2] = {0.5, -1.0}, m[2] = {0, 0}, v[2] = {0, 0};
  for (int t = 1; t <= 2; ++t) {
    for (int i = 0; i < 2; ++i) w.grad_data()[i] = bias.grad_data()[i] = grads[t - 1][i];
    opt.step(lr);
    for (int i = 0; i < 2; ++i) {
      const double g = grads[t - 1][i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.95 * v[i] + 0.05 * g * g;
      const double upd = lr / (1 - std::pow(0.9, t)) * m[i] / (std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.95, t)) + 1e-8);
      pw[i] = pw[i] * (1 - lr * 0.1) - upd;
      pb[i] = pb[i] - upd;
    }
  }
  for (int i = 0; i < 2; ++i) {
    EXPECT_NEAR(w.data()[i], pw[i], 1e-6);
    EXPECT_NEAR(bias.data()[i], pb[i], 1e-6);
  }
  EXPECT_EQ(opt.step_count(), 2);
}

TEST(AdamW, StateSavedAndRestoredContinuesIdentically) {
  const formats::ModelConfig c = test::tiny_configs()[5].second;
  TrainerConfig tc;
  tc.schedule = {LrScheduleKind::Cosine, 1e-2, 1e-3, 2, 6};
  TrainModel a = make_model(c, false, 0.01), b = make_model(c, false, 0.01);
  Trainer ta(a, tc), tb(b, tc);
  for (int s = 0; s < 3; ++s) {
    ta.step(test::random_batch(2, 5, c.vocab_size, 100 + s));
    tb.step(test::random_batch(2, 5, c.vocab_size, 100 + s));
  }
  // Save b's weights and optimiser state, restore them into a fresh model and trainer.
  const std::string dir = nova::test::scratch_dir("train_adamw_state");
  formats::save_safetensors(dir + "/model.safetensors", b.params().values());
  formats::save_safetensors(dir + "/optimizer.safetensors", tb.optimizer().state_tensors());
  TrainModel restored(c, load_params(c, formats::Checkpoint::open_dir(dir)), {.router_aux_loss_coef = 0.01});
  Trainer tr(restored, tc);
  const formats::SafetensorsFile st = formats::SafetensorsFile::open(dir + "/optimizer.safetensors");
  std::map<std::string, Tensor> state;
  for (const std::string& n : st.names()) state[n] = st.get(n);
  tr.optimizer().load_state(state, "optimizer.safetensors");
  EXPECT_EQ(tr.step_count(), 3);
  for (int s = 3; s < 6; ++s) {
    const Batch batch = test::random_batch(2, 5, c.vocab_size, 100 + s);
    const StepResult x = ta.step(batch), y = tr.step(batch);
    EXPECT_EQ(x.loss, y.loss);
    EXPECT_EQ(x.lr, y.lr);
  }
  const std::vector<float> wa = flat_values(a.params()), wr = flat_values(restored.params());
  EXPECT_EQ(0, std::memcmp(wa.data(), wr.data(), wa.size() * sizeof(float)));

  state.erase("step");
  EXPECT_THROW(tr.optimizer().load_state(state, "opt"), nova::Error);
}

TEST(LrSchedule, ConstantCosineLinear) {
  const LrSchedule constant{LrScheduleKind::Constant, 3e-3, 0.0, 0, 0};
  EXPECT_EQ(constant.at(0), 3e-3);
  EXPECT_EQ(constant.at(1000), 3e-3);
  const LrSchedule cosine{LrScheduleKind::Cosine, 1.0, 0.1, 4, 14};
  EXPECT_DOUBLE_EQ(cosine.at(0), 0.25);
  EXPECT_DOUBLE_EQ(cosine.at(3), 1.0);
  EXPECT_DOUBLE_EQ(cosine.at(4), 1.0);
  EXPECT_NEAR(cosine.at(9), 0.1 + 0.9 * 0.5, 1e-12);  // half way
  EXPECT_DOUBLE_EQ(cosine.at(14), 0.1);
  EXPECT_DOUBLE_EQ(cosine.at(100), 0.1);
  const LrSchedule linear{LrScheduleKind::Linear, 1.0, 0.0, 2, 12};
  EXPECT_DOUBLE_EQ(linear.at(1), 1.0);
  EXPECT_DOUBLE_EQ(linear.at(7), 0.5);
  EXPECT_DOUBLE_EQ(linear.at(12), 0.0);
  EXPECT_EQ(parse_lr_schedule_kind("cosine", "x"), LrScheduleKind::Cosine);
  EXPECT_THROW(parse_lr_schedule_kind("step", "--lr-schedule"), nova::Error);
}

}  // namespace
}  // namespace nova::train
