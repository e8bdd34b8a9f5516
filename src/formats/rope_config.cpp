#include "formats/rope_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/json_fields.h"

namespace nova::formats {
namespace {

using nlohmann::json;
using detail::JsonFields;

constexpr RopeType kRopeTypes[] = {RopeType::Default, RopeType::Linear, RopeType::Dynamic,
                                   RopeType::Llama3, RopeType::Yarn};

std::string supported_rope_types() {
  std::string s;
  for (RopeType t : kRopeTypes) s += (s.empty() ? "" : ", ") + std::string(rope_type_name(t));
  return s;
}

double required_number(const JsonFields& r, const std::string& key, std::string_view type) {
  if (!r.present_non_null(key))
    r.fail_key(key, "missing (required for rope_type " + std::string(type) + ")");
  return r.number(key, 0.0);
}

void require_positive(const JsonFields& r, const std::string& key, double v) {
  if (!(v > 0)) r.fail_key(key, "must be positive, got " + std::to_string(v));
}

}  // namespace

std::string_view rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::Default: return "default";
    case RopeType::Linear: return "linear";
    case RopeType::Dynamic: return "dynamic";
    case RopeType::Llama3: return "llama3";
    case RopeType::Yarn: return "yarn";
  }
  return "?";
}

RopeConfig parse_rope_config(const json& config, int max_position_embeddings,
                             const std::string& path) {
  const JsonFields top(config, path);
  // transformers: `rope_scaling or rope_parameters` — a non-empty legacy dict wins.
  const json empty = json::object();
  const json* src = &empty;
  std::string prefix = "rope_parameters.";
  const json* scaling = top.find("rope_scaling");
  const json* params = top.find("rope_parameters");
  if (scaling && !scaling->is_null() && !(scaling->is_object() && scaling->empty())) {
    src = scaling;
    prefix = "rope_scaling.";
  } else if (params && !params->is_null()) {
    src = params;
  }
  if (!src->is_object())
    fail(path, "key \"" + prefix.substr(0, prefix.size() - 1) + "\": expected an object, got " +
                   detail::describe(*src));
  for (const char* layer_type : {"full_attention", "sliding_attention"})
    if (src->contains(layer_type) && (*src)[layer_type].is_object())
      fail(path, "key \"" + prefix + layer_type +
                     "\": per-layer-type RoPE parameters are not supported");
  const JsonFields r(*src, path, prefix);

  RopeConfig rope;
  // A value inside the dict wins over the top-level one (transformers uses setdefault).
  rope.theta = r.present("rope_theta") ? r.number("rope_theta", 0.0)
                                       : top.number("rope_theta", 10000.0);
  require_positive(r.present("rope_theta") ? r : top, "rope_theta", rope.theta);

  const std::string type = r.present("rope_type") ? r.string("rope_type", "")
                                                  : r.string("type", "default");
  bool known = false;
  for (RopeType t : kRopeTypes)
    if (rope_type_name(t) == type) { rope.type = t; known = true; }
  if (!known)
    r.fail_key(r.present("rope_type") ? "rope_type" : "type",
               "unsupported RoPE type \"" + type + "\" (supported: " + supported_rope_types() + ")");

  if (r.present_non_null("partial_rotary_factor"))
    rope.partial_rotary_factor = r.number("partial_rotary_factor", 1.0);
  else if (top.present_non_null("partial_rotary_factor"))
    rope.partial_rotary_factor = top.number("partial_rotary_factor", 1.0);
  if (!(rope.partial_rotary_factor > 0 && rope.partial_rotary_factor <= 1))
    (r.present("partial_rotary_factor") ? r : top)
        .fail_key("partial_rotary_factor", "must be in (0, 1], got " +
                                               std::to_string(rope.partial_rotary_factor));

  // For llama3/yarn a top-level original_max_position_embeddings takes priority (Phi-3 style
  // configs keep it there), then the dict's, then max_position_embeddings.
  auto original_max = [&]() {
    int v = max_position_embeddings;
    const JsonFields* from = &top;
    if (top.present_non_null("original_max_position_embeddings")) {
      v = top.integer("original_max_position_embeddings", 0);
    } else if (r.present_non_null("original_max_position_embeddings")) {
      v = r.integer("original_max_position_embeddings", 0);
      from = &r;
    }
    if (v <= 0) from->fail_key("original_max_position_embeddings", "must be positive");
    return v;
  };

  const std::string_view tn = rope_type_name(rope.type);
  switch (rope.type) {
    case RopeType::Default:
      break;
    case RopeType::Linear:
      rope.factor = required_number(r, "factor", tn);
      require_positive(r, "factor", rope.factor);
      break;
    case RopeType::Dynamic:
      rope.factor = required_number(r, "factor", tn);
      require_positive(r, "factor", rope.factor);
      // transformers' dynamic NTK measures growth against max_position_embeddings.
      rope.original_max_position = max_position_embeddings;
      break;
    case RopeType::Llama3:
      rope.factor = required_number(r, "factor", tn);
      require_positive(r, "factor", rope.factor);
      rope.low_freq_factor = required_number(r, "low_freq_factor", tn);
      rope.high_freq_factor = required_number(r, "high_freq_factor", tn);
      require_positive(r, "low_freq_factor", rope.low_freq_factor);
      if (!(rope.high_freq_factor > rope.low_freq_factor))
        r.fail_key("high_freq_factor", "must be greater than low_freq_factor");
      rope.original_max_position = original_max();
      break;
    case RopeType::Yarn: {
      rope.original_max_position = original_max();
      // A missing factor is implied by the two context lengths.
      rope.factor = r.present_non_null("factor")
                        ? r.number("factor", 1.0)
                        : static_cast<double>(max_position_embeddings) / rope.original_max_position;
      require_positive(r, "factor", rope.factor);
      rope.attention_factor = r.nullable_number("attention_factor", std::nullopt);
      if (rope.attention_factor && *rope.attention_factor < 0)
        r.fail_key("attention_factor", "must not be negative");
      // transformers reads these with `or`: null and 0 both mean the default.
      const double bf = r.nullable_number("beta_fast", std::nullopt).value_or(0.0);
      const double bs = r.nullable_number("beta_slow", std::nullopt).value_or(0.0);
      rope.beta_fast = bf != 0 ? bf : 32.0;
      rope.beta_slow = bs != 0 ? bs : 1.0;
      rope.mscale = r.nullable_number("mscale", std::nullopt);
      rope.mscale_all_dim = r.nullable_number("mscale_all_dim", std::nullopt);
      rope.truncate = r.boolean("truncate", true);
      break;
    }
  }
  return rope;
}

json rope_config_to_json(const RopeConfig& r) {
  json j = {{"rope_type", std::string(rope_type_name(r.type))}, {"rope_theta", r.theta}};
  if (r.partial_rotary_factor != 1.0) j["partial_rotary_factor"] = r.partial_rotary_factor;
  switch (r.type) {
    case RopeType::Default:
      break;
    case RopeType::Linear:
    case RopeType::Dynamic:
      j["factor"] = r.factor;
      break;
    case RopeType::Llama3:
      j["factor"] = r.factor;
      j["low_freq_factor"] = r.low_freq_factor;
      j["high_freq_factor"] = r.high_freq_factor;
      j["original_max_position_embeddings"] = r.original_max_position;
      break;
    case RopeType::Yarn:
      j["factor"] = r.factor;
      j["original_max_position_embeddings"] = r.original_max_position;
      j["beta_fast"] = r.beta_fast;
      j["beta_slow"] = r.beta_slow;
      if (r.attention_factor) j["attention_factor"] = *r.attention_factor;
      if (r.mscale) j["mscale"] = *r.mscale;
      if (r.mscale_all_dim) j["mscale_all_dim"] = *r.mscale_all_dim;
      if (!r.truncate) j["truncate"] = false;
      break;
  }
  return j;
}

}  // namespace nova::formats
