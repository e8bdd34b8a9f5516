// The fixture's 10-step AdamW run (shared/fixtures/train/llama-train, produced by transformers +
// torch.optim.AdamW): step-0 gradients, per-step loss and pre-clip grad norm, final weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "train/trainer.h"
#include "train_fixture.h"

namespace nova::train {
namespace {

using test::rel_l2;
using Fixture = test::TrainFixture;

TEST(FixtureTraining, Step0GradientsMatchTorch) {
  const Fixture fx;
  ASSERT_EQ(fx.tokens.size(), size_t(fx.steps * fx.B * (fx.T + 1)));
  auto model = TrainModel::from_pretrained(Fixture::path("init"));
  model->params().zero_grad();
  const LossParts loss = model->forward_backward(fx.batch(0));
  EXPECT_NEAR(loss.loss, fx.ref["loss_per_step"][0].get<double>(), 1e-4 * fx.ref["loss_per_step"][0].get<double>());
  const formats::SafetensorsFile ref = formats::SafetensorsFile::open(Fixture::path("grads_step0.safetensors"));
  EXPECT_EQ(ref.names().size(), model->params().size());
  for (const Param& p : model->params().params()) {
    const Tensor& g = ref.get(p.name);
    ASSERT_EQ(g.shape(), p.grad.shape()) << p.name;
    const double err = rel_l2(p.grad.data_as<float>(), g.data_as<float>(), p.numel());
    EXPECT_LE(err, 1e-4) << p.name;
  }
}

TEST(FixtureTraining, TenStepTrajectoryAndFinalWeights) {
  const Fixture fx;
  for (bool recompute : {false, true}) {
    auto model = TrainModel::from_pretrained(Fixture::path("init"), {.recompute = recompute});
    Trainer trainer(*model, fx.trainer_config());
    for (int64_t s = 0; s < fx.steps; ++s) {
      const StepResult r = trainer.step(fx.batch(s));
      ASSERT_FALSE(r.skipped) << r.skip_reason;
      const double want_loss = fx.ref["loss_per_step"][s], want_norm = fx.ref["grad_norm_before_clip_per_step"][s];
      EXPECT_LE(std::abs(r.loss - want_loss), 1e-4 * want_loss) << "step " << s << " loss " << r.loss;
      EXPECT_LE(std::abs(r.grad_norm - want_norm), 2e-4 * want_norm) << "step " << s << " norm " << r.grad_norm;
      EXPECT_DOUBLE_EQ(r.lr, 3e-3);
    }
    EXPECT_EQ(trainer.step_count(), fx.steps);
    const formats::Checkpoint final_ckpt = formats::Checkpoint::open_dir(Fixture::path("final"));
    double max_abs = 0, max_rel_l2 = 0;
    int64_t total = 0, off_by_more = 0;  // elements further than 1e-3 from torch's
    std::string worst;
    for (const Param& p : model->params().params()) {
      const Tensor& w = final_ckpt.get(p.name);
      const float* a = p.value.data_as<float>();
      const float* b = w.data_as<float>();
      double tensor_max = 0;
      for (int64_t i = 0; i < p.numel(); ++i) {
        const double d = std::abs(double(a[i]) - b[i]);
        tensor_max = std::max(tensor_max, d);
        off_by_more += d > 1e-3;
      }
      total += p.numel();
      if (tensor_max > max_abs) worst = p.name;
      max_abs = std::max(max_abs, tensor_max);
      max_rel_l2 = std::max(max_rel_l2, rel_l2(a, b, p.numel()));
    }
    std::printf("[ fixture ] recompute=%d final weights vs torch: max |diff| %.3g (%s), %lld of %lld elements off "
                "by > 1e-3, max per-tensor rel L2 %.3g\n",
                int(recompute), max_abs, worst.c_str(), static_cast<long long>(off_by_more),
                static_cast<long long>(total), max_rel_l2);
    // Adam's first update of an element is +-lr whatever its gradient's magnitude, so an element
    // whose true gradient is ~1e-6 (cancelling contributions) moves by lr in the direction of its
    // rounding error. Traced on the scalar tier: embed_tokens[28, 9] gets +2e-6 at step 3 where
    // torch (and our avx2 tier) get -6e-7, and ends 0.01 (~3 lr) away; the trajectory moves with
    // it (step-7 grad norm 1.1e-4 relative). Whole tensors agree to ~1e-3 relative on every tier
    // (avx2: ~4e-5); only a handful of elements may sit a few lr away.
    const double lr = fx.ref["hyperparams"]["lr"];
    EXPECT_LE(max_abs, 5 * lr);
    EXPECT_LE(off_by_more, total / 1000) << "elements further than 1e-3 from torch's final weights";
    EXPECT_LE(max_rel_l2, 2e-3);
  }
}

}  // namespace
}  // namespace nova::train
