// The configuration of one training run (`nova train --config run.yaml`), resolved from four
// sources, highest precedence first:
//   1. command-line overrides   --optim.lr 1e-3            (source "--optim.lr")
//   2. environment variables    NOVA_OPTIM__LR=1e-3        ("__" separates nesting levels)
//   3. the YAML file            optim: {lr: 1e-3}          (source "run.yaml:12")
//   4. the defaults of the key table (run_config_keys())
//
// Every key is declared once in the key table with its type, default and help text; unknown keys
// (with the closest known key suggested), wrong types and impossible values are refused before
// any work, with one nova::Error naming the key and where its value came from.
//
// Relative paths are taken relative to the current directory.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace nova::train {

enum class ConfigType { Int, Float, Bool, String, StringList };

struct ConfigKey {
  const char* key;        // dotted: "optim.lr"
  ConfigType type;
  const char* fallback;   // default in YAML scalar syntax; "" = unset (list: empty)
  const char* help;
};

// Every key a run config may hold, in the order --help lists them.
const std::vector<ConfigKey>& run_config_keys();

struct RunConfig {
  struct Model {
    std::string init;  // checkpoint directory to start from; empty: from scratch with `config`
    // From scratch (model.config.*): HF-style fields; 0 means "derive" (see run_config_keys()).
    std::string model_type;
    int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0, num_layers = 0, num_heads = 0,
            num_kv_heads = 0, head_dim = 0, max_position_embeddings = 0;
    double rope_theta = 10000.0, rms_norm_eps = 1e-5, initializer_range = 0.02;
    bool tie_word_embeddings = false;
    // Mixture of experts (mixtral, qwen2_moe only).
    int64_t num_experts = 0, experts_per_token = 0, moe_intermediate_size = 0, shared_expert_intermediate_size = 0;
    bool norm_topk_prob = true;
    double router_aux_loss_coef = 0.0;
  } model;
  struct Data {
    std::string manifest;                      // manifest.json of `nova data prepare`
    std::vector<std::string> train, val;       // or shard globs, expanded and sorted
    int64_t seq_len = 0, batch_size = 0, grad_accum = 0;
  } data;
  struct Optim {
    double lr = 0, min_lr = 0;
    int64_t warmup_steps = 0;
    std::string schedule;
    double weight_decay = 0, beta1 = 0, beta2 = 0, eps = 0, grad_clip = 0;
  } optim;
  struct Train {
    int64_t steps = 0;
    uint64_t seed = 0;
    bool recompute = false;
    std::string device = "cpu";  // as given: cpu, cuda, cuda:N
    int device_index = -1;       // -1: the CPU trainer; else the CUDA device of the GPU trainer
    std::string precision = "fp32";  // fp32 or bf16 (GPU only)
    bool cuda() const { return device_index >= 0; }
    bool bf16() const { return precision == "bf16"; }
    int64_t eval_every = 0, eval_batches = 0, save_every = 0, keep_last = 0, log_every = 0;
  } train;
  std::string output_dir;
  std::string tokenizer_path;  // tokenizer.json or a directory holding one; empty: derived

  // Every key's resolved value (the run's config snapshot) and where it came from.
  nlohmann::ordered_json values;
  std::map<std::string, std::string> sources;  // key -> "default", "run.yaml:3", "NOVA_X__Y", "--x.y"
};

struct ConfigInputs {
  std::string yaml_path;                           // empty: no file
  std::optional<std::string> yaml_text;            // the file's contents, when already read
  std::vector<std::string> environment;            // "NAME=value" entries (e.g. from environ)
  std::map<std::string, std::string> overrides;    // dotted key -> value text (the command line)
};

// Resolves and validates (types, ranges, files, output directory); throws nova::Error naming the
// key and the source of its value. Data globs are expanded; every pattern must match a file.
RunConfig resolve_run_config(const ConfigInputs& inputs);

// The process environment as "NAME=value" entries.
std::vector<std::string> process_environment();

// Refuses output directories in system locations (/, /etc, /usr, /bin, /sbin, /lib*, /boot,
// /proc, /sys, /dev, /var except /var/tmp) after resolving the path with weakly_canonical, and
// paths with control characters. `where` names the key in the error.
void check_output_dir(const std::string& path, const std::string& where);

// Every file matching the glob patterns, sorted per pattern; a pattern matching no regular file
// throws nova::Error naming `where` and the pattern.
std::vector<std::string> expand_globs(const std::vector<std::string>& patterns, const std::string& where);

// The known key closest to `key` by edit distance, or "" when none is reasonably close.
std::string closest_config_key(const std::string& key);

}  // namespace nova::train
