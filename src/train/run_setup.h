// What a training run is built from, resolved from its RunConfig: the token streams, the model
// (from scratch, from model.init, or from the checkpoint being resumed) and the tokenizer files
// that every checkpoint carries.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "data/manifest.h"
#include "data/token_stream.h"
#include "formats/hf_config.h"
#include "train/run_config.h"
#include "train/train_model.h"

namespace nova::train {

struct RunData {
  std::shared_ptr<const data::TokenStream> train, val;  // val is null when there is no held-out split
  std::optional<data::Manifest> manifest;
};

// Opens (and checksum-verifies) the train and val shards; throws nova::Error naming the file.
RunData open_run_data(const RunConfig& config);

// The from-scratch ModelConfig of model.config.* (HF defaults of the family for the rest);
// vocab_size 0 takes `data_vocab`; eos is the data's separator token when known.
formats::ModelConfig scratch_model_config(const RunConfig& config, int64_t data_vocab, std::optional<int> eos_id);

// The model to train: resumed from `resume_dir` when set, else model.init, else from scratch
// (initialised randomly from train.seed).
std::unique_ptr<TrainModel> build_train_model(const RunConfig& config, const RunData& data,
                                              const std::string& resume_dir);

// The files every checkpoint of the run carries, name -> bytes (read once, at the start, so they
// survive the pruning of the checkpoint they came from): tokenizer.json from tokenizer.path, else
// the resumed checkpoint's or model.init's, else the tokenizer the manifest records;
// tokenizer_config.json beside it; generation_config.json of the resumed checkpoint or model.init.
std::map<std::string, std::string> carried_files(const RunConfig& config, const RunData& data, const std::string& resume_dir);

}  // namespace nova::train
