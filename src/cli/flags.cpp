#include "cli/flags.h"

#include <charconv>
#include <iostream>

namespace nova::cli {

Flags::Flags(std::string command, std::string summary, std::vector<FlagSpec> specs)
    : command_(std::move(command)), summary_(std::move(summary)), specs_(std::move(specs)) {}

const FlagSpec* Flags::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (s.name == name) return &s;
  return nullptr;
}

bool Flags::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::cout << usage();
      return false;
    }
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const FlagSpec* spec = find(name);
    if (!spec) throw UsageError{"unknown flag --" + name};
    if (spec->value_name.empty()) {
      if (inline_value) throw UsageError{"--" + name + " takes no value"};
      values_[name] = "1";
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) throw UsageError{"--" + name + " needs a value (" + spec->value_name + ")"};
      value = args[++i];
    }
    values_[name] = value;
  }
  for (const auto& s : specs_)
    if (s.required && !has(s.name)) throw UsageError{"missing required flag --" + s.name};
  return true;
}

bool Flags::has(const std::string& name) const { return values_.count(name) != 0; }

std::string Flags::str(const std::string& name) const {
  if (auto it = values_.find(name); it != values_.end()) return it->second;
  const FlagSpec* s = find(name);
  return s ? s->default_value : "";
}

int64_t Flags::integer(const std::string& name) const {
  const std::string v = str(name);
  int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    throw UsageError{"--" + name + " expects an integer, got '" + v + "'"};
  return out;
}

double Flags::number(const std::string& name) const {
  const std::string v = str(name);
  double out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size())
    throw UsageError{"--" + name + " expects a number, got '" + v + "'"};
  return out;
}

std::string Flags::usage() const {
  std::string u = "usage: nova " + command_ + " [flags]\n\n" + summary_ + "\n\nflags:\n";
  for (const auto& s : specs_) {
    std::string left = "  --" + s.name + (s.value_name.empty() ? "" : " " + s.value_name);
    if (left.size() < 30) left.resize(30, ' ');
    u += left + " " + s.help;
    if (s.required) u += " (required)";
    if (!s.default_value.empty()) u += " [default: " + s.default_value + "]";
    u += "\n";
  }
  u += "  --help                       show this help\n";
  return u;
}

std::vector<int32_t> parse_id_list(const std::string& text, const std::string& flag) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    int32_t v = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || p != item.data() + item.size() || v < 0)
      throw UsageError{"--" + flag + " expects comma-separated token ids, got '" + text + "'"};
    ids.push_back(v);
    start = end + 1;
  }
  return ids;
}

}  // namespace nova::cli
