// ModelConfig -> config.json (transformers 5 style), and field-by-field comparison.
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/hf_config.h"
#include "formats/rope_config.h"

namespace nova::formats {
namespace {

using nlohmann::json;

json layer_types(const ModelConfig& c) {
  json t = json::array();
  for (bool s : c.layer_sliding) t.push_back(s ? "sliding_attention" : "full_attention");
  return t;
}

template <class T>
std::string show(const T& v) {
  std::ostringstream s;
  s.precision(17);
  s << std::boolalpha << v;
  return s.str();
}
template <class T>
std::string show(const std::optional<T>& v) {
  return v ? show(*v) : std::string("none");
}
template <class T>
std::string show(const std::vector<T>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + show(static_cast<T>(v[i]));
  return s + "]";
}
std::string show(RopeType t) { return std::string(rope_type_name(t)); }

}  // namespace

json to_hf_config_json(const ModelConfig& c) {
  json j = {
      {"architectures", {c.architecture}},
      {"model_type", c.model_type},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"hidden_act", "silu"},
      {"rms_norm_eps", c.rms_norm_eps},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rope_parameters", rope_config_to_json(c.rope)},
      {"tie_word_embeddings", c.tie_word_embeddings},
  };
  j["bos_token_id"] = c.bos_token_id ? json(*c.bos_token_id) : json(nullptr);
  if (c.eos_token_ids.empty()) j["eos_token_id"] = nullptr;
  else if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else j["eos_token_id"] = c.eos_token_ids;

  const std::string& t = c.model_type;
  if (t == "llama" || t == "qwen3") j["attention_bias"] = c.qkv_bias;
  if (t == "llama") j["mlp_bias"] = c.mlp_bias;
  if (t == "qwen2_moe") j["qkv_bias"] = c.qkv_bias;
  if (t == "mistral" || t == "mixtral")
    j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  if (t == "qwen2" || t == "qwen3" || t == "qwen2_moe") {
    j["use_sliding_window"] = c.sliding_window > 0;
    j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window)
                                               : (t == "qwen2_moe" ? json(0) : json(nullptr));
    j["max_window_layers"] = c.num_layers;
    j["layer_types"] = layer_types(c);
  }
  if (t == "mixtral") {
    j["num_local_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.experts_per_token;
  }
  if (t == "qwen2_moe") {
    j["num_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.experts_per_token > 0 ? c.experts_per_token : 1;
    j["moe_intermediate_size"] = c.moe_intermediate_size > 0 ? c.moe_intermediate_size : 1;
    j["shared_expert_intermediate_size"] = c.shared_expert_intermediate_size;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["decoder_sparse_step"] = 1;
    json dense = json::array();
    for (int i = 0; i < static_cast<int>(c.layer_moe.size()); ++i)
      if (!c.layer_moe[i]) dense.push_back(i);
    j["mlp_only_layers"] = dense;
  }

  // Only what parses back to `c` is written: anything else would silently change the model.
  const ModelConfig back = parse_hf_config(j, "to_hf_config_json");
  const std::string diff = first_difference(c, back);
  if (!diff.empty())
    fail("to_hf_config_json",
         "a " + c.model_type + " config.json cannot express this model (" + diff + ")");
  return j;
}

std::string first_difference(const ModelConfig& a, const ModelConfig& b) {
#define NOVA_CMP(field)                                                             \
  if (!(a.field == b.field)) return std::string(#field) + ": " + show(a.field) + " vs " + show(b.field);
  NOVA_CMP(model_type) NOVA_CMP(architecture) NOVA_CMP(vocab_size) NOVA_CMP(hidden_size)
  NOVA_CMP(intermediate_size) NOVA_CMP(num_layers) NOVA_CMP(num_heads) NOVA_CMP(num_kv_heads)
  NOVA_CMP(head_dim) NOVA_CMP(rms_norm_eps) NOVA_CMP(max_position_embeddings)
  NOVA_CMP(rope.type) NOVA_CMP(rope.theta) NOVA_CMP(rope.factor) NOVA_CMP(rope.original_max_position)
  NOVA_CMP(rope.low_freq_factor) NOVA_CMP(rope.high_freq_factor) NOVA_CMP(rope.beta_fast)
  NOVA_CMP(rope.beta_slow) NOVA_CMP(rope.attention_factor) NOVA_CMP(rope.mscale)
  NOVA_CMP(rope.mscale_all_dim) NOVA_CMP(rope.truncate) NOVA_CMP(rope.partial_rotary_factor)
  NOVA_CMP(qkv_bias) NOVA_CMP(o_bias) NOVA_CMP(mlp_bias) NOVA_CMP(qk_norm)
  NOVA_CMP(tie_word_embeddings) NOVA_CMP(sliding_window) NOVA_CMP(layer_sliding)
  NOVA_CMP(num_experts) NOVA_CMP(experts_per_token) NOVA_CMP(moe_intermediate_size)
  NOVA_CMP(norm_topk_prob) NOVA_CMP(shared_expert_intermediate_size) NOVA_CMP(layer_moe)
  NOVA_CMP(bos_token_id) NOVA_CMP(eos_token_ids)
#undef NOVA_CMP
  // A field added to ModelConfig but not above still makes the configs unequal.
  if (!(a == b)) return "a field missing from first_difference";
  return "";
}

}  // namespace nova::formats
