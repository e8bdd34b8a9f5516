// Random-weight model directories of any size, for benchmarks that need a model costlier per
// token than the bundled demo (hidden 64, 2 layers). write_random_qwen3 copies the tokenizer,
// chat template and generation_config.json from an existing model directory whose vocabulary
// size the new model takes over, so the same prompts and stop ids work unchanged;
// write_random_llama writes weights and config only, from a caller's source of matrices.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "core/tensor.h"
#include "formats/safetensors.h"

namespace nova::bench {

// xorshift64: cheap and deterministic; benchmark weights only need to be finite and of a sane scale.
struct XorShift {
  uint64_t s = 0x2545f4914f6cdd1dull;
  float uniform() {  // in [-1, 1)
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return static_cast<float>(static_cast<int64_t>(s >> 40) - (int64_t(1) << 23)) / float(int64_t(1) << 23);
  }
};

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

  XorShift rng{0x9e3779b97f4a7c15ull};
  auto tensor = [&](std::vector<int64_t> shape, bool norm) {
    Tensor t = Tensor::zeros(DType::F32, shape);
    float* p = t.data_as<float>();
    const float scale = 1.0f / std::sqrt(static_cast<float>(shape.back()));
    for (int64_t i = 0; i < t.numel(); ++i) {
      const float u = rng.uniform();
      p[i] = norm ? 1.0f : scale * u;
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

struct LlamaShape {
  int64_t hidden, inter, layers, heads, kv_heads, vocab;
  bool tied = false;  // the LM head is the embedding
  int64_t max_positions = 4096;
  double rope_theta = 10000.0;
};

// Writes config.json + model.safetensors of a Llama-architecture model of shape `s` into `dir`
// (which exists). Every matrix comes from matrix(rows, cols, scale) in a fixed order (embedding,
// each layer's q k v o gate up down, LM head); `scale` is what keeps activations sane for a uniform
// [-1, 1) source: 1/sqrt(fan_in), 1 for the embedding. Norm weights are ones. Returns the bytes of
// matrices one decode step reads: every linear layer and the LM head (the embedding's one row is
// negligible).
inline double write_random_llama(const std::string& dir, const LlamaShape& s,
                                 const std::function<Tensor(int64_t rows, int64_t cols, float scale)>& matrix) {
  const int64_t hd = s.hidden / s.heads;
  const nlohmann::json config = {
      {"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", s.hidden},
      {"intermediate_size", s.inter}, {"num_hidden_layers", s.layers}, {"num_attention_heads", s.heads},
      {"num_key_value_heads", s.kv_heads}, {"head_dim", hd}, {"vocab_size", s.vocab},
      {"max_position_embeddings", s.max_positions}, {"rms_norm_eps", 1e-5}, {"hidden_act", "silu"},
      {"rope_theta", s.rope_theta}, {"tie_word_embeddings", s.tied}, {"attention_bias", false}, {"mlp_bias", false},
      {"bos_token_id", 1}, {"eos_token_id", 2}};
  std::ofstream(dir + "/config.json") << config.dump(2);

  std::map<std::string, Tensor> t;
  double bytes = 0;
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    t[name] = matrix(out, in, 1.0f / std::sqrt(float(in)));
    bytes += double(t[name].nbytes());
  };
  Tensor ones = Tensor::zeros(DType::F32, {s.hidden});
  for (int64_t i = 0; i < s.hidden; ++i) ones.data_as<float>()[i] = 1.0f;
  t["model.embed_tokens.weight"] = matrix(s.vocab, s.hidden, 1.0f);
  for (int64_t l = 0; l < s.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    linear(p + "self_attn.q_proj.weight", s.heads * hd, s.hidden);
    linear(p + "self_attn.k_proj.weight", s.kv_heads * hd, s.hidden);
    linear(p + "self_attn.v_proj.weight", s.kv_heads * hd, s.hidden);
    linear(p + "self_attn.o_proj.weight", s.hidden, s.heads * hd);
    linear(p + "mlp.gate_proj.weight", s.inter, s.hidden);
    linear(p + "mlp.up_proj.weight", s.inter, s.hidden);
    linear(p + "mlp.down_proj.weight", s.hidden, s.inter);
    t[p + "input_layernorm.weight"] = ones;
    t[p + "post_attention_layernorm.weight"] = ones;
  }
  t["model.norm.weight"] = ones;
  if (s.tied) bytes += double(t["model.embed_tokens.weight"].nbytes());
  else linear("lm_head.weight", s.vocab, s.hidden);
  formats::save_safetensors(dir + "/model.safetensors", t);
  return bytes;
}

}  // namespace nova::bench
