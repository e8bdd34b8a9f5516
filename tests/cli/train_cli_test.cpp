// The training commands through the real binary: nova tokenizer train -> nova data prepare ->
// nova train -> nova generate / nova eval perplexity; config refusals (exit code 2, one message);
// environment/command-line precedence; SIGTERM mid-run + --resume reproducing the uninterrupted
// losses; a save killed half-way leaving no partial checkpoint.
#include <gtest/gtest.h>
#include <signal.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/fixtures.h"
#include "train/run_test_data.h"

extern char** environ;

namespace nova::test {
namespace {

namespace fs = std::filesystem;

struct CliRun {
  int exit_code;
  std::string out, err;
};

// `env` is prepended to the command line ("NOVA_X__Y=1 ").
CliRun nova(const std::string& args, const std::string& env = "") {
  static int counter = 0;
  const std::string dir = scratch_dir("train_cli_run_" + std::to_string(counter++));
  const std::string cmd = env + binary_dir() + "/bin/nova " + args + " </dev/null >" + dir + "/out 2>" + dir + "/err";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(dir + "/out"), read_file(dir + "/err")};
}

int count_lines(const std::string& text, const std::string& needle) {
  int n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) n += line.find(needle) != std::string::npos;
  return n;
}

// (step, loss) of the train rows of a run's metrics.jsonl.
std::vector<std::pair<int64_t, double>> train_losses(const std::string& run_dir) {
  std::vector<std::pair<int64_t, double>> out;
  std::istringstream in(read_file(run_dir + "/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["split"] == "train") out.emplace_back(j["step"].get<int64_t>(), j["loss"].get<double>());
  }
  return out;
}

// Corpus -> tokenizer -> shards, through the CLI, once.
struct Pipeline {
  std::string dir, tokenizer, data, config;
};
const Pipeline& pipeline() {
  static const Pipeline p = [] {
    Pipeline p;
    p.dir = scratch_dir("train_cli");
    fs::create_directories(p.dir + "/corpus");
    const auto docs = train::test::test_documents(40, 3);
    for (size_t i = 0; i < docs.size(); ++i) write_file(p.dir + "/corpus/d" + std::to_string(100 + i) + ".txt", docs[i]);
    p.tokenizer = p.dir + "/tok";
    p.data = p.dir + "/data";
    const CliRun t = nova("tokenizer train --vocab-size 300 --special '<|endoftext|>' --out " + p.tokenizer + " " + p.dir +
                       "/corpus");
    EXPECT_EQ(t.exit_code, 0) << t.err;
    const CliRun d = nova("data prepare --tokenizer " + p.tokenizer + " --out " + p.data + " --val-every 5 " + p.dir + "/corpus");
    EXPECT_EQ(d.exit_code, 0) << d.err;
    EXPECT_NE(d.out.find("train:              32 documents"), std::string::npos) << d.out;
    EXPECT_NE(d.out.find("val:                8 documents"), std::string::npos) << d.out;
    p.config = p.dir + "/run.yaml";
    write_file(p.config, "model:\n  config:\n    model_type: qwen3\n    hidden_size: 16\n    num_layers: 2\n"
                         "    num_heads: 2\n    head_dim: 8\n    max_position_embeddings: 64\n"
                         "data:\n  manifest: " + p.data + "\n  seq_len: 16\n  batch_size: 2\n"
                         "optim:\n  lr: 0.01\n  schedule: constant\n"
                         "train:\n  steps: 4\n  eval_every: 2\n  eval_batches: 2\n  save_every: 2\n"
                         "tokenizer:\n  path: " + p.tokenizer + "\n");
    return p;
  }();
  return p;
}

TEST(TrainCli, SubcommandHelp) {
  for (const char* cmd : {"data", "tokenizer", "eval"}) {
    const CliRun help = nova(std::string(cmd) + " --help");
    EXPECT_EQ(help.exit_code, 0) << cmd;
    EXPECT_NE(help.out.find("subcommands:"), std::string::npos) << cmd;
    EXPECT_EQ(nova(cmd).exit_code, 2) << cmd;
    const CliRun bad = nova(std::string(cmd) + " frobnicate");
    EXPECT_EQ(bad.exit_code, 2) << cmd;
    EXPECT_NE(bad.err.find("unknown subcommand 'frobnicate'"), std::string::npos) << bad.err;
  }
  EXPECT_NE(nova("data prepare --help").out.find("usage: nova data prepare"), std::string::npos);
  EXPECT_NE(nova("tokenizer train --help").out.find("--vocab-size"), std::string::npos);
  EXPECT_NE(nova("eval perplexity --help").out.find("--seq-len"), std::string::npos);
  const CliRun train_help = nova("train --help");
  EXPECT_EQ(train_help.exit_code, 0);
  EXPECT_NE(train_help.out.find("--optim.lr X"), std::string::npos) << train_help.out;
  EXPECT_NE(train_help.out.find("NOVA_OPTIM__LR"), std::string::npos);
}

TEST(TrainCli, TrainsAModelThatGenerateAndEvalLoad) {
  const Pipeline& p = pipeline();
  const std::string out = p.dir + "/run_basic";
  fs::remove_all(out);
  const CliRun r = nova("train --config " + p.config + " --output.dir " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("finished at step 4"), std::string::npos) << r.out;
  EXPECT_EQ(count_lines(r.err, "val loss"), 2) << r.err;  // not a terminal: plain lines
  EXPECT_EQ(train_losses(out).size(), 4u);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"})
    EXPECT_TRUE(fs::is_regular_file(out + "/best/" + f)) << f;
  EXPECT_TRUE(fs::is_regular_file(out + "/loss.svg"));

  const CliRun g = nova("generate --model " + out + "/best --prompt 'The jury' --max-tokens 5 --temperature 0 --ignore-eos");
  EXPECT_EQ(g.exit_code, 0) << g.err;
  EXPECT_FALSE(g.out.empty());
  const CliRun e = nova("eval perplexity --model " + out + "/checkpoint-00000004 --data " + p.data + " --seq-len 16 --json");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  const auto j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["split"], "val");
  EXPECT_GT(j["tokens"].get<int64_t>(), 0);
  EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(j["loss"].get<double>()), 1e-9);
  // The same evaluation over the shard files directly.
  const CliRun s = nova("eval perplexity --model " + out + "/checkpoint-00000004 --data '" + p.data +
                     "/val-*.bin' --seq-len 16 --json");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(nlohmann::json::parse(s.out)["loss"], j["loss"]);
}

TEST(TrainCli, BadConfigsFailBeforeAnyWork) {
  const Pipeline& p = pipeline();
  const std::string out = p.dir + "/run_bad";
  fs::remove_all(out);
  struct Case {
    std::string args, env, expected;
  } cases[] = {
      {"--optim.lrr 1", "", "unknown key --optim.lrr (did you mean --optim.lr?)"},
      {"--output.dir " + out, "NOVA_OPTIM__LRR=1 ", "unknown key 'optim.lrr' (did you mean 'optim.lr'?)"},
      {"--optim.lr -0.01 --output.dir " + out, "", "optim.lr (--optim.lr): must be positive"},
      {"--data.manifest /nonexistent/data --output.dir " + out, "", "data file not found"},
      {"--output.dir /etc/nova-run", "", "refusing to write into the system directory '/etc/nova-run'"},
      {"--output.dir " + out + "/../../../../../../../../../../../../etc/x", "",
       "refusing to write into the system directory '/etc/x'"},
      {"--train.steps 0 --output.dir " + out, "", "train.steps (--train.steps): must be positive"},
  };
  for (const auto& c : cases) {
    const CliRun r = nova("train --config " + p.config + " " + c.args, c.env);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.expected), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err, c.expected), 1) << r.err;
    EXPECT_LE(count_lines(r.err, ""), 2) << "one clear message (plus the --help hint): " << r.err;
  }
  EXPECT_FALSE(fs::exists(out)) << "nothing may be created by a refused run";
  EXPECT_FALSE(fs::exists("/etc/nova-run"));
}

TEST(TrainCli, DataPrepareReportsSkippedJsonlLines) {
  const Pipeline& p = pipeline();
  const std::string jsonl = p.dir + "/docs.jsonl";
  write_file(jsonl, "{\"text\": \"The jury said it.\"}\n{\"text\": \"A city court.\"}\n{not json\n"
                    "{\"body\": \"no text field\"}\n{\"text\": 7}\n\n{\"text\": \"The report was new.\"}\n");
  const CliRun r = nova("data prepare --tokenizer " + p.tokenizer + " --out " + p.dir + "/jsonl_data " + jsonl);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("train:              3 documents"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("jsonl lines:        6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped lines:      3 (invalid JSON 1, missing field 1, wrong type 1, invalid UTF-8 0)"),
            std::string::npos)
      << r.out;
  const CliRun both = nova("data prepare --tokenizer " + p.tokenizer + " --out " + p.dir +
                           "/x --val-every 2 --val-fraction 0.1 " + jsonl);
  EXPECT_EQ(both.exit_code, 2);
}

TEST(TrainCli, CommandLineBeatsEnvironmentBeatsYaml) {
  const Pipeline& p = pipeline();
  const std::string a = p.dir + "/run_env", b = p.dir + "/run_cli";
  fs::remove_all(a);
  fs::remove_all(b);
  const CliRun env = nova("train --config " + p.config + " --output.dir " + a, "NOVA_TRAIN__STEPS=3 NOVA_OPTIM__LR=0.002 ");
  ASSERT_EQ(env.exit_code, 0) << env.err;
  EXPECT_EQ(train_losses(a).size(), 3u);
  EXPECT_NE(read_file(a + "/metrics.jsonl").find("\"lr\":0.002"), std::string::npos);
  const CliRun cli = nova("train --config " + p.config + " --output.dir " + b + " --train.steps=2", "NOVA_TRAIN__STEPS=3 ");
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(train_losses(b).size(), 2u);
  const auto state = nlohmann::json::parse(read_file(b + "/checkpoint-00000002/trainer_state.json"));
  EXPECT_EQ(state["config"]["train.steps"], 2);
  EXPECT_EQ(state["config"]["optim.lr"], 0.01);  // YAML
}

// Spawns `nova ARGS...` with extra environment entries; returns its pid.
pid_t spawn_nova(const std::vector<std::string>& args, const std::vector<std::string>& extra_env, const std::string& log) {
  std::vector<std::string> argv_s = {binary_dir() + "/bin/nova"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s(extra_env);
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

TEST(TrainCli, SigtermThenResumeMatchesAnUninterruptedRun) {
  const Pipeline& p = pipeline();
  const std::string killed = p.dir + "/run_sigterm", straight = p.dir + "/run_straight";
  fs::remove_all(killed);
  fs::remove_all(straight);
  // Far more steps than will run; SIGTERM once a few are logged.
  const pid_t pid = spawn_nova({"train", "--config", p.config, "--output.dir", killed, "--train.steps", "100000",
                                "--train.save_every", "0", "--train.eval_every", "0"},
                               {}, p.dir + "/sigterm.log");
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(killed + "/metrics.jsonl") && train_losses(killed).size() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "must exit cleanly, not die of the signal";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << read_file(p.dir + "/sigterm.log");
  const auto latest = nlohmann::json::parse(read_file(killed + "/checkpoint-" + [&] {
    char b[16];
    std::snprintf(b, sizeof b, "%08zu", train_losses(killed).size());
    return std::string(b);
  }() + "/trainer_state.json"));
  const int64_t stopped_at = latest["step"];
  ASSERT_GE(stopped_at, 3);
  const std::string total = std::to_string(stopped_at + 3);

  const CliRun resumed = nova("train --config " + p.config + " --output.dir " + killed + " --resume --train.steps " + total +
                           " --train.save_every 0 --train.eval_every 0");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming at step " + std::to_string(stopped_at)), std::string::npos) << resumed.err;
  const CliRun uninterrupted = nova("train --config " + p.config + " --output.dir " + straight + " --train.steps " + total +
                                 " --train.save_every 0 --train.eval_every 0");
  ASSERT_EQ(uninterrupted.exit_code, 0) << uninterrupted.err;
  const auto a = train_losses(killed), b = train_losses(straight);
  ASSERT_EQ(a.size(), static_cast<size_t>(stopped_at + 3));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second, b[i].second) << "step " << a[i].first;  // bit for bit
  }
}

TEST(TrainCli, KilledDuringSaveLeavesNoPartialCheckpoint) {
  const Pipeline& p = pipeline();
  const std::string out = p.dir + "/run_kill_save";
  fs::remove_all(out);
  const CliRun r = nova("train --config " + p.config + " --output.dir " + out + " --train.steps 2 --train.eval_every 0",
                     "NOVA_TEST_KILL_DURING_SAVE=model.safetensors ");
  EXPECT_NE(r.exit_code, 0);
  int staging = 0;
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.rfind("checkpoint-", 0) == 0 && name.find(".tmp-") == std::string::npos, false)
        << "partial checkpoint: " << name;
    staging += name.find(".tmp-") != std::string::npos;
  }
  EXPECT_EQ(staging, 1) << "the killed save's staging directory stays behind";
  // The next run (resume finds nothing complete) cleans it up and starts over.
  const CliRun again = nova("train --config " + p.config + " --output.dir " + out + " --resume --train.steps 2");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.err.find("removed 1 unfinished checkpoint"), std::string::npos) << again.err;
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  EXPECT_TRUE(fs::is_regular_file(out + "/checkpoint-00000002/model.safetensors"));
}

}  // namespace
}  // namespace nova::test
