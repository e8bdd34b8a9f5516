// Binds a call's positional and keyword arguments to a builtin's named parameters, with
// Python's errors for unknown, duplicate or excess arguments.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "chat/value.h"

namespace nova::chat {

class Params {
 public:
  // `required` leading parameters must be given.
  Params(const CallArgs& args, const std::string& fn, std::initializer_list<const char*> names, size_t required = 0)
      : fn_(fn), values_(names.size()), given_(names.size(), false) {
    std::vector<const char*> n(names);
    if (args.positional.size() > n.size())
      runtime_error("TypeError: " + fn + "() takes at most " + std::to_string(n.size()) + " argument(s) (" +
                    std::to_string(args.positional.size()) + " given)");
    for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = args.positional[i], given_[i] = true;
    for (const auto& [k, v] : args.keyword) {
      size_t i = 0;
      while (i < n.size() && k != n[i]) ++i;
      if (i == n.size()) runtime_error("TypeError: " + fn + "() got an unexpected keyword argument '" + k + "'");
      if (given_[i]) runtime_error("TypeError: " + fn + "() got multiple values for argument '" + k + "'");
      values_[i] = v, given_[i] = true;
    }
    for (size_t i = 0; i < required; ++i)
      if (!given_[i]) runtime_error("TypeError: " + fn + "() missing required argument '" + n[i] + "'");
  }

  bool has(size_t i) const { return given_[i]; }
  const Value& operator[](size_t i) const { return values_[i]; }
  Value get(size_t i, Value dflt) const { return given_[i] ? values_[i] : std::move(dflt); }
  bool flag(size_t i, bool dflt) const { return given_[i] ? values_[i].truthy() : dflt; }
  int64_t integer(size_t i, int64_t dflt) const {
    if (!given_[i]) return dflt;
    if (!values_[i].is_int()) runtime_error("TypeError: " + fn_ + "(): expected an integer argument, got " + values_[i].type_name());
    return values_[i].as_int();
  }
  std::string text(size_t i, const std::string& dflt) const {
    if (!given_[i]) return dflt;
    if (!values_[i].is_string()) runtime_error("TypeError: " + fn_ + "(): expected a string argument, got " + values_[i].type_name());
    return values_[i].as_string();
  }

 private:
  std::string fn_;
  List values_;
  std::vector<bool> given_;
};

}  // namespace nova::chat
