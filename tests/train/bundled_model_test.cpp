// The bundled model (models/brown-tiny, trained by scripts/train_bundled_model.sh): a Hugging Face
// Llama directory whose config keys are the ones transformers writes, that NovaLM's inference
// model loads, and that has learned English: real sentences cost far less than ln(vocab) per
// token, and less than the same words shuffled.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/transformer.h"
#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"
#include "train/train_model.h"

namespace nova::train {
namespace {

const std::string kDir = std::string(NOVA_SOURCE_DIR) + "/models/brown-tiny";

double mean_loss(TrainModel& m, const std::vector<int32_t>& ids) {
  const Batch b = Batch::from_sequences(ids.data(), 1, static_cast<int64_t>(ids.size()));
  return m.forward(b).ce_loss;
}

TEST(BundledModel, IsAHuggingFaceLlamaDirectory) {
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json"})
    ASSERT_TRUE(std::filesystem::is_regular_file(kDir + "/" + f)) << f;
  // Every key we write is one transformers writes for Llama (the fixture's config.json).
  const auto ours = nlohmann::json::parse(nova::test::read_file(kDir + "/config.json"));
  const auto ref = nlohmann::json::parse(nova::test::read_file(nova::test::fixture("models/llama-gqa/config.json")));
  for (const auto& [key, value] : ours.items())
    EXPECT_TRUE(ref.contains(key) || key == "torch_dtype") << "config.json key '" << key << "' is not an HF llama key";
  EXPECT_EQ(ours["architectures"][0], "LlamaForCausalLM");
  const auto tc = nlohmann::json::parse(nova::test::read_file(kDir + "/tokenizer_config.json"));
  EXPECT_TRUE(tc.contains("chat_template"));
  const auto m = model::Transformer::load(kDir);
  EXPECT_EQ(m->config().model_type, "llama");
}

TEST(BundledModel, HasLearnedEnglish) {
  const tokenizer::Tokenizer tok = tokenizer::Tokenizer::from_file(kDir + "/tokenizer.json");
  auto model = TrainModel::from_pretrained(kDir);
  const std::string text =
      "The jury said it did not find any evidence that the election was conducted in an improper way. "
      "He said that the city would have to pay for the new school, and the board agreed.";
  const std::vector<int32_t> ids = tok.encode(text, false);
  ASSERT_GT(ids.size(), 20u);
  const double loss = mean_loss(*model, ids);
  const double ln_vocab = std::log(static_cast<double>(model->config().vocab_size));
  EXPECT_LT(loss, 0.6 * ln_vocab) << "loss " << loss << " vs ln(vocab) " << ln_vocab;

  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  std::mt19937 rng(1);
  std::shuffle(words.begin(), words.end(), rng);
  std::string shuffled;
  for (const auto& w : words) shuffled += (shuffled.empty() ? "" : " ") + w;
  const double shuffled_loss = mean_loss(*model, tok.encode(shuffled, false));
  EXPECT_LT(loss + 0.5, shuffled_loss) << "word order carries no information for the model";
}

}  // namespace
}  // namespace nova::train
