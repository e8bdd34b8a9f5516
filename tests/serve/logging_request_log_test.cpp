#include <gtest/gtest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "serve/logging/request_log.h"
#include "support/fixtures.h"

namespace nova::serve::logging {
namespace {

RequestLogEntry sample() {
  RequestLogEntry e;
  e.request_id = "chatcmpl-abc";
  e.key_id = "nova-Ab3x9QzK";
  e.model = "qwen3";
  e.endpoint = "/v1/chat/completions";
  e.status = 200;
  e.prompt_tokens = 12;
  e.completion_tokens = 30;
  e.ttft_seconds = 0.041;
  e.total_seconds = 0.62;
  e.finish_reason = "stop";
  e.client = "127.0.0.1:50412";
  e.prompt = "my secret prompt\nline two";
  e.completion = "a private answer";
  return e;
}

TEST(RequestLog, RedactsPromptsByDefault) {
  const std::string path = test::scratch_dir("request_log_redact") + "/requests.log";
  auto log = RequestLogger::open_file(path, /*log_prompts=*/false);
  log->log(sample());
  const std::string text = test::read_file(path);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  EXPECT_EQ(text.find("secret"), std::string::npos);
  EXPECT_EQ(text.find("private"), std::string::npos);
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["request_id"], "chatcmpl-abc");
  EXPECT_EQ(j["key_id"], "nova-Ab3x9QzK");
  EXPECT_EQ(j["model"], "qwen3");
  EXPECT_EQ(j["endpoint"], "/v1/chat/completions");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["prompt_tokens"], 12);
  EXPECT_EQ(j["completion_tokens"], 30);
  EXPECT_DOUBLE_EQ(j["ttft_s"].get<double>(), 0.041);
  EXPECT_DOUBLE_EQ(j["total_s"].get<double>(), 0.62);
  EXPECT_EQ(j["finish_reason"], "stop");
  EXPECT_EQ(j["client"], "127.0.0.1:50412");
  EXPECT_EQ(j["prompt_chars"], sample().prompt.size());
  EXPECT_FALSE(j.contains("prompt"));
  EXPECT_FALSE(j.contains("completion"));
  EXPECT_TRUE(j["time"].get<std::string>().ends_with("Z"));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(RequestLog, LogsPromptsOnlyWhenEnabledAndStaysOneLine) {
  const std::string path = test::scratch_dir("request_log_prompts") + "/requests.log";
  auto log = RequestLogger::open_file(path, /*log_prompts=*/true);
  RequestLogEntry e = sample();
  e.completion = std::string("bad utf8 \xff\xfe here");
  e.ttft_seconds.reset();
  e.finish_reason.clear();
  e.status = 500;
  e.error = "engine failed";
  log->log(e);
  const std::string text = test::read_file(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1);
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["prompt"], "my secret prompt\nline two");
  EXPECT_NE(j["completion"].get<std::string>().find("bad utf8"), std::string::npos);
  EXPECT_TRUE(j["ttft_s"].is_null());
  EXPECT_TRUE(j["finish_reason"].is_null());
  EXPECT_EQ(j["error"], "engine failed");
  EXPECT_EQ(log->failed_writes(), 0u);
}

TEST(RequestLog, ConcurrentWritersNeverInterleaveLines) {
  const std::string path = test::scratch_dir("request_log_concurrent") + "/requests.log";
  auto log = RequestLogger::open_file(path, /*log_prompts=*/true);
  constexpr int kThreads = 4, kEach = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        RequestLogEntry e = sample();
        e.request_id = std::to_string(t) + "-" + std::to_string(i);
        e.prompt = std::string(1500 + 97 * t, static_cast<char>('a' + t));  // long lines
        log->log(e);
      }
    });
  for (auto& t : threads) t.join();
  std::istringstream in(test::read_file(path));
  std::string line;
  int lines = 0;
  std::set<std::string> ids;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);  // throws on an interleaved line
    const int t = std::stoi(j["request_id"].get<std::string>());
    EXPECT_EQ(j["prompt"].get<std::string>(), std::string(1500 + 97 * t, static_cast<char>('a' + t)));
    ids.insert(j["request_id"].get<std::string>());
    ++lines;
  }
  EXPECT_EQ(lines, kThreads * kEach);
  EXPECT_EQ(ids.size(), static_cast<size_t>(kThreads * kEach));
}

}  // namespace
}  // namespace nova::serve::logging
