#include "serve/app/model_bundle.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "engine/model_files.h"

namespace nova::serve::app {

namespace fs = std::filesystem;

ModelBundle ModelBundle::load(const std::string& model_dir) {
  ModelBundle b;
  b.dir = model_dir;
  b.name = fs::path(model_dir).lexically_normal().filename().string();
  if (b.name.empty()) b.name = fs::path(model_dir).lexically_normal().parent_path().filename().string();
  if (b.name.empty()) b.name = "model";
  b.tokenizer = std::make_shared<const tokenizer::Tokenizer>(
      tokenizer::Tokenizer::from_file(engine::find_tokenizer_json(model_dir)));
  b.model = model::Transformer::load(model_dir);
  for (int id : b.model->config().eos_token_ids) b.eos_token_ids.push_back(id);
  b.max_context = b.model->config().max_position_embeddings;
  for (int32_t id = 0; id < b.tokenizer->vocab_size(); ++id) {
    const int32_t one[1] = {id};
    b.max_token_bytes = std::max<int64_t>(b.max_token_bytes, static_cast<int64_t>(b.tokenizer->decode(one).size()));
  }
  const engine::GenerationDefaults defaults = engine::load_generation_defaults(model_dir);
  b.default_sampling = defaults.sampling();
  if (!defaults.eos_token_ids.empty()) b.eos_token_ids.assign(defaults.eos_token_ids.begin(), defaults.eos_token_ids.end());
  if (const auto tc = engine::find_tokenizer_config(model_dir)) {
    auto cfg = chat::ChatTemplateConfig::load(*tc);
    if (!cfg.template_source.empty()) b.chat_template = std::move(cfg);
  }
  return b;
}

}  // namespace nova::serve::app
