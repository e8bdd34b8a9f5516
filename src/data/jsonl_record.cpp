#include "data/jsonl_record.h"

#include <nlohmann/json.hpp>

namespace nova::data {

const char* to_string(JsonlIssue issue) {
  switch (issue) {
    case JsonlIssue::none: return "ok";
    case JsonlIssue::invalid_json: return "invalid JSON";
    case JsonlIssue::missing_field: return "missing field";
    case JsonlIssue::wrong_type: return "wrong type";
    case JsonlIssue::invalid_utf8: return "invalid UTF-8";
  }
  return "?";
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      if (c == 0xe0) lo = 0xa0;       // overlong
      if (c == 0xed) hi = 0x9f;       // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      if (c == 0xf0) lo = 0x90;       // overlong
      if (c == 0xf4) hi = 0x8f;       // above U+10FFFF
    } else {
      return false;
    }
    if (i + len > n) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (size_t k = 2; k < len; ++k)
      if (p[i + k] < 0x80 || p[i + k] > 0xbf) return false;
    i += len;
  }
  return true;
}

JsonlParse parse_jsonl_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  JsonlParse out;
  if (!is_valid_utf8(line)) {
    out.issue = JsonlIssue::invalid_utf8;
    return out;
  }
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    out.issue = JsonlIssue::invalid_json;
    return out;
  }
  if (!j.is_object()) {
    out.issue = JsonlIssue::wrong_type;
    return out;
  }
  if (auto it = j.find("text"); it != j.end()) {
    if (!it->is_string()) {
      out.issue = JsonlIssue::wrong_type;
      return out;
    }
    out.record.completion = it->get<std::string>();
    return out;
  }
  auto prompt = j.find("prompt");
  auto completion = j.find("completion");
  if (prompt == j.end() || completion == j.end()) {
    out.issue = JsonlIssue::missing_field;
    return out;
  }
  if (!prompt->is_string() || !completion->is_string()) {
    out.issue = JsonlIssue::wrong_type;
    return out;
  }
  out.record.prompt = prompt->get<std::string>();
  out.record.completion = completion->get<std::string>();
  out.record.is_pair = true;
  return out;
}

}  // namespace nova::data
