#include "chat/json_dump.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/py_string.h"

namespace nova::chat {

namespace {

void escape_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out.push_back('"');
  char buf[16];
  for (char32_t c : utf8_decode(s)) {
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c > 0x7E)) {
      if (c >= 0x10000) {
        const char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                      static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      }
      out += buf;
    } else {
      append_utf8(out, c);
    }
  }
  out.push_back('"');
}

std::string float_json(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return py_float_repr(d);
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& o) : o_(o) {
    item_sep_ = o.item_separator ? *o.item_separator : (o.indent ? "," : ", ");
  }

  void dump(const Value& v, int level, std::string& out) {
    using K = Value::Kind;
    if (level > 512) runtime_error("RecursionError: value nested too deeply for tojson");
    switch (v.kind()) {
      case K::None: out += "null"; return;
      case K::Bool: out += v.as_bool() ? "true" : "false"; return;
      case K::Int: out += std::to_string(v.as_int()); return;
      case K::Float: out += float_json(v.as_float()); return;
      case K::String: escape_string(out, v.as_string(), o_.ensure_ascii); return;
      case K::List:
      case K::Tuple: {
        const List& items = v.items();
        if (items.empty()) {
          out += "[]";
          return;
        }
        out.push_back('[');
        for (size_t i = 0; i < items.size(); ++i) {
          if (i) out += item_sep_;
          newline(level + 1, out);
          dump(items[i], level + 1, out);
        }
        newline(level, out);
        out.push_back(']');
        return;
      }
      case K::Dict: {
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [k, e] : v.map().entries) entries.emplace_back(key_string(k), &e);
        if (o_.sort_keys)
          std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        if (entries.empty()) {
          out += "{}";
          return;
        }
        out.push_back('{');
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i) out += item_sep_;
          newline(level + 1, out);
          escape_string(out, entries[i].first, o_.ensure_ascii);
          out += o_.key_separator;
          dump(*entries[i].second, level + 1, out);
        }
        newline(level, out);
        out.push_back('}');
        return;
      }
      default: runtime_error("TypeError: Object of type " + v.type_name() + " is not JSON serializable");
    }
  }

 private:
  static std::string key_string(const Value& k) {
    using K = Value::Kind;
    switch (k.kind()) {
      case K::String: return k.as_string();
      case K::None: return "null";
      case K::Bool: return k.as_bool() ? "true" : "false";
      case K::Int: return std::to_string(k.as_int());
      case K::Float: return float_json(k.as_float());
      default: runtime_error("TypeError: keys must be str, int, float, bool or None, not " + k.type_name());
    }
  }

  void newline(int level, std::string& out) const {
    if (!o_.indent) return;
    out.push_back('\n');
    for (int i = 0; i < level; ++i) out += *o_.indent;
  }

  const JsonDumpOptions& o_;
  std::string item_sep_;
};

}  // namespace

std::string json_dumps(const Value& v, const JsonDumpOptions& options) {
  std::string out;
  Dumper(options).dump(v, 0, out);
  return out;
}

}  // namespace nova::chat
