#include <iostream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace nova::cli {

namespace {
nlohmann::ordered_json read_json_file(const std::string& path) {
  try {
    return nlohmann::ordered_json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("invalid JSON: ") + e.what());
  }
}
}  // namespace

int cmd_template(const Args& args) {
  Flags flags("template", "Renders the chat template of a tokenizer_config.json and prints the prompt exactly.",
              {{"tokenizer-config", "PATH", "tokenizer_config.json holding the chat_template", "", true},
               {"messages", "FILE", "JSON array of {role, content, ...} messages", "", true},
               {"tools", "FILE", "JSON array of tool definitions passed to the template"},
               {"add-generation-prompt", "", "end with the assistant turn's opening"}});
  if (!flags.parse(args)) return 0;
  const auto config = chat::ChatTemplateConfig::load(flags.str("tokenizer-config"));
  const auto messages = read_json_file(flags.str("messages"));
  require(messages.is_array(), flags.str("messages"), "expected a JSON array of messages");
  nlohmann::ordered_json tools;  // null: no tools
  if (flags.has("tools")) tools = read_json_file(flags.str("tools"));
  std::cout << chat::apply_chat_template(config, messages, tools, flags.flag("add-generation-prompt"));
  std::cout.flush();
  return 0;
}

}  // namespace nova::cli
