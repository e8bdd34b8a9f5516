#include "data/manifest.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"

namespace nova::data {

namespace {

nlohmann::json split_to_json(const ManifestSplit& s) {
  nlohmann::json shards = nlohmann::json::array();
  for (const auto& sh : s.shards) shards.push_back({{"file", sh.file}, {"tokens", sh.tokens}, {"documents", sh.documents}});
  return {{"documents", s.documents}, {"tokens", s.tokens}, {"shards", shards}};
}

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) fail(where, std::string("missing key \"") + key + "\"");
  return *it;
}

uint64_t get_u64(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  require(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), where,
          std::string("\"") + key + "\" must be a non-negative integer");
  return v.get<uint64_t>();
}

std::string get_string(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto& v = field(j, key, where);
  require(v.is_string(), where, std::string("\"") + key + "\" must be a string");
  return v.get<std::string>();
}

ManifestSplit split_from_json(const nlohmann::json& j, const std::string& where) {
  require(j.is_object(), where, "must be an object");
  ManifestSplit s;
  s.documents = get_u64(j, "documents", where);
  s.tokens = get_u64(j, "tokens", where);
  const auto& shards = field(j, "shards", where);
  require(shards.is_array(), where, "\"shards\" must be an array");
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string w = where + ".shards[" + std::to_string(i) + "]";
    require(shards[i].is_object(), w, "must be an object");
    s.shards.push_back({get_string(shards[i], "file", w), get_u64(shards[i], "tokens", w), get_u64(shards[i], "documents", w)});
    const std::string& f = s.shards.back().file;
    require(!f.empty() && f.find('/') == std::string::npos && f != "." && f != "..", w,
            "\"file\" must be a plain file name in the manifest's directory");
  }
  return s;
}

}  // namespace

nlohmann::json Manifest::to_json() const {
  return {{"format", "nova-shards"},
          {"version", 1},
          {"tokenizer", tokenizer},
          {"vocab_size", vocab_size},
          {"separator_id", separator_id},
          {"separator_token", separator_token},
          {"token_width", token_width},
          {"loss_mask", loss_mask},
          {"seed", seed},
          {"split", {{"val_fraction", val_fraction}, {"val_every", val_every}}},
          {"train", split_to_json(train)},
          {"val", split_to_json(val)},
          {"skipped",
           {{"invalid_json", skipped_invalid_json},
            {"missing_field", skipped_missing_field},
            {"wrong_type", skipped_wrong_type},
            {"invalid_utf8", skipped_invalid_utf8}}},
          {"empty_documents", empty_documents}};
}

Manifest Manifest::from_json(const nlohmann::json& j, const std::string& where) {
  require(j.is_object(), where, "manifest must be a JSON object");
  require(get_string(j, "format", where) == "nova-shards", where, "\"format\" is not \"nova-shards\"");
  require(get_u64(j, "version", where) == 1, where, "unsupported manifest version (this build reads 1)");
  Manifest m;
  m.tokenizer = get_string(j, "tokenizer", where);
  const uint64_t vocab = get_u64(j, "vocab_size", where);
  require(vocab > 0 && vocab <= 0x7fffffffu, where, "\"vocab_size\" out of range");
  m.vocab_size = static_cast<uint32_t>(vocab);
  const uint64_t sep = get_u64(j, "separator_id", where);
  require(sep < vocab, where, "\"separator_id\" is not below vocab_size");
  m.separator_id = static_cast<int32_t>(sep);
  m.separator_token = get_string(j, "separator_token", where);
  const uint64_t width = get_u64(j, "token_width", where);
  require(width == 2 || width == 4, where, "\"token_width\" must be 2 or 4");
  m.token_width = static_cast<uint32_t>(width);
  const auto& mask = field(j, "loss_mask", where);
  require(mask.is_boolean(), where, "\"loss_mask\" must be a boolean");
  m.loss_mask = mask.get<bool>();
  m.seed = get_u64(j, "seed", where);
  const auto& split = field(j, "split", where);
  require(split.is_object(), where, "\"split\" must be an object");
  const auto& frac = field(split, "val_fraction", where + ".split");
  require(frac.is_number(), where + ".split", "\"val_fraction\" must be a number");
  m.val_fraction = frac.get<double>();
  m.val_every = get_u64(split, "val_every", where + ".split");
  m.train = split_from_json(field(j, "train", where), where + ".train");
  m.val = split_from_json(field(j, "val", where), where + ".val");
  if (auto it = j.find("skipped"); it != j.end() && it->is_object()) {
    const std::string w = where + ".skipped";
    m.skipped_invalid_json = get_u64(*it, "invalid_json", w);
    m.skipped_missing_field = get_u64(*it, "missing_field", w);
    m.skipped_wrong_type = get_u64(*it, "wrong_type", w);
    m.skipped_invalid_utf8 = get_u64(*it, "invalid_utf8", w);
  }
  if (auto it = j.find("empty_documents"); it != j.end() && it->is_number_unsigned()) m.empty_documents = it->get<uint64_t>();
  return m;
}

Manifest Manifest::load(const std::string& path) {
  const std::string text = read_text_file(path);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  require(!j.is_discarded(), path, "not valid JSON");
  return from_json(j, path);
}

std::vector<std::string> Manifest::shard_paths(const std::string& manifest_path, const std::string& split) const {
  require(split == "train" || split == "val", manifest_path, "unknown split \"" + split + "\" (train or val)");
  const ManifestSplit& s = split == "train" ? train : val;
  const std::filesystem::path dir = std::filesystem::path(manifest_path).parent_path();
  std::vector<std::string> out;
  for (const auto& sh : s.shards) out.push_back((dir / sh.file).string());
  return out;
}

}  // namespace nova::data
