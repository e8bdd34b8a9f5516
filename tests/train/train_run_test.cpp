// The run loop end to end on a tiny model: exact resume, checkpoint layout and loading, pruning,
// best/, the metrics file and the loss plot.
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/manifest.h"
#include "formats/safetensors.h"
#include "model/transformer.h"
#include "run_test_data.h"
#include "support/fixtures.h"
#include "train/checkpoint.h"
#include "train/train_run.h"

namespace nova::train {
namespace {

namespace fs = std::filesystem;

struct MetricsRow {
  std::string split;
  int64_t step;
  double loss;
};

std::vector<MetricsRow> read_metrics(const std::string& dir) {
  std::vector<MetricsRow> rows;
  std::istringstream in(nova::test::read_file(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    rows.push_back({j["split"], j["step"], j["loss"]});
  }
  return rows;
}

std::string file_bytes(const std::string& path) { return nova::test::read_file(path); }

TEST(TrainRun, ResumeReproducesLossesBitForBit) {
  // Cosine schedule with warmup, gradient accumulation and evals in between: all of it must resume.
  const std::map<std::string, std::string> extra = {{"optim.schedule", "cosine"}, {"optim.warmup_steps", "2"},
                                                    {"data.grad_accum", "2"}, {"train.save_every", "0"}};
  std::ostringstream log;
  const std::string a = nova::test::scratch_dir("run_uninterrupted");
  const RunResult full = run_training(test::tiny_run_config(a, 6, extra), test::quiet_run_options(log));
  EXPECT_TRUE(full.completed);
  EXPECT_EQ(full.step, 6);

  const std::string b = nova::test::scratch_dir("run_resumed");
  RunOptions stop = test::quiet_run_options(log);
  stop.stop_after_step = [](int64_t step) { return step == 3; };
  const RunResult first = run_training(test::tiny_run_config(b, 6, extra), stop);
  EXPECT_FALSE(first.completed);
  EXPECT_EQ(first.step, 3);
  EXPECT_EQ(first.last_checkpoint, b + "/" + checkpoint_name(3));
  RunOptions resume = test::quiet_run_options(log);
  resume.resume = "latest";
  const RunResult second = run_training(test::tiny_run_config(b, 6, extra), resume);
  EXPECT_TRUE(second.completed);

  const auto ra = read_metrics(a), rb = read_metrics(b);
  ASSERT_EQ(ra.size(), rb.size());
  int train_rows = 0;
  for (size_t i = 0; i < ra.size(); ++i) {
    EXPECT_EQ(ra[i].split, rb[i].split) << i;
    EXPECT_EQ(ra[i].step, rb[i].step) << i;
    EXPECT_EQ(ra[i].loss, rb[i].loss) << "row " << i << " step " << ra[i].step;  // exact, not near
    train_rows += ra[i].split == "train";
  }
  EXPECT_EQ(train_rows, 6);
  // The final weights and optimiser state agree byte for byte too.
  const std::string fa = a + "/" + checkpoint_name(6), fb = b + "/" + checkpoint_name(6);
  EXPECT_EQ(file_bytes(fa + "/model.safetensors"), file_bytes(fb + "/model.safetensors"));
  EXPECT_EQ(file_bytes(fa + "/optimizer.safetensors"), file_bytes(fb + "/optimizer.safetensors"));
  EXPECT_EQ(read_trainer_state(fa).cursor, read_trainer_state(fb).cursor);
}

TEST(TrainRun, CheckpointsLoadAsModelsAndArePruned) {
  const std::string dir = nova::test::scratch_dir("run_checkpoints");
  std::ostringstream log;
  const RunResult r = run_training(test::tiny_run_config(dir, 6), test::quiet_run_options(log));
  ASSERT_TRUE(r.completed);
  // keep_last 2: steps 4 and 6 remain; best/ beside them.
  const auto kept = list_checkpoints(dir);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].step, 4);
  EXPECT_EQ(kept[1].step, 6);
  ASSERT_TRUE(r.best_eval_loss.has_value());
  const TrainerState best = read_trainer_state(dir + "/best");
  EXPECT_EQ(best.best_eval_loss, r.best_eval_loss);
  EXPECT_EQ(best.step, best.best_step);

  for (const std::string& ckpt : {kept[1].path, dir + "/best"}) {
    for (const char* f : {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                          "tokenizer_config.json", "trainer_state.json", "optimizer.safetensors"})
      EXPECT_TRUE(fs::is_regular_file(ckpt + "/" + f)) << ckpt << "/" << f;
    const auto model = model::Transformer::load(ckpt);
    EXPECT_EQ(model->config().num_layers, 2);
    EXPECT_EQ(model->config().hidden_size, 16);
    const auto gen = nlohmann::json::parse(file_bytes(ckpt + "/generation_config.json"));
    EXPECT_EQ(gen["eos_token_id"], data::Manifest::load(test::run_test_data().manifest).separator_id);
  }
  EXPECT_EQ(file_bytes(dir + "/best/tokenizer.json"), file_bytes(test::run_test_data().tokenizer_dir + "/tokenizer.json"));

  // Metrics: 6 train rows, evals at 2, 4 and 6 with perplexity = exp(loss).
  int evals = 0;
  std::istringstream in(file_bytes(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["split"] == "val") {
      ++evals;
      EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(j["loss"].get<double>()), 1e-9);
    } else {
      for (const char* k : {"loss", "lr", "grad_norm", "tokens_per_s", "skipped"}) EXPECT_TRUE(j.contains(k)) << k;
    }
  }
  EXPECT_EQ(evals, 3);
  const std::string svg = file_bytes(dir + "/loss.svg");
  EXPECT_NE(svg.find("class=\"train\""), std::string::npos);
  EXPECT_NE(svg.find("class=\"eval\""), std::string::npos);
}

TEST(TrainRun, RefusesToOverwriteOrToResumeADifferentRun) {
  const std::string dir = nova::test::scratch_dir("run_refusals");
  std::ostringstream log;
  RunOptions stop = test::quiet_run_options(log);
  stop.stop_after_step = [](int64_t step) { return step == 1; };
  run_training(test::tiny_run_config(dir, 4), stop);
  try {
    run_training(test::tiny_run_config(dir, 4), test::quiet_run_options(log));
    ADD_FAILURE() << "a fresh run over existing checkpoints must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
  RunOptions resume = test::quiet_run_options(log);
  resume.resume = "latest";
  try {
    run_training(test::tiny_run_config(dir, 4, {{"data.seq_len", "8"}}), resume);
    ADD_FAILURE() << "resuming with another seq_len must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data.seq_len"), std::string::npos) << e.what();
  }
  // Extending the run (train.steps) is allowed.
  EXPECT_TRUE(run_training(test::tiny_run_config(dir, 5), resume).completed);
  resume.resume = dir + "/no-such-checkpoint";
  EXPECT_THROW(run_training(test::tiny_run_config(dir, 5), resume), Error);
}

TEST(TrainRun, KilledSaveLeavesNoPartialCheckpoint) {
  const std::string dir = nova::test::scratch_dir("run_killed_save");
  std::ostringstream log;
  RunOptions o = test::quiet_run_options(log);
  struct Killed {};
  o.after_checkpoint_file = [](const std::string& file) {
    if (file == "model.safetensors") throw Killed{};
  };
  EXPECT_THROW(run_training(test::tiny_run_config(dir, 2), o), Killed);
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name == "metrics.jsonl" || name == "loss.svg") << "left behind: " << name;
  }
  EXPECT_FALSE(latest_checkpoint(dir).has_value());
}

}  // namespace
}  // namespace nova::train
