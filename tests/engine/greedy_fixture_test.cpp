// generate() with temperature 0 on every reference checkpoint must reproduce the 16-token
// continuation of transformers' generate(do_sample=False). HF stops at the generation config's
// eos_token_id, so it is passed as a stop token (none of the references happens to contain it).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/generate.h"
#include "model/transformer.h"
#include "support/fixtures.h"

namespace nova::engine {
namespace {

std::vector<int32_t> eos_ids(const std::string& dir) {
  const auto j = nlohmann::json::parse(test::read_file(dir + "/generation_config.json"));
  std::vector<int32_t> out;
  if (!j.contains("eos_token_id") || j["eos_token_id"].is_null()) return out;
  if (j["eos_token_id"].is_array()) {
    for (const auto& v : j["eos_token_id"]) out.push_back(v.get<int32_t>());
  } else {
    out.push_back(j["eos_token_id"].get<int32_t>());
  }
  return out;
}

TEST(GreedyFixture, MatchesTransformersGreedyContinuation) {
  const std::string root = test::fixture("models");
  int models = 0;
  for (const auto& entry : std::filesystem::directory_iterator(root)) {
    const std::string dir = entry.path().string();
    const std::string name = entry.path().filename().string();
    if (!std::filesystem::exists(dir + "/ref.json")) continue;
    ++models;
    const auto ref = nlohmann::json::parse(test::read_file(dir + "/ref.json"));
    auto model = model::Transformer::load(dir);
    const auto stops = eos_ids(dir);
    for (const auto& c : ref["cases"]) {
      const auto expect = c["greedy_continuation"].get<std::vector<int32_t>>();
      GenerationRequest r;
      r.prompt = c["input_ids"].get<std::vector<int32_t>>();
      r.max_tokens = 16;
      r.sampling.temperature = 0;
      r.stop_token_ids = stops;
      auto session = model->new_session();
      const auto res = generate(*session, nullptr, r);
      EXPECT_EQ(res.tokens, expect) << name << " prompt of " << r.prompt.size() << " tokens";
      EXPECT_EQ(res.finish_reason, res.tokens.size() < 16 ? "stop" : "length") << name;
    }
  }
  EXPECT_GT(models, 0) << "no models under " << root;
}

}  // namespace
}  // namespace nova::engine
