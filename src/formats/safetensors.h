// Safetensors checkpoints: one file, or shards listed by model.safetensors.index.json.
// Tensors are zero-copy views into the memory-mapped files.
//
// Format: u64 little-endian header length N, then N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {...}}
// then the data section; offsets are relative to the data section's start.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace nova::formats {

class SafetensorsFile {
 public:
  // Validates the whole header (length, JSON, dtypes, shapes, offsets inside the file, sizes
  // matching shape x dtype, no overlaps) and throws nova::Error naming the file and the problem.
  // Tensors with a valid safetensors dtype that NovaLM has no DType for (F64, BOOL, U16, F8_*...)
  // are listed by names()/contains(), but get() of one throws naming the tensor and its dtype.
  // Tensors not aligned to their element size in the file are copied; the rest are zero-copy.
  static SafetensorsFile open(const std::string& path);
  // The same over bytes already in memory (tests, fuzzing, downloads); `name` stands in for the
  // path in errors. Views keep `bytes` alive.
  static SafetensorsFile from_bytes(std::shared_ptr<const std::string> bytes,
                                    const std::string& name);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws nova::Error naming the file and tensor when absent.
  const Tensor& get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The safetensors dtype name (e.g. "F64") of a listed tensor that get() refuses; else nullopt.
  std::optional<std::string> unsupported_dtype(const std::string& name) const;

 private:
  static SafetensorsFile parse(const std::string& path, std::shared_ptr<const void> owner,
                               const unsigned char* base, uint64_t size);

  std::string path_;
  std::shared_ptr<const void> owner_;  // the MappedFile (or bytes) the views point into
  std::map<std::string, Tensor> tensors_;  // unsupported dtypes hold an empty placeholder
  std::map<std::string, std::string> unsupported_;  // tensor name -> safetensors dtype name
  std::map<std::string, std::string> metadata_;
};

// A Hugging Face model directory's weights: model.safetensors, or model.safetensors.index.json
// with its shards ("weight_map": {tensor name -> shard file}).
class Checkpoint {
 public:
  // Prefers model.safetensors when both forms exist (as transformers does). Shard names in the
  // index must be relative paths inside `dir` ("../x" and absolute paths are rejected); every
  // tensor the index lists must be in its shard; a tensor in two shards is an error.
  static Checkpoint open_dir(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  // Throws nova::Error naming the directory and tensor when absent.
  const Tensor& get(const std::string& name) const;
  // get() plus a shape check; the error names tensor, expected and actual shapes.
  const Tensor& get(const std::string& name, const std::vector<int64_t>& expected_shape) const;

 private:
  std::string dir_;
  std::vector<SafetensorsFile> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> index into shards_
};

// Parses the text of a model.safetensors.index.json: tensor name -> shard file name, each shard
// name checked to be a relative path that stays inside the checkpoint directory. `path` names
// the index in errors.
std::map<std::string, std::string> parse_safetensors_index(const std::string& text,
                                                           const std::string& path);

// Writes tensors (any dtype, contiguous) to a safetensors file atomically (temp file + rename).
// The header is padded with spaces to a multiple of 8 bytes; data is laid out by descending element
// size, then name, so that every tensor is aligned to its element size when read back zero-copy.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace nova::formats
