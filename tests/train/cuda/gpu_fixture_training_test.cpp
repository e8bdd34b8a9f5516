// The fixture's 10-step AdamW run (shared/fixtures/train/llama-train, transformers + torch.optim)
// on the GPU trainer: fp32 must match torch as the CPU path does; bf16 mixed precision within
// the documented tolerance (docs/TRAINING.md, "Training on the GPU").
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "gpu_test_util.h"
#include "support/fixtures.h"
#include "train/gpu/gpu_trainer.h"
#include "train/model_params.h"

namespace nova::train {
namespace {

// Measured on an H100 (bf16 vs torch's fp32 run): see docs/TRAINING.md.
constexpr double kBf16LossTolerance = 1e-2;  // relative, per step
constexpr double kBf16GradTolerance = 5e-2;  // per-tensor relative L2 of the step-0 gradients

// The fixture with its model loaded as the GPU trainer takes it.
struct Fixture : test::TrainFixture {
  formats::ModelConfig config;
  ParamStore init;

  Fixture()
      : config(formats::load_hf_config(path("init/config.json"))),
        init(load_params(config, formats::Checkpoint::open_dir(path("init")))) {}
};

TEST(GpuFixtureTraining, Step0GradientsMatchTorch) {
  NOVA_REQUIRE_GPU();
  const Fixture fx;
  const formats::SafetensorsFile ref =
      formats::SafetensorsFile::open(Fixture::path("grads_step0.safetensors"));
  const double want_loss = fx.ref["loss_per_step"][0];
  {  // the CPU path's distance to torch, for scale
    TrainModel cpu(fx.config, fx.init);
    cpu.params().zero_grad();
    cpu.forward_backward(fx.batch(0));
    double worst = 0;
    for (const Param& p : cpu.params().params())
      worst = std::max(worst, test::rel_l2(p.grad.data_as<float>(), ref.get(p.name).data_as<float>(), p.numel()));
    std::printf("[ gpu fixture ] (cpu step-0 worst grad rel L2 vs torch: %.3g)\n", worst);
  }
  for (bool bf16 : {false, true}) {
    GpuTrainModel model(fx.config, fx.init, {.device = 0, .bf16 = bf16, .recompute = false});
    const Batch b = fx.batch(0);
    model.enqueue_zero_grad();
    const int64_t count = model.enqueue(b, true, 1.0f / static_cast<float>(b.target_count()), 0);
    const double loss = model.read_scalars(1)[0] / static_cast<double>(count);
    ParamStore grads = make_params(fx.config);
    model.download_grads(grads);
    double worst = 0;
    std::string worst_name;
    for (const Param& p : grads.params()) {
      const Tensor& g = ref.get(p.name);
      ASSERT_EQ(g.shape(), p.grad.shape()) << p.name;
      const double err = test::rel_l2(p.grad.data_as<float>(), g.data_as<float>(), p.numel());
      if (err >= worst) worst = err, worst_name = p.name;
    }
    std::printf("[ gpu fixture ] %s step-0 loss rel err %.3g, worst grad rel L2 %.3g (%s)\n", bf16 ? "bf16" : "fp32",
                std::abs(loss - want_loss) / want_loss, worst, worst_name.c_str());
    if (bf16) {
      EXPECT_LE(std::abs(loss - want_loss), kBf16LossTolerance * want_loss);
      EXPECT_LE(worst, kBf16GradTolerance) << worst_name;
    } else {
      EXPECT_LE(std::abs(loss - want_loss), 1e-5 * want_loss);
      EXPECT_LE(worst, 1e-4) << worst_name;
    }
  }
}

TEST(GpuFixtureTraining, TenStepTrajectoryAndFinalWeightsFp32) {
  NOVA_REQUIRE_GPU();
  const Fixture fx;
  const formats::Checkpoint final_ckpt = formats::Checkpoint::open_dir(Fixture::path("final"));
  for (bool recompute : {false, true}) {
    GpuTrainer trainer(fx.config, fx.init, fx.trainer_config(),
                       {.device = 0, .bf16 = false, .recompute = recompute});
    double worst_loss = 0, worst_norm = 0;
    for (int64_t s = 0; s < fx.steps; ++s) {
      const StepResult r = trainer.step(fx.batch(s));
      ASSERT_FALSE(r.skipped) << r.skip_reason;
      const double want_loss = fx.ref["loss_per_step"][s], want_norm = fx.ref["grad_norm_before_clip_per_step"][s];
      worst_loss = std::max(worst_loss, std::abs(r.loss - want_loss) / want_loss);
      worst_norm = std::max(worst_norm, std::abs(r.grad_norm - want_norm) / want_norm);
      EXPECT_LE(std::abs(r.loss - want_loss), 1e-4 * want_loss) << "step " << s << " loss " << r.loss;
      EXPECT_LE(std::abs(r.grad_norm - want_norm), 5e-4 * want_norm) << "step " << s << " norm " << r.grad_norm;
      EXPECT_DOUBLE_EQ(r.lr, 3e-3);
      EXPECT_EQ(r.step, s);
    }
    EXPECT_EQ(trainer.step_count(), fx.steps);
    ParamStore params = make_params(fx.config);
    AdamW opt(params, fx.trainer_config().adamw);
    trainer.download(params, opt);
    EXPECT_EQ(opt.step_count(), fx.steps);
    double max_abs = 0, max_rel = 0;
    int64_t off = 0, total = 0;
    std::string worst_abs, worst_rel;
    for (const Param& p : params.params()) {
      const Tensor& w = final_ckpt.get(p.name);
      const float* a = p.value.data_as<float>();
      const float* b = w.data_as<float>();
      for (int64_t i = 0; i < p.numel(); ++i) {
        const double d = std::abs(double(a[i]) - b[i]);
        if (d > max_abs) max_abs = d, worst_abs = p.name;
        off += d > 1e-3;
      }
      total += p.numel();
      const double rel = test::rel_l2(a, b, p.numel());
      if (rel > max_rel) max_rel = rel, worst_rel = p.name;
    }
    std::printf("[ gpu fixture ] fp32 recompute=%d: max loss rel err %.3g, max grad-norm rel err %.3g; final weights "
                "max |diff| %.3g (%s), %lld of %lld elements off by > 1e-3, max per-tensor rel L2 %.3g (%s)\n",
                int(recompute), worst_loss, worst_norm, max_abs, worst_abs.c_str(), static_cast<long long>(off),
                static_cast<long long>(total), max_rel, worst_rel.c_str());
    // Adam's m / sqrt(v) turns the sign of a near-zero gradient into a full lr-sized step, so the
    // few elements whose step-0 gradient is within fp32 noise of 0 (GPU and torch differ by
    // ~1e-6 relative in the gradients: other summation orders) may walk apart by up to
    // ~steps * lr; everything else agrees. Bounds: docs/TRAINING.md, "Training on the GPU".
    EXPECT_LE(off, total / 1000);
    EXPECT_LE(max_abs, 2 * fx.steps * 3e-3);
    EXPECT_LE(max_rel, 3e-3);
  }
}

TEST(GpuFixtureTraining, TenStepTrajectoryBf16) {
  NOVA_REQUIRE_GPU();
  const Fixture fx;
  for (bool recompute : {false, true}) {
    GpuTrainer trainer(fx.config, fx.init, fx.trainer_config(),
                       {.device = 0, .bf16 = true, .recompute = recompute});
    double worst = 0;
    for (int64_t s = 0; s < fx.steps; ++s) {
      const StepResult r = trainer.step(fx.batch(s));
      ASSERT_FALSE(r.skipped) << r.skip_reason;
      const double want = fx.ref["loss_per_step"][s];
      worst = std::max(worst, std::abs(r.loss - want) / want);
      EXPECT_LE(std::abs(r.loss - want), kBf16LossTolerance * want) << "step " << s << " loss " << r.loss;
    }
    std::printf("[ gpu fixture ] bf16 recompute=%d: max loss rel err vs torch fp32 %.3g\n", int(recompute), worst);
  }
}

}  // namespace
}  // namespace nova::train
