// `nova train` with train.device: the config checks (everywhere) and whole runs on the GPU
// trainer (with a GPU): the same losses as the CPU run, exact resume, checkpoints.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "gpu_test_util.h"
#include "support/fixtures.h"
#include "train/checkpoint.h"
#include "train/train_run.h"
#include "../run_test_data.h"

namespace nova::train {
namespace {

struct Row {
  std::string split;
  int64_t step;
  double loss;
};

std::vector<Row> read_metrics(const std::string& dir) {
  std::vector<Row> rows;
  std::istringstream in(nova::test::read_file(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    rows.push_back({j["split"], j["step"], j["loss"]});
  }
  return rows;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GpuTrainRun, ConfigRefusesBadDeviceCombinations) {
  const std::string dir = nova::test::scratch_dir("gpu_run_config");
  EXPECT_EQ(test::tiny_run_config(dir, 1).train.device_index, -1);
  EXPECT_EQ(test::tiny_run_config(dir, 1, {{"train.device", "cuda:1"}}).train.device_index, 1);
  std::string e = error_of([&] { test::tiny_run_config(dir, 1, {{"train.device", "gpu"}}); });
  EXPECT_NE(e.find("train.device"), std::string::npos) << e;
  e = error_of([&] { test::tiny_run_config(dir, 1, {{"train.precision", "bf16"}}); });
  EXPECT_NE(e.find("bf16 needs train.device cuda"), std::string::npos) << e;
  e = error_of([&] { test::tiny_run_config(dir, 1, {{"train.precision", "fp16"}, {"train.device", "cuda"}}); });
  EXPECT_NE(e.find("train.precision"), std::string::npos) << e;
  // MoE models train on the GPU too (src/train/gpu/gpu_moe_layer.*).
  EXPECT_EQ(test::tiny_run_config(dir, 1, {{"train.device", "cuda"}, {"model.config.model_type", "mixtral"},
                                           {"model.config.num_experts", "4"}})
                .train.device_index,
            0);
}

TEST(GpuTrainRun, WithoutAGpuTheRunFailsBeforeAnyWork) {
  std::string why;
  if (cuda_device_available(0, &why)) GTEST_SKIP() << "a GPU is present";
  const std::string dir = nova::test::scratch_dir("gpu_run_no_gpu") + "/run";
  std::ostringstream log;
  const std::string e = error_of(
      [&] { run_training(test::tiny_run_config(dir, 2, {{"train.device", "cuda"}}), test::quiet_run_options(log)); });
  EXPECT_NE(e.find("train.device"), std::string::npos) << e;
  EXPECT_NE(e.find(why), std::string::npos) << e;
  EXPECT_FALSE(std::filesystem::exists(dir));  // nothing was created
}

TEST(GpuTrainRun, MatchesTheCpuRunAndResumesExactly) {
  NOVA_REQUIRE_GPU();
  const std::map<std::string, std::string> cpu_extra = {{"data.grad_accum", "2"}, {"optim.schedule", "cosine"},
                                                        {"optim.warmup_steps", "2"}};
  std::map<std::string, std::string> gpu_extra = cpu_extra;
  gpu_extra["train.device"] = "cuda";
  std::ostringstream log;
  const std::string cpu_dir = nova::test::scratch_dir("gpu_run_cpu");
  const std::string gpu_dir = nova::test::scratch_dir("gpu_run_gpu");
  EXPECT_TRUE(run_training(test::tiny_run_config(cpu_dir, 6, cpu_extra), test::quiet_run_options(log)).completed);
  const RunResult g = run_training(test::tiny_run_config(gpu_dir, 6, gpu_extra), test::quiet_run_options(log));
  EXPECT_TRUE(g.completed);
  EXPECT_EQ(g.last_checkpoint, gpu_dir + "/" + checkpoint_name(6));
  const auto rc = read_metrics(cpu_dir), rg = read_metrics(gpu_dir);
  ASSERT_EQ(rc.size(), rg.size());
  for (size_t i = 0; i < rc.size(); ++i) {
    EXPECT_EQ(rc[i].split, rg[i].split);
    EXPECT_NEAR(rg[i].loss, rc[i].loss, 1e-4 * rc[i].loss) << rc[i].split << " step " << rc[i].step;
  }
  // The GPU run's checkpoint holds the trained weights and optimiser state, as the CPU run's does.
  EXPECT_EQ(read_trainer_state(gpu_dir + "/" + checkpoint_name(6)).optimizer_steps, 6);

  // Stopped at step 3 and resumed (on the GPU): the same losses, bit for bit.
  const std::string resumed_dir = nova::test::scratch_dir("gpu_run_resumed");
  RunOptions stop = test::quiet_run_options(log);
  stop.stop_after_step = [](int64_t step) { return step == 3; };
  EXPECT_FALSE(run_training(test::tiny_run_config(resumed_dir, 6, gpu_extra), stop).completed);
  RunOptions resume = test::quiet_run_options(log);
  resume.resume = "latest";
  EXPECT_TRUE(run_training(test::tiny_run_config(resumed_dir, 6, gpu_extra), resume).completed);
  const auto rr = read_metrics(resumed_dir);
  ASSERT_EQ(rr.size(), rg.size());
  for (size_t i = 0; i < rr.size(); ++i) EXPECT_EQ(rr[i].loss, rg[i].loss) << rr[i].split << " step " << rr[i].step;
  EXPECT_EQ(nova::test::read_file(gpu_dir + "/" + checkpoint_name(6) + "/model.safetensors"),
            nova::test::read_file(resumed_dir + "/" + checkpoint_name(6) + "/model.safetensors"));
}

TEST(GpuTrainRun, MoeRunMatchesTheCpuRun) {
  // `nova train` of a Mixtral-shaped model with the load-balancing loss on the GPU: the CPU run's
  // losses (cross-entropy + router_aux_loss_coef x load balance) step by step.
  NOVA_REQUIRE_GPU();
  const std::map<std::string, std::string> cpu_extra = {{"model.config.model_type", "mixtral"},
                                                        {"model.config.num_experts", "4"},
                                                        {"model.config.num_experts_per_tok", "2"},
                                                        {"model.config.router_aux_loss_coef", "0.1"}};
  std::map<std::string, std::string> gpu_extra = cpu_extra;
  gpu_extra["train.device"] = "cuda";
  std::ostringstream log;
  const std::string cpu_dir = nova::test::scratch_dir("gpu_run_moe_cpu");
  const std::string gpu_dir = nova::test::scratch_dir("gpu_run_moe_gpu");
  EXPECT_TRUE(run_training(test::tiny_run_config(cpu_dir, 4, cpu_extra), test::quiet_run_options(log)).completed);
  EXPECT_TRUE(run_training(test::tiny_run_config(gpu_dir, 4, gpu_extra), test::quiet_run_options(log)).completed);
  const auto rc = read_metrics(cpu_dir), rg = read_metrics(gpu_dir);
  ASSERT_EQ(rc.size(), rg.size());
  ASSERT_FALSE(rc.empty());
  for (size_t i = 0; i < rc.size(); ++i)
    EXPECT_NEAR(rg[i].loss, rc[i].loss, 1e-4 * rc[i].loss) << rc[i].split << " step " << rc[i].step;
}

TEST(GpuTrainRun, Bf16RunTrains) {
  NOVA_REQUIRE_GPU();
  std::ostringstream log;
  const std::string dir = nova::test::scratch_dir("gpu_run_bf16");
  const RunResult r = run_training(
      test::tiny_run_config(dir, 8, {{"train.device", "cuda"}, {"train.precision", "bf16"}, {"train.recompute", "true"}}),
      test::quiet_run_options(log));
  EXPECT_TRUE(r.completed);
  const auto rows = read_metrics(dir);
  double first = 0, last = 0;
  for (const Row& row : rows) {
    EXPECT_TRUE(std::isfinite(row.loss));
    if (row.split != "train") continue;
    if (first == 0) first = row.loss;
    last = row.loss;
  }
  EXPECT_LT(last, first);  // lr 1e-2 on a tiny corpus: the loss falls
  EXPECT_NE(log.str().find("cuda (bf16)"), std::string::npos) << log.str();
}

}  // namespace
}  // namespace nova::train
