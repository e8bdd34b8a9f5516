#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "train/export_model.h"
#include "train/run_config.h"
#include "train/train_run.h"

namespace nova::cli {

namespace {

// `--resume` alone (or followed by another flag) means the newest checkpoint in output.dir.
Args normalize_resume(const Args& args) {
  Args out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--resume" && (i + 1 == args.size() || args[i + 1].rfind("--", 0) == 0)) out.push_back("--resume=latest");
    else out.push_back(args[i]);
  }
  return out;
}

const char* type_hint(train::ConfigType t) {
  switch (t) {
    case train::ConfigType::Int: return "N";
    case train::ConfigType::Float: return "X";
    case train::ConfigType::Bool: return "BOOL";
    case train::ConfigType::String: return "VALUE";
    case train::ConfigType::StringList: return "GLOB[,GLOB]";
  }
  return "VALUE";
}

// `nova train export`: a checkpoint as a release model directory, optionally in bf16/f16.
int train_export(const Args& args) {
  Flags flags("train export",
              "Writes a checkpoint's Hugging Face files (config, weights, generation config, tokenizer) into a\n"
              "new model directory, without optimizer or trainer state, with the weights in --dtype.\n"
              "usage: nova train export --model CHECKPOINT_DIR --out DIR [--dtype f32|bf16|f16]",
              {
                  {"model", "DIR", "checkpoint (or any model directory) to export", "", true},
                  {"out", "DIR", "model directory to write (replaced atomically)", "", true},
                  {"dtype", "TYPE", "weight dtype: f32, bf16 or f16", "f32"},
              });
  if (!flags.parse(args)) return 0;
  if (!flags.positional().empty()) throw UsageError{"unexpected argument '" + flags.positional()[0] + "'"};
  const std::string d = flags.str("dtype");
  DType dtype = DType::F32;
  if (d == "bf16") dtype = DType::BF16;
  else if (d == "f16") dtype = DType::F16;
  else if (d != "f32") throw UsageError{"--dtype expects f32, bf16 or f16, got '" + d + "'"};
  train::check_output_dir(flags.str("out"), "--out");
  const train::ExportSummary s = train::export_model(flags.str("model"), flags.str("out"), dtype);
  std::cout << "exported " << s.tensors << " tensors (" << s.parameters << " parameters, " << s.bytes
            << " bytes of " << d << " weights) to " << flags.str("out") << "\n";
  return 0;
}

}  // namespace

int cmd_train(const Args& raw_args) {
  if (!raw_args.empty() && raw_args[0] == "export") return train_export(Args(raw_args.begin() + 1, raw_args.end()));
  std::vector<FlagSpec> specs = {
      {"config", "FILE", "run configuration (YAML); keys below override it"},
      {"resume", "latest|DIR", "continue a run: the newest checkpoint in output.dir (bare --resume) or DIR"},
      {"device", "cpu|cuda[:N]", "shorthand for --train.device (wins over it)"},
  };
  for (const auto& k : train::run_config_keys())
    specs.push_back({k.key, type_hint(k.type), k.help, k.fallback});
  Flags flags("train",
              "Trains a model. Values come from the command line, then NOVA_<SECTION>__<KEY> environment\n"
              "variables (e.g. NOVA_OPTIM__LR=1e-3), then the --config file, then the defaults.\n"
              "Writes checkpoints (Hugging Face layout), metrics.jsonl and loss.svg into output.dir.\n"
              "SIGINT/SIGTERM save a checkpoint and stop (exit code 128 + signal).\n"
              "`nova train export --help`: a checkpoint as a release model directory (e.g. bf16 weights).",
              std::move(specs));
  const Args args = normalize_resume(raw_args);
  // Unknown keys get the closest known one suggested (Flags would only say "unknown flag").
  for (const std::string& a : args) {
    if (a.rfind("--", 0) != 0 || a == "--help" || a.size() == 2) continue;
    const std::string name = a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2);
    if (name == "config" || name == "resume" || name.find('.') == std::string::npos) continue;
    bool known = false;
    for (const auto& k : train::run_config_keys()) known = known || name == k.key;
    if (!known) {
      const std::string near = train::closest_config_key(name);
      throw UsageError{"unknown key --" + name + (near.empty() ? "" : " (did you mean --" + near + "?)")};
    }
  }
  if (!flags.parse(args)) return 0;
  if (!flags.positional().empty()) throw UsageError{"unexpected argument '" + flags.positional()[0] + "'"};

  train::ConfigInputs inputs;
  inputs.yaml_path = flags.str("config");
  inputs.environment = train::process_environment();
  for (const auto& k : train::run_config_keys())
    if (flags.has(k.key)) inputs.overrides[k.key] = flags.str(k.key);
  if (flags.has("device")) inputs.overrides["train.device"] = flags.str("device");
  const train::RunConfig config = train::resolve_run_config(inputs);

  train::RunOptions options;
  options.resume = flags.str("resume");
  const train::RunResult r = train::run_training(config, options);
  std::cout << (r.completed ? "finished" : "stopped") << " at step " << r.step << "; checkpoint " << r.last_checkpoint;
  if (r.best_eval_loss) std::cout << "; best val loss " << *r.best_eval_loss;
  std::cout << "\n";
  return r.completed ? 0 : 128 + r.signal;
}

}  // namespace nova::cli
