// Chat templates: our own Jinja2 engine rendering the `chat_template` of a Hugging Face
// tokenizer_config.json byte-for-byte as transformers does (jinja2 ImmutableSandboxedEnvironment,
// trim_blocks + lstrip_blocks, loopcontrols; raise_exception, strftime_now, and a tojson that
// keeps non-ASCII and does not escape HTML).
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace nova::chat {

struct Program;

// Thrown when a template calls raise_exception(msg): problem() is exactly `msg`.
class TemplateRaised : public Error {
 public:
  using Error::Error;
};

struct RenderLimits {
  std::optional<std::time_t> now;  // fixes strftime_now()'s clock (tests); unset = real time
  uint64_t max_steps = 50'000'000;  // evaluation budget; a runaway template fails with an error
  size_t max_output_bytes = 64u << 20;  // bound on the output and on any string built on the way
};

class Template {
 public:
  // Syntax errors (and unknown filters/tests) throw nova::Error(where, "line L:col C: ...").
  static Template parse(const std::string& source, const std::string& where = "template");
  // Runtime errors throw nova::Error(where, "line L: ..."); raise_exception throws TemplateRaised.
  std::string render(const nlohmann::ordered_json& context, const RenderLimits& limits = {}) const;

 private:
  std::shared_ptr<const Program> program_;
  std::string where_;
};

// The chat-template part of a tokenizer_config.json.
struct ChatTemplateConfig {
  std::string template_source;  // the "default" template (or the only one)
  std::string tool_use_source;  // the "tool_use" template when chat_template is a named list
  std::string bos_token, eos_token;  // "" when absent or null
  // Every special token set in the config (bos/eos/unk/pad/sep/cls/mask and
  // additional_special_tokens), passed to the template as transformers does.
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
  std::string where;  // the config path, for error messages

  // Reads chat_template as a string or a list of {name, template}; falls back to a sibling
  // chat_template.jinja file (transformers >= 4.50 layout). Throws nova::Error naming the file.
  static ChatTemplateConfig load(const std::string& tokenizer_config_path);
  // Builds a config from a parsed tokenizer_config.json object.
  static ChatTemplateConfig from_json(const nlohmann::ordered_json& config, const std::string& where);
};

// Renders `messages` (OpenAI-style array) with `tools` (array, or null for none) as
// transformers' apply_chat_template(tokenize=False) does. `extra` (an object, or null) adds
// template variables such as enable_thinking and overrides the special tokens.
std::string apply_chat_template(const ChatTemplateConfig& config, const nlohmann::ordered_json& messages,
                                const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                const nlohmann::ordered_json& extra = {}, const RenderLimits& limits = {});

}  // namespace nova::chat
