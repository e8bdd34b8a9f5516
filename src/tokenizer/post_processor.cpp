#include "tokenizer/post_processor.h"

#include <limits>
#include <map>
#include <optional>
#include <string>

namespace nova::tokenizer {

namespace {

// A template: the sequence ($A) and lists of special-token ids, in order.
class Template final : public PostProcessor {
 public:
  // An empty optional stands for the sequence itself.
  explicit Template(std::vector<std::optional<std::vector<int32_t>>> items) : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const auto& item : items_) {
      if (item) out.insert(out.end(), item->begin(), item->end());
      else out.insert(out.end(), ids.begin(), ids.end());
    }
    ids = std::move(out);
  }
  std::vector<int32_t> added_ids() const override {
    std::vector<int32_t> all;
    for (const auto& item : items_) {
      if (item) all.insert(all.end(), item->begin(), item->end());
    }
    return all;
  }

 private:
  std::vector<std::optional<std::vector<int32_t>>> items_;
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::shared_ptr<const PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }
  std::vector<int32_t> added_ids() const override {
    std::vector<int32_t> all;
    for (const auto& p : parts_) {
      const auto ids = p->added_ids();
      all.insert(all.end(), ids.begin(), ids.end());
    }
    return all;
  }

 private:
  std::vector<std::shared_ptr<const PostProcessor>> parts_;
};

int32_t id_value(const json& j, const JsonPath& where) {
  return static_cast<int32_t>(as_int(j, where, 0, std::numeric_limits<int32_t>::max()));
}

// ["[CLS]", 101] as Bert/Roberta processors write their tokens.
int32_t token_pair_id(const json& j, std::string_view key, const JsonPath& where) {
  const JsonPath at = where.at(key);
  const json& pair = require_member(j, key, where);
  if (!pair.is_array() || pair.size() != 2) at.fail("expected [token, id]");
  as_string(pair[0], at.at(size_t{0}));
  return id_value(pair[1], at.at(size_t{1}));
}

std::shared_ptr<const PostProcessor> template_from_json(const json& j, const JsonPath& where) {
  // special_tokens: name -> {id, ids, tokens}
  std::map<std::string, std::vector<int32_t>> specials;
  if (const json* st = find_member(j, "special_tokens", where)) {
    const JsonPath at = where.at("special_tokens");
    if (!st->is_object()) at.fail("expected an object");
    for (const auto& [name, spec] : st->items()) {
      const JsonPath sat = at.at(name);
      const json& ids = require_member(spec, "ids", sat);
      if (!ids.is_array()) sat.at("ids").fail("expected an array");
      std::vector<int32_t> v;
      for (size_t i = 0; i < ids.size(); ++i) v.push_back(id_value(ids[i], sat.at("ids").at(i)));
      specials[name] = std::move(v);
    }
  }
  const JsonPath at = where.at("single");
  const json& single = require_member(j, "single", where);
  std::vector<std::optional<std::vector<int32_t>>> items;
  auto add_special = [&](const std::string& name, const JsonPath& p) {
    const auto it = specials.find(name);
    if (it == specials.end()) p.fail("special token \"" + name + "\" is not in special_tokens");
    items.emplace_back(it->second);
  };
  if (single.is_string()) {
    // "$A:0 </s>:1" shorthand: $A / $B / $ / $0 ... are sequences, anything else a special token.
    const std::string s = single.get<std::string>();
    size_t pos = 0;
    while (pos < s.size()) {
      const size_t end = s.find(' ', pos) == std::string::npos ? s.size() : s.find(' ', pos);
      std::string piece = s.substr(pos, end - pos);
      pos = end + 1;
      if (piece.empty()) continue;
      const size_t colon = piece.rfind(':');
      if (colon != std::string::npos && colon > 0) piece.resize(colon);
      if (piece[0] == '$') {
        if (piece != "$" && piece != "$A" && piece.find_first_not_of("0123456789", 1) != std::string::npos) {
          at.fail("unsupported sequence \"" + piece + "\" in a single-sequence template");
        }
        items.emplace_back(std::nullopt);
      } else {
        add_special(piece, at);
      }
    }
  } else if (single.is_array()) {
    for (size_t i = 0; i < single.size(); ++i) {
      const JsonPath p = at.at(i);
      const json& item = single[i];
      if (const json* seq = find_member(item, "Sequence", p)) {
        const std::string id = string_member(*seq, "id", p.at("Sequence"), "A");
        if (id != "A") p.fail("a single-sequence template can only use sequence A");
        items.emplace_back(std::nullopt);
      } else if (const json* sp = find_member(item, "SpecialToken", p)) {
        add_special(as_string(require_member(*sp, "id", p.at("SpecialToken")), p.at("SpecialToken").at("id")), p);
      } else {
        p.fail("expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
  } else {
    at.fail("expected a template string or array");
  }
  return std::make_shared<Template>(std::move(items));
}

}  // namespace

std::shared_ptr<const PostProcessor> post_processor_from_json(const json& j, const JsonPath& where) {
  if (j.is_null()) return nullptr;
  const std::string type = type_of(j, where);
  if (type == "ByteLevel") return std::make_shared<Sequence>(std::vector<std::shared_ptr<const PostProcessor>>{});
  if (type == "TemplateProcessing") return template_from_json(j, where);
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    const int32_t cls = token_pair_id(j, "cls", where), sep = token_pair_id(j, "sep", where);
    return std::make_shared<Template>(std::vector<std::optional<std::vector<int32_t>>>{
        std::vector<int32_t>{cls}, std::nullopt, std::vector<int32_t>{sep}});
  }
  if (type == "Sequence") {
    auto parts = sequence_members(j, "processors", where, post_processor_from_json);
    return std::make_shared<Sequence>(std::move(parts));
  }
  where.at("type").fail("unknown post_processor type \"" + type + "\"");
}

}  // namespace nova::tokenizer
