// One line of a JSONL training file: {"text": ...} or {"prompt": ..., "completion": ...}.
// Bad lines are classified, not thrown, so that a data set with a few broken lines still prepares and
// the caller can report how many lines were skipped and why.
#pragma once

#include <string>
#include <string_view>

namespace nova::data {

enum class JsonlIssue {
  none,
  invalid_json,   // not parseable as JSON (including escaped lone surrogates)
  missing_field,  // an object with neither "text" nor both "prompt" and "completion"
  wrong_type,     // the line is not an object, or a field is not a string
  invalid_utf8,   // the raw line is not valid UTF-8
};

const char* to_string(JsonlIssue issue);

struct TextRecord {
  // For {"text": t}: prompt empty, completion = t, is_pair false (every token is trained on).
  // For prompt/completion pairs the prompt is context only (loss mask 0) and the completion is trained on.
  std::string prompt;
  std::string completion;
  bool is_pair = false;
};

struct JsonlParse {
  JsonlIssue issue = JsonlIssue::none;
  TextRecord record;  // meaningful only when issue == none
};

// Parses one line (without its newline; a trailing '\r' is ignored). "text" wins when both forms are
// present. Never throws for bad input.
JsonlParse parse_jsonl_line(std::string_view line);

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s);

}  // namespace nova::data
