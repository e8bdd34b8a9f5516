#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "data/atomic_file.h"
#include "data/brown.h"
#include "tokenizer/bpe_trainer.h"

namespace nova::cli {

namespace fs = std::filesystem;

namespace {

// Files of the inputs: a directory contributes its regular files recursively, sorted by path.
std::vector<std::string> input_files(const std::vector<std::string>& inputs, bool brown) {
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      if (brown) {
        for (auto& f : data::brown_corpus_files(in)) files.push_back(std::move(f));
        continue;
      }
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(in, ec))
        if (e.is_regular_file()) found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(in, ec)) {
      files.push_back(in);
    } else {
      fail(in, "no such file or directory");
    }
  }
  if (files.empty()) fail("inputs", "no input files found");
  return files;
}

std::string pick_default(const std::vector<std::string>& specials, std::initializer_list<const char*> preferred) {
  for (const char* p : preferred)
    if (std::find(specials.begin(), specials.end(), p) != specials.end()) return p;
  return specials.empty() ? "" : specials.front();
}

int tokenizer_train(const Args& raw_args) {
  // --special may be repeated (and each may list several, comma-separated): collect them first.
  Args args;
  std::vector<std::string> specials;
  bool specials_given = false;
  for (size_t i = 0; i < raw_args.size(); ++i) {
    std::string value;
    if (raw_args[i] == "--special") {
      if (i + 1 >= raw_args.size()) throw UsageError{"--special needs a value (TOKEN)"};
      value = raw_args[++i];
    } else if (raw_args[i].rfind("--special=", 0) == 0) {
      value = raw_args[i].substr(10);
    } else {
      args.push_back(raw_args[i]);
      continue;
    }
    specials_given = true;
    size_t start = 0;
    while (start <= value.size()) {
      size_t end = value.find(',', start);
      if (end == std::string::npos) end = value.size();
      if (end > start) specials.push_back(value.substr(start, end - start));
      start = end + 1;
    }
  }
  Flags flags("tokenizer train",
              "Learns a byte-level BPE vocabulary and writes tokenizer.json + tokenizer_config.json.\n"
              "usage: nova tokenizer train --vocab-size N --out DIR [--special TOKEN ...] [flags] INPUTS...",
              {
                  {"vocab-size", "N", "final vocabulary size (256 bytes + merges + special tokens)", "", true},
                  {"out", "DIR", "output directory", "", true},
                  {"special", "TOKEN", "special token (repeatable or comma-separated)",
                   "<|endoftext|>,<|im_start|>,<|im_end|>"},
                  {"format", "FMT", "text (each file one document) or brown (the tagged Brown corpus)", "text"},
                  {"min-frequency", "N", "merge only pairs seen at least N times", "2"},
                  {"regex", "NAME", "split regex: qwen, llama3 or gpt2", "qwen"},
                  {"nfc", "", "NFC-normalize text first"},
                  {"bos", "TOKEN", "tokenizer_config.json bos_token (one of the specials)"},
                  {"eos", "TOKEN", "eos_token (default: <|im_end|>, else <|endoftext|>, else the first special)"},
                  {"pad", "TOKEN", "pad_token (default: <|endoftext|>, else the eos token)"},
                  {"model-max-length", "N", "tokenizer_config.json model_max_length", "4096"},
              });
  if (!flags.parse(args)) return 0;
  if (flags.positional().empty()) throw UsageError{"give at least one input file or directory"};
  const std::string format = flags.str("format");
  if (format != "text" && format != "brown") throw UsageError{"--format expects text or brown, got '" + format + "'"};
  const int64_t vocab = flags.integer("vocab-size"), min_freq = flags.integer("min-frequency");
  if (vocab < 1) throw UsageError{"--vocab-size must be positive"};
  if (min_freq < 1) throw UsageError{"--min-frequency must be at least 1"};

  tokenizer::BpeTrainerOptions o;
  o.vocab_size = static_cast<size_t>(vocab);
  o.min_frequency = static_cast<uint64_t>(min_freq);
  if (specials_given) o.special_tokens = specials;
  const std::string regex = flags.str("regex");
  if (regex == "qwen") o.split_regex = tokenizer::kQwenSplitRegex;
  else if (regex == "llama3") o.split_regex = tokenizer::kLlama3SplitRegex;
  else if (regex == "gpt2") o.split_regex = tokenizer::kGpt2SplitRegex;
  else throw UsageError{"--regex expects qwen, llama3 or gpt2, got '" + regex + "'"};
  o.nfc = flags.flag("nfc");

  const bool brown = format == "brown";
  const std::vector<std::string> files = input_files(flags.positional(), brown);
  tokenizer::TrainedBpe bpe;
  if (brown) {
    std::vector<std::string> docs;
    for (const std::string& f : files) docs.push_back(data::brown_to_text(read_text_file(f)));
    bpe = tokenizer::train_bpe(o, tokenizer::iterate_documents(docs));
  } else {
    bpe = tokenizer::train_bpe_files(o, files);
  }

  tokenizer::TokenizerConfigOptions tc;
  tc.bos_token = flags.str("bos");
  tc.eos_token = flags.has("eos") ? flags.str("eos") : pick_default(o.special_tokens, {"<|im_end|>", "<|endoftext|>"});
  tc.pad_token = flags.has("pad") ? flags.str("pad") : pick_default(o.special_tokens, {"<|endoftext|>"});
  if (tc.pad_token.empty()) tc.pad_token = tc.eos_token;
  tc.model_max_length = flags.integer("model-max-length");
  const auto config = tokenizer::bpe_tokenizer_config_json(bpe, tc);

  const std::string out = flags.str("out");
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail(out, "cannot create the output directory: " + ec.message());
  data::write_file_atomically(out + "/tokenizer.json", {tokenizer::bpe_tokenizer_json(bpe).dump(2), "\n"});
  data::write_file_atomically(out + "/tokenizer_config.json", {config.dump(2), "\n"});
  std::cout << "trained on " << files.size() << " file(s): " << bpe.vocab.size() << " tokens ("
            << bpe.merges.size() << " merges) + " << bpe.special_tokens.size() << " special = " << bpe.total_size()
            << "\nwrote " << out << "/tokenizer.json and " << out << "/tokenizer_config.json\n";
  return 0;
}

}  // namespace

int cmd_tokenizer(const Args& args) {
  return dispatch_subcommand("tokenizer", args,
                             {{"train", "learn a byte-level BPE tokenizer (tokenizer.json) from text", tokenizer_train}});
}

}  // namespace nova::cli
