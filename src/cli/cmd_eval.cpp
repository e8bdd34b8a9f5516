#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"
#include "data/token_stream.h"
#include "train/evaluate.h"
#include "train/run_config.h"
#include "train/train_model.h"

namespace nova::cli {

namespace fs = std::filesystem;

namespace {

// --data: a manifest.json, a directory holding one, or shard files/globs (comma-separated).
std::shared_ptr<const data::TokenStream> open_eval_data(const std::string& spec, const std::string& split) {
  std::error_code ec;
  std::string manifest;
  if (fs::is_directory(spec, ec) && fs::is_regular_file(fs::path(spec) / "manifest.json", ec))
    manifest = (fs::path(spec) / "manifest.json").string();
  else if (fs::path(spec).extension() == ".json")
    manifest = spec;
  if (!manifest.empty()) {
    if (!fs::is_regular_file(manifest, ec)) fail(manifest, "no such manifest");
    return std::make_shared<data::TokenStream>(data::TokenStream::open_manifest(manifest, split));
  }
  std::vector<std::string> patterns;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string::npos) end = spec.size();
    if (end > start) patterns.push_back(spec.substr(start, end - start));
    start = end + 1;
  }
  return std::make_shared<data::TokenStream>(data::TokenStream::open(train::expand_globs(patterns, "--data")));
}

int eval_perplexity(const Args& args) {
  Flags flags("eval perplexity",
              "Mean next-token loss (nats) and perplexity of a model on held-out data.\n"
              "usage: nova eval perplexity --model DIR --data MANIFEST_OR_SHARDS [flags]",
              {
                  {"model", "DIR", "Hugging Face model directory", "", true},
                  {"data", "PATH", "manifest.json (or its directory) of `nova data prepare`, or shard globs", "", true},
                  {"split", "NAME", "manifest split: val or train", "val"},
                  {"seq-len", "N", "tokens per window", "256"},
                  {"batch-size", "N", "windows per forward pass", "8"},
                  {"max-batches", "N", "stop after N batches (0: the whole split)", "0"},
                  {"json", "", "print the result as one JSON object"},
              });
  if (!flags.parse(args)) return 0;
  if (!flags.positional().empty()) throw UsageError{"unexpected argument '" + flags.positional()[0] + "'"};
  const std::string split = flags.str("split");
  if (split != "val" && split != "train") throw UsageError{"--split expects val or train, got '" + split + "'"};
  const int64_t seq_len = flags.integer("seq-len"), batch = flags.integer("batch-size"),
                max_batches = flags.integer("max-batches");
  if (seq_len < 1) throw UsageError{"--seq-len must be positive"};
  if (batch < 1) throw UsageError{"--batch-size must be positive"};
  if (max_batches < 0) throw UsageError{"--max-batches must not be negative"};

  const auto stream = open_eval_data(flags.str("data"), split);
  auto model = train::TrainModel::from_pretrained(flags.str("model"));
  const int vocab = model->config().vocab_size;
  require(stream->vocab_size() <= static_cast<uint32_t>(vocab), flags.str("data"),
          "the data's tokenizer has " + std::to_string(stream->vocab_size()) + " tokens, more than the model's " +
              std::to_string(vocab));
  const train::EvalResult r = train::evaluate_loss(*model, stream, batch, seq_len, max_batches);
  if (flags.flag("json")) {
    nlohmann::ordered_json j = {{"split", split},   {"loss", r.loss},       {"perplexity", r.perplexity},
                                {"tokens", r.tokens}, {"batches", r.batches}, {"seq_len", seq_len}};
    std::cout << j.dump() << "\n";
  } else {
    char line[160];
    std::snprintf(line, sizeof line, "mean loss %.6f nats, perplexity %.4f (%lld tokens, %lld batches, %s split)\n",
                  r.loss, r.perplexity, static_cast<long long>(r.tokens), static_cast<long long>(r.batches),
                  split.c_str());
    std::cout << line;
  }
  return 0;
}

}  // namespace

int cmd_eval(const Args& args) {
  return dispatch_subcommand("eval", args,
                             {{"perplexity", "held-out mean loss and perplexity of a model", eval_perplexity}});
}

}  // namespace nova::cli
