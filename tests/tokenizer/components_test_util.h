// Builds single components from JSON and runs them on plain strings.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"

namespace nova::tokenizer::test {

inline const std::string& test_file() {
  static const std::string name = "components.json";
  return name;
}

inline std::string normalize(const json& spec, std::string text) {
  normalizer_from_json(spec, JsonPath{&test_file(), "normalizer"})->normalize(text);
  return text;
}

inline std::vector<std::string> pre_tokenize(const json& spec, const std::string& text) {
  std::vector<Piece> pieces{Piece{text, -1, true}};
  pre_tokenizer_from_json(spec, JsonPath{&test_file(), "pre_tokenizer"})->pre_tokenize(pieces);
  std::vector<std::string> out;
  for (const Piece& p : pieces) out.push_back(p.text);
  return out;
}

inline std::vector<std::string> decode_chain(const json& spec, std::vector<std::string> tokens) {
  decoder_from_json(spec, JsonPath{&test_file(), "decoder"})->decode_chain(tokens);
  return tokens;
}

}  // namespace nova::tokenizer::test
