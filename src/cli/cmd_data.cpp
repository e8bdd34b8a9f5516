#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "data/prepare.h"

namespace nova::cli {

namespace {

data::InputFormat parse_format(const std::string& s) {
  if (s == "auto") return data::InputFormat::auto_detect;
  if (s == "text") return data::InputFormat::text;
  if (s == "jsonl") return data::InputFormat::jsonl;
  if (s == "brown") return data::InputFormat::brown;
  throw UsageError{"--format expects auto, text, jsonl or brown, got '" + s + "'"};
}

int data_prepare(const Args& args) {
  Flags flags("data prepare",
              "Tokenizes text, JSONL or the Brown corpus into shards + manifest.json for `nova train`.\n"
              "usage: nova data prepare --tokenizer PATH --out DIR [flags] INPUTS...",
              {
                  {"tokenizer", "PATH", "tokenizer.json (or its directory)", "", true},
                  {"out", "DIR", "output directory (shards and manifest.json)", "", true},
                  {"format", "FMT", "auto, text, jsonl or brown", "auto"},
                  {"val-every", "N", "every Nth document goes to the validation split"},
                  {"val-fraction", "F", "this fraction of documents (by hash) goes to the validation split"},
                  {"seed", "N", "seed of the split", "0"},
                  {"blank-lines", "", "text: documents are separated by blank lines (default: one per file)"},
                  {"separator", "TOKEN", "token appended after every document (default: the tokenizer's EOS)"},
                  {"loss-mask", "", "jsonl prompt/completion: train on completions only"},
                  {"add-special", "", "add the tokenizer's BOS/EOS when encoding each document"},
                  {"max-shard-tokens", "N", "tokens per shard file", "67108864"},
              });
  if (!flags.parse(args)) return 0;
  if (flags.positional().empty()) throw UsageError{"give at least one input file or directory"};
  if (flags.has("val-every") && flags.has("val-fraction")) throw UsageError{"give --val-every or --val-fraction, not both"};

  data::PrepareOptions o;
  o.inputs = flags.positional();
  o.format = parse_format(flags.str("format"));
  o.text_split = flags.flag("blank-lines") ? data::TextSplit::blank_lines : data::TextSplit::whole_file;
  o.tokenizer_path = flags.str("tokenizer");
  if (std::filesystem::is_directory(o.tokenizer_path)) o.tokenizer_path += "/tokenizer.json";
  o.output_dir = flags.str("out");
  o.separator_token = flags.str("separator");
  if (flags.has("val-every")) {
    const int64_t n = flags.integer("val-every");
    if (n < 1) throw UsageError{"--val-every must be at least 1"};
    o.val_every = static_cast<uint64_t>(n);
  }
  if (flags.has("val-fraction")) {
    o.val_fraction = flags.number("val-fraction");
    if (!(o.val_fraction >= 0 && o.val_fraction < 1)) throw UsageError{"--val-fraction must be in [0, 1)"};
  }
  const int64_t seed = flags.integer("seed"), max_shard = flags.integer("max-shard-tokens");
  if (seed < 0) throw UsageError{"--seed must not be negative"};
  if (max_shard < 1) throw UsageError{"--max-shard-tokens must be positive"};
  o.seed = static_cast<uint64_t>(seed);
  o.max_shard_tokens = static_cast<uint64_t>(max_shard);
  o.loss_mask = flags.flag("loss-mask");
  o.add_special_tokens = flags.flag("add-special");

  const data::PrepareStats s = data::prepare_dataset(o);
  std::cout << "files:              " << s.files << "\n"
            << "train:              " << s.train_documents << " documents, " << s.train_tokens << " tokens, "
            << s.train_shards.size() << " shard(s)\n"
            << "val:                " << s.val_documents << " documents, " << s.val_tokens << " tokens, "
            << s.val_shards.size() << " shard(s)\n"
            << "separator id:       " << s.separator_id << "\n"
            << "empty documents:    " << s.empty_documents << " (skipped)\n";
  if (s.jsonl_lines > 0) std::cout << "jsonl lines:        " << s.jsonl_lines << "\n";
  std::cout << "skipped lines:      " << s.skipped_lines() << " (invalid JSON " << s.skipped_invalid_json
            << ", missing field " << s.skipped_missing_field << ", wrong type " << s.skipped_wrong_type
            << ", invalid UTF-8 " << s.skipped_invalid_utf8 << ")\n";
  for (const auto& e : s.skipped_examples) std::cout << "  " << e << "\n";
  std::cout << "manifest:           " << s.manifest_path << "\n";
  return 0;
}

}  // namespace

int cmd_data(const Args& args) {
  return dispatch_subcommand("data", args, {{"prepare", "tokenize raw text into training shards + manifest", data_prepare}});
}

}  // namespace nova::cli
