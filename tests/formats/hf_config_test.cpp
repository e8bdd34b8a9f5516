#include "formats/hf_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "support/fixtures.h"

namespace nova::formats {
namespace {

using nlohmann::json;
using test::fixture;

std::vector<std::string> fixture_models() {
  std::vector<std::string> out;
  for (auto& d : std::filesystem::directory_iterator(fixture("models")))
    out.push_back(d.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

json read_json(const std::string& path) { return json::parse(test::read_file(path)); }

// The error text of parse_hf_config(j), or "" (and a test failure) if it parses.
std::string parse_error(const json& j) {
  try {
    parse_hf_config(j, "cfg.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "cfg.json");
    return e.what();
  }
  ADD_FAILURE() << "parsed: " << j.dump();
  return "";
}

// A small valid config of each family, to edit in tests.
json base_config(const std::string& model_type) {
  return {{"model_type", model_type}, {"vocab_size", 100},       {"hidden_size", 64},
          {"intermediate_size", 128}, {"num_hidden_layers", 4}, {"num_attention_heads", 4},
          {"num_key_value_heads", 2}, {"max_position_embeddings", 256}};
}

TEST(HfConfig, NewAndLegacyFormsOfEveryFixtureAgree) {
  const auto models = fixture_models();
  ASSERT_EQ(models.size(), 9u);
  for (const std::string& m : models) {
    SCOPED_TRACE(m);
    const ModelConfig a = load_hf_config(fixture("models/" + m + "/config.json"));
    const ModelConfig b = load_hf_config(fixture("models/" + m + "/config.legacy.json"));
    EXPECT_EQ(first_difference(a, b), "");
    EXPECT_TRUE(a == b);
  }
}

TEST(HfConfig, FixtureFieldsMatchTheirJson) {
  std::vector<std::string> paths;
  for (const std::string& m : fixture_models()) {
    paths.push_back(fixture("models/" + m + "/config.json"));
    paths.push_back(fixture("models/" + m + "/config.legacy.json"));
  }
  paths.push_back(fixture("train/llama-train/init/config.json"));
  paths.push_back(fixture("train/llama-train/final/config.json"));
  paths.push_back(fixture("lora/llama-lora/base/config.json"));
  for (const std::string& p : paths) {
    SCOPED_TRACE(p);
    const json j = read_json(p);
    const ModelConfig c = load_hf_config(p);
    EXPECT_EQ(c.model_type, j["model_type"]);
    EXPECT_EQ(c.architecture, j["architectures"][0]);
    EXPECT_EQ(c.vocab_size, j["vocab_size"]);
    EXPECT_EQ(c.hidden_size, j["hidden_size"]);
    EXPECT_EQ(c.intermediate_size, j["intermediate_size"]);
    EXPECT_EQ(c.num_layers, j["num_hidden_layers"]);
    EXPECT_EQ(c.num_heads, j["num_attention_heads"]);
    EXPECT_EQ(c.num_kv_heads, j["num_key_value_heads"]);
    const int head_dim = j.contains("head_dim") && !j["head_dim"].is_null()
                             ? j["head_dim"].get<int>()
                             : j["hidden_size"].get<int>() / j["num_attention_heads"].get<int>();
    EXPECT_EQ(c.head_dim, head_dim);
    EXPECT_EQ(c.rms_norm_eps, j["rms_norm_eps"].get<double>());
    EXPECT_EQ(c.max_position_embeddings, j["max_position_embeddings"]);
    EXPECT_EQ(c.tie_word_embeddings, j["tie_word_embeddings"]);
    const json& rope = j.contains("rope_parameters") && !j["rope_parameters"].is_null()
                           ? j["rope_parameters"]
                           : j.value("rope_scaling", json::object());
    const double theta = rope.contains("rope_theta") ? rope["rope_theta"].get<double>()
                                                     : j["rope_theta"].get<double>();
    EXPECT_EQ(c.rope.theta, theta);
    if (rope.contains("factor")) {
      EXPECT_EQ(c.rope.factor, rope["factor"].get<double>());
    }
    if (rope.contains("original_max_position_embeddings")) {
      EXPECT_EQ(c.rope.original_max_position, rope["original_max_position_embeddings"].get<int>());
    }
    if (j["bos_token_id"].is_null()) {
      EXPECT_FALSE(c.bos_token_id.has_value());
    } else {
      EXPECT_EQ(c.bos_token_id, j["bos_token_id"].get<int>());
    }
    if (j["eos_token_id"].is_null()) {
      EXPECT_TRUE(c.eos_token_ids.empty());
    } else {
      EXPECT_EQ(c.eos_token_ids, std::vector<int>{j["eos_token_id"].get<int>()});
    }
    EXPECT_EQ(c.layer_sliding.size(), static_cast<size_t>(c.num_layers));
    EXPECT_EQ(c.layer_moe.size(), static_cast<size_t>(c.num_layers));
  }
}

// What each fixture exercises (fixtures README), as ModelConfig fields.
TEST(HfConfig, FixtureFamiliesHaveTheirFeatures) {
  auto load = [](const std::string& m) { return load_hf_config(fixture("models/" + m + "/config.json")); };
  {
    const ModelConfig c = load("llama-gqa");
    EXPECT_EQ(c.rope.type, RopeType::Default);
    EXPECT_FALSE(c.qkv_bias || c.o_bias || c.mlp_bias || c.qk_norm || c.tie_word_embeddings);
    EXPECT_EQ(c.sliding_window, 0);
    EXPECT_EQ(c.num_experts, 0);
    EXPECT_EQ(c.layer_moe, std::vector<bool>(2, false));
  }
  EXPECT_TRUE(load("llama-mha-tied").tie_word_embeddings);
  {
    const RopeConfig r = load("llama3-rope").rope;
    EXPECT_EQ(r.type, RopeType::Llama3);
    EXPECT_EQ(r.factor, 8.0);
    EXPECT_EQ(r.low_freq_factor, 1.0);
    EXPECT_EQ(r.high_freq_factor, 4.0);
    EXPECT_EQ(r.original_max_position, 32);
    EXPECT_EQ(r.theta, 500000.0);
  }
  {
    const RopeConfig r = load("llama-yarn").rope;
    EXPECT_EQ(r.type, RopeType::Yarn);
    EXPECT_EQ(r.factor, 4.0);  // explicit, not max_position / original (256 / 32 = 8)
    EXPECT_EQ(r.original_max_position, 32);
    EXPECT_EQ(r.beta_fast, 32.0);
    EXPECT_EQ(r.beta_slow, 1.0);
    EXPECT_FALSE(r.attention_factor.has_value());
    EXPECT_TRUE(r.truncate);
  }
  {
    const ModelConfig c = load("qwen2");
    EXPECT_TRUE(c.qkv_bias);
    EXPECT_FALSE(c.o_bias);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_EQ(c.rope.theta, 1e6);
    EXPECT_EQ(c.sliding_window, 0);
    EXPECT_EQ(c.layer_sliding, std::vector<bool>(2, false));
    EXPECT_FALSE(c.bos_token_id.has_value());
  }
  {
    const ModelConfig c = load("qwen3");
    EXPECT_TRUE(c.qk_norm);
    EXPECT_EQ(c.head_dim, 32);
    EXPECT_NE(c.head_dim, c.hidden_size / c.num_heads);
    EXPECT_FALSE(c.qkv_bias);
  }
  {
    const ModelConfig c = load("mistral-swa");
    EXPECT_EQ(c.sliding_window, 8);
    EXPECT_EQ(c.layer_sliding, std::vector<bool>(2, true));
    EXPECT_FALSE(c.qkv_bias);
  }
  {
    const ModelConfig c = load("mixtral-moe");
    EXPECT_EQ(c.num_experts, 4);
    EXPECT_EQ(c.experts_per_token, 2);
    EXPECT_EQ(c.moe_intermediate_size, c.intermediate_size);
    EXPECT_TRUE(c.norm_topk_prob);
    EXPECT_EQ(c.shared_expert_intermediate_size, 0);
    EXPECT_EQ(c.layer_moe, std::vector<bool>(2, true));
    EXPECT_EQ(c.head_dim, 16);  // "head_dim": null
    EXPECT_EQ(c.sliding_window, 0);
  }
  {
    const ModelConfig c = load("qwen2-moe-shared");
    EXPECT_EQ(c.num_experts, 4);
    EXPECT_EQ(c.experts_per_token, 2);
    EXPECT_EQ(c.moe_intermediate_size, 48);
    EXPECT_FALSE(c.norm_topk_prob);
    EXPECT_EQ(c.shared_expert_intermediate_size, 96);
    EXPECT_EQ(c.layer_moe, std::vector<bool>(2, true));
    EXPECT_TRUE(c.qkv_bias);
    EXPECT_FALSE(c.o_bias);
  }
}

TEST(HfConfig, ToJsonRoundTripsEveryFixture) {
  for (const std::string& m : fixture_models()) {
    SCOPED_TRACE(m);
    const ModelConfig c = load_hf_config(fixture("models/" + m + "/config.json"));
    const json j = to_hf_config_json(c);
    EXPECT_EQ(first_difference(parse_hf_config(j, "x"), c), "");
    // The written keys agree with the original file where both have them.
    const json orig = read_json(fixture("models/" + m + "/config.json"));
    for (const char* k : {"vocab_size", "hidden_size", "num_hidden_layers", "num_key_value_heads",
                          "tie_word_embeddings", "bos_token_id", "eos_token_id", "model_type"})
      EXPECT_EQ(j[k], orig[k]) << k;
    EXPECT_EQ(j["rope_parameters"]["rope_type"], orig["rope_parameters"]["rope_type"]);
  }
}

TEST(HfConfig, ToJsonRefusesWhatTheFamilyCannotExpress) {
  ModelConfig c = load_hf_config(fixture("models/mistral-swa/config.json"));
  c.qkv_bias = true;
  EXPECT_THROW(to_hf_config_json(c), Error);
  c = load_hf_config(fixture("models/llama-gqa/config.json"));
  c.qkv_bias = true;  // o_bias stays false: llama has one attention_bias for both
  try {
    to_hf_config_json(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot express this model (o_bias: false vs true)"),
              std::string::npos) << e.what();
  }
  c.o_bias = true;
  EXPECT_TRUE(parse_hf_config(to_hf_config_json(c), "x").o_bias);
  // Expressible variations survive: yarn extras, partial rotary, several eos ids, sparse MoE.
  c.rope.type = RopeType::Yarn;
  c.rope.factor = 2.5;
  c.rope.original_max_position = 64;
  c.rope.attention_factor = 0.75;
  c.rope.mscale = 0.707;
  c.rope.mscale_all_dim = 1.0;
  c.rope.truncate = false;
  c.rope.partial_rotary_factor = 0.5;
  c.eos_token_ids = {2, 7};
  EXPECT_EQ(first_difference(parse_hf_config(to_hf_config_json(c), "x"), c), "");
  ModelConfig m = load_hf_config(fixture("models/qwen2-moe-shared/config.json"));
  m.layer_moe = {false, true};
  m.sliding_window = 5;
  m.layer_sliding = {true, false};
  EXPECT_EQ(first_difference(parse_hf_config(to_hf_config_json(m), "x"), m), "");
}

TEST(HfConfig, LegacyRopeVariants) {
  json j = base_config("llama");
  j["rope_theta"] = 5e5;
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  ModelConfig c = parse_hf_config(j, "x");
  EXPECT_EQ(c.rope.type, RopeType::Linear);
  EXPECT_EQ(c.rope.factor, 2.0);
  EXPECT_EQ(c.rope.theta, 5e5);

  // "rope_type" beats "type"; the legacy dict beats rope_parameters.
  j["rope_scaling"] = {{"type", "linear"}, {"rope_type", "dynamic"}, {"factor", 3.0}};
  j["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1.0}};
  c = parse_hf_config(j, "x");
  EXPECT_EQ(c.rope.type, RopeType::Dynamic);
  EXPECT_EQ(c.rope.factor, 3.0);
  EXPECT_EQ(c.rope.theta, 5e5);
  EXPECT_EQ(c.rope.original_max_position, 256);

  // rope_scaling null: plain RoPE with the top-level theta; nothing at all: theta 10000.
  j["rope_scaling"] = nullptr;
  j.erase("rope_parameters");
  c = parse_hf_config(j, "x");
  EXPECT_EQ(c.rope.type, RopeType::Default);
  EXPECT_EQ(c.rope.theta, 5e5);
  j.erase("rope_theta");
  EXPECT_EQ(parse_hf_config(j, "x").rope.theta, 10000.0);

  // YaRN: a top-level original_max_position_embeddings wins; a missing factor is implied;
  // beta 0/null mean the defaults; partial_rotary_factor may sit at the top level.
  j["rope_scaling"] = {{"type", "yarn"}, {"original_max_position_embeddings", 16},
                       {"beta_fast", 0}, {"beta_slow", nullptr}, {"mscale", 1.0}};
  j["original_max_position_embeddings"] = 64;
  j["partial_rotary_factor"] = 0.5;
  c = parse_hf_config(j, "x");
  EXPECT_EQ(c.rope.type, RopeType::Yarn);
  EXPECT_EQ(c.rope.original_max_position, 64);
  EXPECT_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.beta_fast, 32.0);
  EXPECT_EQ(c.rope.beta_slow, 1.0);
  EXPECT_EQ(c.rope.mscale, 1.0);
  EXPECT_FALSE(c.rope.mscale_all_dim.has_value());
  EXPECT_EQ(c.rope.partial_rotary_factor, 0.5);
  // Without either original, yarn's original is max_position_embeddings.
  j.erase("original_max_position_embeddings");
  j["rope_scaling"].erase("original_max_position_embeddings");
  j["rope_scaling"]["factor"] = 2.0;
  EXPECT_EQ(parse_hf_config(j, "x").rope.original_max_position, 256);
}

TEST(HfConfig, FamilyDefaultsFollowTransformers) {
  json j = base_config("llama");
  j.erase("num_key_value_heads");
  ModelConfig c = parse_hf_config(j, "x");
  EXPECT_EQ(c.num_kv_heads, 4);  // LlamaConfig: None -> num_attention_heads
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int>{2});
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  j["attention_bias"] = true;
  j["mlp_bias"] = true;
  c = parse_hf_config(j, "x");
  EXPECT_TRUE(c.qkv_bias && c.o_bias && c.mlp_bias);
  j["sliding_window"] = 4;  // llama has no sliding window
  EXPECT_EQ(parse_hf_config(j, "x").sliding_window, 0);

  j = base_config("qwen2");
  j["num_attention_heads"] = 32;
  j["hidden_size"] = 256;
  j.erase("num_key_value_heads");
  EXPECT_EQ(parse_hf_config(j, "x").num_kv_heads, 32);  // Qwen2Config default is 32, not heads
  j["num_key_value_heads"] = nullptr;
  EXPECT_EQ(parse_hf_config(j, "x").num_kv_heads, 32);  // null -> num_attention_heads (32)

  j = base_config("qwen3");
  EXPECT_EQ(parse_hf_config(j, "x").head_dim, 128);  // Qwen3Config default
  j["head_dim"] = nullptr;
  EXPECT_EQ(parse_hf_config(j, "x").head_dim, 16);

  j = base_config("mistral");
  c = parse_hf_config(j, "x");
  EXPECT_EQ(c.sliding_window, 4096);  // MistralConfig default
  EXPECT_EQ(c.layer_sliding, std::vector<bool>(4, true));
  j["sliding_window"] = nullptr;
  EXPECT_EQ(parse_hf_config(j, "x").sliding_window, 0);

  j = base_config("mixtral");
  c = parse_hf_config(j, "x");
  EXPECT_EQ(c.num_experts, 8);
  EXPECT_EQ(c.experts_per_token, 2);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.sliding_window, 0);
  j["num_experts"] = 6;  // attribute alias of num_local_experts
  EXPECT_EQ(parse_hf_config(j, "x").num_experts, 6);

  j = base_config("qwen2_moe");
  c = parse_hf_config(j, "x");
  EXPECT_EQ(c.num_experts, 60);
  EXPECT_EQ(c.experts_per_token, 4);
  EXPECT_EQ(c.moe_intermediate_size, 1408);
  EXPECT_EQ(c.shared_expert_intermediate_size, 5632);
  EXPECT_FALSE(c.norm_topk_prob);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.bos_token_id.has_value());
  EXPECT_TRUE(c.eos_token_ids.empty());
  j["decoder_sparse_step"] = 2;
  j["mlp_only_layers"] = {3, 17};
  EXPECT_EQ(parse_hf_config(j, "x").layer_moe, (std::vector<bool>{false, true, false, false}));
  j["qkv_bias"] = false;
  EXPECT_FALSE(parse_hf_config(j, "x").qkv_bias);
}

TEST(HfConfig, SlidingWindowLayerSelection) {
  json j = base_config("qwen2");
  j["sliding_window"] = 16;
  EXPECT_EQ(parse_hf_config(j, "x").sliding_window, 0);  // use_sliding_window defaults to false
  j["use_sliding_window"] = true;
  j["max_window_layers"] = 2;
  ModelConfig c = parse_hf_config(j, "x");
  EXPECT_EQ(c.sliding_window, 16);
  EXPECT_EQ(c.layer_sliding, (std::vector<bool>{false, false, true, true}));
  j["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "full_attention"};
  EXPECT_EQ(parse_hf_config(j, "x").layer_sliding, (std::vector<bool>{true, false, true, false}));
  j["use_sliding_window"] = false;  // layer_types without a window: nothing slides
  EXPECT_EQ(parse_hf_config(j, "x").layer_sliding, std::vector<bool>(4, false));

  j = base_config("qwen2_moe");
  j["use_sliding_window"] = true;
  j["sliding_window"] = 8;
  j["max_window_layers"] = 3;
  EXPECT_EQ(parse_hf_config(j, "x").layer_sliding, (std::vector<bool>{true, false, true, false}));
}

TEST(HfConfig, EosMayBeIntListOrNull) {
  json j = base_config("llama");
  j["eos_token_id"] = {128001, 128009};
  EXPECT_EQ(parse_hf_config(j, "x").eos_token_ids, (std::vector<int>{128001, 128009}));
  j["eos_token_id"] = nullptr;
  j["bos_token_id"] = nullptr;
  const ModelConfig c = parse_hf_config(j, "x");
  EXPECT_TRUE(c.eos_token_ids.empty());
  EXPECT_FALSE(c.bos_token_id.has_value());
}

TEST(HfConfig, BadConfigsNameTheKey) {
  struct Case {
    const char* name;
    std::function<void(json&)> edit;
    const char* phrase;
  };
  const std::vector<Case> cases = {
      {"unknown_type", [](json& j) { j["model_type"] = "gpt2"; },
       "unsupported model_type \"gpt2\" (supported: llama, mistral, mixtral, qwen2, qwen3, qwen2_moe)"},
      {"no_type", [](json& j) { j.erase("model_type"); }, "\"model_type\": missing"},
      {"type_not_string", [](json& j) { j["model_type"] = 3; }, "\"model_type\": expected a string"},
      {"hidden_string", [](json& j) { j["hidden_size"] = "64"; }, "\"hidden_size\": expected an integer"},
      {"hidden_float", [](json& j) { j["hidden_size"] = 64.5; }, "\"hidden_size\": expected an integer"},
      {"hidden_bool", [](json& j) { j["hidden_size"] = true; }, "\"hidden_size\": expected an integer"},
      {"hidden_zero", [](json& j) { j["hidden_size"] = 0; }, "\"hidden_size\": must be a positive"},
      {"vocab_negative", [](json& j) { j["vocab_size"] = -5; }, "\"vocab_size\": must be a positive"},
      {"layers_huge", [](json& j) { j["num_hidden_layers"] = 5000000000LL; }, "\"num_hidden_layers\": integer 5000000000 is out of range"},
      {"layers_implausible", [](json& j) { j["num_hidden_layers"] = 1000000; }, "implausibly large"},
      {"kv_divides", [](json& j) { j["num_key_value_heads"] = 3; }, "\"num_key_value_heads\": 3 does not divide num_attention_heads 4"},
      {"hidden_divides", [](json& j) { j["hidden_size"] = 66; }, "does not divide hidden_size 66"},
      {"eps_zero", [](json& j) { j["rms_norm_eps"] = 0; }, "\"rms_norm_eps\": must be positive"},
      {"eps_string", [](json& j) { j["rms_norm_eps"] = "1e-5"; }, "\"rms_norm_eps\": expected a number"},
      {"tie_string", [](json& j) { j["tie_word_embeddings"] = "true"; }, "\"tie_word_embeddings\": expected true or false"},
      {"act", [](json& j) { j["hidden_act"] = "gelu"; }, "\"hidden_act\": unsupported activation \"gelu\""},
      {"arch", [](json& j) { j["architectures"] = "LlamaForCausalLM"; }, "\"architectures\": expected a list"},
      {"eos_string", [](json& j) { j["eos_token_id"] = "2"; }, "\"eos_token_id\": expected an integer"},
      {"eos_negative", [](json& j) { j["eos_token_id"] = {2, -1}; }, "\"eos_token_id\": token id must not be negative"},
      {"bos_list", [](json& j) { j["bos_token_id"] = {1, 2}; }, "\"bos_token_id\": expected one token id"},
      {"rope_type", [](json& j) { j["rope_parameters"] = {{"rope_type", "longrope"}}; },
       "\"rope_parameters.rope_type\": unsupported RoPE type \"longrope\" (supported: default, linear, dynamic, llama3, yarn)"},
      {"legacy_type", [](json& j) { j["rope_scaling"] = {{"type", "su"}, {"factor", 2.0}}; },
       "\"rope_scaling.type\": unsupported RoPE type \"su\""},
      {"rope_not_object", [](json& j) { j["rope_parameters"] = {1, 2}; }, "\"rope_parameters\": expected an object"},
      {"theta_string", [](json& j) { j["rope_parameters"] = {{"rope_theta", "1e4"}}; }, "\"rope_parameters.rope_theta\": expected a number"},
      {"theta_negative", [](json& j) { j["rope_theta"] = -1.0; }, "\"rope_theta\": must be positive"},
      {"linear_no_factor", [](json& j) { j["rope_scaling"] = {{"type", "linear"}}; },
       "\"rope_scaling.factor\": missing (required for rope_type linear)"},
      {"llama3_no_low", [](json& j) { j["rope_parameters"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"high_freq_factor", 4.0}}; },
       "\"rope_parameters.low_freq_factor\": missing (required for rope_type llama3)"},
      {"llama3_order", [](json& j) { j["rope_parameters"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 4.0}, {"high_freq_factor", 4.0}}; },
       "\"rope_parameters.high_freq_factor\": must be greater than low_freq_factor"},
      {"yarn_original", [](json& j) { j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 2.0}, {"original_max_position_embeddings", 0}}; },
       "\"rope_parameters.original_max_position_embeddings\": must be positive"},
      {"yarn_truncate", [](json& j) { j["rope_parameters"] = {{"rope_type", "yarn"}, {"factor", 2.0}, {"truncate", 1}}; },
       "\"rope_parameters.truncate\": expected true or false"},
      {"partial", [](json& j) { j["partial_rotary_factor"] = 1.5; }, "\"partial_rotary_factor\": must be in (0, 1]"},
      {"rotary_odd", [](json& j) { j["head_dim"] = 15; }, "rotary dimension 15"},
      {"per_layer_rope", [](json& j) { j["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}}}}; },
       "per-layer-type RoPE parameters are not supported"},
  };
  for (const Case& c : cases) {
    json j = base_config("llama");
    c.edit(j);
    const std::string what = parse_error(j);
    EXPECT_NE(what.find("cfg.json: "), std::string::npos) << c.name << ": " << what;
    EXPECT_NE(what.find(c.phrase), std::string::npos) << c.name << ": " << what;
  }
  // Family-specific keys.
  const std::vector<std::pair<json, const char*>> family_cases = {
      {[] { json j = base_config("mixtral"); j["num_local_experts"] = 2; j["num_experts_per_tok"] = 3; return j; }(),
       "\"num_experts_per_tok\": is 3 but there are only 2 experts"},
      {[] { json j = base_config("mixtral"); j["num_local_experts"] = 0; return j; }(),
       "\"num_local_experts\": must be a positive"},
      {[] { json j = base_config("qwen2_moe"); j["decoder_sparse_step"] = 0; return j; }(),
       "\"decoder_sparse_step\": must be a positive"},
      {[] { json j = base_config("qwen2_moe"); j["mlp_only_layers"] = {"1"}; return j; }(),
       "\"mlp_only_layers\": expected an integer"},
      {[] { json j = base_config("qwen2_moe"); j["mlp_only_layers"] = 1; return j; }(),
       "\"mlp_only_layers\": expected a list"},
      {[] { json j = base_config("qwen2"); j["layer_types"] = {"full_attention"}; return j; }(),
       "\"layer_types\": has 1 entries but num_hidden_layers is 4"},
      {[] { json j = base_config("qwen2"); j["layer_types"] = {"full_attention", "x", "full_attention", "full_attention"}; return j; }(),
       "\"layer_types\": entry 1 must be"},
      {[] { json j = base_config("mistral"); j["sliding_window"] = -8; return j; }(),
       "\"sliding_window\": must not be negative"},
      {[] { json j = base_config("qwen2"); j["use_sliding_window"] = "yes"; return j; }(),
       "\"use_sliding_window\": expected true or false"},
      {json::array(), "config is not a JSON object"},
  };
  for (const auto& [j, phrase] : family_cases) {
    const std::string what = parse_error(j);
    EXPECT_NE(what.find(phrase), std::string::npos) << what;
  }
}

TEST(HfConfig, LoadErrorsNameTheFile) {
  const std::string dir = test::scratch_dir("cfg_load");
  test::write_file(dir + "/config.json", "{\"model_type\": \"llama\",");
  try {
    load_hf_config(dir + "/config.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), dir + "/config.json");
    EXPECT_NE(e.problem().find("not valid JSON"), std::string::npos);
  }
  EXPECT_THROW(load_hf_config(dir + "/missing.json"), Error);
}

TEST(HfConfig, FuzzedConfigsParseOrThrowNovaError) {
  int parsed = 0, rejected = 0;
  uint32_t seed = 1;
  for (const char* m : {"qwen2-moe-shared", "llama3-rope", "llama-yarn", "mistral-swa", "qwen3"}) {
    for (const char* file : {"config.json", "config.legacy.json"}) {
      const std::string text = test::read_file(fixture(std::string("models/") + m + "/" + file));
      test::mutate_each(text, 250, seed++, [&](const std::string& s) {
        json j;
        try {
          j = json::parse(s);
        } catch (const json::exception&) {
          ++rejected;  // load_hf_config turns this into nova::Error (tested above)
          return;
        }
        try {
          const ModelConfig c = parse_hf_config(j, "fuzz");
          ASSERT_EQ(c.layer_sliding.size(), static_cast<size_t>(c.num_layers));
          ASSERT_EQ(c.layer_moe.size(), static_cast<size_t>(c.num_layers));
          ASSERT_EQ(c.num_heads % c.num_kv_heads, 0);
          // Whatever parses must be writable and parse back unchanged.
          ASSERT_EQ(first_difference(parse_hf_config(to_hf_config_json(c), "again"), c), "") << s;
          ++parsed;
        } catch (const Error&) {
          ++rejected;
        }
      });
    }
  }
  EXPECT_GT(parsed, 100);
  EXPECT_GT(rejected, 100);
}

}  // namespace
}  // namespace nova::formats
