// Drives the real `nova` binary the way scripts and users do, and checks its output against the
// reference fixtures.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/fixtures.h"

namespace nova::test {
namespace {

struct NovaRun {
  int exit_code;
  std::string out, err;
};

// Runs `nova ARGS` with `stdin_text` on its standard input.
NovaRun nova(const std::string& args, const std::string& stdin_text = "") {
  static int counter = 0;
  const std::string dir = scratch_dir("cli_run_" + std::to_string(counter++));
  write_file(dir + "/in", stdin_text);
  const std::string cmd = binary_dir() + "/bin/nova " + args + " <" + dir + "/in >" + dir + "/out 2>" + dir + "/err";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(dir + "/out"), read_file(dir + "/err")};
}

std::vector<nlohmann::ordered_json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::ordered_json> rows;
  std::istringstream in(read_file(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::ordered_json::parse(line));
  return rows;
}

std::string join_ids(const std::vector<int>& ids, const char* sep) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? sep : "") + std::to_string(ids[i]);
  return s;
}

TEST(Cli, HelpAndBadFlags) {
  EXPECT_EQ(nova("--help").exit_code, 0);
  for (const char* cmd : {"chat", "generate", "info", "tokenize", "logits", "template"}) {
    const NovaRun help = nova(std::string(cmd) + " --help");
    EXPECT_EQ(help.exit_code, 0) << cmd;
    EXPECT_NE(help.out.find("usage: nova " + std::string(cmd)), std::string::npos) << cmd;
    const NovaRun bad = nova(std::string(cmd) + " --no-such-flag");
    EXPECT_EQ(bad.exit_code, 2) << cmd;
    EXPECT_NE(bad.err.find("unknown flag --no-such-flag"), std::string::npos) << bad.err;
  }
  EXPECT_EQ(nova("no-such-command").exit_code, 2);
  const NovaRun missing = nova("logits --ids 1,2 --out x");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("--model"), std::string::npos);
  const NovaRun bad_ids = nova("logits --model " + fixture("models/qwen3") + " --ids 1,x --out x");
  EXPECT_EQ(bad_ids.exit_code, 2);
  EXPECT_NE(bad_ids.err.find("--ids"), std::string::npos);
}

TEST(Cli, ErrorsNameTheFile) {
  const NovaRun r = nova("info " + fixture("tokenizers/qwen3"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  const NovaRun t = nova("tokenize --tokenizer /nonexistent/tokenizer.json", "hi");
  EXPECT_EQ(t.exit_code, 2);
  EXPECT_NE(t.err.find("/nonexistent/tokenizer.json"), std::string::npos) << t.err;
}

TEST(Cli, TokenizeMatchesHuggingFace) {
  for (const char* name : {"gpt2", "llama2", "qwen3"}) {
    const auto cases = read_jsonl(fixture(std::string("tokenizers/") + name + "/cases.jsonl"));
    for (size_t i = 0; i < cases.size(); i += 27) {  // a sample: the tokenizer tests check every case
      const auto& c = cases[i];
      const NovaRun r = nova(std::string("tokenize --tokenizer ") + fixture(std::string("tokenizers/") + name) +
                             (c["add_special_tokens"].get<bool>() ? " --add-special" : ""),
                         c["text"].get<std::string>());
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(r.out, "[" + join_ids(c["ids"].get<std::vector<int>>(), ",") + "]\n") << name << " case " << i;
    }
  }
}

TEST(Cli, LogitsAndGreedyGenerateMatchTransformers) {
  for (const auto& entry : std::filesystem::directory_iterator(fixture("models"))) {
    const std::string dir = entry.path().string();
    const auto ref = nlohmann::json::parse(read_file(dir + "/ref.json"));
    const auto all = read_f32(dir + "/logits.bin");
    const auto& c = ref["cases"][0];
    const auto ids = c["input_ids"].get<std::vector<int>>();
    const std::string out = scratch_dir("cli_logits_" + entry.path().filename().string()) + "/logits.f32";
    const NovaRun r = nova("logits --model " + dir + " --ids " + join_ids(ids, ",") + " --out " + out);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto got = read_f32(out);
    const size_t n = c["logits_shape"][0].get<size_t>() * c["logits_shape"][1].get<size_t>();
    ASSERT_EQ(got.size(), n) << dir;
    const size_t off = c["logits_offset_floats"].get<size_t>();
    float max_err = 0;
    for (size_t i = 0; i < n; ++i) max_err = std::max(max_err, std::fabs(got[i] - all[off + i]));
    EXPECT_LE(max_err, 1e-4f) << dir;

    const NovaRun g = nova("generate --model " + dir + " --ids " + join_ids(ids, ",") +
                       " --max-tokens 16 --temperature 0 --print-ids");
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_EQ(g.out, join_ids(c["greedy_continuation"].get<std::vector<int>>(), " ") + "\n") << dir;
  }
}

TEST(Cli, TemplateRendersExactly) {
  const auto cases = read_jsonl(fixture("tokenizers/qwen3/chat_cases.jsonl"));
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const std::string dir = scratch_dir("cli_template_" + std::to_string(i));
    write_file(dir + "/messages.json", c["messages"].dump());
    std::string args = "template --tokenizer-config " + fixture("tokenizers/qwen3/tokenizer_config.json") +
                       " --messages " + dir + "/messages.json";
    if (c.contains("tools") && !c["tools"].is_null()) {
      write_file(dir + "/tools.json", c["tools"].dump());
      args += " --tools " + dir + "/tools.json";
    }
    if (c.value("add_generation_prompt", false)) args += " --add-generation-prompt";
    const NovaRun r = nova(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, c["rendered"].get<std::string>()) << "case " << i;
  }
}

TEST(Cli, ChatWithBundledModelStreamsReplies) {
  const NovaRun r = nova("chat --model " + source_dir() + "/models/demo --max-tokens 8 --seed 3",
                     "Hello there\nHow are you?\n/exit\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Two replies, one line each (random weights: the content is noise, the shape is not).
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;
  const NovaRun again = nova("chat --model " + source_dir() + "/models/demo --max-tokens 8 --seed 3",
                         "Hello there\nHow are you?\n/exit\n");
  EXPECT_EQ(again.out, r.out);  // seeded: reproducible
}

}  // namespace
}  // namespace nova::test
