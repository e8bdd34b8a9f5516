#include "train/run_config.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>

#include <yaml-cpp/yaml.h>

#include "core/error.h"
#include "train/gpu/gpu_device.h"
#include "train/lr_schedule.h"

extern char** environ;

namespace nova::train {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

const std::vector<ConfigKey>& run_config_keys() {
  using T = ConfigType;
  static const std::vector<ConfigKey> keys = {
      {"model.init", T::String, "", "checkpoint directory (Hugging Face layout) to start from"},
      {"model.config.model_type", T::String, "", "from scratch: llama, mistral, qwen2, qwen3, mixtral or qwen2_moe"},
      {"model.config.vocab_size", T::Int, "0", "0: the tokenizer's vocabulary size"},
      {"model.config.hidden_size", T::Int, "256", "model width"},
      {"model.config.intermediate_size", T::Int, "0", "MLP width; 0: 8/3 * hidden rounded up to 64"},
      {"model.config.num_layers", T::Int, "4", "decoder layers"},
      {"model.config.num_heads", T::Int, "4", "attention heads"},
      {"model.config.num_kv_heads", T::Int, "0", "key/value heads; 0: num_heads"},
      {"model.config.head_dim", T::Int, "0", "0: hidden_size / num_heads"},
      {"model.config.max_position_embeddings", T::Int, "0", "0: data.seq_len"},
      {"model.config.rope_theta", T::Float, "10000", "RoPE base"},
      {"model.config.rms_norm_eps", T::Float, "1e-5", "RMSNorm epsilon"},
      {"model.config.tie_word_embeddings", T::Bool, "false", "share the embedding with the LM head"},
      {"model.config.initializer_range", T::Float, "0.02", "std of the random initial weights"},
      {"model.config.num_experts", T::Int, "0", "mixtral / qwen2_moe: experts per MoE layer"},
      {"model.config.num_experts_per_tok", T::Int, "2", "mixtral / qwen2_moe: experts each token is routed to"},
      {"model.config.moe_intermediate_size", T::Int, "0",
       "qwen2_moe: expert FFN width; 0: intermediate_size (mixtral's experts are intermediate_size wide)"},
      {"model.config.shared_expert_intermediate_size", T::Int, "0", "qwen2_moe: shared expert width; 0: none"},
      {"model.config.norm_topk_prob", T::Bool, "true",
       "qwen2_moe: renormalise the top-k routing weights (mixtral always does)"},
      {"model.config.router_aux_loss_coef", T::Float, "0.01",
       "MoE: weight of the load-balancing loss added to the cross-entropy"},
      {"data.manifest", T::String, "", "manifest.json written by `nova data prepare` (or its directory)"},
      {"data.train", T::StringList, "", "instead of a manifest: train shard globs"},
      {"data.val", T::StringList, "", "instead of a manifest: validation shard globs"},
      {"data.seq_len", T::Int, "256", "tokens per sequence"},
      {"data.batch_size", T::Int, "8", "sequences per micro-batch"},
      {"data.grad_accum", T::Int, "1", "micro-batches per optimiser step"},
      {"optim.lr", T::Float, "3e-4", "peak learning rate"},
      {"optim.min_lr", T::Float, "0", "floor of the cosine/linear decay"},
      {"optim.warmup_steps", T::Int, "0", "linear warmup steps"},
      {"optim.schedule", T::String, "cosine", "constant, cosine or linear"},
      {"optim.weight_decay", T::Float, "0.1", "AdamW decoupled weight decay (matrices only)"},
      {"optim.beta1", T::Float, "0.9", "AdamW beta1"},
      {"optim.beta2", T::Float, "0.95", "AdamW beta2"},
      {"optim.eps", T::Float, "1e-8", "AdamW epsilon"},
      {"optim.grad_clip", T::Float, "1.0", "max global gradient norm; 0 disables clipping"},
      {"train.steps", T::Int, "1000", "optimiser steps of the whole run"},
      {"train.seed", T::Int, "0", "seed of the initial weights and the data order"},
      {"train.recompute", T::Bool, "false", "gradient checkpointing (less memory, same gradients)"},
      {"train.device", T::String, "cpu", "cpu, cuda or cuda:N (the GPU trainer; dense models only)"},
      {"train.precision", T::String, "fp32", "fp32, or bf16 (mixed precision with fp32 master weights; cuda only)"},
      {"train.eval_every", T::Int, "100", "evaluate on the validation split every N steps; 0: only at the end"},
      {"train.eval_batches", T::Int, "20", "validation batches per evaluation; 0: the whole split"},
      {"train.save_every", T::Int, "500", "checkpoint every N steps (and at the end); 0: only at the end"},
      {"train.keep_last", T::Int, "3", "checkpoints to keep (best/ is kept besides)"},
      {"train.log_every", T::Int, "10", "log line every N steps when stderr is not a terminal"},
      {"output.dir", T::String, "", "run directory: checkpoints, metrics.jsonl, loss.svg"},
      {"tokenizer.path", T::String, "", "tokenizer.json (or its directory) copied into checkpoints"},
  };
  return keys;
}

namespace {

const ConfigKey* find_key(const std::string& key) {
  for (const auto& k : run_config_keys())
    if (key == k.key) return &k;
  return nullptr;
}

// A prefix of some key ("model", "model.config", "optim"): a mapping is expected there.
bool is_section(const std::string& prefix) {
  for (const auto& k : run_config_keys()) {
    const std::string key = k.key;
    if (key.size() > prefix.size() && key.compare(0, prefix.size(), prefix) == 0 && key[prefix.size()] == '.')
      return true;
  }
  return false;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

const char* type_name(ConfigType t) {
  switch (t) {
    case ConfigType::Int: return "an integer";
    case ConfigType::Float: return "a number";
    case ConfigType::Bool: return "true or false";
    case ConfigType::String: return "a string";
    case ConfigType::StringList: return "a string or a list of strings";
  }
  return "?";
}

std::string where_of(const std::string& key, const std::string& source) {
  return source == "default" ? key : key + " (" + source + ")";
}

[[noreturn]] void unknown_key(const std::string& key, const std::string& source) {
  const std::string near = closest_config_key(key);
  fail(source, "unknown key '" + key + "'" + (near.empty() ? "" : " (did you mean '" + near + "'?)"));
}

// One scalar's text as `type`; throws naming the key and source.
json parse_scalar(const ConfigKey& k, const std::string& text, const std::string& source) {
  const std::string where = where_of(k.key, source);
  auto bad = [&]() -> json { fail(where, std::string("expected ") + type_name(k.type) + ", got '" + text + "'"); };
  switch (k.type) {
    case ConfigType::Int: {
      int64_t v = 0;
      const char* b = text.data();
      const char* e = b + text.size();
      if (b != e && *b == '+') ++b;
      auto [p, ec] = std::from_chars(b, e, v);
      if (b == e || ec != std::errc() || p != e) return bad();
      return v;
    }
    case ConfigType::Float: {
      double v = 0;
      const char* b = text.data();
      const char* e = b + text.size();
      if (b != e && *b == '+') ++b;
      auto [p, ec] = std::from_chars(b, e, v);
      if (b == e || ec != std::errc() || p != e || !std::isfinite(v)) return bad();
      return v;
    }
    case ConfigType::Bool: {
      std::string t = text;
      for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (t == "true" || t == "yes" || t == "on" || t == "1") return true;
      if (t == "false" || t == "no" || t == "off" || t == "0") return false;
      return bad();
    }
    case ConfigType::String: return text;
    case ConfigType::StringList: {  // comma-separated on the command line and in the environment
      json list = json::array();
      size_t start = 0;
      while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string::npos) end = text.size();
        if (end > start) list.push_back(text.substr(start, end - start));
        start = end + 1;
      }
      return list;
    }
  }
  return bad();
}

struct Resolver {
  json values = json::object();
  std::map<std::string, std::string> sources;

  void set(const ConfigKey& k, json value, const std::string& source) {
    values[k.key] = std::move(value);
    sources[k.key] = source;
  }
};

void walk_yaml(const YAML::Node& node, const std::string& prefix, const std::string& file, Resolver& r) {
  for (const auto& entry : node) {
    const YAML::Node& key_node = entry.first;
    const YAML::Node& value = entry.second;
    const std::string source = file + ":" + std::to_string(key_node.Mark().line + 1);
    if (!key_node.IsScalar()) fail(source, "keys must be plain names");
    const std::string key = prefix.empty() ? key_node.Scalar() : prefix + "." + key_node.Scalar();
    if (const ConfigKey* k = find_key(key)) {
      if (value.IsNull()) continue;  // `key:` with no value keeps the default
      if (value.IsScalar()) {
        r.set(*k, k->type == ConfigType::StringList ? json::array({value.Scalar()})
                                                     : parse_scalar(*k, value.Scalar(), source),
              source);
      } else if (value.IsSequence() && k->type == ConfigType::StringList) {
        json list = json::array();
        for (const auto& item : value) {
          if (!item.IsScalar()) fail(where_of(key, source), "expected a list of strings");
          list.push_back(item.Scalar());
        }
        r.set(*k, std::move(list), source);
      } else {
        fail(where_of(key, source), std::string("expected ") + type_name(k->type) + ", got a " +
                                        (value.IsMap() ? "mapping" : "list"));
      }
    } else if (is_section(key)) {
      if (value.IsNull()) continue;
      if (!value.IsMap()) fail(where_of(key, source), "expected a mapping of keys");
      walk_yaml(value, key, file, r);
    } else {
      unknown_key(key, source);
    }
  }
}

void read_yaml(const std::string& path, const std::optional<std::string>& text, Resolver& r) {
  std::error_code ec;
  if (!text && !fs::is_regular_file(path, ec)) fail(path, "config file not found");
  YAML::Node root;
  try {
    root = text ? YAML::Load(*text) : YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    fail(path + ":" + std::to_string(e.mark.line + 1), "invalid YAML: " + e.msg);
  }
  if (root.IsNull()) return;  // an empty file: defaults only
  if (!root.IsMap()) fail(path, "the top level must be a mapping of sections (model, data, optim, train, output)");
  walk_yaml(root, "", path, r);
}

void read_environment(const std::vector<std::string>& env, Resolver& r) {
  for (const std::string& entry : env) {
    if (entry.rfind("NOVA_", 0) != 0) continue;
    const size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    const std::string name = entry.substr(0, eq);
    if (name.find("__") == std::string::npos) continue;  // not a config key (NOVA_THREADS, ...)
    std::string key = name.substr(5);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (size_t p; (p = key.find("__")) != std::string::npos;) key.replace(p, 2, ".");
    const ConfigKey* k = find_key(key);
    if (!k) unknown_key(key, "environment variable " + name);
    r.set(*k, parse_scalar(*k, entry.substr(eq + 1), name), name);
  }
}

bool has_control_chars(const std::string& s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace

std::vector<std::string> expand_globs(const std::vector<std::string>& patterns, const std::string& where) {
  std::vector<std::string> files;
  for (const std::string& pattern : patterns) {
    if (has_control_chars(pattern)) fail(where, "path contains control characters");
    glob_t g{};
    const int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
    std::vector<std::string> matched;
    if (rc == 0)
      for (size_t i = 0; i < g.gl_pathc; ++i) matched.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
    // GLOB_ABORTED: a directory of the pattern cannot be read (or does not exist).
    if (rc != 0 || matched.empty()) fail(where, "no file matches '" + pattern + "'");
    std::sort(matched.begin(), matched.end());
    for (auto& m : matched) {
      std::error_code ec;
      if (!fs::is_regular_file(m, ec)) fail(where, "'" + m + "' is not a file");
      files.push_back(std::move(m));
    }
  }
  return files;
}

namespace {

std::vector<std::string> string_list(const json& j) {
  std::vector<std::string> out;
  for (const auto& s : j) out.push_back(s.get<std::string>());
  return out;
}

// Typed fields from the resolved values, then every check that needs more than one key.
RunConfig build(Resolver& r) {
  RunConfig c;
  const json& v = r.values;
  auto where = [&](const std::string& key) { return where_of(key, r.sources[key]); };
  auto I = [&](const char* key) { return v.at(key).get<int64_t>(); };
  auto F = [&](const char* key) { return v.at(key).get<double>(); };
  auto S = [&](const char* key) { return v.at(key).get<std::string>(); };
  auto is_set = [&](const std::string& key) { return r.sources[key] != "default"; };
  auto need = [&](bool ok, const char* key, const std::string& what) {
    if (!ok) fail(where(key), what);
  };

  // model
  c.model.init = S("model.init");
  c.model.model_type = S("model.config.model_type");
  auto& m = c.model;
  m.vocab_size = I("model.config.vocab_size");
  m.hidden_size = I("model.config.hidden_size");
  m.intermediate_size = I("model.config.intermediate_size");
  m.num_layers = I("model.config.num_layers");
  m.num_heads = I("model.config.num_heads");
  m.num_kv_heads = I("model.config.num_kv_heads");
  m.head_dim = I("model.config.head_dim");
  m.max_position_embeddings = I("model.config.max_position_embeddings");
  m.rope_theta = F("model.config.rope_theta");
  m.rms_norm_eps = F("model.config.rms_norm_eps");
  m.tie_word_embeddings = v.at("model.config.tie_word_embeddings").get<bool>();
  m.initializer_range = F("model.config.initializer_range");
  m.router_aux_loss_coef = F("model.config.router_aux_loss_coef");  // used by MoE checkpoints too
  if (!m.init.empty()) {
    for (const auto& k : run_config_keys())
      if (std::string(k.key).rfind("model.config.", 0) == 0 && is_set(k.key) &&
          std::string(k.key) != "model.config.router_aux_loss_coef")
        fail(where(k.key), "model.config cannot be combined with model.init (the checkpoint has its config)");
    std::error_code ec;
    need(fs::is_regular_file(fs::path(m.init) / "config.json", ec), "model.init",
         "'" + m.init + "' is not a model directory (no config.json)");
  } else {
    need(!m.model_type.empty(), "model.config.model_type",
         "set model.init (a checkpoint to start from) or model.config.model_type (to start from scratch)");
    static const char* const kTypes[] = {"llama", "mistral", "qwen2", "qwen3", "mixtral", "qwen2_moe"};
    need(std::find(std::begin(kTypes), std::end(kTypes), m.model_type) != std::end(kTypes),
         "model.config.model_type",
         "'" + m.model_type + "' is not one of llama, mistral, qwen2, qwen3, mixtral, qwen2_moe");
    const bool moe = m.model_type == "mixtral" || m.model_type == "qwen2_moe";
    m.num_experts = I("model.config.num_experts");
    m.experts_per_token = I("model.config.num_experts_per_tok");
    m.moe_intermediate_size = I("model.config.moe_intermediate_size");
    m.shared_expert_intermediate_size = I("model.config.shared_expert_intermediate_size");
    m.norm_topk_prob = v.at("model.config.norm_topk_prob").get<bool>();
    if (moe) {
      need(m.num_experts > 0, "model.config.num_experts", "a " + m.model_type + " model needs experts (set it > 0)");
      need(m.experts_per_token > 0 && m.experts_per_token <= m.num_experts, "model.config.num_experts_per_tok",
           "must be in [1, num_experts]");
      need(m.moe_intermediate_size >= 0, "model.config.moe_intermediate_size", "must not be negative");
      need(m.shared_expert_intermediate_size >= 0, "model.config.shared_expert_intermediate_size",
           "must not be negative");
      need(m.model_type == "qwen2_moe" || m.shared_expert_intermediate_size == 0,
           "model.config.shared_expert_intermediate_size", "only qwen2_moe has a shared expert");
      need(m.router_aux_loss_coef >= 0, "model.config.router_aux_loss_coef", "must not be negative");
    } else {
      for (const char* key : {"model.config.num_experts", "model.config.num_experts_per_tok",
                              "model.config.moe_intermediate_size", "model.config.shared_expert_intermediate_size",
                              "model.config.norm_topk_prob", "model.config.router_aux_loss_coef"})
        if (is_set(key)) fail(where(key), "only mixtral and qwen2_moe models have experts");
    }
    need(m.vocab_size >= 0, "model.config.vocab_size", "must not be negative");
    need(m.hidden_size > 0, "model.config.hidden_size", "must be positive");
    need(m.intermediate_size >= 0, "model.config.intermediate_size", "must not be negative");
    need(m.num_layers > 0, "model.config.num_layers", "must be positive");
    need(m.num_heads > 0, "model.config.num_heads", "must be positive");
    need(m.num_kv_heads >= 0, "model.config.num_kv_heads", "must not be negative");
    need(m.num_kv_heads == 0 || m.num_heads % m.num_kv_heads == 0, "model.config.num_kv_heads",
         "must divide num_heads");
    need(m.head_dim > 0 || m.hidden_size % m.num_heads == 0, "model.config.head_dim",
         "set it: hidden_size is not a multiple of num_heads");
    need(m.head_dim >= 0, "model.config.head_dim", "must not be negative");
    need(m.max_position_embeddings >= 0, "model.config.max_position_embeddings", "must not be negative");
    need(m.rope_theta > 0, "model.config.rope_theta", "must be positive");
    need(m.rms_norm_eps > 0, "model.config.rms_norm_eps", "must be positive");
    need(m.initializer_range > 0, "model.config.initializer_range", "must be positive");
  }

  // data
  c.data.manifest = S("data.manifest");
  c.data.seq_len = I("data.seq_len");
  c.data.batch_size = I("data.batch_size");
  c.data.grad_accum = I("data.grad_accum");
  need(c.data.seq_len > 0, "data.seq_len", "must be positive");
  need(c.data.batch_size > 0, "data.batch_size", "must be positive");
  need(c.data.grad_accum > 0, "data.grad_accum", "must be positive");
  const bool has_globs = !v.at("data.train").empty() || !v.at("data.val").empty();
  if (!c.data.manifest.empty()) {
    if (has_globs) fail(where("data.manifest"), "give either data.manifest or data.train/data.val globs, not both");
    if (has_control_chars(c.data.manifest)) fail(where("data.manifest"), "path contains control characters");
    std::error_code ec;
    if (fs::is_directory(c.data.manifest, ec)) c.data.manifest = (fs::path(c.data.manifest) / "manifest.json").string();
    need(fs::is_regular_file(c.data.manifest, ec), "data.manifest", "data file not found: '" + c.data.manifest + "'");
  } else {
    need(!v.at("data.train").empty(), "data.train", "set data.manifest or data.train (shard globs)");
    c.data.train = expand_globs(string_list(v.at("data.train")), where("data.train"));
    c.data.val = expand_globs(string_list(v.at("data.val")), where("data.val"));
  }

  // optim
  auto& o = c.optim;
  o.lr = F("optim.lr");
  o.min_lr = F("optim.min_lr");
  o.warmup_steps = I("optim.warmup_steps");
  o.schedule = S("optim.schedule");
  o.weight_decay = F("optim.weight_decay");
  o.beta1 = F("optim.beta1");
  o.beta2 = F("optim.beta2");
  o.eps = F("optim.eps");
  o.grad_clip = F("optim.grad_clip");
  need(o.lr > 0, "optim.lr", "must be positive, got " + v.at("optim.lr").dump());
  need(o.min_lr >= 0 && o.min_lr <= o.lr, "optim.min_lr", "must be in [0, optim.lr]");
  need(o.warmup_steps >= 0, "optim.warmup_steps", "must not be negative");
  parse_lr_schedule_kind(o.schedule, where("optim.schedule"));
  need(o.weight_decay >= 0, "optim.weight_decay", "must not be negative");
  need(o.beta1 >= 0 && o.beta1 < 1, "optim.beta1", "must be in [0, 1)");
  need(o.beta2 >= 0 && o.beta2 < 1, "optim.beta2", "must be in [0, 1)");
  need(o.eps > 0, "optim.eps", "must be positive");
  need(o.grad_clip >= 0, "optim.grad_clip", "must not be negative (0 disables clipping)");

  // train
  auto& t = c.train;
  t.steps = I("train.steps");
  need(t.steps > 0, "train.steps", "must be positive, got " + std::to_string(t.steps));
  need(I("train.seed") >= 0, "train.seed", "must not be negative");
  t.seed = static_cast<uint64_t>(I("train.seed"));
  t.recompute = v.at("train.recompute").get<bool>();
  t.device = S("train.device");
  t.device_index = parse_train_device(t.device, where("train.device"));
  t.precision = S("train.precision");
  need(t.precision == "fp32" || t.precision == "bf16", "train.precision",
       "expected fp32 or bf16, got '" + t.precision + "'");
  need(t.precision == "fp32" || t.device_index >= 0, "train.precision",
       "bf16 needs train.device cuda (the CPU trainer computes in fp32)");
  t.eval_every = I("train.eval_every");
  t.eval_batches = I("train.eval_batches");
  t.save_every = I("train.save_every");
  t.keep_last = I("train.keep_last");
  t.log_every = I("train.log_every");
  need(t.eval_every >= 0, "train.eval_every", "must not be negative");
  need(t.eval_batches >= 0, "train.eval_batches", "must not be negative");
  need(t.save_every >= 0, "train.save_every", "must not be negative");
  need(t.keep_last >= 1, "train.keep_last", "must be at least 1");
  need(t.log_every >= 1, "train.log_every", "must be at least 1");

  // output, tokenizer
  c.output_dir = S("output.dir");
  need(!c.output_dir.empty(), "output.dir", "set the run directory (output.dir)");
  check_output_dir(c.output_dir, where("output.dir"));
  c.tokenizer_path = S("tokenizer.path");
  if (!c.tokenizer_path.empty()) {
    if (has_control_chars(c.tokenizer_path)) fail(where("tokenizer.path"), "path contains control characters");
    std::error_code ec;
    if (fs::is_directory(c.tokenizer_path, ec)) c.tokenizer_path = (fs::path(c.tokenizer_path) / "tokenizer.json").string();
    need(fs::is_regular_file(c.tokenizer_path, ec), "tokenizer.path", "not found: '" + c.tokenizer_path + "'");
  }

  c.values = v;
  c.sources = r.sources;
  return c;
}

}  // namespace

std::string closest_config_key(const std::string& key) {
  // HF config names people will type for the from-scratch block.
  static const std::map<std::string, std::string> aliases = {
      {"num_hidden_layers", "num_layers"}, {"num_attention_heads", "num_heads"},
      {"num_key_value_heads", "num_kv_heads"}};
  const size_t dot = key.rfind('.');
  if (dot != std::string::npos) {
    auto it = aliases.find(key.substr(dot + 1));
    if (it != aliases.end()) {
      const std::string candidate = key.substr(0, dot + 1) + it->second;
      if (find_key(candidate)) return candidate;
    }
  }
  std::string best;
  size_t best_d = std::string::npos;
  for (const auto& k : run_config_keys()) {
    size_t d = edit_distance(key, k.key);
    // A known key that starts with what was typed ("optim.warmup" -> "optim.warmup_steps").
    if (key.find('.') != std::string::npos && std::string(k.key).rfind(key, 0) == 0) d = std::min<size_t>(d, 1);
    if (d < best_d) best_d = d, best = k.key;
    // A known leaf name under the wrong section ("train.lr" -> "optim.lr").
    const std::string full = k.key;
    const std::string leaf = full.substr(full.rfind('.') + 1);
    if (dot != std::string::npos && key.substr(dot + 1) == leaf && best_d > 1) best_d = 1, best = full;
  }
  return best_d <= std::max<size_t>(2, key.size() / 4) ? best : "";
}

std::vector<std::string> process_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) env.emplace_back(*e);
  return env;
}

void check_output_dir(const std::string& path, const std::string& where) {
  if (path.empty()) fail(where, "empty path");
  if (has_control_chars(path)) fail(where, "path contains control characters");
  std::error_code ec;
  fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) fail(where, "cannot resolve '" + path + "': " + ec.message());
  p = p.lexically_normal();
  std::vector<std::string> parts;
  for (const auto& part : p.relative_path()) {
    if (!part.empty() && part != ".") parts.push_back(part.string());
  }
  auto refuse = [&]() { fail(where, "refusing to write into the system directory '" + p.string() + "'"); };
  if (parts.empty()) refuse();
  const std::string& top = parts[0];
  static const char* const kSystem[] = {"etc", "usr", "bin", "sbin", "boot", "proc", "sys", "dev"};
  for (const char* s : kSystem)
    if (top == s) refuse();
  if (top.rfind("lib", 0) == 0) refuse();  // lib, lib32, lib64, libx32
  if (top == "var" && (parts.size() < 2 || parts[1] != "tmp")) refuse();
}

RunConfig resolve_run_config(const ConfigInputs& inputs) {
  Resolver r;
  for (const auto& k : run_config_keys()) {
    json v = k.type == ConfigType::StringList ? json::array() : parse_scalar(k, k.fallback, "default");
    if (k.type == ConfigType::String) v = std::string(k.fallback);
    r.set(k, std::move(v), "default");
  }
  if (!inputs.yaml_path.empty() || inputs.yaml_text) read_yaml(inputs.yaml_path, inputs.yaml_text, r);
  read_environment(inputs.environment, r);
  for (const auto& [key, text] : inputs.overrides) {
    const ConfigKey* k = find_key(key);
    if (!k) unknown_key(key, "command line --" + key);
    r.set(*k, parse_scalar(*k, text, "--" + key), "--" + key);
  }
  return build(r);
}

}  // namespace nova::train
