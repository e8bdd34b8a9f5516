// nova serve: the OpenAI-compatible HTTP server over one model directory. Every option is a
// flag and may also come from `--config serve.yaml` (a mapping of the same names without the
// dashes' prefix, e.g. `port: 8080`, `cors-origins: ["https://app.example"]`); a flag given on
// the command line wins over the file. docs/SERVING.md lists them all.
#include <yaml-cpp/yaml.h>

#include <iostream>
#include <map>
#include <sstream>

#include "cli/commands.h"
#include "cli/device_flag.h"
#include "cli/flags.h"
#include "core/error.h"
#include "serve/app/serve_app.h"
#include "serve/http/http_server.h"

namespace nova::cli {

namespace {

const std::vector<FlagSpec>& serve_flags() {
  static const std::vector<FlagSpec> specs = {
      {"config", "FILE", "YAML file with any of these options (flags given here override it)"},
      {"model", "DIR", "Hugging Face model directory (required, here or in --config)"},
      {"host", "ADDR", "address to listen on (0.0.0.0 exposes the server to the network)", "127.0.0.1"},
      {"port", "N", "TCP port (0: any free port)", "8000"},
      {"max-batch", "N", "sequences running at once", "64"},
      {"max-waiting", "N", "queued requests before answering 429 + Retry-After", "256"},
      {"kv-blocks", "N", "KV cache blocks (0: enough for max-batch full-context sequences)", "0"},
      {"block-size", "N", "tokens per KV cache block", "16"},
      {"workers", "N", "HTTP handler threads", "4"},
      {"api-keys", "STORE", "require API keys from a JSON keys file or sqlite:PATH (create one with `nova keys "
                            "create`); without it the server is open to anyone who can reach it"},
      {"redis", "URL", "keep rate-limit buckets in Redis (redis://[:PASSWORD@]HOST[:PORT]) so replicas share them"},
      {"rpm", "N", "default requests per minute per key (0: unlimited; a key's own limit wins)", "0"},
      {"tpm", "N", "default tokens (prompt + max_tokens) per minute per key (0: unlimited)", "0"},
      {"request-log", "PATH", "one JSON line per request: a file, '-' for stderr, 'off' for none", "-"},
      {"log-prompts", "", "also log prompt and completion text (default: only their lengths)"},
      {"max-body-bytes", "N", "largest request body accepted (larger: 413)", "8388608"},
      {"max-prompt-tokens", "N", "longest prompt accepted, in tokens (0: the model's context)", "0"},
      {"request-timeout", "SECONDS", "cut a generation after this long (0: never)", "0"},
      {"cors-origins", "LIST", "comma-separated origins allowed to call from a browser ('*': any; empty: CORS off)", ""},
      {"drain-timeout", "SECONDS", "on SIGTERM, how long in-flight requests may take to finish", "10"},
      device_flag_spec(),
  };
  return specs;
}

// The options as the command line and the YAML file give them: the flag when given, else the
// file's value, else the flag's default.
class ServeOptions {
 public:
  explicit ServeOptions(const Flags& flags) : flags_(flags) {
    if (flags.has("config")) load_yaml(flags.str("config"));
  }

  bool given(const std::string& name) const { return flags_.has(name) || yaml_.count(name) != 0; }
  std::string str(const std::string& name) const {
    if (flags_.has(name)) return flags_.str(name);
    if (auto it = yaml_.find(name); it != yaml_.end()) return it->second;
    return flags_.str(name);
  }
  int64_t integer(const std::string& name, int64_t lo, int64_t hi) const {
    const std::string s = str(name);
    int64_t v = 0;
    size_t used = 0;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != s.size()) throw UsageError{"--" + name + " must be an integer, got '" + s + "'"};
    if (v < lo || v > hi)
      throw UsageError{"--" + name + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + s};
    return v;
  }
  bool on(const std::string& name) const {
    if (flags_.has(name)) return true;
    auto it = yaml_.find(name);
    if (it == yaml_.end()) return false;
    if (it->second == "true" || it->second == "yes" || it->second == "on") return true;
    if (it->second == "false" || it->second == "no" || it->second == "off") return false;
    throw UsageError{config_ + ": '" + name + "' must be true or false, got '" + it->second + "'"};
  }

 private:
  void load_yaml(const std::string& path) {
    config_ = path;
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
      throw UsageError{path + ": cannot read the YAML config: " + e.what()};
    }
    if (root.IsNull()) return;
    if (!root.IsMap()) throw UsageError{path + ": the config must be a mapping of option names to values"};
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      const FlagSpec* spec = nullptr;
      for (const auto& s : serve_flags())
        if (s.name == key) spec = &s;
      if (!spec || key == "config") throw UsageError{path + ": unknown option '" + key + "' (see nova serve --help)"};
      const YAML::Node& v = kv.second;
      if (v.IsSequence()) {  // lists (cors-origins) may be YAML sequences
        std::string joined;
        for (const auto& item : v) joined += (joined.empty() ? "" : ",") + item.as<std::string>();
        yaml_[key] = joined;
      } else if (v.IsScalar()) {
        yaml_[key] = v.as<std::string>();
      } else if (v.IsNull()) {
        yaml_[key] = "";
      } else {
        throw UsageError{path + ": option '" + key + "' must be a value or a list"};
      }
    }
  }

  const Flags& flags_;
  std::string config_;
  std::map<std::string, std::string> yaml_;
};

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int cmd_serve(const Args& args) {
  Flags flags("serve",
              "Serves a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, "
              "/v1/embeddings, /v1/models, /invocations, /health, /metrics). SIGTERM/SIGINT drain gracefully.",
              serve_flags());
  if (!flags.parse(args)) return 0;
  const ServeOptions o(flags);
  if (!o.given("model") || o.str("model").empty()) throw UsageError{"missing required flag --model (or model: in --config)"};
  constexpr int64_t kBig = int64_t{1} << 40;

  serve::app::ServeAppOptions opts;
  opts.model_dir = o.str("model");
  opts.engine.max_running = static_cast<int>(o.integer("max-batch", 1, 1 << 20));
  opts.engine.max_waiting = static_cast<int>(o.integer("max-waiting", 1, 1 << 24));
  opts.engine.num_blocks = o.integer("kv-blocks", 0, kBig);
  opts.engine.block_size = o.integer("block-size", 1, 1 << 16);
  opts.server.worker_threads = static_cast<int>(o.integer("workers", 1, 1024));
  opts.server.limits.max_body_bytes = static_cast<size_t>(o.integer("max-body-bytes", 1024, int64_t{1} << 32));
  opts.server.drain_timeout = std::chrono::seconds(o.integer("drain-timeout", 0, 86400));
  opts.server.cors.allowed_origins = split_list(o.str("cors-origins"));
  opts.api_keys = o.str("api-keys");
  opts.redis_url = o.str("redis");
  if (const int64_t rpm = o.integer("rpm", 0, kBig); rpm > 0) opts.default_limits.requests_per_minute = rpm;
  if (const int64_t tpm = o.integer("tpm", 0, kBig); tpm > 0) opts.default_limits.tokens_per_minute = tpm;
  const std::string log = o.str("request-log");
  opts.request_log = log == "off" ? "" : log;
  opts.log_prompts = o.on("log-prompts");
  opts.max_prompt_tokens = o.integer("max-prompt-tokens", 0, kBig);
  opts.request_timeout = std::chrono::seconds(o.integer("request-timeout", 0, 86400 * 7));
  const int64_t port = o.integer("port", 0, 65535);
  const std::string host = o.str("host");

  select_device(o.str("device"));
  serve::app::ServeApp app(opts);
  app.start(host, static_cast<uint16_t>(port));
  serve::http::install_drain_signals(app.server());
  std::cout << "nova serve: model '" << app.model().name << "' at http://" << host << ":" << app.port() << "/v1; "
            << app.policy_summary() << " (Ctrl-C to stop)" << std::endl;
  app.server().wait();  // returns once a signal's drain is over
  serve::http::uninstall_drain_signals();
  app.stop();
  std::cout << "nova serve: stopped" << std::endl;
  return 0;
}

}  // namespace nova::cli
