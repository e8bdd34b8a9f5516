// `nova chat`: a REPL over the model's chat template. The KV cache is kept between turns: each
// turn re-renders the whole conversation, and only the tokens after the longest prefix already
// in the cache are run through the model.
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/device_flag.h"
#include "cli/flags.h"
#include "engine/model_files.h"
#include "cli/sampling_flags.h"
#include "core/error.h"
#include "engine/generate.h"
#include "engine/tokenizer_detokenizer.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace nova::cli {

int cmd_chat(const Args& args) {
  std::vector<FlagSpec> specs = {
      {"model", "DIR", "model directory with tokenizer.json and tokenizer_config.json (chat_template)", "", true},
      {"system", "TEXT", "system prompt"},
      {"max-tokens", "N", "longest reply in tokens", "256"},
      {"context", "N", "KV cache size in tokens (0: the model's maximum)", "0"},
      device_flag_spec(),
  };
  for (auto& s : sampling_flag_specs()) specs.push_back(s);
  Flags flags("chat",
              "Chats with a model on the terminal, streaming each reply. Reads one user message per line;\n"
              "/reset starts over, /exit (or end of input) quits.",
              std::move(specs));
  if (!flags.parse(args)) return 0;

  const std::string dir = flags.str("model");
  const auto tok = tokenizer::Tokenizer::from_file(engine::find_tokenizer_json(dir));
  const auto config_path = engine::find_tokenizer_config(dir);
  if (!config_path) fail(dir, "no tokenizer_config.json (needed for the chat template)");
  const auto chat_config = chat::ChatTemplateConfig::load(*config_path);
  select_device(flags.str("device"));
  const auto model = model::Transformer::load(dir);
  const engine::GenerationDefaults defaults = engine::load_generation_defaults(dir);
  const engine::TokenizerDetokenizer detok(tok);

  engine::GenerationRequest req;
  req.sampling = sampling_from_flags(flags, defaults);
  req.max_tokens = static_cast<int>(flags.integer("max-tokens"));
  for (int id : defaults.eos_token_ids) req.stop_token_ids.push_back(id);
  for (int id : model->config().eos_token_ids) req.stop_token_ids.push_back(id);
  if (auto eos = tok.token_to_id(chat_config.eos_token); eos && !chat_config.eos_token.empty())
    req.stop_token_ids.push_back(*eos);

  auto session = model->new_session(flags.integer("context"));
  std::vector<int32_t> in_cache;  // the tokens the session's KV cache holds
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  auto reset = [&] {
    messages = nlohmann::ordered_json::array();
    if (flags.has("system")) messages.push_back({{"role", "system"}, {"content", flags.str("system")}});
  };
  reset();

  const bool interactive = isatty(STDIN_FILENO);
  if (interactive) std::cerr << "nova chat: " << dir << " — /reset to start over, /exit to quit\n";
  std::string line;
  for (;;) {
    if (interactive) std::cout << "> " << std::flush;
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      reset();
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({{"role", "user"}, {"content", line}});
    const std::string prompt = chat::apply_chat_template(chat_config, messages, nullptr, true);
    const std::vector<int32_t> ids = tok.encode(prompt, /*add_special_tokens=*/false);

    // Reuse the cached prefix; at least one token must be fed to get logits.
    size_t common = std::mismatch(in_cache.begin(), in_cache.end(), ids.begin(), ids.end()).first - in_cache.begin();
    common = std::min(common, ids.size() - 1);
    session->truncate(static_cast<int64_t>(common));
    req.prompt.assign(ids.begin() + static_cast<std::ptrdiff_t>(common), ids.end());
    if (static_cast<int64_t>(ids.size()) + req.max_tokens > session->capacity()) {
      std::cerr << "nova chat: the conversation no longer fits the context; /reset to start over\n";
      messages.erase(messages.end() - 1);
      continue;
    }
    const auto result = engine::generate(*session, &detok, req, [&](const engine::TokenEvent& ev) {
      std::cout << ev.text << std::flush;
      return true;
    });
    std::cout << "\n";
    // The session now holds ids + every generated token but the last.
    in_cache = ids;
    in_cache.insert(in_cache.end(), result.tokens.begin(), result.tokens.end() - (result.tokens.empty() ? 0 : 1));
    messages.push_back({{"role", "assistant"}, {"content", result.text}});
    req.sampling.seed++;  // a fresh stream per turn, still reproducible from --seed
  }
  return 0;
}

}  // namespace nova::cli
