// A tiny end-to-end training setup for the run-loop tests: a generated English-like corpus, a
// 300-token BPE tokenizer trained on it, shards + manifest prepared from it, and run configs for a
// 2-layer, 16-wide Llama.
#pragma once

#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "data/prepare.h"
#include "support/fixtures.h"
#include "tokenizer/bpe_trainer.h"
#include "train/run_config.h"
#include "train/train_run.h"

namespace nova::train::test {

struct RunTestData {
  std::string dir, corpus_dir, tokenizer_dir, manifest;
};

inline std::vector<std::string> test_documents(int count, uint32_t seed) {
  static const char* const words[] = {"the", "jury", "said", "a", "city", "of", "and", "to", "election", "was",
                                      "court", "county", "in", "that", "report", "it", "by", "new", "for", "on"};
  std::mt19937 rng(seed);
  std::vector<std::string> docs;
  for (int d = 0; d < count; ++d) {
    std::string doc;
    const int sentences = 3 + static_cast<int>(rng() % 4);
    for (int s = 0; s < sentences; ++s) {
      const int n = 4 + static_cast<int>(rng() % 8);
      for (int w = 0; w < n; ++w) {
        std::string word = words[rng() % 20];
        if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
        doc += word + (w + 1 < n ? " " : ". ");
      }
    }
    docs.push_back(doc);
  }
  return docs;
}

// Built once per process under the build tree's scratch directory.
inline const RunTestData& run_test_data() {
  static const RunTestData data = [] {
    RunTestData d;
    d.dir = nova::test::scratch_dir("run_test_data");
    d.corpus_dir = d.dir + "/corpus";
    d.tokenizer_dir = d.dir + "/tokenizer";
    std::filesystem::create_directories(d.corpus_dir);
    std::filesystem::create_directories(d.tokenizer_dir);
    const std::vector<std::string> docs = test_documents(48, 7);
    std::vector<std::string> files;
    for (size_t i = 0; i < docs.size(); ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "/doc%03zu.txt", i);
      nova::test::write_file(d.corpus_dir + name, docs[i]);
      files.push_back(d.corpus_dir + name);
    }
    tokenizer::BpeTrainerOptions o;
    o.vocab_size = 300;
    o.special_tokens = {"<|endoftext|>"};
    const tokenizer::TrainedBpe bpe = tokenizer::train_bpe_files(o, files);
    tokenizer::TokenizerConfigOptions tc;
    tc.eos_token = "<|endoftext|>";
    nova::test::write_file(d.tokenizer_dir + "/tokenizer.json", tokenizer::bpe_tokenizer_json(bpe).dump(2));
    nova::test::write_file(d.tokenizer_dir + "/tokenizer_config.json",
                           tokenizer::bpe_tokenizer_config_json(bpe, tc).dump(2));
    data::PrepareOptions p;
    p.inputs = {d.corpus_dir};
    p.format = data::InputFormat::text;
    p.tokenizer_path = d.tokenizer_dir + "/tokenizer.json";
    p.output_dir = d.dir + "/shards";
    p.val_every = 6;
    d.manifest = data::prepare_dataset(p).manifest_path;
    return d;
  }();
  return data;
}

// Overrides for a tiny from-scratch run into `out_dir`.
inline std::map<std::string, std::string> tiny_run_overrides(const std::string& out_dir, int64_t steps) {
  return {
      {"model.config.model_type", "llama"}, {"model.config.hidden_size", "16"}, {"model.config.num_layers", "2"},
      {"model.config.num_heads", "4"},       {"model.config.num_kv_heads", "2"}, {"data.manifest", run_test_data().manifest},
      {"data.seq_len", "16"},                {"data.batch_size", "2"},           {"optim.lr", "1e-2"},
      {"train.steps", std::to_string(steps)}, {"train.eval_every", "2"},          {"train.eval_batches", "2"},
      {"train.save_every", "2"},             {"train.keep_last", "2"},           {"output.dir", out_dir},
  };
}

inline RunConfig tiny_run_config(const std::string& out_dir, int64_t steps,
                                 std::map<std::string, std::string> extra = {}) {
  ConfigInputs in;
  in.overrides = tiny_run_overrides(out_dir, steps);
  for (auto& [k, v] : extra) in.overrides[k] = v;
  return resolve_run_config(in);
}

// Options for a run inside a test: progress into `log`, no terminal bar, no signal handlers.
inline RunOptions quiet_run_options(std::ostringstream& log) {
  RunOptions o;
  o.log = &log;
  o.terminal = false;
  o.handle_signals = false;
  return o;
}

}  // namespace nova::train::test
