// `nova keys` and `nova serve` as real processes: keys made on the command line guard a running
// server (401 / 403), the YAML config with flags overriding it, and two server processes sharing
// one real redis-server, so a per-key limit trips across both.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "serve/http_test_client.h"
#include "serve/limits_redis_server.h"
#include "support/fixtures.h"

namespace nova::test {
namespace {

using serve::http::test::TestClient;

// `nova ARGS` to completion; stdout and stderr captured.
struct ProcessRun {
  int exit_code;
  std::string out, err;
};
ProcessRun nova_run(const std::string& args) {
  static int counter = 0;
  const std::string dir = scratch_dir("serve_cli_run_" + std::to_string(counter++));
  const std::string cmd = binary_dir() + "/bin/nova " + args + " </dev/null >" + dir + "/out 2>" + dir + "/err";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(dir + "/out"), read_file(dir + "/err")};
}

std::string create_key(const std::string& store, const std::string& extra) {
  const ProcessRun r = nova_run("keys create --store " + store + " " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out.substr(0, r.out.find('\n'));
}

// `nova serve ARGS --port P` in the background; SIGTERM (graceful drain) when destroyed.
class ServeProcess {
 public:
  ServeProcess(const std::string& args, const std::string& dir) : port_(free_loopback_port()), out_(dir + "/serve.out") {
    const std::string cmd = "exec " + binary_dir() + "/bin/nova serve --model " + source_dir() + "/models/demo --port " +
                            std::to_string(port_) + " --request-log off " + args + " >" + out_ + " 2>&1";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // Ready once it accepts connections and has printed its startup line (which follows the bind).
    for (int i = 0; i < 1500 && alive() && !(port_accepts(port_) && output().find(" at http://") != std::string::npos);
         ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~ServeProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  bool ready() const { return port_accepts(port_); }
  uint16_t port() const { return static_cast<uint16_t>(port_); }
  std::string output() const { return read_file(out_); }

 private:
  bool alive() const { return ::waitpid(pid_, nullptr, WNOHANG) == 0; }
  int port_;
  std::string out_;
  pid_t pid_ = -1;
};

TestClient::Response post(uint16_t port, const std::string& path, const std::string& body, const std::string& key,
                          const std::string& method = "POST", const std::string& extra_headers = "") {
  TestClient c(port);
  const std::string auth = key.empty() ? "" : "Authorization: Bearer " + key + "\r\n";
  c.send(method + " " + path + " HTTP/1.1\r\nHost: x\r\n" + auth + extra_headers +
         "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body);
  return c.read_response(20000);
}

const char* kBody = R"({"prompt":"hi","max_tokens":2,"temperature":0})";

TEST(ServeCli, KeysGuardARunningServer) {
  const std::string dir = scratch_dir("serve_cli_keys");
  const std::string store = dir + "/keys.json";
  const std::string admin = create_key(store, "--role admin --name root");
  const std::string user = create_key(store, "--name app");
  ASSERT_EQ(admin.rfind("nova-", 0), 0u);
  EXPECT_EQ(read_file(store).find(admin), std::string::npos);  // only the hash is stored
  const ProcessRun listed = nova_run("keys list --store " + store);
  EXPECT_EQ(listed.exit_code, 0);
  EXPECT_NE(listed.out.find("\"role\":\"admin\""), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(admin), std::string::npos);
  EXPECT_EQ(nova_run("keys create --store " + store + " --role root").exit_code, 2);

  ServeProcess server("--api-keys " + store, dir);
  ASSERT_TRUE(server.ready()) << server.output();
  EXPECT_NE(server.output().find("auth ON"), std::string::npos) << server.output();
  EXPECT_EQ(post(server.port(), "/v1/completions", kBody, "").status, 401);
  EXPECT_EQ(post(server.port(), "/v1/completions", kBody, user).status, 200);
  EXPECT_EQ(post(server.port(), "/v1/admin/keys", "", user, "GET").status, 403);
  EXPECT_EQ(post(server.port(), "/v1/admin/keys", "", admin, "GET").status, 200);
  // Revoked on the command line while the server runs: refused from then on.
  const ProcessRun revoked = nova_run("keys revoke --store " + store + " --id " + user.substr(0, 13));
  EXPECT_EQ(revoked.exit_code, 0) << revoked.err;
  EXPECT_EQ(post(server.port(), "/v1/completions", kBody, user).status, 401);
}

TEST(ServeCli, OpenServerSaysSo) {
  const std::string dir = scratch_dir("serve_cli_open");
  ServeProcess server("", dir);
  ASSERT_TRUE(server.ready()) << server.output();
  EXPECT_NE(server.output().find("auth OFF"), std::string::npos) << server.output();
  EXPECT_EQ(post(server.port(), "/v1/completions", kBody, "").status, 200);
}

TEST(ServeCli, YamlConfigWithFlagsOverriding) {
  const std::string dir = scratch_dir("serve_cli_yaml");
  const std::string store = dir + "/keys.json";
  const std::string key = create_key(store, "");
  write_file(dir + "/serve.yaml", "api-keys: " + store + "\nrpm: 1\nmax-batch: 2\ncors-origins: [\"https://a.example\"]\n");
  {
    ServeProcess server("--config " + dir + "/serve.yaml --rpm 2", dir);  // the flag wins: 2 per minute
    ASSERT_TRUE(server.ready()) << server.output();
    EXPECT_NE(server.output().find("2 requests/min"), std::string::npos) << server.output();
    EXPECT_EQ(post(server.port(), "/v1/completions", kBody, "").status, 401);  // api-keys from the file
    EXPECT_EQ(post(server.port(), "/v1/completions", kBody, key).status, 200);
    // cors-origins from the file: an allowed browser origin gets its CORS header.
    const auto cors = post(server.port(), "/v1/completions", kBody, key, "POST", "Origin: https://a.example\r\n");
    EXPECT_EQ(cors.status, 200);
    EXPECT_NE(TestClient::lower(cors.head).find("access-control-allow-origin: https://a.example"), std::string::npos)
        << cors.head;
    EXPECT_EQ(post(server.port(), "/v1/completions", kBody, key).status, 429);
  }
  write_file(dir + "/bad.yaml", "model: x\nno-such-option: 1\n");
  const ProcessRun bad = nova_run("serve --config " + dir + "/bad.yaml");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("no-such-option"), std::string::npos) << bad.err;
}

TEST(ServeCli, TwoServersShareOneRedisLimit) {
  if (!redis_server_available()) GTEST_SKIP() << "no " << kRedisServerPath;
  RedisServer redis(free_loopback_port());
  ASSERT_TRUE(redis.running());
  const std::string dir = scratch_dir("serve_cli_redis");
  const std::string store = dir + "/keys.json";
  const std::string key = create_key(store, "--rpm 3");
  const std::string args = "--api-keys " + store + " --redis redis://127.0.0.1:" + std::to_string(redis.port());
  ServeProcess a(args, scratch_dir("serve_cli_redis_a"));
  ServeProcess b(args, scratch_dir("serve_cli_redis_b"));
  ASSERT_TRUE(a.ready()) << a.output();
  ASSERT_TRUE(b.ready()) << b.output();
  EXPECT_NE(a.output().find("shared via redis://"), std::string::npos) << a.output();
  // 3 requests per minute for the key, whichever replica serves them.
  EXPECT_EQ(post(a.port(), "/v1/completions", kBody, key).status, 200);
  EXPECT_EQ(post(b.port(), "/v1/completions", kBody, key).status, 200);
  EXPECT_EQ(post(a.port(), "/v1/completions", kBody, key).status, 200);
  const auto refused = post(b.port(), "/v1/completions", kBody, key);
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_NE(TestClient::lower(refused.head).find("retry-after:"), std::string::npos) << refused.head;
  EXPECT_EQ(nlohmann::json::parse(refused.body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_EQ(post(a.port(), "/v1/completions", kBody, key).status, 429);
  // Redis gone: the limiter fails closed with 503, and the server stays up.
  redis.stop();
  const auto down = post(a.port(), "/v1/completions", kBody, key);
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(post(a.port(), "/health", "", "", "GET").status, 200);
}

}  // namespace
}  // namespace nova::test
