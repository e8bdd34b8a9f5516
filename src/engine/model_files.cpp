#include "engine/model_files.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace nova::engine {

namespace fs = std::filesystem;

std::string find_tokenizer_json(const std::string& path) {
  if (fs::is_directory(path)) {
    const fs::path p = fs::path(path) / "tokenizer.json";
    if (!fs::exists(p)) fail(path, "no tokenizer.json in this directory");
    return p.string();
  }
  if (!fs::exists(path)) fail(path, "no such file");
  return path;
}

std::optional<std::string> find_tokenizer_config(const std::string& model_dir) {
  const fs::path p = fs::path(model_dir) / "tokenizer_config.json";
  if (fs::exists(p)) return p.string();
  return std::nullopt;
}

SamplingParams GenerationDefaults::sampling() const {
  SamplingParams p;
  if (!do_sample.value_or(true)) p.temperature = 0;
  else if (temperature) p.temperature = static_cast<float>(*temperature);
  if (top_p) p.top_p = static_cast<float>(*top_p);
  if (min_p) p.min_p = static_cast<float>(*min_p);
  if (repetition_penalty) p.repetition_penalty = static_cast<float>(*repetition_penalty);
  if (top_k) p.top_k = *top_k;
  return p;
}

GenerationDefaults load_generation_defaults(const std::string& model_dir) {
  GenerationDefaults d;
  const fs::path p = fs::path(model_dir) / "generation_config.json";
  if (!fs::exists(p)) return d;
  const std::string where = p.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(where));
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("invalid JSON: ") + e.what());
  }
  require(j.is_object(), where, "expected a JSON object");
  auto number = [&](const char* key) -> std::optional<double> {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    require(j[key].is_number(), where, std::string("'") + key + "' must be a number");
    return j[key].get<double>();
  };
  if (j.contains("eos_token_id")) {
    const auto& e = j["eos_token_id"];
    if (e.is_number_integer()) d.eos_token_ids.push_back(e.get<int>());
    else if (e.is_array())
      for (const auto& x : e) {
        require(x.is_number_integer(), where, "'eos_token_id' entries must be integers");
        d.eos_token_ids.push_back(x.get<int>());
      }
    else require(e.is_null(), where, "'eos_token_id' must be an integer or a list of integers");
  }
  d.temperature = number("temperature");
  d.top_p = number("top_p");
  d.min_p = number("min_p");
  d.repetition_penalty = number("repetition_penalty");
  if (auto k = number("top_k")) d.top_k = static_cast<int>(*k);
  if (j.contains("do_sample") && j["do_sample"].is_boolean()) d.do_sample = j["do_sample"].get<bool>();
  return d;
}

}  // namespace nova::engine
