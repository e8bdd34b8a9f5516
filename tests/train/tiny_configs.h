// Tiny model configurations of every family, built in code, and random batches for them.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "train/batch.h"

namespace nova::train::test {

inline formats::ModelConfig tiny_base(const std::string& type) {
  formats::ModelConfig c;
  c.model_type = type;
  c.vocab_size = 29;
  c.hidden_size = 16;
  c.intermediate_size = 24;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 4;
  c.rms_norm_eps = 1e-5;
  c.max_position_embeddings = 64;
  c.rope.theta = 10000.0;
  c.layer_sliding.assign(2, false);
  c.layer_moe.assign(2, false);
  return c;
}

// name -> config: each exercises one family's differences.
inline std::vector<std::pair<std::string, formats::ModelConfig>> tiny_configs() {
  std::vector<std::pair<std::string, formats::ModelConfig>> out;
  {  // Llama with attention + MLP biases, partial rotary, untied head
    formats::ModelConfig c = tiny_base("llama");
    c.qkv_bias = c.o_bias = c.mlp_bias = true;
    c.rope.partial_rotary_factor = 0.5;
    out.emplace_back("llama_bias", c);
  }
  {  // Qwen2: qkv bias, tied head
    formats::ModelConfig c = tiny_base("qwen2");
    c.qkv_bias = true;
    c.tie_word_embeddings = true;
    c.rope.theta = 1e6;
    out.emplace_back("qwen2_tied", c);
  }
  {  // Qwen3: per-head qk-norm, head_dim * heads != hidden
    formats::ModelConfig c = tiny_base("qwen3");
    c.qk_norm = true;
    c.head_dim = 8;
    out.emplace_back("qwen3_qknorm", c);
  }
  {  // Mistral: sliding window on the first layer only, MHA
    formats::ModelConfig c = tiny_base("mistral");
    c.num_kv_heads = 4;
    c.sliding_window = 3;
    c.layer_sliding = {true, false};
    out.emplace_back("mistral_swa", c);
  }
  {  // Mixtral: 4 experts, top-2, renormalised
    formats::ModelConfig c = tiny_base("mixtral");
    c.num_experts = 4;
    c.experts_per_token = 2;
    c.moe_intermediate_size = 12;
    c.norm_topk_prob = true;
    c.layer_moe = {true, true};
    out.emplace_back("mixtral_moe", c);
  }
  {  // Qwen2-MoE: top-2 raw weights, shared expert with sigmoid gate, a dense layer, tied
    formats::ModelConfig c = tiny_base("qwen2_moe");
    c.num_experts = 4;
    c.experts_per_token = 2;
    c.moe_intermediate_size = 10;
    c.norm_topk_prob = false;
    c.shared_expert_intermediate_size = 14;
    c.layer_moe = {true, false};
    c.tie_word_embeddings = true;
    c.qkv_bias = true;
    out.emplace_back("qwen2_moe_shared", c);
  }
  return out;
}

inline Batch random_batch(int64_t B, int64_t T, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> tokens(static_cast<size_t>(B * (T + 1)));
  for (int32_t& t : tokens) t = static_cast<int32_t>(rng() % vocab);
  return Batch::from_sequences(tokens.data(), B, T + 1);
}

}  // namespace nova::train::test
