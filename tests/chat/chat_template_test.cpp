// The hard reference: every conversation in the qwen3 fixture must render byte-for-byte as
// transformers rendered it (jinja2 sandbox, trim_blocks + lstrip_blocks).
#include "chat/chat_template.h"

#include <gtest/gtest.h>

#include <sstream>

#include "support/fixtures.h"

namespace nova::chat {
namespace {

using json = nlohmann::ordered_json;

std::string first_difference(const std::string& got, const std::string& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  if (i == got.size() && i == want.size()) return "";
  std::ostringstream os;
  os << "first difference at byte " << i << "\n  got:  " << json(got.substr(i, 60)).dump()
     << "\n  want: " << json(want.substr(i, 60)).dump();
  return os.str();
}

TEST(ChatTemplate, Qwen3FixtureCasesRenderByteExact) {
  const auto config = ChatTemplateConfig::load(test::fixture("tokenizers/qwen3/tokenizer_config.json"));
  EXPECT_EQ(config.eos_token, "<|im_end|>");
  EXPECT_EQ(config.bos_token, "");  // null in the config: not passed to the template
  std::istringstream lines(test::read_file(test::fixture("tokenizers/qwen3/chat_cases.jsonl")));
  std::string line;
  int cases = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const json c = json::parse(line);
    json extra = json::object();
    for (const auto& [k, v] : c.items())
      if (k != "messages" && k != "tools" && k != "add_generation_prompt" && k != "rendered") extra[k] = v;
    const std::string got = apply_chat_template(config, c["messages"], c.value("tools", json(nullptr)),
                                                c.value("add_generation_prompt", false), extra);
    const std::string want = c["rendered"].get<std::string>();
    EXPECT_EQ(first_difference(got, want), "") << "case " << cases << ": " << line;
    ++cases;
  }
  EXPECT_EQ(cases, 7);
}

TEST(ChatTemplate, Qwen3EnableThinkingFalseAddsEmptyThinkBlock) {
  // Derived from the template text (not from a fixture): with enable_thinking=false the
  // generation prompt gets an empty think block.
  const auto config = ChatTemplateConfig::load(test::fixture("tokenizers/qwen3/tokenizer_config.json"));
  const json messages = json::parse(R"([{"role": "user", "content": "Hi"}])");
  EXPECT_EQ(apply_chat_template(config, messages, nullptr, true, json{{"enable_thinking", false}}),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  EXPECT_EQ(apply_chat_template(config, messages, nullptr, true, json{{"enable_thinking", true}}),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama2FixtureHasNoTemplate) {
  // The llama2 fixture's tokenizer_config.json carries no chat_template: loading says so.
  const std::string path = test::fixture("tokenizers/llama2/tokenizer_config.json");
  const json cfg = json::parse(test::read_file(path));
  ASSERT_FALSE(cfg.contains("chat_template"));
  try {
    ChatTemplateConfig::load(path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no chat_template"), std::string::npos) << e.what();
    EXPECT_EQ(e.where(), path);
  }
  const auto c = ChatTemplateConfig::from_json(cfg, path);
  EXPECT_EQ(c.bos_token, "<s>");
  EXPECT_EQ(c.eos_token, "</s>");
  EXPECT_EQ(c.special_tokens["unk_token"], "<unk>");
  EXPECT_FALSE(c.special_tokens.contains("pad_token"));  // null
}

TEST(ChatTemplate, NamedTemplateListPicksDefaultOrToolUse) {
  const json cfg = json::parse(R"({
    "chat_template": [{"name": "default", "template": "D{{ messages|length }}"},
                      {"name": "tool_use", "template": "T{{ tools|length }}"}],
    "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
    "eos_token": "</s>"})");
  const auto c = ChatTemplateConfig::from_json(cfg, "cfg.json");
  EXPECT_EQ(c.bos_token, "<s>");
  const json msgs = json::parse(R"([{"role": "user", "content": "x"}])");
  EXPECT_EQ(apply_chat_template(c, msgs, nullptr, false), "D1");
  EXPECT_EQ(apply_chat_template(c, msgs, json::array(), false), "T0");
  EXPECT_EQ(apply_chat_template(c, msgs, json::parse(R"([{"a": 1}, {"b": 2}])"), false), "T2");
}

TEST(ChatTemplate, SpecialTokensAndExtraVariablesReachTheTemplate) {
  const json cfg = json::parse(R"({"chat_template": "{{ bos_token }}|{{ eos_token }}|{{ x }}|{{ tools }}|{{ documents }}|{{ add_generation_prompt }}", "bos_token": "<s>", "eos_token": "</s>"})");
  const auto c = ChatTemplateConfig::from_json(cfg, "cfg.json");
  EXPECT_EQ(apply_chat_template(c, json::array(), nullptr, true, json{{"x", 1.0}}), "<s>|</s>|1.0|None|None|True");
  EXPECT_EQ(apply_chat_template(c, json::array(), nullptr, false, json{{"bos_token", "B"}}), "B|</s>||None|None|False");
}

TEST(ChatTemplate, BadArgumentsAndConfigsAreErrors) {
  const auto c = ChatTemplateConfig::from_json(json{{"chat_template", "x"}}, "cfg.json");
  EXPECT_THROW(apply_chat_template(c, json::object(), nullptr, false), Error);
  EXPECT_THROW(apply_chat_template(c, json::array(), json::object(), false), Error);
  EXPECT_THROW(apply_chat_template(c, json::array(), nullptr, false, json{{"messages", 1}}), Error);
  EXPECT_THROW(ChatTemplateConfig::from_json(json{{"chat_template", 3}}, "cfg.json"), Error);
  EXPECT_THROW(ChatTemplateConfig::from_json(json::parse(R"({"chat_template": [{"name": "x"}]})"), "cfg.json"), Error);
  EXPECT_THROW(ChatTemplateConfig::from_json(json::array(), "cfg.json"), Error);
  const std::string dir = test::scratch_dir("chat_config");
  test::write_file(dir + "/tokenizer_config.json", "{\"chat_template\": ");
  EXPECT_THROW(ChatTemplateConfig::load(dir + "/tokenizer_config.json"), Error);
  EXPECT_THROW(ChatTemplateConfig::load(dir + "/missing.json"), Error);
}

TEST(ChatTemplate, FallsBackToChatTemplateJinjaFile) {
  const std::string dir = test::scratch_dir("chat_jinja");
  test::write_file(dir + "/tokenizer_config.json", R"({"eos_token": "</s>"})");
  test::write_file(dir + "/chat_template.jinja", "{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}\n");
  const auto c = ChatTemplateConfig::load(dir + "/tokenizer_config.json");
  EXPECT_EQ(apply_chat_template(c, json::parse(R"([{"role":"user","content":"a"}])"), nullptr, false), "a</s>");
}

}  // namespace
}  // namespace nova::chat
