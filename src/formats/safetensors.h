// Safetensors checkpoints: one file, or shards listed by model.safetensors.index.json.
// Tensors are zero-copy views into the memory-mapped files.
//
// Format: u64 little-endian header length N, then N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {...}}
// then the data section; offsets are relative to the data section's start.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace nova::formats {

class SafetensorsFile {
 public:
  // Validates the whole header (length, JSON, dtypes, shapes, offsets inside the file, sizes
  // matching shape x dtype) and throws nova::Error naming the file and the problem.
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  // Throws nova::Error naming the file and tensor when absent.
  const Tensor& get(const std::string& name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string path_;
  std::shared_ptr<const MappedFile> file_;
  std::map<std::string, Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A Hugging Face model directory's weights: model.safetensors, or model.safetensors.index.json
// with its shards ("weight_map": {tensor name -> shard file}).
class Checkpoint {
 public:
  static Checkpoint open_dir(const std::string& dir);

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

// Writes tensors (any dtype, contiguous) to a safetensors file atomically (temp file + rename).
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace nova::formats
