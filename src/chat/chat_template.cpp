#include "chat/chat_template.h"

#include <filesystem>

#include "chat/interpreter.h"
#include "chat/parser.h"
#include "core/mapped_file.h"

namespace nova::chat {

Template Template::parse(const std::string& source, const std::string& where) {
  auto program = std::make_shared<Program>(parse_template(source, where));
  check_filters_and_tests(*program, where);
  Template t;
  t.program_ = std::move(program);
  t.where_ = where;
  return t;
}

std::string Template::render(const nlohmann::ordered_json& context, const RenderLimits& limits) const {
  if (!context.is_object() && !context.is_null()) fail(where_, "render context must be a JSON object");
  Value ctx = Value::dict();
  if (context.is_object()) {
    try {
      ctx = Value::from_json(context);
    } catch (const Error& e) {
      fail(where_, "render context: " + e.problem());
    }
  }
  RenderOptions options;
  options.now = limits.now;
  options.max_steps = limits.max_steps;
  options.max_output_bytes = limits.max_output_bytes;
  Interpreter interpreter(where_, options);
  return interpreter.render(*program_, ctx);
}

namespace {

// A special token is a string, an AddedToken dict ({"content": ...}), or null.
std::optional<std::string> token_text(const nlohmann::ordered_json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return std::nullopt;
}

}  // namespace

ChatTemplateConfig ChatTemplateConfig::from_json(const nlohmann::ordered_json& config, const std::string& where) {
  if (!config.is_object()) fail(where, "tokenizer config must be a JSON object");
  ChatTemplateConfig c;
  c.where = where;
  if (config.contains("chat_template")) {
    const auto& t = config["chat_template"];
    if (t.is_string()) {
      c.template_source = t.get<std::string>();
    } else if (t.is_array()) {
      bool have_default = false;
      for (const auto& entry : t) {
        if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["name"].is_string() ||
            !entry["template"].is_string())
          fail(where, "chat_template: each entry of the list must be {\"name\": str, \"template\": str}");
        const std::string name = entry["name"].get<std::string>();
        if (name == "default") c.template_source = entry["template"].get<std::string>(), have_default = true;
        if (name == "tool_use") c.tool_use_source = entry["template"].get<std::string>();
      }
      if (!have_default && c.tool_use_source.empty())
        fail(where, "chat_template: the list has neither a 'default' nor a 'tool_use' template");
    } else if (!t.is_null()) {
      fail(where, "chat_template: expected a string or a list of {name, template}");
    }
  }
  static const char* const kSpecial[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                         "pad_token", "cls_token", "mask_token"};
  for (const char* key : kSpecial) {
    if (!config.contains(key)) continue;
    if (auto text = token_text(config[key])) c.special_tokens[key] = *text;
  }
  if (config.contains("additional_special_tokens") && config["additional_special_tokens"].is_array()) {
    auto list = nlohmann::ordered_json::array();
    for (const auto& t : config["additional_special_tokens"])
      if (auto text = token_text(t)) list.push_back(*text);
    c.special_tokens["additional_special_tokens"] = list;
  }
  if (c.special_tokens.contains("bos_token")) c.bos_token = c.special_tokens["bos_token"].get<std::string>();
  if (c.special_tokens.contains("eos_token")) c.eos_token = c.special_tokens["eos_token"].get<std::string>();
  return c;
}

ChatTemplateConfig ChatTemplateConfig::load(const std::string& tokenizer_config_path) {
  const std::string text = read_text_file(tokenizer_config_path);
  nlohmann::ordered_json config;
  try {
    config = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(tokenizer_config_path, std::string("malformed JSON: ") + e.what());
  }
  ChatTemplateConfig c = from_json(config, tokenizer_config_path);
  if (c.template_source.empty() && c.tool_use_source.empty()) {
    const auto sibling = std::filesystem::path(tokenizer_config_path).parent_path() / "chat_template.jinja";
    std::error_code ec;
    if (!std::filesystem::exists(sibling, ec))
      fail(tokenizer_config_path, "no chat_template (and no chat_template.jinja beside it)");
    c.template_source = read_text_file(sibling.string());
  }
  return c;
}

std::string apply_chat_template(const ChatTemplateConfig& config, const nlohmann::ordered_json& messages,
                                const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                const nlohmann::ordered_json& extra, const RenderLimits& limits) {
  const std::string& where = config.where.empty() ? std::string("chat_template") : config.where;
  if (!messages.is_array()) fail(where, "messages must be a JSON array");
  if (!tools.is_null() && !tools.is_array()) fail(where, "tools must be a JSON array or null");
  if (!extra.is_null() && !extra.is_object()) fail(where, "extra template variables must be a JSON object");
  // transformers picks the "tool_use" template whenever tools are passed (even an empty list).
  const bool use_tool_template = !tools.is_null() && !config.tool_use_source.empty();
  const std::string& source = use_tool_template || config.template_source.empty() ? config.tool_use_source
                                                                                  : config.template_source;
  if (source.empty()) fail(where, "no chat template");
  // Same variables as transformers: special tokens, then kwargs, then the fixed arguments.
  nlohmann::ordered_json context = config.special_tokens.is_object() ? config.special_tokens
                                                                     : nlohmann::ordered_json::object();
  if (extra.is_object())
    for (const auto& [k, v] : extra.items()) {
      if (k == "messages" || k == "tools" || k == "documents" || k == "add_generation_prompt")
        fail(where, "extra template variable '" + k + "' collides with an apply_chat_template argument");
      context[k] = v;
    }
  context["messages"] = messages;
  context["tools"] = tools;
  if (!context.contains("documents")) context["documents"] = nullptr;
  context["add_generation_prompt"] = add_generation_prompt;
  return Template::parse(source, where).render(context, limits);
}

}  // namespace nova::chat
