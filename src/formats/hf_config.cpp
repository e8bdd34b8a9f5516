// config.json -> ModelConfig. Defaults and derived values follow transformers' config classes
// (LlamaConfig, MistralConfig, MixtralConfig, Qwen2Config, Qwen3Config, Qwen2MoeConfig): a key
// missing from config.json takes that class's default, so e.g. a Mistral config without
// "sliding_window" gets 4096, and a Qwen3 config without "head_dim" gets 128.
#include "formats/hf_config.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/json_fields.h"
#include "formats/rope_config.h"

namespace nova::formats {
namespace {

using nlohmann::json;
using detail::JsonFields;

enum class Sliding {
  None,       // llama: no sliding-window attention at all
  AllLayers,  // mistral, mixtral: every layer when "sliding_window" is set
  Qwen2,      // qwen2, qwen3: gated by use_sliding_window; layer_types or i >= max_window_layers
  Qwen2Moe,   // qwen2_moe: gated by use_sliding_window; layer_types or odd-numbered layers below
              // max_window_layers
};
enum class AttnBias { None, AttentionBiasKey, QkvAlways, QkvBiasKey };
enum class Moe { Dense, Mixtral, Qwen2Moe };

struct Family {
  const char* model_type;
  const char* architecture;
  int vocab, hidden, intermediate, layers, heads;
  std::optional<int> kv_heads;  // nullopt: = heads
  std::optional<int> head_dim;  // nullopt: = hidden / heads
  int max_position;
  double rms_norm_eps;
  std::optional<int> bos, eos;
  Sliding sliding;
  std::optional<int> sliding_window;
  AttnBias attn_bias;
  bool mlp_bias_key;
  bool qk_norm;
  Moe moe;
};

const Family kFamilies[] = {
    {"llama", "LlamaForCausalLM", 32000, 4096, 11008, 32, 32, std::nullopt, std::nullopt, 2048,
     1e-6, 1, 2, Sliding::None, std::nullopt, AttnBias::AttentionBiasKey, true, false, Moe::Dense},
    {"mistral", "MistralForCausalLM", 32000, 4096, 14336, 32, 32, 8, std::nullopt, 4096 * 32,
     1e-6, 1, 2, Sliding::AllLayers, 4096, AttnBias::None, false, false, Moe::Dense},
    {"mixtral", "MixtralForCausalLM", 32000, 4096, 14336, 32, 32, 8, std::nullopt, 4096 * 32,
     1e-5, 1, 2, Sliding::AllLayers, std::nullopt, AttnBias::None, false, false, Moe::Mixtral},
    {"qwen2", "Qwen2ForCausalLM", 151936, 4096, 22016, 32, 32, 32, std::nullopt, 32768, 1e-6,
     std::nullopt, std::nullopt, Sliding::Qwen2, 4096, AttnBias::QkvAlways, false, false,
     Moe::Dense},
    {"qwen3", "Qwen3ForCausalLM", 151936, 4096, 22016, 32, 32, 32, 128, 32768, 1e-6,
     std::nullopt, std::nullopt, Sliding::Qwen2, 4096, AttnBias::AttentionBiasKey, false, true,
     Moe::Dense},
    {"qwen2_moe", "Qwen2MoeForCausalLM", 151936, 2048, 5632, 24, 16, 16, std::nullopt, 32768,
     1e-6, std::nullopt, std::nullopt, Sliding::Qwen2Moe, 4096, AttnBias::QkvBiasKey, false,
     false, Moe::Qwen2Moe},
};

// Bounds that no real model reaches; they keep absurd values from driving allocations later.
constexpr int kMaxLayers = 1 << 14;

const Family& find_family(const JsonFields& f) {
  if (!f.present("model_type")) fail(f.path(), "key \"model_type\": missing");
  const std::string type = f.string("model_type", "");
  for (const Family& fam : kFamilies)
    if (type == fam.model_type) return fam;
  std::string supported;
  for (const Family& fam : kFamilies) supported += (supported.empty() ? "" : ", ") + std::string(fam.model_type);
  f.fail_key("model_type", "unsupported model_type \"" + type + "\" (supported: " + supported + ")");
}

int positive(const JsonFields& f, const std::string& key, int v) {
  if (v <= 0) f.fail_key(key, "must be a positive integer, got " + std::to_string(v));
  return v;
}

std::vector<int> token_ids(const JsonFields& f, const std::string& key, std::optional<int> def) {
  const json* v = f.find(key);
  std::vector<int> out;
  if (!v) {
    if (def) out.push_back(*def);
  } else if (v->is_array()) {
    for (const json& e : *v) out.push_back(f.as_integer(key, e));
  } else if (!v->is_null()) {
    out.push_back(f.as_integer(key, *v));
  }
  for (int id : out)
    if (id < 0) f.fail_key(key, "token id must not be negative, got " + std::to_string(id));
  return out;
}

// Which layers use sliding-window attention, and the window (0 = none).
void parse_sliding(const Family& fam, const JsonFields& f, ModelConfig& c) {
  c.layer_sliding.assign(c.num_layers, false);
  if (fam.sliding == Sliding::None) return;

  std::optional<int> window = f.nullable_integer("sliding_window", fam.sliding_window);
  if (fam.sliding == Sliding::AllLayers) {
    if (window && *window > 0) {
      c.sliding_window = *window;
      c.layer_sliding.assign(c.num_layers, true);
    } else if (window && *window < 0) {
      f.fail_key("sliding_window", "must not be negative");
    }
    return;
  }

  // Without use_sliding_window the window is dropped (Qwen2Config sets it to None, Qwen2Moe to 0).
  const int win = f.boolean("use_sliding_window", false) ? window.value_or(0) : 0;
  if (win < 0) f.fail_key("sliding_window", "must not be negative");
  const int max_window_layers = f.integer("max_window_layers", 28);
  std::vector<bool> sliding(c.num_layers, false);
  const json* types = f.find("layer_types");
  if (types && !types->is_null()) {
    if (!types->is_array()) f.fail_key("layer_types", "expected a list of strings");
    if (types->size() != static_cast<size_t>(c.num_layers))
      f.fail_key("layer_types", "has " + std::to_string(types->size()) + " entries but " +
                                    "num_hidden_layers is " + std::to_string(c.num_layers));
    for (size_t i = 0; i < types->size(); ++i) {
      const json& t = (*types)[i];
      if (t == "sliding_attention") sliding[i] = true;
      else if (t != "full_attention")
        f.fail_key("layer_types", "entry " + std::to_string(i) +
                                      " must be \"full_attention\" or \"sliding_attention\"");
    }
  } else {
    for (int i = 0; i < c.num_layers; ++i)
      sliding[i] = fam.sliding == Sliding::Qwen2 ? i >= max_window_layers
                                                 : (i % 2 == 0) && i < max_window_layers;
  }
  // A layer marked sliding without a window attends fully (transformers passes window None/0).
  if (win > 0) {
    c.sliding_window = win;
    c.layer_sliding = sliding;
  }
}

void parse_moe(const Family& fam, const JsonFields& f, ModelConfig& c) {
  c.layer_moe.assign(c.num_layers, false);
  if (fam.moe == Moe::Dense) {
    c.norm_topk_prob = true;  // unused without experts; fixed so that configs compare equal
    return;
  }
  if (fam.moe == Moe::Mixtral) {
    // MixtralConfig maps "num_experts" onto num_local_experts.
    const std::string experts_key = f.present("num_local_experts") ? "num_local_experts" : "num_experts";
    c.num_experts = positive(f, experts_key, f.integer(experts_key, 8));
    c.experts_per_token = positive(f, "num_experts_per_tok", f.integer("num_experts_per_tok", 2));
    c.moe_intermediate_size = c.intermediate_size;
    c.norm_topk_prob = true;  // Mixtral always renormalises the top-k weights
    c.layer_moe.assign(c.num_layers, true);
  } else {
    c.num_experts = f.integer("num_experts", 60);
    if (c.num_experts < 0) f.fail_key("num_experts", "must not be negative");
    c.experts_per_token = positive(f, "num_experts_per_tok", f.integer("num_experts_per_tok", 4));
    c.moe_intermediate_size = positive(f, "moe_intermediate_size", f.integer("moe_intermediate_size", 1408));
    c.shared_expert_intermediate_size = f.integer("shared_expert_intermediate_size", 5632);
    if (c.shared_expert_intermediate_size < 0)
      f.fail_key("shared_expert_intermediate_size", "must not be negative");
    c.norm_topk_prob = f.boolean("norm_topk_prob", false);
    const int step = positive(f, "decoder_sparse_step", f.integer("decoder_sparse_step", 1));
    std::vector<bool> mlp_only(c.num_layers, false);
    const json* only = f.find("mlp_only_layers");
    if (only && !only->is_null()) {
      if (!only->is_array()) f.fail_key("mlp_only_layers", "expected a list of layer indices");
      for (const json& e : *only) {
        const int i = f.as_integer("mlp_only_layers", e);
        if (i >= 0 && i < c.num_layers) mlp_only[i] = true;  // others name no layer: ignored
      }
    }
    for (int i = 0; i < c.num_layers; ++i)
      c.layer_moe[i] = !mlp_only[i] && c.num_experts > 0 && (i + 1) % step == 0;
    if (c.num_experts == 0) {  // a dense model in MoE clothing
      c.experts_per_token = 0;
      c.moe_intermediate_size = 0;
      c.shared_expert_intermediate_size = 0;
    }
  }
  if (c.num_experts > 0 && c.experts_per_token > c.num_experts)
    f.fail_key("num_experts_per_tok", "is " + std::to_string(c.experts_per_token) +
                                          " but there are only " + std::to_string(c.num_experts) +
                                          " experts");
}

}  // namespace

ModelConfig parse_hf_config(const json& j, const std::string& path) {
  require(j.is_object(), path, "config is not a JSON object");
  const JsonFields f(j, path);
  const Family& fam = find_family(f);

  ModelConfig c;
  c.model_type = fam.model_type;
  c.architecture = fam.architecture;
  if (const json* a = f.find("architectures"); a && !a->is_null()) {
    if (!a->is_array() || (!a->empty() && !(*a)[0].is_string()))
      f.fail_key("architectures", "expected a list of strings");
    if (!a->empty()) c.architecture = (*a)[0].get<std::string>();
  }
  const std::string act = f.string("hidden_act", "silu");
  if (act != "silu")
    f.fail_key("hidden_act", "unsupported activation \"" + act + "\" (only silu)");

  c.vocab_size = positive(f, "vocab_size", f.integer("vocab_size", fam.vocab));
  c.hidden_size = positive(f, "hidden_size", f.integer("hidden_size", fam.hidden));
  c.intermediate_size = positive(f, "intermediate_size", f.integer("intermediate_size", fam.intermediate));
  c.num_layers = positive(f, "num_hidden_layers", f.integer("num_hidden_layers", fam.layers));
  if (c.num_layers > kMaxLayers) f.fail_key("num_hidden_layers", "is implausibly large");
  c.num_heads = positive(f, "num_attention_heads", f.integer("num_attention_heads", fam.heads));
  c.num_kv_heads = positive(f, "num_key_value_heads",
                            f.nullable_integer("num_key_value_heads", fam.kv_heads).value_or(c.num_heads));
  if (c.num_heads % c.num_kv_heads != 0)
    f.fail_key("num_key_value_heads", std::to_string(c.num_kv_heads) + " does not divide " +
                                          "num_attention_heads " + std::to_string(c.num_heads));
  const std::optional<int> head_dim = f.nullable_integer("head_dim", fam.head_dim);
  if (head_dim) {
    c.head_dim = positive(f, "head_dim", *head_dim);
  } else {
    if (c.hidden_size % c.num_heads != 0)
      f.fail_key("num_attention_heads", std::to_string(c.num_heads) + " does not divide " +
                                            "hidden_size " + std::to_string(c.hidden_size) +
                                            " and there is no head_dim");
    c.head_dim = c.hidden_size / c.num_heads;
  }
  c.rms_norm_eps = f.number("rms_norm_eps", fam.rms_norm_eps);
  if (!(c.rms_norm_eps > 0)) f.fail_key("rms_norm_eps", "must be positive");
  c.max_position_embeddings =
      positive(f, "max_position_embeddings", f.integer("max_position_embeddings", fam.max_position));

  c.rope = parse_rope_config(j, c.max_position_embeddings, path);
  const int rotary_dim = static_cast<int>(c.head_dim * c.rope.partial_rotary_factor);
  if (rotary_dim < 2 || rotary_dim % 2 != 0)
    fail(path, "rotary dimension " + std::to_string(rotary_dim) + " (head_dim " +
                   std::to_string(c.head_dim) + " x partial_rotary_factor) must be even and >= 2");

  switch (fam.attn_bias) {
    case AttnBias::None: break;
    case AttnBias::AttentionBiasKey: c.qkv_bias = c.o_bias = f.boolean("attention_bias", false); break;
    case AttnBias::QkvAlways: c.qkv_bias = true; break;
    case AttnBias::QkvBiasKey: c.qkv_bias = f.boolean("qkv_bias", true); break;
  }
  if (fam.mlp_bias_key) c.mlp_bias = f.boolean("mlp_bias", false);
  c.qk_norm = fam.qk_norm;
  c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);

  parse_sliding(fam, f, c);
  parse_moe(fam, f, c);

  const std::vector<int> bos = token_ids(f, "bos_token_id", fam.bos);
  if (bos.size() > 1) f.fail_key("bos_token_id", "expected one token id");
  if (!bos.empty()) c.bos_token_id = bos[0];
  c.eos_token_ids = token_ids(f, "eos_token_id", fam.eos);
  return c;
}

ModelConfig load_hf_config(const std::string& path) {
  const std::string text = read_text_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
  return parse_hf_config(j, path);
}

}  // namespace nova::formats
