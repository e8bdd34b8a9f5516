// Hugging Face config.json -> ModelConfig: the one description of a decoder-only transformer
// that the model code reads. Family differences (qk-norm, biases, sliding window, MoE, shared
// expert) are fields here, never separate model code.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace nova::formats {

enum class RopeType { Default, Linear, Dynamic, Llama3, Yarn };

struct RopeConfig {
  RopeType type = RopeType::Default;
  double theta = 10000.0;
  double factor = 1.0;                 // linear / dynamic / llama3 / yarn
  int original_max_position = 0;       // llama3 / yarn / dynamic ("original_max_position_embeddings")
  double low_freq_factor = 1.0;        // llama3
  double high_freq_factor = 4.0;       // llama3
  double beta_fast = 32.0;             // yarn
  double beta_slow = 1.0;              // yarn
  std::optional<double> attention_factor;  // yarn (a.k.a. mscale); default derived from factor
  std::optional<double> mscale, mscale_all_dim;  // yarn, DeepSeek-style
  bool truncate = true;                // yarn: round the correction range to integers
  double partial_rotary_factor = 1.0;  // fraction of head_dim that is rotated

  bool operator==(const RopeConfig&) const = default;
};

struct ModelConfig {
  std::string model_type;    // llama, mistral, qwen2, qwen3, mixtral, qwen2_moe
  std::string architecture;  // e.g. "LlamaForCausalLM"
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // explicit "head_dim", else hidden_size / num_heads
  double rms_norm_eps = 1e-6;
  int max_position_embeddings = 0;
  RopeConfig rope;

  bool qkv_bias = false;     // bias on q/k/v projections (qwen2, attention_bias)
  bool o_bias = false;       // bias on o_proj (llama attention_bias=true)
  bool mlp_bias = false;
  bool qk_norm = false;      // per-head RMSNorm of q and k before RoPE (qwen3)
  bool tie_word_embeddings = false;

  // Sliding-window attention: window size (0 = none) and which layers use it.
  int sliding_window = 0;
  std::vector<bool> layer_sliding;  // size num_layers

  // Mixture of experts (num_experts == 0: dense MLP everywhere).
  int num_experts = 0;
  int experts_per_token = 0;
  int moe_intermediate_size = 0;       // per-expert FFN width (mixtral: intermediate_size)
  bool norm_topk_prob = true;          // renormalise the top-k routing weights
  int shared_expert_intermediate_size = 0;  // qwen2_moe sigmoid-gated shared expert (0 = none)
  std::vector<bool> layer_moe;         // size num_layers: MoE or dense MLP in that layer

  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;

  bool operator==(const ModelConfig&) const = default;
};

// Field semantics follow transformers: a key absent from config.json takes the default of that
// family's transformers config class; RoPE comes from "rope_parameters" or the legacy
// "rope_theta" + "rope_scaling" (which wins when both exist). For dynamic RoPE,
// original_max_position is max_position_embeddings (what transformers measures against).
// Dense models have norm_topk_prob = true and layer_moe all false.
//
// Parses and validates; throws nova::Error naming `path` and the key at fault
// (missing/invalid value, unknown model_type, impossible shapes such as heads % kv_heads != 0).
ModelConfig parse_hf_config(const nlohmann::json& j, const std::string& path);
ModelConfig load_hf_config(const std::string& path);  // reads and parses a config.json file

// The inverse, for checkpoints NovaLM writes (transformers-compatible keys, rope_parameters form).
// Throws nova::Error when `c` holds something its model_type cannot express (e.g. a mistral
// config with biases); parse_hf_config(to_hf_config_json(c)) == c otherwise.
nlohmann::json to_hf_config_json(const ModelConfig& c);

// "" when equal, else the first differing field and both values ("rope.theta: 10000 vs 1e+06").
std::string first_difference(const ModelConfig& a, const ModelConfig& b);

}  // namespace nova::formats
