// A random-weight Qwen3-architecture model directory of any size, for benchmarks that need a
// model costlier per token than the bundled demo (hidden 64, 2 layers). The tokenizer,
// chat template and generation_config.json are copied from an existing model directory whose
// vocabulary size the new model takes over, so the same prompts and stop ids work unchanged.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "core/tensor.h"
#include "formats/safetensors.h"

namespace nova::bench {

struct RandomModelShape {
  int64_t hidden = 512, layers = 4, heads = 8, kv_heads = 4;
  int64_t intermediate() const { return (hidden * 11 / 4 + 63) / 64 * 64; }
  int64_t head_dim() const { return hidden / heads; }
};

// Writes config.json + model.safetensors into `dir` (created) and copies the tokenizer files of
// `source_dir`. Weights are uniform in +-1/sqrt(fan_in), norms 1: activations stay finite.
inline void write_random_qwen3(const std::string& dir, const std::string& source_dir, const RandomModelShape& s) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(read_text_file(source_dir + "/config.json"));
  const int64_t vocab = config.at("vocab_size").get<int64_t>();
  config["architectures"] = {"Qwen3ForCausalLM"};
  config["model_type"] = "qwen3";
  config["hidden_size"] = s.hidden;
  config["intermediate_size"] = s.intermediate();
  config["num_hidden_layers"] = s.layers;
  config["num_attention_heads"] = s.heads;
  config["num_key_value_heads"] = s.kv_heads;
  config["head_dim"] = s.head_dim();
  config["layer_types"] = std::vector<std::string>(static_cast<size_t>(s.layers), "full_attention");
  config["tie_word_embeddings"] = false;
  {
    std::ofstream out(dir + "/config.json");
    out << config.dump(2) << "\n";
  }
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
    if (fs::exists(fs::path(source_dir) / f))
      fs::copy_file(fs::path(source_dir) / f, fs::path(dir) / f, fs::copy_options::overwrite_existing);

  uint64_t state = 0x9e3779b97f4a7c15ull;
  auto tensor = [&](std::vector<int64_t> shape, bool norm) {
    Tensor t = Tensor::zeros(DType::F32, shape);
    float* p = t.data_as<float>();
    const float scale = 1.0f / std::sqrt(static_cast<float>(shape.back()));
    for (int64_t i = 0; i < t.numel(); ++i) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;
      p[i] = norm ? 1.0f : scale * (static_cast<float>(state >> 40) / float(1 << 23) - 1.0f);
    }
    return t;
  };
  const int64_t h = s.hidden, hd = s.head_dim(), q = s.heads * hd, kv = s.kv_heads * hd, inter = s.intermediate();
  std::map<std::string, Tensor> w;
  w["model.embed_tokens.weight"] = tensor({vocab, h}, false);
  w["lm_head.weight"] = tensor({vocab, h}, false);
  w["model.norm.weight"] = tensor({h}, true);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w[p + "input_layernorm.weight"] = tensor({h}, true);
    w[p + "post_attention_layernorm.weight"] = tensor({h}, true);
    w[p + "self_attn.q_proj.weight"] = tensor({q, h}, false);
    w[p + "self_attn.k_proj.weight"] = tensor({kv, h}, false);
    w[p + "self_attn.v_proj.weight"] = tensor({kv, h}, false);
    w[p + "self_attn.o_proj.weight"] = tensor({h, q}, false);
    w[p + "self_attn.q_norm.weight"] = tensor({hd}, true);
    w[p + "self_attn.k_norm.weight"] = tensor({hd}, true);
    w[p + "mlp.gate_proj.weight"] = tensor({inter, h}, false);
    w[p + "mlp.up_proj.weight"] = tensor({inter, h}, false);
    w[p + "mlp.down_proj.weight"] = tensor({h, inter}, false);
  }
  formats::save_safetensors(dir + "/model.safetensors", w);
}

}  // namespace nova::bench
