// Run configuration: precedence CLI > environment > YAML > defaults, and every refusal before any
// work (unknown keys with a suggestion, wrong types, bad values, missing data, system directories).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "run_test_data.h"
#include "support/fixtures.h"
#include "train/run_config.h"

namespace nova::train {
namespace {

namespace fs = std::filesystem;

std::string write_yaml(const std::string& name, const std::string& text) {
  const std::string path = nova::test::scratch_dir("run_config_" + name) + "/run.yaml";
  nova::test::write_file(path, text);
  return path;
}

std::string base_yaml(const std::string& out) {
  return "model:\n  config:\n    model_type: llama\n    hidden_size: 16\n    num_heads: 4\n"
         "data:\n  manifest: " + test::run_test_data().manifest + "\n"
         "optim:\n  lr: 1.0e-3\n  schedule: constant\n"
         "train:\n  steps: 5\n"
         "output:\n  dir: " + out + "\n";
}

// The message of the nova::Error that resolving throws ("" if none).
std::string error_of(const ConfigInputs& in) {
  try {
    resolve_run_config(in);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RunConfig, PrecedenceCliOverEnvironmentOverYamlOverDefaults) {
  const std::string out = nova::test::scratch_dir("run_config_out");
  ConfigInputs in;
  in.yaml_path = write_yaml("precedence", base_yaml(out));
  RunConfig c = resolve_run_config(in);
  EXPECT_EQ(c.optim.lr, 1e-3);                 // YAML
  EXPECT_EQ(c.optim.beta2, 0.95);              // default
  EXPECT_EQ(c.sources.at("optim.lr"), in.yaml_path + ":9");
  EXPECT_EQ(c.sources.at("optim.beta2"), "default");
  EXPECT_EQ(c.model.hidden_size, 16);
  EXPECT_EQ(c.train.steps, 5);

  in.environment = {"NOVA_OPTIM__LR=2e-3", "NOVA_TRAIN__STEPS=7", "PATH=/bin", "NOVA_THREADS=4",
                    "NOVA_MODEL__CONFIG__NUM_LAYERS=3"};
  c = resolve_run_config(in);
  EXPECT_EQ(c.optim.lr, 2e-3);  // environment beats YAML
  EXPECT_EQ(c.train.steps, 7);
  EXPECT_EQ(c.model.num_layers, 3);
  EXPECT_EQ(c.sources.at("optim.lr"), "NOVA_OPTIM__LR");

  in.overrides = {{"optim.lr", "3e-3"}};
  c = resolve_run_config(in);
  EXPECT_EQ(c.optim.lr, 3e-3);  // command line beats both
  EXPECT_EQ(c.train.steps, 7);
  EXPECT_EQ(c.sources.at("optim.lr"), "--optim.lr");
  EXPECT_EQ(c.values["optim.lr"], 3e-3);
}

TEST(RunConfig, UnknownKeysSuggestTheClosest) {
  const std::string out = nova::test::scratch_dir("run_config_out");
  ConfigInputs in;
  in.yaml_path = write_yaml("unknown", base_yaml(out) + "extra:\n  x: 1\n");
  EXPECT_NE(error_of(in).find("unknown key 'extra'"), std::string::npos) << error_of(in);
  in.yaml_path = write_yaml("typo", "optim:\n  lrr: 0.1\n");
  std::string e = error_of(in);
  EXPECT_NE(e.find("unknown key 'optim.lrr' (did you mean 'optim.lr'?)"), std::string::npos) << e;
  EXPECT_NE(e.find("run.yaml:2"), std::string::npos) << e;
  in.yaml_path = write_yaml("alias", "model:\n  config:\n    num_hidden_layers: 2\n");
  e = error_of(in);
  EXPECT_NE(e.find("did you mean 'model.config.num_layers'"), std::string::npos) << e;
  in.yaml_path.clear();
  in.environment = {"NOVA_OPTIM__WARMUP=3"};
  e = error_of(in);
  EXPECT_NE(e.find("NOVA_OPTIM__WARMUP"), std::string::npos) << e;
  EXPECT_NE(e.find("optim.warmup_steps"), std::string::npos) << e;
  in.environment.clear();
  in.overrides = {{"train.lr", "1"}};
  e = error_of(in);
  EXPECT_NE(e.find("did you mean 'optim.lr'"), std::string::npos) << e;
}

TEST(RunConfig, WrongTypesAndBadValues) {
  const std::string out = nova::test::scratch_dir("run_config_out");
  ConfigInputs in;
  in.yaml_path = write_yaml("types", base_yaml(out));
  struct Case {
    std::string key, value, expected;
  } cases[] = {
      {"optim.lr", "fast", "optim.lr (--optim.lr): expected a number, got 'fast'"},
      {"optim.lr", "-0.001", "optim.lr (--optim.lr): must be positive"},
      {"optim.lr", "0", "optim.lr (--optim.lr): must be positive"},
      {"optim.lr", "nan", "expected a number"},
      {"train.steps", "0", "train.steps (--train.steps): must be positive"},
      {"train.steps", "-3", "must be positive"},
      {"train.steps", "2.5", "expected an integer"},
      {"train.recompute", "maybe", "expected true or false"},
      {"optim.schedule", "exponential", "optim.schedule"},
      {"optim.beta2", "1", "must be in [0, 1)"},
      {"data.batch_size", "0", "data.batch_size (--data.batch_size): must be positive"},
      {"model.config.model_type", "gpt2", "is not one of llama"},
      {"model.config.num_kv_heads", "3", "must divide num_heads"},
  };
  for (const auto& c : cases) {
    in.overrides = {{c.key, c.value}};
    const std::string e = error_of(in);
    EXPECT_NE(e.find(c.expected), std::string::npos) << c.key << "=" << c.value << " -> " << e;
  }
  in.overrides.clear();
  in.yaml_path = write_yaml("list", base_yaml(out) + "tokenizer:\n  path: [a, b]\n");
  EXPECT_NE(error_of(in).find("tokenizer.path"), std::string::npos) << error_of(in);
  in.yaml_path = write_yaml("scalar_section", "optim: 3\n");
  EXPECT_NE(error_of(in).find("expected a mapping"), std::string::npos) << error_of(in);
  in.yaml_path = write_yaml("syntax", "optim:\n  lr: [1, 2\n");
  EXPECT_NE(error_of(in).find("invalid YAML"), std::string::npos) << error_of(in);
  in.yaml_path = "/nonexistent/run.yaml";
  EXPECT_NE(error_of(in).find("/nonexistent/run.yaml: config file not found"), std::string::npos) << error_of(in);
}

TEST(RunConfig, ModelAndDataChoices) {
  const std::string out = nova::test::scratch_dir("run_config_out");
  ConfigInputs in;
  in.yaml_path = write_yaml("choices", base_yaml(out));
  in.overrides = {{"data.manifest", "/nonexistent/manifest.json"}};
  EXPECT_NE(error_of(in).find("data file not found: '/nonexistent/manifest.json'"), std::string::npos) << error_of(in);
  in.overrides = {{"data.manifest", ""}, {"data.train", "/nonexistent/train-*.bin"}};
  EXPECT_NE(error_of(in).find("no file matches '/nonexistent/train-*.bin'"), std::string::npos) << error_of(in);
  const std::string shards = fs::path(test::run_test_data().manifest).parent_path().string();
  in.overrides = {{"data.manifest", ""}, {"data.train", shards + "/train-*.bin"}, {"data.val", shards + "/val-*.bin"}};
  const RunConfig c = resolve_run_config(in);
  ASSERT_EQ(c.data.train.size(), 1u);
  EXPECT_EQ(c.data.train[0], shards + "/train-00000.bin");
  ASSERT_EQ(c.data.val.size(), 1u);
  // A directory stands for its manifest.json.
  in.overrides = {{"data.manifest", shards}};
  EXPECT_EQ(resolve_run_config(in).data.manifest, shards + "/manifest.json");
  // model.init excludes a model.config block; a missing model is named.
  in.overrides = {{"model.init", nova::test::fixture("train/llama-train/init")}};
  EXPECT_NE(error_of(in).find("cannot be combined with model.init"), std::string::npos) << error_of(in);
  in.yaml_path = write_yaml("init", "model:\n  init: " + nova::test::fixture("train/llama-train/init") +
                                        "\ndata:\n  manifest: " + shards + "\noutput:\n  dir: " + out + "\n");
  in.overrides.clear();
  EXPECT_EQ(resolve_run_config(in).model.init, nova::test::fixture("train/llama-train/init"));
  in.overrides = {{"model.init", "/nonexistent/model"}};
  EXPECT_NE(error_of(in).find("is not a model directory"), std::string::npos) << error_of(in);
  in.overrides = {{"model.init", ""}};
  EXPECT_NE(error_of(in).find("model.config.model_type"), std::string::npos) << error_of(in);
}

TEST(RunConfig, RefusesSystemDirectoriesAsOutput) {
  for (const char* bad : {"/", "/etc", "/etc/nova", "/usr/local/x", "/bin", "/sbin/x", "/lib", "/lib64/x", "/boot",
                          "/proc/self", "/sys", "/dev/shm/x", "/var", "/var/log/x", "//etc", "/tmp/../etc/x",
                          "/./usr"}) {
    EXPECT_THROW(check_output_dir(bad, "output.dir"), Error) << bad;
  }
  // Relative traversal: resolved against the current directory first.
  std::string up;
  for (const auto& part : fs::current_path()) {
    if (part != "/") up += "../";
  }
  try {
    check_output_dir(up + "../etc/cron.d", "output.dir");
    ADD_FAILURE() << "../ traversal into /etc must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("system directory '/etc/cron.d'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_output_dir("/tmp/run\ncheckpoint", "output.dir"), Error);
  EXPECT_THROW(check_output_dir(std::string("/tmp/a\0b", 8), "output.dir"), Error);
  EXPECT_NO_THROW(check_output_dir("/var/tmp/nova-run", "output.dir"));
  EXPECT_NO_THROW(check_output_dir("/tmp/nova-run", "output.dir"));
  EXPECT_NO_THROW(check_output_dir("runs/tiny", "output.dir"));

  ConfigInputs in;
  in.yaml_path = write_yaml("etc", base_yaml("/etc/nova-run"));
  EXPECT_NE(error_of(in).find("output.dir (" + in.yaml_path + ":14): refusing to write into the system directory"),
            std::string::npos)
      << error_of(in);
  in.yaml_path = write_yaml("ctrl", base_yaml("\"/tmp/a\\x01b\""));
  EXPECT_NE(error_of(in).find("control characters"), std::string::npos) << error_of(in);
}

TEST(RunConfig, FuzzedYamlNeverCrashes) {
  const std::string out = nova::test::scratch_dir("run_config_out");
  int accepted = 0;
  nova::test::mutate_each(base_yaml(out), 1000, 11, [&](const std::string& text) {
    ConfigInputs in;
    in.yaml_path = "fuzz.yaml";
    in.yaml_text = text;
    try {
      resolve_run_config(in);
      ++accepted;
    } catch (const Error&) {
    }
  });
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace nova::train
