// Checkpoint directories: Hugging Face layout (checked against the transformers-written fixture),
// loadable by the inference model, trainer state and optimiser round trips, atomic replacement,
// listing and pruning.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "model/transformer.h"
#include "support/fixtures.h"
#include "train/checkpoint.h"
#include "train/model_params.h"
#include "train/staging_dir.h"

namespace nova::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kFixture = "train/llama-train/init";

std::map<std::string, std::vector<int64_t>> shapes_of(const formats::SafetensorsFile& f) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& name : f.names()) out[name] = f.get(name).shape();
  return out;
}

TrainerState sample_state() {
  TrainerState s;
  s.step = 12;
  s.optimizer_steps = 11;
  s.skipped_steps = 1;
  s.tokens_seen = 4096;
  s.seed = 42;
  s.cursor = {3, 17, 0x1234567890abcdefull, 99999};
  s.best_eval_loss = 2.5;
  s.best_step = 10;
  s.config = {{"optim.lr", 0.001}, {"data.train", {"a", "b"}}};
  return s;
}

TEST(Checkpoint, FollowsTheHuggingFaceLayoutOfTheFixture) {
  const formats::ModelConfig c = formats::load_hf_config(nova::test::fixture(kFixture + "/config.json"));
  const formats::Checkpoint ref = formats::Checkpoint::open_dir(nova::test::fixture(kFixture));
  const ParamStore params = load_params(c, ref);
  AdamW opt(const_cast<ParamStore&>(params));
  const TrainerState state = sample_state();
  const std::string dir = nova::test::scratch_dir("ckpt_layout") + "/checkpoint-00000012";
  CheckpointContents contents;
  contents.config = &c;
  contents.params = &params;
  contents.optimizer = &opt;
  contents.state = &state;
  write_checkpoint(dir, contents);

  // Tensor names, shapes and dtypes are those transformers wrote.
  const auto ours = formats::SafetensorsFile::open(dir + "/model.safetensors");
  const auto theirs = formats::SafetensorsFile::open(nova::test::fixture(kFixture + "/model.safetensors"));
  EXPECT_EQ(shapes_of(ours), shapes_of(theirs));
  for (const auto& name : ours.names()) EXPECT_EQ(ours.get(name).dtype(), DType::F32) << name;
  EXPECT_EQ(ours.metadata().at("format"), "pt");
  // config.json: every key we write is one transformers writes, and the model parses back equal.
  const json cfg = json::parse(nova::test::read_file(dir + "/config.json"));
  const json ref_cfg = json::parse(nova::test::read_file(nova::test::fixture(kFixture + "/config.json")));
  for (const auto& [key, value] : cfg.items())
    EXPECT_TRUE(ref_cfg.contains(key) || key == "torch_dtype") << "unexpected config key " << key;
  for (const char* key : {"architectures", "model_type", "dtype", "hidden_size", "num_hidden_layers", "rope_parameters"})
    EXPECT_EQ(cfg[key], ref_cfg[key]) << key;
  EXPECT_EQ(cfg["torch_dtype"], "float32");
  EXPECT_EQ(formats::first_difference(formats::parse_hf_config(cfg, "ours"), c), "");
  const json gen = json::parse(nova::test::read_file(dir + "/generation_config.json"));
  EXPECT_EQ(gen["eos_token_id"], 2);
  EXPECT_EQ(gen["bos_token_id"], 1);

  // The inference model loads it and computes the same logits as from the fixture.
  const auto a = model::Transformer::load(dir);
  const auto b = model::Transformer::load(nova::test::fixture(kFixture));
  EXPECT_EQ(formats::first_difference(a->config(), b->config()), "");

  // Optimiser state and trainer state come back.
  AdamW restored(const_cast<ParamStore&>(params));
  load_optimizer_state(dir, restored);
  EXPECT_EQ(restored.step_count(), opt.step_count());
  const TrainerState back = read_trainer_state(dir);
  EXPECT_EQ(back.to_json(), state.to_json());
  EXPECT_EQ(back.cursor, state.cursor);
}

TEST(Checkpoint, TrainerStateRejectsBadJsonAndSurvivesFuzzing) {
  const std::string text = sample_state().to_json().dump(1);
  EXPECT_EQ(TrainerState::from_json(nlohmann::ordered_json::parse(text), "s").to_json().dump(1), text);
  const std::string dir = nova::test::scratch_dir("ckpt_state_fuzz");
  for (const char* bad : {"{}", "[]", "{\"format\":\"nova-trainer-state\",\"version\":2}", "not json"}) {
    nova::test::write_file(dir + "/trainer_state.json", bad);
    EXPECT_THROW(read_trainer_state(dir), Error) << bad;
  }
  int ok = 0;
  nova::test::mutate_each(text, 1500, 3, [&](const std::string& m) {
    const auto j = nlohmann::ordered_json::parse(m, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return;  // read_trainer_state reports invalid JSON itself (tested above)
    try {
      TrainerState::from_json(j, "fuzz");
      ++ok;
    } catch (const Error&) {
    }
  });
  EXPECT_GT(ok, 0);
  EXPECT_THROW(read_trainer_state(nova::test::scratch_dir("ckpt_empty")), Error);
}

TEST(Checkpoint, ListsPrunesAndReplacesAtomically) {
  const std::string run = nova::test::scratch_dir("ckpt_list");
  const formats::ModelConfig c = formats::load_hf_config(nova::test::fixture(kFixture + "/config.json"));
  ParamStore params = make_params(c);
  init_params_random(params, 1);
  TrainerState state;
  CheckpointContents contents;
  contents.config = &c;
  contents.params = &params;
  contents.state = &state;
  for (int64_t step : {5, 10, 20}) {
    state.step = step;
    write_checkpoint(run + "/" + checkpoint_name(step), contents);
  }
  fs::create_directories(run + "/checkpoint-00000030");  // no trainer_state.json: not a checkpoint
  fs::create_directories(run + "/checkpoint-00000040.tmp-abcdef");
  EXPECT_EQ(latest_checkpoint(run), run + "/checkpoint-00000020");
  EXPECT_EQ(list_checkpoints(run).size(), 3u);
  EXPECT_EQ(prune_checkpoints(run, 2), std::vector<std::string>{run + "/checkpoint-00000005"});
  EXPECT_EQ(list_checkpoints(run).front().step, 10);
  EXPECT_EQ(remove_stale_staging_dirs(run), 1);
  EXPECT_FALSE(fs::exists(run + "/checkpoint-00000040.tmp-abcdef"));

  // Replacing an existing checkpoint: a failure mid-write leaves the old one whole and no staging
  // directory; a completed write swaps in the new one.
  const std::string target = run + "/" + checkpoint_name(20);
  const std::string before = nova::test::read_file(target + "/model.safetensors");
  init_params_random(params, 2);
  struct Abort {};
  EXPECT_THROW(write_checkpoint(target, contents, [](const std::string& f) {
                 if (f == "model.safetensors") throw Abort{};
               }),
               Abort);
  EXPECT_EQ(nova::test::read_file(target + "/model.safetensors"), before);
  for (const auto& e : fs::directory_iterator(run)) EXPECT_FALSE(is_staging_name(e.path().filename().string())) << e.path();
  write_checkpoint(target, contents);
  EXPECT_NE(nova::test::read_file(target + "/model.safetensors"), before);
  for (const auto& e : fs::directory_iterator(run)) EXPECT_FALSE(is_staging_name(e.path().filename().string())) << e.path();
  EXPECT_TRUE(fs::is_regular_file(target + "/trainer_state.json"));
  EXPECT_FALSE(fs::exists(target + "/optimizer.safetensors"));  // none was given
}

}  // namespace
}  // namespace nova::train
