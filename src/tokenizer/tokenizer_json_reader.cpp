#include "tokenizer/tokenizer_json_reader.h"

#include <limits>

namespace nova::tokenizer {

namespace {

// Forwards every event to nlohmann's tree builder except those inside model.vocab / model.merges,
// which go to the tables. Returning false stops the parse (an unusual shape: the caller falls back).
class Handler {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  explicit Handler(StreamedTokenizerJson& out) : out_(out), dom_(out.tree, true) {}

  bool null() { return scalar() && dom_.null(); }
  bool boolean(bool v) { return scalar() && dom_.boolean(v); }
  bool number_integer(number_integer_t v) {
    if (role() == Role::Vocab) {
      if (v < 0 || v > std::numeric_limits<int32_t>::max()) return false;
      return vocab_id(static_cast<int32_t>(v));
    }
    return scalar() && dom_.number_integer(v);
  }
  bool number_unsigned(number_unsigned_t v) {
    if (role() == Role::Vocab) {
      if (v > static_cast<number_unsigned_t>(std::numeric_limits<int32_t>::max())) return false;
      return vocab_id(static_cast<int32_t>(v));
    }
    return scalar() && dom_.number_unsigned(v);
  }
  bool number_float(number_float_t v, const string_t& s) { return scalar() && dom_.number_float(v, s); }
  bool binary(binary_t& v) { return scalar() && dom_.binary(v); }

  bool string(string_t& s) {
    switch (role()) {
      case Role::Merges:
        out_.tables.merges.push_back({store(s), {0, 0}, false});
        return true;
      case Role::MergePair: {
        Frame& f = frames_.back();
        if (f.count == 0) pair_first_ = store(s);
        else if (f.count == 1) pair_second_ = store(s);
        else return false;
        ++f.count;
        return true;
      }
      case Role::Vocab:
        return false;
      default:
        return dom_.string(s);
    }
  }

  bool start_object(std::size_t len) {
    const Role r = child_role(/*object=*/true);
    if (r == Role::Invalid) return false;
    if (r == Role::Model) {
      if (model_seen_) return false;  // a repeated key: let the plain parser decide
      model_seen_ = true;
    }
    if (r == Role::Vocab) {
      if (out_.tables.has_vocab) return false;
      out_.tables.has_vocab = true;
    }
    frames_.push_back(Frame{r, {}, 0});
    if (r == Role::Vocab) return dom_.start_object(0) && dom_.end_object();
    return dom_.start_object(len);
  }
  bool key(string_t& k) {
    Frame& f = frames_.back();
    if (f.role == Role::Vocab) {
      if (pending_key_) return false;
      pending_token_ = store(k);
      pending_key_ = true;
      return true;
    }
    if (f.role == Role::Root || f.role == Role::Model) f.key = k;
    return dom_.key(k);
  }
  bool end_object() {
    const Role r = frames_.back().role;
    frames_.pop_back();
    if (r == Role::Vocab) return !pending_key_;
    return dom_.end_object();
  }

  bool start_array(std::size_t len) {
    const Role r = child_role(/*object=*/false);
    if (r == Role::Invalid) return false;
    if (r == Role::Merges) {
      if (out_.tables.has_merges) return false;
      out_.tables.has_merges = true;
    }
    frames_.push_back(Frame{r, {}, 0});
    if (r == Role::Merges) return dom_.start_array(0) && dom_.end_array();
    if (r == Role::MergePair) return true;
    return dom_.start_array(len);
  }
  bool end_array() {
    const Role r = frames_.back().role;
    const int count = frames_.back().count;
    frames_.pop_back();
    if (r == Role::Merges) return true;
    if (r == Role::MergePair) {
      if (count != 2) return false;
      out_.tables.merges.push_back({pair_first_, pair_second_, true});
      return true;
    }
    return dom_.end_array();
  }

  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& e) {
    return dom_.parse_error(position, token, e);  // throws
  }

 private:
  enum class Role { Root, Model, Vocab, Merges, MergePair, Other, Invalid };
  struct Frame {
    Role role;
    std::string key;  // the current key, kept for the root and model objects only
    int count = 0;    // strings seen in a merge pair
  };

  Role role() const { return frames_.empty() ? Role::Other : frames_.back().role; }

  // The role of a container that starts now.
  Role child_role(bool object) const {
    if (frames_.empty()) return object ? Role::Root : Role::Other;
    const Frame& parent = frames_.back();
    switch (parent.role) {
      case Role::Root:
        return object && parent.key == "model" ? Role::Model : Role::Other;
      case Role::Model:
        if (object && parent.key == "vocab") return Role::Vocab;
        if (!object && parent.key == "merges") return Role::Merges;
        return Role::Other;
      case Role::Merges:
        return object ? Role::Invalid : Role::MergePair;
      case Role::Vocab:
      case Role::MergePair:
        return Role::Invalid;
      default:
        return Role::Other;
    }
  }

  // A scalar outside the tables goes to the tree; inside them it is an unusual shape.
  bool scalar() const {
    const Role r = role();
    return r != Role::Vocab && r != Role::Merges && r != Role::MergePair;
  }

  bool vocab_id(int32_t id) {
    if (!pending_key_) return false;
    out_.tables.vocab.emplace_back(pending_token_, id);
    pending_key_ = false;
    return true;
  }

  BpeTables::Text store(const std::string& s) {
    const BpeTables::Text t{out_.tables.arena.size(), s.size()};
    out_.tables.arena += s;
    return t;
  }

  StreamedTokenizerJson& out_;
  nlohmann::detail::json_sax_dom_parser<json> dom_;
  std::vector<Frame> frames_;
  BpeTables::Text pending_token_{0, 0};
  bool pending_key_ = false;
  bool model_seen_ = false;
  BpeTables::Text pair_first_{0, 0};
  BpeTables::Text pair_second_{0, 0};
};

}  // namespace

std::optional<StreamedTokenizerJson> read_tokenizer_json(std::string_view text) {
  StreamedTokenizerJson out;
  out.tables.arena.reserve(text.size() / 2);
  Handler handler(out);
  if (!json::sax_parse(text.begin(), text.end(), &handler)) return std::nullopt;
  return out;
}

}  // namespace nova::tokenizer
