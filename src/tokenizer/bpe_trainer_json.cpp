// Writing a trained byte-level BPE as tokenizer.json / tokenizer_config.json, in the shapes that
// `tokenizers` 0.2x and transformers write (and read).
#include <algorithm>

#include "core/error.h"
#include "tokenizer/bpe_trainer.h"

namespace nova::tokenizer {

using ojson = nlohmann::ordered_json;

namespace {

ojson byte_level(const char* type) {
  return {{"type", type}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
}

bool has_special(const TrainedBpe& bpe, const std::string& token) {
  return std::find(bpe.special_tokens.begin(), bpe.special_tokens.end(), token) != bpe.special_tokens.end();
}

}  // namespace

const char* const kChatmlTemplate =
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

ojson bpe_tokenizer_json(const TrainedBpe& bpe) {
  ojson added = ojson::array();
  for (size_t i = 0; i < bpe.special_tokens.size(); ++i) {
    added.push_back({{"id", bpe.special_id(i)},
                     {"content", bpe.special_tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  ojson vocab = ojson::object();
  for (size_t id = 0; id < bpe.vocab.size(); ++id) vocab[bpe.vocab[id]] = id;
  ojson merges = ojson::array();
  for (const auto& [a, b] : bpe.merges) merges.push_back(ojson::array({a, b}));

  ojson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = std::move(added);
  j["normalizer"] = bpe.nfc ? ojson{{"type", "NFC"}} : ojson(nullptr);
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         ojson::array({ojson{{"type", "Split"},
                                             {"pattern", {{"Regex", bpe.split_regex}}},
                                             {"behavior", "Isolated"},
                                             {"invert", false}},
                                       byte_level("ByteLevel")})}};
  j["post_processor"] = byte_level("ByteLevel");
  j["decoder"] = byte_level("ByteLevel");
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", ""},
                {"end_of_word_suffix", ""},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", std::move(vocab)},
                {"merges", std::move(merges)}};
  return j;
}

ojson bpe_tokenizer_config_json(const TrainedBpe& bpe, const TokenizerConfigOptions& options) {
  auto token_or_null = [&](const std::string& token, const char* key) -> ojson {
    if (token.empty()) return nullptr;
    if (!has_special(bpe, token)) {
      fail("tokenizer_config", std::string(key) + " \"" + token + "\" is not one of the special tokens");
    }
    return token;
  };
  if (options.model_max_length <= 0) fail("tokenizer_config", "model_max_length must be positive");

  ojson decoder = ojson::object();
  for (size_t i = 0; i < bpe.special_tokens.size(); ++i) {
    decoder[std::to_string(bpe.special_id(i))] = {{"content", bpe.special_tokens[i]},
                                                  {"lstrip", false},
                                                  {"normalized", false},
                                                  {"rstrip", false},
                                                  {"single_word", false},
                                                  {"special", true}};
  }
  std::string chat_template;
  if (options.chat_template) chat_template = *options.chat_template;
  else if (has_special(bpe, "<|im_start|>") && has_special(bpe, "<|im_end|>")) chat_template = kChatmlTemplate;

  ojson j;
  j["add_bos_token"] = false;
  j["add_prefix_space"] = false;
  j["added_tokens_decoder"] = std::move(decoder);
  j["bos_token"] = token_or_null(options.bos_token, "bos_token");
  if (!chat_template.empty()) j["chat_template"] = chat_template;
  j["clean_up_tokenization_spaces"] = false;
  j["eos_token"] = token_or_null(options.eos_token, "eos_token");
  j["errors"] = "replace";
  j["model_max_length"] = options.model_max_length;
  j["pad_token"] = token_or_null(options.pad_token, "pad_token");
  j["split_special_tokens"] = false;
  j["tokenizer_class"] = "PreTrainedTokenizerFast";
  j["unk_token"] = nullptr;
  return j;
}

}  // namespace nova::tokenizer
