// ServeApp with --api-keys (a JSON keys file) and default limits: 401 without or with a bad key,
// 403 for a user key on the admin routes, admin key management over HTTP (the secret shown once,
// never stored or logged), per-key rate limits answering 429 with Retry-After, and the request log.
#include <gtest/gtest.h>

#include "app_test_support.h"
#include "serve/auth/authenticator.h"
#include "serve/auth/json_key_store.h"
#include "serve/auth/key_store_spec.h"

namespace nova::serve::app::test {
namespace {

using nlohmann::json;

class AppPolicy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(nova::test::scratch_dir("app_policy"));
    auth::Authenticator keys(std::make_shared<auth::JsonKeyStore>(*dir_ + "/keys.json"));
    admin_ = new std::string(keys.create_key("root", auth::Role::kAdmin).key);
    user_ = new std::string(keys.create_key("user", auth::Role::kUser).key);
    limited_ = new std::string(keys.create_key("limited", auth::Role::kUser, {2, std::nullopt}).key);
    tokens_ = new std::string(keys.create_key("tokens", auth::Role::kUser, {std::nullopt, 60}).key);
    ServeAppOptions o;
    o.model_dir = nova::test::source_dir() + "/models/demo";
    o.engine.max_running = 4;
    o.server.worker_threads = 2;
    o.api_keys = *dir_ + "/keys.json";
    o.request_log = *dir_ + "/requests.jsonl";
    app_ = new ServeApp(o);
    app_->start("127.0.0.1", 0);
  }
  static void TearDownTestSuite() {
    delete app_;
    for (auto* s : {dir_, admin_, user_, limited_, tokens_}) delete s;
  }
  static uint16_t port() { return app_->port(); }

  inline static ServeApp* app_ = nullptr;
  inline static std::string *dir_ = nullptr, *admin_ = nullptr, *user_ = nullptr, *limited_ = nullptr,
                            *tokens_ = nullptr;
};

const char* kCompletion = R"({"prompt":"hello","max_tokens":2,"temperature":0})";

TEST_F(AppPolicy, MissingOrWrongKeyIs401) {
  for (const std::string& key : {std::string(), std::string("nova-notarealkeyatall0000000000000000000000000"),
                                 *user_ + "x"}) {
    for (const char* path : {"/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/invocations"}) {
      const auto r = call(port(), "POST", path, kCompletion, key);
      EXPECT_EQ(r.status, 401) << path << " key '" << key << "'";
      EXPECT_TRUE(is_openai_error(r.body)) << r.body;
      EXPECT_EQ(header_value(r.head, "www-authenticate"), "Bearer");
    }
  }
  EXPECT_EQ(call(port(), "GET", "/v1/models").status, 401);
  // Open routes: probes and metrics never need a key.
  EXPECT_EQ(call(port(), "GET", "/health").status, 200);
  EXPECT_EQ(call(port(), "GET", "/metrics").status, 200);
  EXPECT_EQ(call(port(), "POST", "/v1/completions", kCompletion, *user_).status, 200);
}

TEST_F(AppPolicy, UserKeyOnAdminRoutesIs403) {
  for (const char* method : {"GET", "POST"}) {
    const auto r = call(port(), method, "/v1/admin/keys", R"({"name":"x"})", *user_);
    EXPECT_EQ(r.status, 403) << method;
    EXPECT_TRUE(is_openai_error(r.body));
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "insufficient_role");
  }
  EXPECT_EQ(call(port(), "DELETE", "/v1/admin/keys/nova-whatever0", "", *user_).status, 403);
}

TEST_F(AppPolicy, AdminCreatesListsAndRevokesKeys) {
  const auto created = call(port(), "POST", "/v1/admin/keys", R"({"name":"svc","role":"user","requests_per_minute":50})",
                            *admin_);
  ASSERT_EQ(created.status, 201) << created.body;
  const json c = json::parse(created.body);
  const std::string key = c["key"], id = c["id"];
  EXPECT_EQ(key.rfind(id, 0), 0u);
  EXPECT_EQ(c["role"], "user");
  EXPECT_EQ(c["limits"]["requests_per_minute"], 50);
  // The new key works for inference; the store and the listing hold no secret.
  EXPECT_EQ(call(port(), "POST", "/v1/completions", kCompletion, key).status, 200);
  const auto listed = call(port(), "GET", "/v1/admin/keys", "", *admin_);
  ASSERT_EQ(listed.status, 200);
  EXPECT_EQ(listed.body.find(key), std::string::npos);
  EXPECT_NE(listed.body.find(id), std::string::npos);
  EXPECT_EQ(nova::test::read_file(*dir_ + "/keys.json").find(key), std::string::npos);
  // Bad bodies are OpenAI 400s.
  EXPECT_EQ(call(port(), "POST", "/v1/admin/keys", R"({"role":"root"})", *admin_).status, 400);
  EXPECT_EQ(call(port(), "POST", "/v1/admin/keys", R"({"requests_per_minute":0})", *admin_).status, 400);
  EXPECT_EQ(call(port(), "POST", "/v1/admin/keys", "{", *admin_).status, 400);
  // Revoked: 401 from then on; unknown ids 404.
  EXPECT_EQ(call(port(), "DELETE", "/v1/admin/keys/" + id, "", *admin_).status, 200);
  EXPECT_EQ(call(port(), "POST", "/v1/completions", kCompletion, key).status, 401);
  EXPECT_EQ(call(port(), "DELETE", "/v1/admin/keys/nova-nosuchkey", "", *admin_).status, 404);
}

TEST_F(AppPolicy, RequestLimitAnswers429WithRetryAfter) {
  for (int i = 0; i < 2; ++i) {
    const auto ok = call(port(), "POST", "/v1/completions", kCompletion, *limited_);
    ASSERT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(header_value(ok.head, "x-ratelimit-limit-requests"), "2");
    EXPECT_EQ(header_value(ok.head, "x-ratelimit-remaining-requests"), std::to_string(1 - i));
  }
  const auto r = call(port(), "POST", "/v1/completions", kCompletion, *limited_);
  ASSERT_EQ(r.status, 429) << r.body;
  EXPECT_TRUE(is_openai_error(r.body));
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "rate_limit_exceeded");
  const std::string retry = header_value(r.head, "retry-after");
  ASSERT_FALSE(retry.empty()) << r.head;
  EXPECT_GE(std::stoi(retry), 1);
  EXPECT_LE(std::stoi(retry), 30);  // one request refills in 60 s / 2
  // Other keys are not affected.
  EXPECT_EQ(call(port(), "POST", "/v1/completions", kCompletion, *user_).status, 200);
}

TEST_F(AppPolicy, TokenLimitReservesPromptPlusMaxTokens) {
  // 60 tokens/min. A request that can never fit is a 429 without Retry-After.
  const auto never = call(port(), "POST", "/v1/completions", R"({"prompt":"hello","max_tokens":100})", *tokens_);
  EXPECT_EQ(never.status, 429);
  EXPECT_TRUE(header_value(never.head, "retry-after").empty());
  // Each request reserves its prompt ("hello": a few tokens) + 20 and uses all of it (ignore_eos).
  const char* body = R"({"prompt":"hello","max_tokens":20,"ignore_eos":true,"temperature":0})";
  int ok = 0;
  for (int i = 0; i < 6; ++i) ok += call(port(), "POST", "/v1/completions", body, *tokens_).status == 200;
  EXPECT_GE(ok, 2);
  EXPECT_LT(ok, 6);  // 6 x (prompt + 20) > 60
  const auto r = call(port(), "POST", "/v1/completions", body, *tokens_);
  EXPECT_EQ(r.status, 429);
  EXPECT_FALSE(header_value(r.head, "retry-after").empty());
  EXPECT_NE(json::parse(r.body)["error"]["message"].get<std::string>().find("tokens per minute"), std::string::npos);
}

TEST_F(AppPolicy, RequestLogHasKeyIdsNeverKeysAndRedactsPrompts) {
  ASSERT_EQ(call(port(), "POST", "/v1/completions", R"({"prompt":"a secret prompt","max_tokens":2})", *user_).status,
            200);
  call(port(), "POST", "/v1/completions", R"({"prompt":"x"})", "nova-wrong");
  const std::string log = nova::test::read_file(*dir_ + "/requests.jsonl");
  EXPECT_EQ(log.find(*user_), std::string::npos);
  EXPECT_EQ(log.find(*admin_), std::string::npos);
  EXPECT_EQ(log.find("a secret prompt"), std::string::npos);
  bool saw_ok = false, saw_401 = false;
  size_t at = 0;
  while (at < log.size()) {
    const size_t eol = log.find('\n', at);
    ASSERT_NE(eol, std::string::npos) << "the log ends mid-line";
    const json line = json::parse(log.substr(at, eol - at));  // every line is one JSON object
    at = eol + 1;
    for (const char* k : {"time", "request_id", "key_id", "model", "endpoint", "status", "prompt_tokens",
                          "completion_tokens", "ttft_s", "total_s"})
      EXPECT_TRUE(line.contains(k)) << k;
    if (line["status"] == 200 && line["prompt_chars"] == 15) {
      saw_ok = true;
      EXPECT_EQ(line["key_id"], user_->substr(0, 13));
      EXPECT_EQ(line["completion_tokens"], 2);
      EXPECT_TRUE(line["ttft_s"].is_number());
      EXPECT_EQ(line["request_id"].get<std::string>().rfind("cmpl-", 0), 0u);
      EXPECT_EQ(line["client"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << line["client"];
    }
    if (line["status"] == 401) saw_401 = true;
  }
  EXPECT_TRUE(saw_ok);
  EXPECT_TRUE(saw_401);
}

TEST(AppPolicySqlite, KeysFromSqliteStore) {
  const std::string dir = nova::test::scratch_dir("app_policy_sqlite");
  const std::string spec = "sqlite:" + dir + "/keys.db";
  auth::Authenticator keys(auth::open_key_store(spec));
  const std::string user = keys.create_key("u", auth::Role::kUser).key;
  ServeAppOptions o;
  o.model_dir = nova::test::source_dir() + "/models/demo";
  o.server.worker_threads = 1;
  o.api_keys = spec;
  ServeApp app(o);
  app.start("127.0.0.1", 0);
  EXPECT_NE(app.policy_summary().find("auth ON: API keys from SQLite database"), std::string::npos);
  EXPECT_EQ(call(app.port(), "POST", "/v1/completions", kCompletion).status, 401);
  EXPECT_EQ(call(app.port(), "POST", "/v1/completions", kCompletion, user).status, 200);
  EXPECT_EQ(call(app.port(), "GET", "/v1/admin/keys", "", user).status, 403);
  // A key created in the database while the server runs is accepted at once (shared store).
  const std::string later = keys.create_key("later", auth::Role::kAdmin).key;
  EXPECT_EQ(call(app.port(), "GET", "/v1/admin/keys", "", later).status, 200);
}

TEST(AppPolicyOpen, OpenServerHasNoKeyManagement) {
  ServeAppOptions o;
  o.model_dir = nova::test::source_dir() + "/models/demo";
  o.server.worker_threads = 1;
  ServeApp app(o);
  app.start("127.0.0.1", 0);
  EXPECT_NE(app.policy_summary().find("auth OFF"), std::string::npos);
  const auto r = call(app.port(), "GET", "/v1/admin/keys");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "auth_disabled");
}

}  // namespace
}  // namespace nova::serve::app::test
