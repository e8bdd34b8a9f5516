// A Hugging Face model directory's weights: one safetensors file or an index plus shards.
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"

namespace nova::formats {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Shard names come from a file we did not write: only plain relative paths that stay in `dir`.
void check_shard_name(const std::string& index_path, const std::string& shard) {
  const std::string what = "shard name \"" + shard + "\"";
  require(!shard.empty(), index_path, "empty shard name in weight_map");
  require(shard.find('\0') == std::string::npos && shard.find('\\') == std::string::npos,
          index_path, what + " contains a forbidden character");
  const fs::path p(shard);
  require(!p.is_absolute() && !p.has_root_path(), index_path,
          what + " is an absolute path; shards must be inside the checkpoint directory");
  for (const fs::path& part : p)
    require(part != "..", index_path,
            what + " escapes the checkpoint directory (\"..\" is not allowed)");
}

bool file_exists(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

std::map<std::string, std::string> parse_safetensors_index(const std::string& text,
                                                           const std::string& path) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
  require(j.is_object(), path, "not a JSON object");
  auto wm = j.find("weight_map");
  require(wm != j.end(), path, "missing \"weight_map\"");
  require(wm->is_object(), path, "\"weight_map\" is not an object");
  std::map<std::string, std::string> out;
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    require(it->is_string(), path, "weight_map entry for '" + it.key() + "' is not a string");
    const std::string& shard = it->get_ref<const std::string&>();
    check_shard_name(path, shard);
    out.emplace(it.key(), shard);
  }
  return out;
}

Checkpoint Checkpoint::open_dir(const std::string& dir) {
  Checkpoint c;
  c.dir_ = dir;
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";

  if (file_exists(single)) {
    c.shards_.push_back(SafetensorsFile::open(single.string()));
    for (const std::string& name : c.shards_[0].names()) c.where_[name] = 0;
    return c;
  }
  require(file_exists(index), dir,
          "no model.safetensors or model.safetensors.index.json in this directory");

  const std::string index_path = index.string();
  const std::map<std::string, std::string> weight_map =
      parse_safetensors_index(read_text_file(index_path), index_path);

  // Open each distinct shard once, in a deterministic order.
  std::map<std::string, size_t> shard_index;
  for (const auto& [tensor, shard] : weight_map) shard_index.emplace(shard, 0);
  for (auto& [shard, idx] : shard_index) {
    const fs::path p = fs::path(dir) / shard;
    require(file_exists(p), index_path,
            "shard \"" + shard + "\" listed in weight_map does not exist");
    idx = c.shards_.size();
    c.shards_.push_back(SafetensorsFile::open(p.string()));
  }

  for (const auto& [tensor, shard] : weight_map) {
    const size_t idx = shard_index.at(shard);
    require(c.shards_[idx].contains(tensor), index_path,
            "tensor '" + tensor + "' is listed in weight_map but absent from shard \"" + shard +
                "\"");
    c.where_[tensor] = idx;
  }
  // Tensors a shard holds beyond the index are still loadable; one in two shards is ambiguous.
  for (size_t i = 0; i < c.shards_.size(); ++i) {
    for (const std::string& name : c.shards_[i].names()) {
      auto [it, inserted] = c.where_.emplace(name, i);
      if (inserted || it->second == i) continue;
      // The index decides for tensors it lists; otherwise two shards claim one name.
      if (weight_map.count(name)) continue;
      fail(index_path, "tensor '" + name + "' appears in more than one shard");
    }
  }
  return c;
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, idx] : where_) out.push_back(name);
  return out;
}

const Tensor& Checkpoint::get(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(dir_, "checkpoint has no tensor named '" + name + "'");
  return shards_[it->second].get(name);
}

const Tensor& Checkpoint::get(const std::string& name,
                              const std::vector<int64_t>& expected_shape) const {
  const Tensor& t = get(name);
  require(t.shape() == expected_shape, dir_,
          "tensor '" + name + "' has shape " + shape_str(t.shape()) + ", expected " +
              shape_str(expected_shape));
  return t;
}

}  // namespace nova::formats
