#include "data/prepare.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/brown.h"
#include "data/data_loader.h"
#include "data/manifest.h"
#include "data/shard.h"
#include "data/token_stream.h"
#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"

namespace nova::data {
namespace {

namespace fs = std::filesystem;

const std::string& gpt2_path() {
  static const std::string p = test::fixture("tokenizers/gpt2/tokenizer.json");
  return p;
}

const tokenizer::Tokenizer& gpt2() {
  static const tokenizer::Tokenizer t = tokenizer::Tokenizer::from_file(gpt2_path());
  return t;
}

constexpr int32_t kEndOfText = 50256;  // <|endoftext|> in GPT-2

// Every token of a split's shards, in order.
std::vector<int32_t> split_tokens(const std::vector<std::string>& shards) {
  std::vector<int32_t> all;
  for (const auto& p : shards) {
    const auto t = Shard::open(p).tokens();
    all.insert(all.end(), t.begin(), t.end());
  }
  return all;
}

// The documents of a token stream (each ends with the separator), decoded.
std::vector<std::string> decode_documents(const std::vector<int32_t>& ids) {
  std::vector<std::string> docs;
  std::vector<int32_t> cur;
  for (int32_t id : ids) {
    if (id == kEndOfText) {
      docs.push_back(gpt2().decode(cur));
      cur.clear();
    } else {
      cur.push_back(id);
    }
  }
  EXPECT_TRUE(cur.empty()) << "the stream must end with a separator";
  return docs;
}

// A small corpus: two text files and a JSONL file with one line of each malformation.
std::string make_corpus(const std::string& name) {
  const std::string dir = test::scratch_dir(name) + "/in";
  fs::create_directories(dir + "/sub");
  test::write_file(dir + "/a.txt", "Hello world.\n");
  test::write_file(dir + "/sub/b.txt", "First para.\n\nSecond para.\n \n\nThird.");
  test::write_file(dir + "/zz.jsonl",
                   "{\"text\": \"alpha text\"}\n"
                   "{\"prompt\": \"Q: hi\", \"completion\": \" A: yo\"}\n"
                   "{\"text\": \"broken\n"                       // invalid JSON
                   "\n"                                          // blank: ignored
                   "{\"body\": \"no text field\"}\n"             // missing field
                   "{\"text\": 42}\n"                            // wrong type
                   "{\"prompt\": \"p\", \"completion\": null}\n" // wrong type
                   "{\"text\": \"bad \xff byte\"}\n"             // invalid UTF-8
                   "{\"text\": \"omega\"}");
  return dir;
}

const std::vector<std::string> kCorpusDocs = {"Hello world.\n", "First para.\n", "Second para.\n", "Third.",
                                              "alpha text",     "Q: hi A: yo",   "omega"};

TEST(Prepare, TextAndJsonlWithMalformedLines) {
  const std::string in = make_corpus("prepare_basic");
  PrepareOptions o;
  o.inputs = {in};
  o.text_split = TextSplit::blank_lines;
  o.tokenizer_path = gpt2_path();
  o.tokenizer = gpt2();  // loaded once for the whole binary
  o.output_dir = fs::path(in).parent_path().string() + "/out";
  const PrepareStats st = prepare_dataset(o);

  EXPECT_EQ(st.files, 3u);
  EXPECT_EQ(st.jsonl_lines, 8u);
  EXPECT_EQ(st.skipped_invalid_json, 1u);
  EXPECT_EQ(st.skipped_missing_field, 1u);
  EXPECT_EQ(st.skipped_wrong_type, 2u);
  EXPECT_EQ(st.skipped_invalid_utf8, 1u);
  EXPECT_EQ(st.skipped_lines(), 5u);
  ASSERT_EQ(st.skipped_examples.size(), 5u);
  EXPECT_NE(st.skipped_examples[0].find("zz.jsonl:3: invalid JSON"), std::string::npos) << st.skipped_examples[0];
  EXPECT_NE(st.skipped_examples[4].find("zz.jsonl:8: invalid UTF-8"), std::string::npos) << st.skipped_examples[4];
  EXPECT_EQ(st.separator_id, kEndOfText);
  EXPECT_EQ(st.train_documents, kCorpusDocs.size());
  EXPECT_EQ(st.val_documents, 0u);
  ASSERT_EQ(st.train_shards.size(), 1u);
  EXPECT_TRUE(st.val_shards.empty());

  // The shard is exactly each document encoded by the tokenizer, followed by the separator.
  std::vector<int32_t> expected;
  for (const char* d : {"Hello world.\n", "First para.\n", "Second para.\n", "Third.", "alpha text"}) {
    const auto ids = gpt2().encode(d, false);
    expected.insert(expected.end(), ids.begin(), ids.end());
    expected.push_back(kEndOfText);
  }
  for (const char* d : {"Q: hi", " A: yo"}) {  // prompt and completion are encoded separately
    const auto ids = gpt2().encode(d, false);
    expected.insert(expected.end(), ids.begin(), ids.end());
  }
  expected.push_back(kEndOfText);
  for (int32_t id : gpt2().encode("omega", false)) expected.push_back(id);
  expected.push_back(kEndOfText);
  const auto tokens = split_tokens(st.train_shards);
  EXPECT_EQ(tokens, expected);
  EXPECT_EQ(decode_documents(tokens), kCorpusDocs);
  EXPECT_EQ(st.train_tokens, expected.size());
  const Shard shard = Shard::open(st.train_shards[0]);
  EXPECT_EQ(shard.document_count(), kCorpusDocs.size());
  EXPECT_EQ(shard.header().token_width, 2u);
  EXPECT_FALSE(shard.has_loss_mask());

  const Manifest m = Manifest::load(st.manifest_path);
  EXPECT_EQ(m.separator_id, kEndOfText);
  EXPECT_EQ(m.separator_token, "<|endoftext|>");
  EXPECT_EQ(m.vocab_size, 50257u);
  EXPECT_EQ(m.token_width, 2u);
  EXPECT_TRUE(fs::path(m.tokenizer).is_absolute());
  EXPECT_TRUE(fs::equivalent(m.tokenizer, gpt2_path()));
  ASSERT_EQ(m.train.shards.size(), 1u);
  EXPECT_EQ(m.train.shards[0].file, "train-00000.bin");
  EXPECT_EQ(m.train.shards[0].tokens, expected.size());
  EXPECT_EQ(m.train.documents, kCorpusDocs.size());
  EXPECT_EQ(m.skipped_wrong_type, 2u);
  EXPECT_EQ(m.skipped_invalid_utf8, 1u);

  // The loader reads the prepared set through the manifest.
  auto stream = std::make_shared<const TokenStream>(TokenStream::open_manifest(st.manifest_path, "train"));
  EXPECT_EQ(stream->size(), expected.size());
  DataLoader loader(stream, {.batch_size = 2, .seq_len = 4, .seed = 1});
  EXPECT_EQ(loader.next().inputs.size(), 8u);
}

TEST(Prepare, WholeFileDocuments) {
  const std::string in = make_corpus("prepare_whole");
  PrepareOptions o;
  o.inputs = {in + "/sub/b.txt", in + "/a.txt"};  // explicit files keep their given order
  o.tokenizer_path = gpt2_path();
  o.tokenizer = gpt2();  // loaded once for the whole binary
  o.output_dir = in + "/../out";
  const PrepareStats st = prepare_dataset(o);
  EXPECT_EQ(decode_documents(split_tokens(st.train_shards)),
            (std::vector<std::string>{"First para.\n\nSecond para.\n \n\nThird.", "Hello world.\n"}));
}

TEST(Prepare, ValidationEveryNthDocumentBySeed) {
  const std::string in = make_corpus("prepare_every");
  PrepareOptions o;
  o.inputs = {in};
  o.text_split = TextSplit::blank_lines;
  o.tokenizer_path = gpt2_path();
  o.tokenizer = gpt2();  // loaded once for the whole binary
  o.output_dir = in + "/../out";
  o.val_every = 3;
  o.seed = 4;  // 4 % 3 == 1: documents 1 and 4 go to validation
  const PrepareStats st = prepare_dataset(o);
  EXPECT_EQ(st.val_documents, 2u);
  EXPECT_EQ(st.train_documents, 5u);
  ASSERT_EQ(st.val_shards.size(), 1u);
  EXPECT_EQ(fs::path(st.val_shards[0]).filename(), "val-00000.bin");
  EXPECT_EQ(decode_documents(split_tokens(st.val_shards)), (std::vector<std::string>{kCorpusDocs[1], kCorpusDocs[4]}));
  EXPECT_EQ(decode_documents(split_tokens(st.train_shards)),
            (std::vector<std::string>{kCorpusDocs[0], kCorpusDocs[2], kCorpusDocs[3], kCorpusDocs[5], kCorpusDocs[6]}));
}

TEST(Prepare, ValidationFractionIsDeterministicBySeed) {
  const std::string dir = test::scratch_dir("prepare_fraction");
  std::string text;
  for (int i = 0; i < 60; ++i) text += "document number " + std::to_string(i) + "\n\n";
  test::write_file(dir + "/docs.txt", text);
  auto run = [&](uint64_t seed, const std::string& out) {
    PrepareOptions o;
    o.inputs = {dir + "/docs.txt"};
    o.text_split = TextSplit::blank_lines;
    o.tokenizer_path = gpt2_path();
    o.tokenizer = gpt2();  // loaded once for the whole binary
    o.output_dir = dir + "/" + out;
    o.val_fraction = 0.25;
    o.seed = seed;
    const PrepareStats st = prepare_dataset(o);
    EXPECT_EQ(st.train_documents + st.val_documents, 60u);
    return decode_documents(split_tokens(st.val_shards));
  };
  const auto a = run(1, "a"), b = run(1, "b"), c = run(2, "c");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_GT(a.size(), 5u);  // about 15 of 60
  EXPECT_LT(a.size(), 30u);
}

TEST(Prepare, ShardSizeLimitAndStaleShardRemoval) {
  const std::string in = make_corpus("prepare_small_shards");
  PrepareOptions o;
  o.inputs = {in};
  o.text_split = TextSplit::blank_lines;
  o.tokenizer_path = gpt2_path();
  o.tokenizer = gpt2();  // loaded once for the whole binary
  o.output_dir = in + "/../out";
  o.max_shard_tokens = 5;
  const PrepareStats small = prepare_dataset(o);
  ASSERT_GT(small.train_shards.size(), 3u);
  uint64_t docs = 0;
  for (size_t i = 0; i < small.train_shards.size(); ++i) {
    const Shard s = Shard::open(small.train_shards[i]);
    if (i + 1 < small.train_shards.size()) {
      EXPECT_EQ(s.size(), 5u);
    }
    docs += s.document_count();
  }
  EXPECT_EQ(docs, kCorpusDocs.size());
  const std::vector<int32_t> small_tokens = split_tokens(small.train_shards);
  EXPECT_EQ(decode_documents(small_tokens), kCorpusDocs);

  o.max_shard_tokens = 1000;
  const PrepareStats big = prepare_dataset(o);
  ASSERT_EQ(big.train_shards.size(), 1u);
  EXPECT_EQ(split_tokens(big.train_shards), small_tokens);
  EXPECT_FALSE(fs::exists(o.output_dir + "/train-00001.bin"));  // the stale shards are gone
  EXPECT_TRUE(fs::exists(o.output_dir + "/train-00000.bin"));
}

TEST(Prepare, LossMaskCoversCompletionsOnly) {
  const std::string dir = test::scratch_dir("prepare_mask");
  test::write_file(dir + "/sft.jsonl",
                   "{\"prompt\": \"Question: sky?\", \"completion\": \" Blue.\"}\n{\"text\": \"plain\"}\n");
  PrepareOptions o;
  o.inputs = {dir + "/sft.jsonl"};
  o.tokenizer_path = gpt2_path();
  o.tokenizer = gpt2();  // loaded once for the whole binary
  o.output_dir = dir + "/out";
  o.loss_mask = true;
  const PrepareStats st = prepare_dataset(o);
  const Shard s = Shard::open(st.train_shards.at(0));
  ASSERT_TRUE(s.has_loss_mask());
  const size_t prompt = gpt2().encode("Question: sky?", false).size();
  const size_t completion = gpt2().encode(" Blue.", false).size();
  const size_t plain = gpt2().encode("plain", false).size();
  ASSERT_EQ(s.size(), prompt + completion + 1 + plain + 1);
  std::vector<uint8_t> mask(s.size());
  s.copy_loss_mask(0, s.size(), mask.data());
  for (size_t i = 0; i < mask.size(); ++i) EXPECT_EQ(mask[i], i < prompt ? 0 : 1) << i;
  EXPECT_TRUE(Manifest::load(st.manifest_path).loss_mask);
}

TEST(Prepare, BrownCorpusFormat) {
  const std::string dir = test::scratch_dir("prepare_brown");
  const std::string ca01 = "\n\n\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ./.\n";
  const std::string cb02 = "\n\n\tIt/pps rained/vbd ./.\nThen/rb it/pps stopped/vbd ./.\n";
  test::write_file(dir + "/ca01", ca01);
  test::write_file(dir + "/cb02", cb02);
  test::write_file(dir + "/README", "not part of the corpus");
  PrepareOptions o;
  o.inputs = {dir};
  o.format = InputFormat::brown;
  o.tokenizer_path = gpt2_path();
  o.tokenizer = gpt2();  // loaded once for the whole binary
  o.output_dir = dir + "/out";
  const PrepareStats st = prepare_dataset(o);
  EXPECT_EQ(st.files, 2u);
  EXPECT_EQ(decode_documents(split_tokens(st.train_shards)),
            (std::vector<std::string>{"The jury said \"no\".", "It rained. Then it stopped."}));
}

TEST(Prepare, BadOptionsAndInputs) {
  const std::string in = make_corpus("prepare_errors");
  PrepareOptions good;
  good.inputs = {in};
  good.tokenizer_path = gpt2_path();
  good.tokenizer = gpt2();
  good.output_dir = in + "/../out";
  auto error_of = [](const PrepareOptions& o) -> std::string {
    try {
      prepare_dataset(o);
    } catch (const nova::Error& e) {
      return e.what();
    }
    return "no error";
  };
  PrepareOptions o = good;
  o.inputs = {in + "/missing.txt"};
  EXPECT_NE(error_of(o).find("missing.txt"), std::string::npos);
  o = good;
  o.tokenizer_path = in + "/nope.json";
  o.tokenizer.reset();
  EXPECT_NE(error_of(o).find("nope.json"), std::string::npos);
  o = good;
  o.val_every = 3;
  o.val_fraction = 0.1;
  EXPECT_NE(error_of(o).find("val_every"), std::string::npos);
  o = good;
  o.val_fraction = 1.0;
  EXPECT_NE(error_of(o).find("val_fraction"), std::string::npos);
  o = good;
  o.separator_token = "<|no such token|>";
  EXPECT_NE(error_of(o).find("separator_token"), std::string::npos);
  o = good;
  o.max_shard_tokens = 0;
  EXPECT_NE(error_of(o).find("max_shard_tokens"), std::string::npos);
  o = good;
  o.separator_token = "!";  // any token may serve as the separator
  EXPECT_EQ(error_of(o), "no error");
}

TEST(Manifest, RejectsBadFields) {
  Manifest m;
  m.tokenizer = "t.json";
  m.vocab_size = 100;
  m.separator_id = 5;
  m.train.shards.push_back({"train-00000.bin", 10, 1});
  const nlohmann::json good = m.to_json();
  EXPECT_NO_THROW(Manifest::from_json(good, "m.json"));
  auto bad = good;
  bad["separator_id"] = 100;
  EXPECT_THROW(Manifest::from_json(bad, "m.json"), nova::Error);
  bad = good;
  bad["train"]["shards"][0]["file"] = "../escape.bin";
  EXPECT_THROW(Manifest::from_json(bad, "m.json"), nova::Error);
  bad = good;
  bad.erase("token_width");
  EXPECT_THROW(Manifest::from_json(bad, "m.json"), nova::Error);
  bad = good;
  bad["val"]["tokens"] = "many";
  EXPECT_THROW(Manifest::from_json(bad, "m.json"), nova::Error);
}

}  // namespace
}  // namespace nova::data
