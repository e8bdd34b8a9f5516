// Byte-level BPE training: merges against a brute-force reference, the written tokenizer.json
// (loads, round-trips, matches the fixture's schema), special tokens, min_frequency and errors.
#include "tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "core/error.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_json_reader.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace nova::tokenizer {
namespace {

using Merges = std::vector<std::pair<std::string, std::string>>;

// Text with many repeated words, ties between pairs, multi-byte characters and specials.
std::vector<std::string> small_corpus() {
  std::mt19937 rng(3);
  const std::vector<std::string> syllables = {"ka", "ro", "mi", "é", "中", "文", "🙂", "ab", "ba", "aa", "’s", "12", "7"};
  const std::vector<std::string> gaps = {" ", " ", " ", "\n", ", ", ". ", "  ", "\t", "!\n\n"};
  std::vector<std::string> docs;
  for (int d = 0; d < 12; ++d) {
    std::string doc;
    for (int w = 0; w < 120; ++w) {
      const size_t len = 1 + rng() % 4;
      for (size_t k = 0; k < len; ++k) doc += syllables[rng() % std::min<size_t>(syllables.size(), 3 + rng() % 12)];
      doc += gaps[rng() % gaps.size()];
      if (rng() % 97 == 0) doc += "<|endoftext|>";
    }
    docs.push_back(doc);
  }
  docs.push_back("The quick brown fox jumps over the lazy dog. The dog sleeps; the fox doesn't.\r\n");
  docs.push_back("");
  return docs;
}

std::string byte_symbol(uint8_t b) {
  std::string s;
  unicode::append_utf8(s, unicode::byte_to_char(b));
  return s;
}

// The obvious algorithm: recount every pair of every word before each merge.
Merges brute_force_merges(const std::vector<std::string>& docs, const BpeTrainerOptions& o) {
  const std::string where = "test";
  const auto split = pre_tokenizer_from_json(
      json{{"type", "Split"}, {"pattern", {{"Regex", o.split_regex}}}, {"behavior", "Isolated"}, {"invert", false}},
      JsonPath{&where, ""});
  std::map<std::string, int64_t> word_counts;
  for (const std::string& doc : docs) {
    // Cut at the special tokens (none of the test's specials is a prefix of another).
    std::vector<std::string> segments{""};
    for (size_t i = 0; i < doc.size();) {
      bool matched = false;
      for (const std::string& s : o.special_tokens) {
        if (doc.compare(i, s.size(), s) == 0) {
          segments.emplace_back();
          i += s.size();
          matched = true;
          break;
        }
      }
      if (!matched) segments.back() += doc[i++];
    }
    for (const std::string& seg : segments) {
      if (seg.empty()) continue;
      std::vector<Piece> pieces{Piece{seg, -1, true}};
      split->pre_tokenize(pieces);
      for (const Piece& p : pieces) ++word_counts[p.text];
    }
  }
  std::vector<std::pair<std::vector<std::string>, int64_t>> words;
  for (const auto& [text, count] : word_counts) {
    std::vector<std::string> symbols;
    for (const char c : text) symbols.push_back(byte_symbol(static_cast<uint8_t>(c)));
    words.emplace_back(std::move(symbols), count);
  }
  std::set<std::string> vocab;
  for (int b = 0; b < 256; ++b) vocab.insert(byte_symbol(static_cast<uint8_t>(b)));
  Merges merges;
  while (vocab.size() + o.special_tokens.size() < o.vocab_size) {
    std::map<std::pair<std::string, std::string>, int64_t> pairs;
    for (const auto& [symbols, count] : words) {
      for (size_t i = 0; i + 1 < symbols.size(); ++i) pairs[{symbols[i], symbols[i + 1]}] += count;
    }
    const std::pair<std::string, std::string>* best = nullptr;
    int64_t best_count = 0;
    for (const auto& [pair, count] : pairs) {  // map order: lexicographic, so the first maximum wins
      if (count > best_count) {
        best = &pair;
        best_count = count;
      }
    }
    if (!best || best_count < static_cast<int64_t>(std::max<uint64_t>(o.min_frequency, 1))) break;
    const auto [a, b] = *best;
    merges.emplace_back(a, b);
    vocab.insert(a + b);
    for (auto& [symbols, count] : words) {
      std::vector<std::string> merged;
      for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == a && symbols[i + 1] == b) {
          merged.push_back(a + b);
          ++i;
        } else {
          merged.push_back(symbols[i]);
        }
      }
      symbols = std::move(merged);
    }
  }
  return merges;
}

Tokenizer load(const TrainedBpe& bpe) {
  return Tokenizer::from_json(json::parse(bpe_tokenizer_json(bpe).dump()), "trained tokenizer.json");
}

BpeTrainerOptions options(size_t vocab_size, uint64_t min_frequency = 2) {
  BpeTrainerOptions o;
  o.vocab_size = vocab_size;
  o.min_frequency = min_frequency;
  return o;
}

TEST(BpeTrainer, MergesEqualBruteForce) {
  const std::vector<std::string> docs = small_corpus();
  // The reference is slow under sanitizers: fewer and smaller cases there.
  const bool instrumented = test::kRandomCaseDivisor > 1;
  const std::vector<size_t> extras = instrumented ? std::vector<size_t>{0, 1, 17, 90} : std::vector<size_t>{0, 1, 2, 17, 90, 400};
  const std::vector<uint64_t> min_frequencies = instrumented ? std::vector<uint64_t>{0, 9} : std::vector<uint64_t>{0, 2, 9};
  for (const size_t extra : extras) {
    for (const uint64_t min_frequency : min_frequencies) {
      const BpeTrainerOptions o = options(256 + 3 + extra, min_frequency);
      const TrainedBpe bpe = train_bpe(o, iterate_documents(docs));
      const Merges expected = brute_force_merges(docs, o);
      ASSERT_EQ(bpe.merges, expected) << "vocab " << o.vocab_size << " min_frequency " << min_frequency;
      EXPECT_LE(bpe.total_size(), o.vocab_size);
      if (extra == 17) {
        EXPECT_EQ(bpe.total_size(), o.vocab_size);
      }
    }
  }
  // Other split regexes take part the same way.
  for (const char* regex : {kGpt2SplitRegex, kLlama3SplitRegex}) {
    BpeTrainerOptions o = options(256 + 3 + (instrumented ? 20 : 60), 2);
    o.split_regex = regex;
    EXPECT_EQ(train_bpe(o, iterate_documents(docs)).merges, brute_force_merges(docs, o)) << regex;
  }
}

TEST(BpeTrainer, MinFrequencyStopsTraining) {
  const std::vector<std::string> docs = small_corpus();
  const TrainedBpe all = train_bpe(options(100000, 0), iterate_documents(docs));
  const TrainedBpe frequent = train_bpe(options(100000, 50), iterate_documents(docs));
  EXPECT_LT(frequent.merges.size(), all.merges.size());
  EXPECT_GT(frequent.merges.size(), 0u);
  // Training with a higher threshold is a prefix of training without one.
  EXPECT_TRUE(std::equal(frequent.merges.begin(), frequent.merges.end(), all.merges.begin()));
  EXPECT_EQ(frequent.vocab.size(), 256 + frequent.merges.size());
  // No pair of the corpus occurs a million times: nothing is learned.
  EXPECT_TRUE(train_bpe(options(100000, 1000000), iterate_documents(docs)).merges.empty());
  // Without a limit every pair is eventually merged: each distinct word becomes one token.
  const Tokenizer t = load(all);
  EXPECT_EQ(t.encode(" quick", false).size(), 1u);
}

TEST(BpeTrainer, WrittenTokenizerLoadsAndCompresses) {
  const std::vector<std::string> docs = small_corpus();
  const TrainedBpe bpe = train_bpe(options(600), iterate_documents(docs));
  const Tokenizer t = load(bpe);
  EXPECT_EQ(t.vocab_size(), static_cast<int32_t>(bpe.total_size()));
  size_t bytes = 0, tokens = 0;
  for (const std::string& doc : docs) {
    const std::vector<int32_t> ids = t.encode(doc, true);
    EXPECT_EQ(t.decode(ids), doc);
    bytes += doc.size();
    tokens += ids.size();
  }
  EXPECT_LT(tokens * 2, bytes);
  // Byte symbols come first, in the order GPT-2 and Qwen give them.
  for (int32_t id = 0; id < 256; ++id) EXPECT_EQ(t.id_to_token(id), test::fixture_tokenizer("gpt2").id_to_token(id));
  for (size_t i = 0; i < bpe.vocab.size(); ++i) EXPECT_EQ(t.id_to_token(static_cast<int32_t>(i)), bpe.vocab[i]);
}

TEST(BpeTrainer, SpecialTokensAreAtomicAndSpecial) {
  const TrainedBpe bpe = train_bpe(options(500), iterate_documents(small_corpus()));
  const Tokenizer t = load(bpe);
  const std::vector<std::string> specials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  ASSERT_EQ(bpe.special_tokens, specials);
  for (size_t i = 0; i < specials.size(); ++i) {
    const int32_t id = bpe.special_id(i);
    EXPECT_EQ(t.token_to_id(specials[i]), id);
    EXPECT_TRUE(t.is_special(id));
    const std::vector<int32_t> ids = t.encode("ka" + specials[i] + "ro", false);
    ASSERT_EQ(std::count(ids.begin(), ids.end(), id), 1) << specials[i];
    EXPECT_EQ(t.decode(ids), "ka" + specials[i] + "ro");
    EXPECT_EQ(t.decode(ids, /*skip_special_tokens=*/true), "karo");
  }
  // No learned token contains a special token's text.
  for (const auto& [a, b] : bpe.merges) EXPECT_EQ((a + b).find("endoftext|"), std::string::npos);
  EXPECT_FALSE(t.is_special(0));
}

// Random text from characters of many scripts, emoji sequences, whitespace and digits.
std::string random_unicode(std::mt19937& rng, size_t max_chars) {
  static const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7e}, {0x09, 0x0d}, {0xa0, 0x24f}, {0x370, 0x3ff}, {0x400, 0x4ff}, {0x590, 0x6ff}, {0x900, 0x97f},
      {0x3040, 0x30ff}, {0x4e00, 0x4fff}, {0xac00, 0xacff}, {0x1f300, 0x1f64f}, {0x1f900, 0x1f9ff},
      {0x2000, 0x206f}, {0x300, 0x36f}, {0xfe00, 0xfe0f}, {0x10000, 0x1007f}, {0xe000, 0xe0ff}, {0x1, 0x1f}};
  std::string s;
  const size_t n = rng() % (max_chars + 1);
  for (size_t i = 0; i < n; ++i) {
    if (rng() % 25 == 0) {
      s += "👩‍👩‍👧‍👦";
      continue;
    }
    const auto& [lo, hi] = ranges[rng() % ranges.size()];
    unicode::append_utf8(s, lo + static_cast<char32_t>(rng() % (hi - lo + 1)));
  }
  return s;
}

TEST(BpeTrainer, RoundTripsArbitraryText) {
  std::mt19937 rng(5);
  std::vector<std::string> docs;
  for (int i = 0; i < 40; ++i) docs.push_back(random_unicode(rng, 200));
  const TrainedBpe bpe = train_bpe(options(700), iterate_documents(docs));
  ASSERT_GT(bpe.merges.size(), 100u);
  const Tokenizer t = load(bpe);
  for (int i = 0; i < 600 / test::kRandomCaseDivisor; ++i) {
    std::string text = random_unicode(rng, 60);
    if (i % 5 == 0) text += "<|im_end|>" + random_unicode(rng, 10);
    EXPECT_EQ(t.decode(t.encode(text, true)), text) << json(text).dump();
  }
  EXPECT_EQ(t.decode(t.encode("", false)), "");
}

TEST(BpeTrainer, NfcOption) {
  BpeTrainerOptions o = options(400);
  o.nfc = true;
  const TrainedBpe bpe = train_bpe(o, iterate_documents({"cafe\u0301 cafe\u0301 café"}));
  EXPECT_TRUE(bpe_tokenizer_json(bpe)["normalizer"] == nlohmann::ordered_json({{"type", "NFC"}}));
  const Tokenizer t = load(bpe);
  EXPECT_EQ(t.decode(t.encode("cafe\u0301", false)), "café");
  EXPECT_EQ(t.encode(" café", false).size(), 1u);  // the three occurrences were learned as one word
}

TEST(BpeTrainer, FilesAreDocuments) {
  const std::vector<std::string> docs = small_corpus();
  const std::string dir = nova::test::scratch_dir("bpe_trainer_files");
  std::vector<std::string> paths;
  for (size_t i = 0; i < docs.size(); ++i) {
    paths.push_back(dir + "/doc" + std::to_string(i) + ".txt");
    nova::test::write_file(paths.back(), docs[i]);
  }
  EXPECT_EQ(train_bpe_files(options(450), paths).merges, train_bpe(options(450), iterate_documents(docs)).merges);
  paths.push_back(dir + "/missing.txt");
  try {
    train_bpe_files(options(450), paths);
    FAIL() << "expected nova::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.txt"), std::string::npos) << e.what();
  }
}

TEST(BpeTrainer, InvalidUtf8IsTrainedAsReplacementCharacters) {
  const TrainedBpe bpe = train_bpe(options(300), iterate_documents({"ab\xff\xfe ab\xc3"}));
  const Tokenizer t = load(bpe);
  EXPECT_EQ(t.decode(t.encode("ab\xff", false)), "ab\xEF\xBF\xBD");
}

TEST(BpeTrainer, BadOptionsThrow) {
  const std::vector<std::string> docs = {"hello hello"};
  EXPECT_THROW(train_bpe(options(258), iterate_documents(docs)), Error);  // < 256 + 3 specials
  EXPECT_NO_THROW(train_bpe(options(259), iterate_documents(docs)));
  BpeTrainerOptions o = options(300);
  o.special_tokens = {"<a>", "<a>"};
  EXPECT_THROW(train_bpe(o, iterate_documents(docs)), Error);
  o.special_tokens = {""};
  EXPECT_THROW(train_bpe(o, iterate_documents(docs)), Error);
  o.special_tokens = {"a"};  // spelled like the byte symbol "a"
  EXPECT_THROW(train_bpe(o, iterate_documents(docs)), Error);
  o.special_tokens = {};
  o.split_regex = "(unclosed";
  EXPECT_THROW(train_bpe(o, iterate_documents(docs)), Error);
  try {
    train_bpe(options(10), iterate_documents(docs));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size 10"), std::string::npos) << e.what();
  }
}

// The keys and shapes the fixture (written by `tokenizers`) uses: its tree without the 151k vocab and
// merges (the streaming reader leaves them out), plus their first entries.
nlohmann::ordered_json qwen3_skeleton() {
  const std::string text = nova::test::read_file(test::fixture_path("qwen3", "tokenizer.json"));
  const std::optional<StreamedTokenizerJson> streamed = read_tokenizer_json(text);
  EXPECT_TRUE(streamed && streamed->tables.has_vocab && streamed->tables.has_merges);
  if (!streamed) return {};
  const BpeTables& t = streamed->tables;
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(streamed->tree.dump());
  nlohmann::ordered_json model = j["model"];
  model["vocab"] = {{std::string(t.text(t.vocab[0].first)), t.vocab[0].second}};
  const BpeTables::Merge& m = t.merges[0];
  model["merges"] = nlohmann::ordered_json::array({m.is_pair ? nlohmann::ordered_json::array({t.text(m.first), t.text(m.second)})
                               : nlohmann::ordered_json(t.text(m.first))});
  j["model"] = model;
  return j;
}

void expect_same_shape(const nlohmann::ordered_json& ours, const nlohmann::ordered_json& ref, const std::string& at) {
  ASSERT_EQ(ours.type_name(), std::string(ref.type_name())) << at;
  if (ours.is_object() && at != ".model.vocab") {
    std::set<std::string> our_keys, ref_keys;  // `tokenizers` reads keys in any order
    for (const auto& [k, v] : ours.items()) our_keys.insert(k);
    for (const auto& [k, v] : ref.items()) ref_keys.insert(k);
    EXPECT_EQ(our_keys, ref_keys) << at;
    for (const auto& [k, v] : ours.items()) {
      if (ref.contains(k) && !ref[k].is_null() && !v.is_null()) expect_same_shape(v, ref[k], at + "." + k);
    }
  }
  if (ours.is_array() && !ours.empty() && !ref.empty()) expect_same_shape(ours[0], ref[0], at + "[0]");
}

TEST(BpeTrainer, TokenizerJsonHasTheFixtureSchema) {
  const TrainedBpe bpe = train_bpe(options(400), iterate_documents(small_corpus()));
  const nlohmann::ordered_json ours_ordered = bpe_tokenizer_json(bpe);
  const nlohmann::ordered_json ref_ordered = qwen3_skeleton();
  expect_same_shape(ours_ordered, ref_ordered, "");
  json ours = json::parse(ours_ordered.dump()), ref = json::parse(ref_ordered.dump());  // order-free equality
  EXPECT_EQ(ours["pre_tokenizer"]["pretokenizers"][1], ref["pre_tokenizer"]["pretokenizers"][1]);
  EXPECT_EQ(ours["pre_tokenizer"]["pretokenizers"][0], ref["pre_tokenizer"]["pretokenizers"][0]);  // same regex
  EXPECT_EQ(ours["decoder"], ref["decoder"]);
  EXPECT_EQ(ours["post_processor"], ref["post_processor"]);
  json our_special = ours["added_tokens"][0], ref_special = ref["added_tokens"][0];
  EXPECT_EQ(our_special["id"], bpe.special_id(0));
  our_special.erase("id");
  ref_special.erase("id");
  EXPECT_EQ(our_special, ref_special);
}

TEST(BpeTrainer, TokenizerConfig) {
  const TrainedBpe bpe = train_bpe(options(300), iterate_documents(small_corpus()));
  const nlohmann::ordered_json c = bpe_tokenizer_config_json(bpe, TokenizerConfigOptions{});
  const json ref = json::parse(nova::test::read_file(test::fixture_path("qwen3", "tokenizer_config.json")));
  for (const auto& [k, v] : c.items()) {
    EXPECT_TRUE(ref.contains(k)) << k;
    if (ref.contains(k) && k != "tokenizer_class" && k != "added_tokens_decoder") {
      EXPECT_EQ(std::string(ref[k].type_name()), v.type_name()) << k;
    }
  }
  EXPECT_EQ(c["eos_token"], "<|im_end|>");
  EXPECT_EQ(c["pad_token"], "<|endoftext|>");
  EXPECT_TRUE(c["bos_token"].is_null());
  EXPECT_EQ(c["chat_template"], kChatmlTemplate);
  const std::string endoftext_id = std::to_string(bpe.special_id(0));
  EXPECT_EQ(json::parse(c["added_tokens_decoder"][endoftext_id].dump()), ref["added_tokens_decoder"]["151643"]);

  TokenizerConfigOptions bad;
  bad.eos_token = "</s>";
  EXPECT_THROW(bpe_tokenizer_config_json(bpe, bad), Error);
  BpeTrainerOptions plain = options(300);
  plain.special_tokens = {"<|endoftext|>"};
  TokenizerConfigOptions eos_only;
  eos_only.eos_token = "<|endoftext|>";
  const auto c2 = bpe_tokenizer_config_json(train_bpe(plain, iterate_documents({"x"})), eos_only);
  EXPECT_FALSE(c2.contains("chat_template"));  // no ChatML tokens, no ChatML template
}

}  // namespace
}  // namespace nova::tokenizer
