#include "train/checkpoint.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "core/mapped_file.h"
#include "data/atomic_file.h"
#include "formats/safetensors.h"
#include "train/staging_dir.h"

namespace nova::train {

namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered = nlohmann::ordered_json;

namespace {

constexpr const char* kStateFormat = "nova-trainer-state";
constexpr int kStateVersion = 1;

void write_text(const std::string& path, const std::string& text) {
  data::write_file_atomically(path, {text});
}


json generation_config(const formats::ModelConfig& c) {
  json g = {{"_from_model_config", true}};
  g["bos_token_id"] = c.bos_token_id ? json(*c.bos_token_id) : json(nullptr);
  if (c.eos_token_ids.empty()) g["eos_token_id"] = nullptr;
  else if (c.eos_token_ids.size() == 1) g["eos_token_id"] = c.eos_token_ids[0];
  else g["eos_token_id"] = c.eos_token_ids;
  return g;
}

template <class T>
T field(const ordered& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) fail(where, std::string("missing key '") + key + "'");
  try {
    return j.at(key).get<T>();
  } catch (const ordered::exception&) {
    fail(where, std::string("key '") + key + "' has the wrong type");
  }
}

}  // namespace

ordered TrainerState::to_json() const {
  ordered j;
  j["format"] = kStateFormat;
  j["version"] = kStateVersion;
  j["step"] = step;
  j["optimizer_steps"] = optimizer_steps;
  j["skipped_steps"] = skipped_steps;
  j["tokens_seen"] = tokens_seen;
  j["rng"] = {{"seed", seed}, {"data_cursor", ordered(cursor.to_json())}};
  j["best_eval_loss"] = best_eval_loss ? ordered(*best_eval_loss) : ordered(nullptr);
  j["best_step"] = best_step;
  j["config"] = config;
  return j;
}

TrainerState TrainerState::from_json(const ordered& j, const std::string& where) {
  if (field<std::string>(j, "format", where) != kStateFormat) fail(where, "not a trainer state (format)");
  if (field<int>(j, "version", where) != kStateVersion) fail(where, "unsupported trainer state version");
  TrainerState s;
  s.step = field<int64_t>(j, "step", where);
  s.optimizer_steps = field<int64_t>(j, "optimizer_steps", where);
  s.skipped_steps = field<int64_t>(j, "skipped_steps", where);
  s.tokens_seen = field<int64_t>(j, "tokens_seen", where);
  const ordered rng = field<ordered>(j, "rng", where);
  s.seed = field<uint64_t>(rng, "seed", where + ": rng");
  s.cursor = data::LoaderCursor::from_json(json::parse(field<ordered>(rng, "data_cursor", where).dump()),
                                           where + ": rng.data_cursor");
  const ordered best = field<ordered>(j, "best_eval_loss", where);
  if (best.is_number()) s.best_eval_loss = best.get<double>();
  else if (!best.is_null()) fail(where, "key 'best_eval_loss' must be a number or null");
  s.best_step = field<int64_t>(j, "best_step", where);
  s.config = field<ordered>(j, "config", where);
  if (!s.config.is_object()) fail(where, "key 'config' must be an object");
  if (s.step < 0 || s.skipped_steps < 0 || s.optimizer_steps < 0 || s.tokens_seen < 0)
    fail(where, "negative step or token counts");
  return s;
}

json checkpoint_config_json(const formats::ModelConfig& c) {
  json j = formats::to_hf_config_json(c);
  j["torch_dtype"] = "float32";  // transformers 4 name
  j["dtype"] = "float32";        // transformers 5 name
  return j;
}

void write_checkpoint(const std::string& dir, const CheckpointContents& contents, const CheckpointFileHook& after_file) {
  require(contents.config && contents.params, dir, "a checkpoint needs a model config and parameters");
  StagingDir staging(dir);
  const std::string tmp = staging.path();
  auto done = [&](const std::string& name) {
    if (after_file) after_file(name);
  };
  write_text(tmp + "/config.json", checkpoint_config_json(*contents.config).dump(2) + "\n");
  done("config.json");
  formats::save_safetensors(tmp + "/model.safetensors", contents.params->values(), {{"format", "pt"}});
  done("model.safetensors");
  if (!contents.files.count("generation_config.json")) {
    write_text(tmp + "/generation_config.json", generation_config(*contents.config).dump(2) + "\n");
    done("generation_config.json");
  }
  for (const auto& [name, bytes] : contents.files) {
    require(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..", dir,
            "bad checkpoint file name '" + name + "'");
    write_text(tmp + "/" + name, bytes);
    done(name);
  }
  if (contents.optimizer) {
    formats::save_safetensors(tmp + "/optimizer.safetensors", contents.optimizer->state_tensors(),
                              {{"format", "nova-adamw"}});
    done("optimizer.safetensors");
  }
  if (contents.state) {
    write_text(tmp + "/trainer_state.json", contents.state->to_json().dump(2) + "\n");
    done("trainer_state.json");
  }
  staging.commit();
}

TrainerState read_trainer_state(const std::string& checkpoint_dir) {
  const std::string path = checkpoint_dir + "/trainer_state.json";
  if (!fs::is_regular_file(path)) fail(checkpoint_dir, "not a training checkpoint (no trainer_state.json)");
  ordered j;
  try {
    j = ordered::parse(read_text_file(path));
  } catch (const ordered::exception& e) {
    fail(path, std::string("invalid JSON: ") + e.what());
  }
  return TrainerState::from_json(j, path);
}

void load_optimizer_state(const std::string& checkpoint_dir, AdamW& optimizer) {
  const std::string path = checkpoint_dir + "/optimizer.safetensors";
  if (!fs::is_regular_file(path)) fail(checkpoint_dir, "no optimizer.safetensors to resume from");
  const formats::SafetensorsFile file = formats::SafetensorsFile::open(path);
  std::map<std::string, Tensor> state;
  for (const std::string& name : file.names()) state.emplace(name, file.get(name));
  optimizer.load_state(state, path);
}

std::string checkpoint_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "checkpoint-%08lld", static_cast<long long>(step));
  return buf;
}

std::vector<CheckpointEntry> list_checkpoints(const std::string& run_dir) {
  std::vector<CheckpointEntry> out;
  std::error_code ec;
  if (!fs::is_directory(run_dir, ec)) return out;
  for (const auto& entry : fs::directory_iterator(run_dir, ec)) {
    const std::string name = entry.path().filename().string();
    constexpr std::string_view prefix = "checkpoint-";
    if (!entry.is_directory() || name.rfind(prefix, 0) != 0 || is_staging_name(name)) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    if (!fs::is_regular_file(entry.path() / "trainer_state.json", ec)) continue;
    out.push_back({std::stoll(digits), entry.path().string()});
  }
  std::sort(out.begin(), out.end(), [](const CheckpointEntry& a, const CheckpointEntry& b) { return a.step < b.step; });
  return out;
}

std::optional<std::string> latest_checkpoint(const std::string& run_dir) {
  auto all = list_checkpoints(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().path;
}

std::vector<std::string> prune_checkpoints(const std::string& run_dir, int64_t keep_last) {
  std::vector<std::string> removed;
  const auto all = list_checkpoints(run_dir);
  const int64_t extra = static_cast<int64_t>(all.size()) - std::max<int64_t>(keep_last, 1);
  for (int64_t i = 0; i < extra; ++i) {
    std::error_code ec;
    fs::remove_all(all[static_cast<size_t>(i)].path, ec);
    if (ec) fail(all[static_cast<size_t>(i)].path, "cannot remove an old checkpoint: " + ec.message());
    removed.push_back(all[static_cast<size_t>(i)].path);
  }
  return removed;
}

}  // namespace nova::train
