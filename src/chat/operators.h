// Python's operators on template values: arithmetic with int/float/bool rules, sequence
// concatenation and repetition, `%` string formatting, membership, indexing and slicing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "chat/value.h"

namespace nova::chat {

// op: + - * / // % ** ; throws TypeError/ZeroDivisionError/UndefinedError like Python.
Value binary_op(const std::string& op, const Value& l, const Value& r);
Value negate(const Value& v);
bool contains(const Value& container, const Value& item);  // `item in container`
// seq[i] (negative from the end); out of range -> Undefined.
Value index_value(const Value& seq, int64_t i);
// seq[start:stop:step] for str/list/tuple; other values -> Undefined.
Value slice_value(const Value& seq, std::optional<int64_t> start, std::optional<int64_t> stop,
                  std::optional<int64_t> step);
// Python's `fmt % args` (printf-style; args a tuple, a mapping for %(name)s, or one value).
std::string percent_format(const std::string& fmt, const Value& args);

}  // namespace nova::chat
