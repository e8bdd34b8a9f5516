// A mixture-of-experts model trained from scratch through the whole run loop (`nova train`'s
// path): a tiny Mixtral-style config with 4 experts, top-2 routing and the load-balancing loss.
// Its loss must fall well below ln(vocab), the aux loss must be reported, and the checkpoint must
// load as an inference model (what `nova generate` runs) with matching logits.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/hf_config.h"
#include "model/transformer.h"
#include "run_test_data.h"
#include "support/fixtures.h"
#include "train/train_model.h"
#include "train/train_run.h"

namespace nova::train {
namespace {

std::map<std::string, std::string> moe_overrides(const std::string& type) {
  return {{"model.config.model_type", type},
          {"model.config.hidden_size", "32"},
          {"model.config.num_heads", "4"},
          {"model.config.num_kv_heads", "2"},
          {"model.config.intermediate_size", "48"},
          {"model.config.num_experts", "4"},
          {"model.config.num_experts_per_tok", "2"},
          {"model.config.router_aux_loss_coef", "0.02"},
          {"data.seq_len", "32"},
          {"data.batch_size", "4"},
          {"optim.lr", "1e-2"},
          {"optim.warmup_steps", "3"},
          {"train.eval_every", "0"},
          {"train.save_every", "0"}};
}

TEST(MoeFromScratch, MixtralLossFallsAuxIsReportedAndCheckpointLoads) {
  const std::string dir = nova::test::scratch_dir("moe_from_scratch");
  std::ostringstream log;
  const RunOptions o = test::quiet_run_options(log);
  const RunResult r = run_training(test::tiny_run_config(dir, 40, moe_overrides("mixtral")), o);
  ASSERT_TRUE(r.completed);
  EXPECT_NE(log.str().find("aux "), std::string::npos) << log.str();

  const int vocab = formats::load_hf_config(r.last_checkpoint + "/config.json").vocab_size;
  std::vector<double> losses;
  std::istringstream in(nova::test::read_file(dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["split"] != "train") continue;
    ASSERT_TRUE(j.contains("aux_loss") && j.contains("ce_loss")) << line;
    const double aux = j["aux_loss"].get<double>(), ce = j["ce_loss"].get<double>();
    // transformers' definition: about top_k (2) when routing is balanced, larger when it collapses.
    EXPECT_TRUE(std::isfinite(aux) && aux > 0.5 && aux < 8.0) << line;
    EXPECT_NEAR(j["loss"].get<double>(), ce + 0.02 * aux, 1e-9) << line;
    losses.push_back(ce);
  }
  ASSERT_EQ(losses.size(), 40u);
  const double ln_vocab = std::log(static_cast<double>(vocab));
  EXPECT_NEAR(losses.front(), ln_vocab, 0.5);
  double last5 = 0;
  for (size_t i = losses.size() - 5; i < losses.size(); ++i) last5 += losses[i] / 5;
  EXPECT_LT(last5, 0.6 * ln_vocab) << "first " << losses.front() << ", mean of the last 5 " << last5;

  // The checkpoint is a Mixtral as transformers names it, and the inference model reproduces the
  // trained model's logits.
  const auto cfg = nlohmann::json::parse(nova::test::read_file(r.last_checkpoint + "/config.json"));
  EXPECT_EQ(cfg["model_type"], "mixtral");
  EXPECT_EQ(cfg["num_local_experts"], 4);
  EXPECT_EQ(cfg["num_experts_per_tok"], 2);
  const auto trained = TrainModel::from_pretrained(r.last_checkpoint);
  const Batch b = Batch::from_sequences(std::vector<int32_t>{5, 17, 42, 8, 99, 3, 250, 61, 7}.data(), 1, 9);
  trained->forward(b);
  const auto inference = model::Transformer::load(r.last_checkpoint);
  EXPECT_EQ(inference->config().num_experts, 4);
  std::vector<float> logits;
  inference->new_session(16)->forward(b.inputs, logits, true);
  const std::vector<float>& ours = trained->last_logits();
  ASSERT_EQ(logits.size(), ours.size());
  double max_diff = 0;
  for (size_t i = 0; i < ours.size(); ++i) max_diff = std::max(max_diff, double(std::abs(ours[i] - logits[i])));
  EXPECT_LE(max_diff, 1e-4);
}

TEST(MoeFromScratch, Qwen2MoeWithSharedExpertTrains) {
  const std::string dir = nova::test::scratch_dir("moe_from_scratch_qwen2");
  std::ostringstream log;
  const RunOptions o = test::quiet_run_options(log);
  auto extra = moe_overrides("qwen2_moe");
  extra["model.config.moe_intermediate_size"] = "24";
  extra["model.config.shared_expert_intermediate_size"] = "32";
  extra["model.config.norm_topk_prob"] = "false";
  const RunResult r = run_training(test::tiny_run_config(dir, 12, extra), o);
  ASSERT_TRUE(r.completed);
  const auto cfg = nlohmann::json::parse(nova::test::read_file(r.last_checkpoint + "/config.json"));
  EXPECT_EQ(cfg["model_type"], "qwen2_moe");
  EXPECT_EQ(cfg["shared_expert_intermediate_size"], 32);
  EXPECT_EQ(model::Transformer::load(r.last_checkpoint)->config().num_experts, 4);
}

TEST(MoeFromScratch, ExpertKeysAreRefusedForDenseModelsAndChecked) {
  const std::string dir = nova::test::scratch_dir("moe_config_errors");
  EXPECT_THROW(test::tiny_run_config(dir, 2, {{"model.config.num_experts", "4"}}), Error);  // llama
  auto bad = moe_overrides("mixtral");
  bad["model.config.num_experts_per_tok"] = "5";
  EXPECT_THROW(test::tiny_run_config(dir, 2, bad), Error);
  bad = moe_overrides("mixtral");
  bad["model.config.num_experts"] = "0";
  EXPECT_THROW(test::tiny_run_config(dir, 2, bad), Error);
  bad = moe_overrides("mixtral");
  bad["model.config.shared_expert_intermediate_size"] = "8";
  EXPECT_THROW(test::tiny_run_config(dir, 2, bad), Error);
}

}  // namespace
}  // namespace nova::train
