#include "train/run_setup.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "train/model_params.h"

namespace nova::train {

namespace fs = std::filesystem;

RunData open_run_data(const RunConfig& c) {
  RunData d;
  if (!c.data.manifest.empty()) {
    d.manifest = data::Manifest::load(c.data.manifest);
    d.train = std::make_shared<data::TokenStream>(data::TokenStream::open_manifest(c.data.manifest, "train"));
    if (!d.manifest->val.shards.empty() && d.manifest->val.tokens > 0)
      d.val = std::make_shared<data::TokenStream>(data::TokenStream::open_manifest(c.data.manifest, "val"));
  } else {
    d.train = std::make_shared<data::TokenStream>(data::TokenStream::open(c.data.train));
    if (!c.data.val.empty()) d.val = std::make_shared<data::TokenStream>(data::TokenStream::open(c.data.val));
  }
  const auto window = static_cast<uint64_t>(c.data.seq_len) + 1;
  require(d.train->size() >= window, "data",
          "the train split has " + std::to_string(d.train->size()) + " tokens, fewer than one sequence of data.seq_len + 1 = " +
              std::to_string(window));
  if (d.val && d.val->size() < window) d.val.reset();  // too short to evaluate on: no eval
  return d;
}

formats::ModelConfig scratch_model_config(const RunConfig& c, int64_t data_vocab, std::optional<int> eos_id) {
  const auto& m = c.model;
  nlohmann::json j;
  j["model_type"] = m.model_type;
  j["vocab_size"] = m.vocab_size > 0 ? m.vocab_size : data_vocab;
  j["hidden_size"] = m.hidden_size;
  j["intermediate_size"] = m.intermediate_size > 0 ? m.intermediate_size : (m.hidden_size * 8 / 3 + 63) / 64 * 64;
  j["num_hidden_layers"] = m.num_layers;
  j["num_attention_heads"] = m.num_heads;
  j["num_key_value_heads"] = m.num_kv_heads > 0 ? m.num_kv_heads : m.num_heads;
  j["head_dim"] = m.head_dim > 0 ? m.head_dim : m.hidden_size / m.num_heads;
  j["max_position_embeddings"] = m.max_position_embeddings > 0 ? m.max_position_embeddings : c.data.seq_len;
  j["rms_norm_eps"] = m.rms_norm_eps;
  j["rope_theta"] = m.rope_theta;
  j["tie_word_embeddings"] = m.tie_word_embeddings;
  j["bos_token_id"] = nullptr;
  j["eos_token_id"] = eos_id ? nlohmann::json(*eos_id) : nlohmann::json(nullptr);
  if (m.model_type == "mistral") j["sliding_window"] = nullptr;
  if (m.model_type == "mixtral") {  // every layer MoE; experts are intermediate_size wide
    j["num_local_experts"] = m.num_experts;
    j["num_experts_per_tok"] = m.experts_per_token;
    if (m.moe_intermediate_size > 0) j["intermediate_size"] = m.moe_intermediate_size;
    j["sliding_window"] = nullptr;
  } else if (m.model_type == "qwen2_moe") {
    j["num_experts"] = m.num_experts;
    j["num_experts_per_tok"] = m.experts_per_token;
    j["moe_intermediate_size"] = m.moe_intermediate_size > 0 ? nlohmann::json(m.moe_intermediate_size) : j["intermediate_size"];
    j["shared_expert_intermediate_size"] = m.shared_expert_intermediate_size;
    j["norm_topk_prob"] = m.norm_topk_prob;
    j["decoder_sparse_step"] = 1;
    j["mlp_only_layers"] = nlohmann::json::array();
  }
  formats::ModelConfig mc = formats::parse_hf_config(j, "model.config");
  validate_config(mc);
  return mc;
}

std::unique_ptr<TrainModel> build_train_model(const RunConfig& c, const RunData& d, const std::string& resume_dir) {
  TrainOptions options;
  options.recompute = c.train.recompute;
  // The load-balancing loss weight is a training choice (transformers keeps it in config.json,
  // which formats::ModelConfig does not carry): from the run config, for MoE models only.
  options.router_aux_loss_coef = c.model.router_aux_loss_coef;
  std::unique_ptr<TrainModel> model;
  if (!resume_dir.empty()) model = TrainModel::from_pretrained(resume_dir, options);
  else if (!c.model.init.empty()) model = TrainModel::from_pretrained(c.model.init, options);
  else {
    std::optional<int> eos;
    if (d.manifest && d.manifest->separator_id >= 0) eos = d.manifest->separator_id;
    formats::ModelConfig mc = scratch_model_config(c, d.train->vocab_size(), eos);
    ParamStore params = make_params(mc);
    init_params_random(params, c.train.seed, static_cast<float>(c.model.initializer_range));
    model = std::make_unique<TrainModel>(std::move(mc), std::move(params), options);
  }
  if (model->config().num_experts == 0) model->options().router_aux_loss_coef = 0.0;
  const int vocab = model->config().vocab_size;
  require(d.train->vocab_size() <= static_cast<uint32_t>(vocab), "data",
          "the shards' tokenizer has " + std::to_string(d.train->vocab_size()) +
              " tokens, more than the model's vocab_size " + std::to_string(vocab));
  if (d.val)
    require(d.val->vocab_size() <= static_cast<uint32_t>(vocab), "data",
            "the validation shards' tokenizer has " + std::to_string(d.val->vocab_size()) +
                " tokens, more than the model's vocab_size " + std::to_string(vocab));
  return model;
}

std::map<std::string, std::string> carried_files(const RunConfig& c, const RunData& d, const std::string& resume_dir) {
  auto file_in = [](const std::string& dir, const char* name) -> std::string {
    if (dir.empty()) return "";
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    return fs::is_regular_file(p, ec) ? p.string() : "";
  };
  std::string tokenizer = c.tokenizer_path;
  if (tokenizer.empty()) tokenizer = file_in(resume_dir, "tokenizer.json");
  if (tokenizer.empty()) tokenizer = file_in(c.model.init, "tokenizer.json");
  if (tokenizer.empty() && d.manifest && !d.manifest->tokenizer.empty()) {
    std::error_code ec;
    if (fs::is_regular_file(d.manifest->tokenizer, ec)) tokenizer = d.manifest->tokenizer;
  }
  std::string tokenizer_config, generation = file_in(resume_dir, "generation_config.json");
  if (!tokenizer.empty()) {
    const std::string dir = fs::path(tokenizer).parent_path().string();
    tokenizer_config = file_in(dir.empty() ? "." : dir, "tokenizer_config.json");
  }
  if (generation.empty()) generation = file_in(c.model.init, "generation_config.json");
  std::map<std::string, std::string> files;
  if (!tokenizer.empty()) files["tokenizer.json"] = read_text_file(tokenizer);
  if (!tokenizer_config.empty()) files["tokenizer_config.json"] = read_text_file(tokenizer_config);
  if (!generation.empty()) files["generation_config.json"] = read_text_file(generation);
  return files;
}

}  // namespace nova::train
