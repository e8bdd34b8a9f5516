#include "serve/app/model_bundle.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace nova::serve::app {

namespace fs = std::filesystem;

namespace {

// generation_config.json: eos_token_id (int or list) and sampling defaults, all optional.
void apply_generation_config(const std::string& path, ModelBundle& b) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("invalid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(path, "expected a JSON object");
  auto num = [&](const char* key) -> std::optional<double> {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) fail(path, std::string(key) + ": expected a number");
    return it->get<double>();
  };
  if (auto it = j.find("eos_token_id"); it != j.end()) {
    if (it->is_number_integer()) b.eos_token_ids = {it->get<int32_t>()};
    else if (it->is_array()) {
      b.eos_token_ids.clear();
      for (const auto& v : *it) {
        if (!v.is_number_integer()) fail(path, "eos_token_id: expected integers");
        b.eos_token_ids.push_back(v.get<int32_t>());
      }
    }
  }
  const bool sample = !j.contains("do_sample") || !j["do_sample"].is_boolean() || j["do_sample"].get<bool>();
  if (!sample) b.default_sampling.temperature = 0;
  else if (auto t = num("temperature")) b.default_sampling.temperature = static_cast<float>(*t);
  if (auto p = num("top_p")) b.default_sampling.top_p = static_cast<float>(*p);
  if (auto k = num("top_k")) b.default_sampling.top_k = static_cast<int>(*k);
  if (auto m = num("min_p")) b.default_sampling.min_p = static_cast<float>(*m);
  if (auto r = num("repetition_penalty")) b.default_sampling.repetition_penalty = static_cast<float>(*r);
}

}  // namespace

ModelBundle ModelBundle::load(const std::string& model_dir) {
  ModelBundle b;
  b.dir = model_dir;
  b.name = fs::path(model_dir).lexically_normal().filename().string();
  if (b.name.empty()) b.name = fs::path(model_dir).lexically_normal().parent_path().filename().string();
  if (b.name.empty()) b.name = "model";
  const std::string tok_path = (fs::path(model_dir) / "tokenizer.json").string();
  if (!fs::exists(tok_path)) fail(model_dir, "no tokenizer.json in the model directory");
  b.tokenizer = std::make_shared<const tokenizer::Tokenizer>(tokenizer::Tokenizer::from_file(tok_path));
  b.model = model::Transformer::load(model_dir);
  for (int id : b.model->config().eos_token_ids) b.eos_token_ids.push_back(id);
  b.max_context = b.model->config().max_position_embeddings;
  const std::string gen = (fs::path(model_dir) / "generation_config.json").string();
  if (fs::exists(gen)) apply_generation_config(gen, b);
  const std::string tc = (fs::path(model_dir) / "tokenizer_config.json").string();
  if (fs::exists(tc)) {
    auto cfg = chat::ChatTemplateConfig::load(tc);
    if (!cfg.template_source.empty()) b.chat_template = std::move(cfg);
  }
  return b;
}

}  // namespace nova::serve::app
