// Training a byte-level BPE vocabulary (GPT-2 / Llama-3 / Qwen style) from a text corpus, and writing
// it as a Hugging Face `tokenizer.json` (+ a minimal `tokenizer_config.json`).
//
// Algorithm: the corpus is cut at the special tokens, pre-tokenised with the split regex into words
// that are counted once; then merges are learned with pair counts kept up to date incrementally (an
// index from each pair to the words that contain it, and a max-heap with lazy deletion).
//
// Merge choice (deterministic): the pair with the highest count over the corpus (a word counted once
// per occurrence, every adjacent position of a word counted, overlapping ones included); among equal
// counts the pair whose (left, right) token strings -- as written in tokenizer.json, i.e. in GPT-2's
// byte-to-character alphabet -- are lexicographically smallest by UTF-8 bytes, left compared first.
// A merge is applied in every word left to right, without overlap. Training stops when the
// vocabulary reaches `vocab_size`, when no pair occurs `min_frequency` times, or when no pairs are
// left. A merge whose result string is already a token reuses that token (and does not grow the
// vocabulary), as `tokenizers` does.
//
// Ids: the 256 byte symbols first (ordered by their code point in the byte alphabet, so '!' is 0, as
// in GPT-2 and Qwen), then learned tokens in merge order, then the special tokens in the order given.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace nova::tokenizer {

// Split regexes (Oniguruma syntax, as tokenizer.json stores them).
// GPT-2's.
inline constexpr const char* kGpt2SplitRegex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
// Llama 3's: case-insensitive contractions, a letter run may take one leading non-letter, digits in
// groups of up to three, newlines kept together.
inline constexpr const char* kLlama3SplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// Qwen2/Qwen3's: Llama 3's with single digits. The default.
inline constexpr const char* kQwenSplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

struct BpeTrainerOptions {
  // Size of the final vocabulary: the 256 byte symbols + learned tokens + special tokens.
  size_t vocab_size = 8192;
  // A pair is merged only if it occurs at least this often (`tokenizers`' min_frequency).
  uint64_t min_frequency = 2;
  // Added as special added tokens (atomic, never split, skipped by decode(skip_special_tokens)).
  // Occurrences in the corpus are cut out before pre-tokenisation, so no merge spans them.
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  std::string split_regex = kQwenSplitRegex;
  // Put an NFC normalizer in front (the corpus is normalized the same way). Off by default: then
  // encode -> decode gives back any valid UTF-8 text exactly.
  bool nfc = false;
};

// The learned vocabulary. Token strings are in GPT-2's byte-to-character alphabet, as in tokenizer.json.
struct TrainedBpe {
  std::vector<std::string> vocab;                            // model vocabulary, index = id
  std::vector<std::pair<std::string, std::string>> merges;   // by rank
  std::vector<std::string> special_tokens;                   // ids vocab.size() + i
  std::string split_regex;
  bool nfc = false;

  int32_t special_id(size_t i) const { return static_cast<int32_t>(vocab.size() + i); }
  size_t total_size() const { return vocab.size() + special_tokens.size(); }
};

// Yields the next document, or std::nullopt at the end. The view must stay valid until the next call.
using DocumentIterator = std::function<std::optional<std::string_view>()>;

// Throws nova::Error for bad options (vocab_size < 256 + specials, empty/duplicate special tokens, a
// regex that does not compile) and for invalid UTF-8 in the corpus (named by document index).
TrainedBpe train_bpe(const BpeTrainerOptions& options, const DocumentIterator& next_document);
// Each file is one document (errors name the file).
TrainedBpe train_bpe_files(const BpeTrainerOptions& options, const std::vector<std::string>& paths);
// Iterates over in-memory documents (which must outlive the iterator).
DocumentIterator iterate_documents(const std::vector<std::string>& documents);

// The complete tokenizer.json (keys in the order `tokenizers` writes them).
nlohmann::ordered_json bpe_tokenizer_json(const TrainedBpe& bpe);

struct TokenizerConfigOptions {
  // Each must be one of the special tokens, or empty for null.
  std::string bos_token;
  std::string eos_token = "<|im_end|>";
  std::string pad_token = "<|endoftext|>";
  int64_t model_max_length = 4096;
  // Jinja chat template; nullopt: the ChatML template (kChatmlTemplate) when <|im_start|> and
  // <|im_end|> are special tokens, none otherwise. An empty string writes no template.
  std::optional<std::string> chat_template;
};

// ChatML: <|im_start|>role\ncontent<|im_end|>\n per message, then "<|im_start|>assistant\n" when
// add_generation_prompt.
extern const char* const kChatmlTemplate;

// A minimal tokenizer_config.json for transformers' PreTrainedTokenizerFast. Throws nova::Error if a
// bos/eos/pad token is not one of the special tokens, or model_max_length <= 0.
nlohmann::ordered_json bpe_tokenizer_config_json(const TrainedBpe& bpe, const TokenizerConfigOptions& options);

}  // namespace nova::tokenizer
