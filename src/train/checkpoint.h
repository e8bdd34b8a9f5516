// Training checkpoints. A checkpoint directory is a Hugging Face model directory that `nova
// generate` and transformers load unchanged:
//   config.json               (to_hf_config_json + torch_dtype/dtype "float32")
//   model.safetensors         (every parameter under its HF name, F32)
//   generation_config.json    (copied, or bos/eos from the config)
//   tokenizer.json, tokenizer_config.json   (copied when the run has them)
// plus what resuming needs:
//   trainer_state.json        (TrainerState: step, data cursor (the run's only RNG state), best eval
//                              loss, the run's config snapshot)
//   optimizer.safetensors     (AdamW::state_tensors())
// Every checkpoint is written into a staging directory and renamed into place (staging_dir.h), so
// a killed writer never leaves a partial checkpoint under a checkpoint name.
//
// A run directory holds checkpoint-00000100/ ... (the last K kept) and best/ (lowest eval loss).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/data_loader.h"
#include "formats/hf_config.h"
#include "train/adamw.h"
#include "train/param_store.h"

namespace nova::train {

struct TrainerState {
  int64_t step = 0;              // run steps done (optimiser steps + skipped ones)
  int64_t optimizer_steps = 0;   // AdamW steps taken (informational; the optimiser state holds it)
  int64_t skipped_steps = 0;
  int64_t tokens_seen = 0;       // counted target tokens trained on
  uint64_t seed = 0;
  data::LoaderCursor cursor;     // where the training data order continues
  std::optional<double> best_eval_loss;
  int64_t best_step = -1;
  nlohmann::ordered_json config = nlohmann::ordered_json::object();  // RunConfig::values

  nlohmann::ordered_json to_json() const;
  // Throws nova::Error naming `where` and the key.
  static TrainerState from_json(const nlohmann::ordered_json& j, const std::string& where);
};

struct CheckpointContents {
  const formats::ModelConfig* config = nullptr;  // required
  const ParamStore* params = nullptr;            // required
  const AdamW* optimizer = nullptr;              // optimizer.safetensors when set
  const TrainerState* state = nullptr;           // trainer_state.json when set
  // Further files written verbatim, name -> bytes (tokenizer.json, tokenizer_config.json,
  // generation_config.json). Without a generation_config.json one is written from the config's
  // bos/eos ids.
  std::map<std::string, std::string> files;
};

// Called after each file lands in the staging directory, with its name (fault injection in tests).
using CheckpointFileHook = std::function<void(const std::string& file)>;

// Writes `dir` atomically (replacing an existing one). Throws nova::Error naming the file.
void write_checkpoint(const std::string& dir, const CheckpointContents& contents,
                      const CheckpointFileHook& after_file = {});

// config.json's JSON for `c` (HF keys; throws when the family cannot express `c`).
nlohmann::json checkpoint_config_json(const formats::ModelConfig& c);

TrainerState read_trainer_state(const std::string& checkpoint_dir);
// Loads optimizer.safetensors into `optimizer` (same parameter set); throws naming the file.
void load_optimizer_state(const std::string& checkpoint_dir, AdamW& optimizer);

// "checkpoint-00000100" for step 100.
std::string checkpoint_name(int64_t step);

struct CheckpointEntry {
  int64_t step;
  std::string path;
};
// The complete checkpoint-N directories of a run directory (those with trainer_state.json),
// oldest first. Staging leftovers and best/ are not listed.
std::vector<CheckpointEntry> list_checkpoints(const std::string& run_dir);
std::optional<std::string> latest_checkpoint(const std::string& run_dir);
// Removes all but the newest `keep_last` checkpoints; returns the removed paths.
std::vector<std::string> prune_checkpoints(const std::string& run_dir, int64_t keep_last);

}  // namespace nova::train
