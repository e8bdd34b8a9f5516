// manifest.json: the index of a prepared data set, written last by prepare_dataset.
//
//   {"format": "nova-shards", "version": 1, "tokenizer": "/abs/tokenizer.json", "vocab_size": 50257,
//    "separator_id": 50256, "separator_token": "<|endoftext|>", "token_width": 2, "loss_mask": false,
//    "seed": 0, "split": {"val_fraction": 0.1, "val_every": 0},
//    "train": {"documents": 9, "tokens": 1234, "shards": [{"file": "train-00000.bin", "tokens": 1234, "documents": 9}]},
//    "val":   {"documents": 1, "tokens": 99,   "shards": [...]},
//    "skipped": {"invalid_json": 0, "missing_field": 0, "wrong_type": 0, "invalid_utf8": 0}, "empty_documents": 0}
//
// Shard file names are relative to the manifest's directory.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace nova::data {

struct ManifestShard {
  std::string file;  // relative to the manifest's directory
  uint64_t tokens = 0;
  uint64_t documents = 0;
};

struct ManifestSplit {
  uint64_t documents = 0;
  uint64_t tokens = 0;
  std::vector<ManifestShard> shards;
};

struct Manifest {
  std::string tokenizer;
  uint32_t vocab_size = 0;
  int32_t separator_id = -1;
  std::string separator_token;
  uint32_t token_width = 2;
  bool loss_mask = false;
  uint64_t seed = 0;
  double val_fraction = 0;
  uint64_t val_every = 0;
  ManifestSplit train, val;
  uint64_t skipped_invalid_json = 0, skipped_missing_field = 0, skipped_wrong_type = 0, skipped_invalid_utf8 = 0;
  uint64_t empty_documents = 0;

  nlohmann::json to_json() const;
  // Throws nova::Error naming `where` and the key for a missing field or a wrong type.
  static Manifest from_json(const nlohmann::json& j, const std::string& where);
  static Manifest load(const std::string& path);

  // Absolute-or-relative paths of a split's shards ("train" or "val"), given the manifest's path.
  std::vector<std::string> shard_paths(const std::string& manifest_path, const std::string& split) const;
};

}  // namespace nova::data
