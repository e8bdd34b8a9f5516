// Fast reading of tokenizer.json: one streaming (SAX) pass that builds the small parts as a JSON tree
// but copies model.vocab and model.merges -- nearly all of a large file -- straight into flat tables,
// instead of building 300k JSON nodes and walking them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/json_util.h"

namespace nova::tokenizer {

// model.vocab and model.merges as the file lists them; all text lives in one arena.
struct BpeTables {
  struct Text {
    size_t offset;
    size_t size;
  };
  struct Merge {
    Text first;
    Text second;
    bool is_pair;  // ["a", "b"]; otherwise `first` is the whole "a b" string
  };
  std::string arena;
  std::vector<std::pair<Text, int32_t>> vocab;  // file order
  std::vector<Merge> merges;                    // file order
  bool has_vocab = false;
  bool has_merges = false;

  std::string_view text(Text t) const { return std::string_view(arena).substr(t.offset, t.size); }
};

struct StreamedTokenizerJson {
  json tree;          // the file, with model.vocab as {} and model.merges as [] when `tables` has them
  BpeTables tables;
};

// Throws nlohmann::json::parse_error for text that is not JSON. Returns std::nullopt when vocab or
// merges have an unusual shape (a non-integer id, a merge that is neither a string nor a pair of
// strings, a repeated key ...): the caller then parses the plain way, which reports such problems.
std::optional<StreamedTokenizerJson> read_tokenizer_json(std::string_view text);

}  // namespace nova::tokenizer
