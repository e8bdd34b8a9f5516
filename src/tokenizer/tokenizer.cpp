#include "tokenizer/tokenizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/post_processor.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_json_reader.h"
#include "tokenizer/unicode.h"

namespace nova::tokenizer {

struct TokenizerImpl {
  std::shared_ptr<const Normalizer> normalizer;
  std::shared_ptr<const PreTokenizer> pre_tokenizer;
  std::shared_ptr<const BpeModel> model;
  std::shared_ptr<const PostProcessor> post_processor;
  std::shared_ptr<const Decoder> decoder;
  AddedVocabulary added;
  int32_t vocab_size = 0;
  bool byte_fallback_decoder = false;  // the decoder chain contains ByteFallback

  // The token string of `id`, or nullopt.
  std::optional<std::string_view> token_of(int32_t id) const {
    if (const AddedToken* t = added.token(id)) return std::string_view(t->content);
    return model->id_to_token(id);
  }
};

namespace {

const json& member_or_null(const json& j, std::string_view key) {
  static const json null_json;
  const auto it = j.find(key);
  return it == j.end() ? null_json : *it;
}

std::shared_ptr<const TokenizerImpl> load(const json& j, const std::string& where, const BpeTables* tables) {
  const JsonPath root{&where, ""};
  if (!j.is_object()) root.fail("expected a JSON object (tokenizer.json)");
  if (const json* v = find_member(j, "version", root)) {
    const std::string version = as_string(*v, root.at("version"));
    if (version != "1.0") root.at("version").fail("unknown tokenizer.json version \"" + version + "\"");
  }
  auto impl = std::make_shared<TokenizerImpl>();
  impl->normalizer = normalizer_from_json(member_or_null(j, "normalizer"), root.at("normalizer"));
  impl->pre_tokenizer = pre_tokenizer_from_json(member_or_null(j, "pre_tokenizer"), root.at("pre_tokenizer"));
  impl->post_processor = post_processor_from_json(member_or_null(j, "post_processor"), root.at("post_processor"));
  impl->decoder = decoder_from_json(member_or_null(j, "decoder"), root.at("decoder"));
  impl->byte_fallback_decoder = impl->decoder && impl->decoder->joins_byte_runs();

  const JsonPath model_at = root.at("model");
  const json& model = require_member(j, "model", root);
  if (!model.is_object()) model_at.fail("expected an object");
  const json* type = find_member(model, "type", model_at);
  const std::string model_type = type ? as_string(*type, model_at.at("type")) : "BPE";
  if (model_type != "BPE") {
    model_at.at("type").fail("model type \"" + model_type + "\" is not supported (only BPE)");
  }
  impl->model = BpeModel::from_json(model, model_at, tables);

  if (const json* added = find_member(j, "added_tokens", root)) {
    impl->added.load(*added, root.at("added_tokens"), *impl->model, impl->normalizer.get());
  }
  if (impl->post_processor) {
    for (const int32_t id : impl->post_processor->added_ids()) {
      if (!impl->token_of(id)) root.at("post_processor").fail("special token id " + std::to_string(id) + " is not in the vocabulary");
    }
  }
  impl->vocab_size = std::max(impl->model->max_id(), impl->added.max_id()) + 1;
  return impl;
}

std::shared_ptr<const TokenizerImpl> from_tree(const json& j, const std::string& where, const BpeTables* tables) {
  try {
    return load(j, where, tables);
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("malformed tokenizer.json: ") + e.what());
  }
}

}  // namespace

Tokenizer Tokenizer::from_json(const nlohmann::json& j, const std::string& where) {
  return Tokenizer(from_tree(j, where, nullptr));
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  const std::shared_ptr<const MappedFile> file = MappedFile::open(path);
  const std::string_view text(reinterpret_cast<const char*>(file->data()), file->size());
  try {
    // The fast path reads vocab and merges into flat tables; files it does not expect go the plain way.
    if (std::optional<StreamedTokenizerJson> streamed = read_tokenizer_json(text)) {
      return Tokenizer(from_tree(streamed->tree, path, &streamed->tables));
    }
    return Tokenizer(from_tree(json::parse(text), path, nullptr));
  } catch (const nlohmann::json::parse_error& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  const TokenizerImpl& t = *impl_;
  std::string repaired;
  if (!unicode::is_valid_utf8(text)) {
    repaired = unicode::to_valid_utf8(text);
    text = repaired;
  }
  std::vector<Piece> pieces = t.added.extract_and_normalize(text, t.normalizer.get());
  if (t.pre_tokenizer) t.pre_tokenizer->pre_tokenize(pieces);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const Piece& p : pieces) {
    if (p.id >= 0) ids.push_back(p.id);
    else t.model->tokenize(p.text, ids);
  }
  if (add_special_tokens && t.post_processor) t.post_processor->process(ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  const TokenizerImpl& t = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int32_t id : ids) {
    const std::optional<std::string_view> token = t.token_of(id);
    if (!token) fail("decode", "token id " + std::to_string(id) + " is not in the vocabulary");
    if (skip_special_tokens) {
      const AddedToken* added = t.added.token(id);
      if (added && added->special) continue;
    }
    tokens.emplace_back(*token);
  }
  if (!t.decoder) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += tokens[i];
    }
    return out;
  }
  t.decoder->decode_chain(tokens);
  std::string out;
  for (const std::string& s : tokens) out += s;
  return out;
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = impl_->added.token_to_id(token)) return id;
  return impl_->model->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  const std::optional<std::string_view> token = impl_->token_of(id);
  if (!token) fail("id_to_token", "token id " + std::to_string(id) + " is not in the vocabulary");
  return std::string(*token);
}

bool Tokenizer::decode_pending_after(int32_t id) const {
  if (!impl_->byte_fallback_decoder) return false;
  const std::optional<std::string_view> t = impl_->token_of(id);
  return t && t->size() == 6 && t->compare(0, 3, "<0x") == 0 && (*t)[5] == '>';
}

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* t = impl_->added.token(id);
  return t && t->special;
}

}  // namespace nova::tokenizer
