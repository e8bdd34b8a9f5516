// Tokenizer loading (errors, mutation fuzzing), the public API, round-trip properties and encode()
// on arbitrary bytes.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "tokenizer/unicode.h"
#include "tokenizer_test_util.h"

namespace nova::tokenizer {
namespace {

using nlohmann::json;

// A small byte-level tokenizer exercising most components: every byte has a token, plus merges.
json small_tokenizer_json() {
  json vocab = json::object();
  int32_t next = 0;
  for (int b = 0; b < 256; ++b) {
    std::string s;
    unicode::append_utf8(s, unicode::byte_to_char(static_cast<uint8_t>(b)));
    vocab[s] = next++;
  }
  json merges = json::array();
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"Ġ", "a"}, {"e", "r"}, {"o", "n"}, {"Ġa", "n"}}) {
    vocab[a + b] = next++;
    merges.push_back(merges.size() % 2 ? json(a + " " + b) : json::array({a, b}));
  }
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array(
      {{{"id", next}, {"content", "<|bos|>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
        {"normalized", false}, {"special", true}},
       {{"id", next + 1}, {"content", "[MASK]"}, {"single_word", true}, {"lstrip", true}, {"rstrip", true},
        {"normalized", true}, {"special", false}}});
  j["normalizer"] = {{"type", "Sequence"},
                     {"normalizers", {{{"type", "NFC"}}, {{"type", "Replace"}, {"pattern", {{"String", "\r\n"}}}, {"content", "\n"}}}}};
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"},
         {"pattern", {{"Regex", "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}},
         {"behavior", "Isolated"},
         {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"fuse_unk", false},
                {"byte_fallback", false}, {"ignore_merges", false}, {"vocab", vocab}, {"merges", merges}};
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<|bos|>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                         {"pair", json::array()},
                         {"special_tokens", {{"<|bos|>", {{"id", "<|bos|>"}, {"ids", {next}}, {"tokens", {"<|bos|>"}}}}}}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  return j;
}

TEST(Tokenizer, SmallTokenizerWorks) {
  const Tokenizer tok = Tokenizer::from_json(small_tokenizer_json(), "small.json");
  EXPECT_EQ(tok.vocab_size(), 256 + 8 + 2);
  const int32_t bos = *tok.token_to_id("<|bos|>");
  EXPECT_TRUE(tok.is_special(bos));
  EXPECT_FALSE(tok.is_special(*tok.token_to_id("[MASK]")));
  EXPECT_EQ(tok.id_to_token(bos), "<|bos|>");
  const std::vector<int32_t> ids = tok.encode("the cat\r\nin <|bos|>x", true);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), bos);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[1], *tok.token_to_id("t"));  // merges make "he" and "Ġthe", not "the"
  EXPECT_EQ(ids[2], *tok.token_to_id("he"));
  EXPECT_EQ(tok.decode(ids), "<|bos|>the cat\nin <|bos|>x");
  EXPECT_EQ(tok.decode(ids, true), "the cat\nin x");
  // lstrip/rstrip/single_word: the spaces around [MASK] belong to it, and it is only a whole word.
  const std::vector<int32_t> masked = tok.encode("a [MASK] b", false);
  EXPECT_EQ(masked.size(), 3u);
  EXPECT_EQ(masked[1], *tok.token_to_id("[MASK]"));
  const std::vector<int32_t> glued = tok.encode("a[MASK]b", false);
  EXPECT_EQ(std::count(glued.begin(), glued.end(), *tok.token_to_id("[MASK]")), 0);
}

TEST(Tokenizer, DecodeRejectsUnknownIds) {
  const Tokenizer& tok = test::fixture_tokenizer("gpt2");
  const std::vector<int32_t> bad1{15496, tok.vocab_size()}, bad2{-1};
  EXPECT_THROW(tok.decode(bad1), Error);
  EXPECT_THROW(tok.decode(bad2), Error);
  EXPECT_THROW(tok.id_to_token(1 << 30), Error);
  StreamDecoder stream(tok);
  EXPECT_THROW(stream.push(-5), Error);
}

TEST(Tokenizer, FixtureVocabularies) {
  EXPECT_EQ(test::fixture_tokenizer("gpt2").vocab_size(), 50257);
  EXPECT_EQ(test::fixture_tokenizer("llama2").vocab_size(), 32000);
  EXPECT_EQ(test::fixture_tokenizer("qwen3").vocab_size(), 151669);
  EXPECT_EQ(test::fixture_tokenizer("qwen3").token_to_id("<|im_start|>"), 151644);
  EXPECT_TRUE(test::fixture_tokenizer("qwen3").is_special(151644));
  EXPECT_FALSE(test::fixture_tokenizer("qwen3").is_special(151667));  // <think> is not special
  EXPECT_EQ(test::fixture_tokenizer("llama2").id_to_token(1), "<s>");
}

// Each malformed file must give a nova::Error naming the file.
TEST(Tokenizer, MalformedFilesNameTheFile) {
  const std::string dir = nova::test::scratch_dir("tokenizer_malformed");
  const json good = small_tokenizer_json();
  auto with = [&](const std::function<void(json&)>& edit) {
    json j = good;
    edit(j);
    return j.dump();
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not_json", "{\"version\": \"1.0\", "},
      {"not_object", "[1, 2, 3]"},
      {"missing_model", with([](json& j) { j.erase("model"); })},
      {"unknown_model", with([](json& j) { j["model"]["type"] = "Unigram"; })},
      {"unknown_normalizer", with([](json& j) { j["normalizer"] = {{"type", "Frobnicate"}}; })},
      {"merge_unknown_token", with([](json& j) { j["model"]["merges"].push_back("zz q"); })},
      {"vocab_wrong_type", with([](json& j) { j["model"]["vocab"]["Ġt"] = "seven"; })},
      {"merges_wrong_type", with([](json& j) { j["model"]["merges"] = "h e"; })},
      {"added_wrong_type", with([](json& j) { j["added_tokens"][0]["special"] = "yes"; })},
      {"added_missing_content", with([](json& j) { j["added_tokens"][0].erase("content"); })},
      {"bad_regex", with([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(\\p{L}"; })},
      {"unknown_decoder", with([](json& j) { j["decoder"]["type"] = "Nope"; })},
      {"template_unknown_special", with([](json& j) { j["post_processor"]["special_tokens"] = json::object(); })},
      {"bad_version", with([](json& j) { j["version"] = "2.0"; })},
      {"template_unknown_id", with([](json& j) { j["post_processor"]["special_tokens"]["<|bos|>"]["ids"] = {99999}; })},
  };
  for (const auto& [name, text] : cases) {
    const std::string path = dir + "/" + name + ".json";
    nova::test::write_file(path, text);
    try {
      Tokenizer::from_file(path);
      ADD_FAILURE() << name << ": expected nova::Error";
    } catch (const Error& e) {
      EXPECT_EQ(e.where(), path) << name << ": " << e.what();
      EXPECT_FALSE(e.problem().empty()) << name;
    }
  }
  EXPECT_THROW(Tokenizer::from_file(dir + "/does_not_exist.json"), Error);
}

// Loading, then using, a mutated tokenizer.json either works or throws nova::Error.
void check_mutant(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception&) {
    return;  // from_file reports these as nova::Error (tested above)
  }
  try {
    const Tokenizer tok = Tokenizer::from_json(j, "mutant.json");
    const std::vector<int32_t> ids = tok.encode("Hello <|bos|> wörld [MASK] 123\r\n\xff", true);
    for (const int32_t id : ids) ASSERT_LT(id, tok.vocab_size());
    const std::string out = tok.decode(ids);
    ASSERT_TRUE(unicode::is_valid_utf8(out));
  } catch (const Error&) {
  }
}

TEST(Tokenizer, MutationFuzzSmallTokenizer) {
  nova::test::mutate_each(small_tokenizer_json().dump(), 3000 / test::kRandomCaseDivisor, 1234, check_mutant);
}

// A cut-down gpt2 tokenizer.json (its first 400 tokens and the merges among them) fuzzed a few
// hundred times: the real file's layout, but small enough to parse thousands of times.
TEST(Tokenizer, MutationFuzzGpt2Slice) {
  json j = json::parse(nova::test::read_file(test::fixture_path("gpt2", "tokenizer.json")));
  json vocab = json::object();
  for (const auto& [token, id] : j["model"]["vocab"].items()) {
    if (id.get<int>() < 400) vocab[token] = id;
  }
  json merges = json::array();
  for (const json& m : j["model"]["merges"]) {
    const std::string a = m[0], b = m[1];
    if (vocab.contains(a) && vocab.contains(b) && vocab.contains(a + b)) merges.push_back(m);
  }
  j["model"]["vocab"] = vocab;
  j["model"]["merges"] = merges;
  j["added_tokens"][0]["id"] = 400;
  const std::string seed = j.dump();
  ASSERT_NO_THROW(Tokenizer::from_json(j, "gpt2-slice.json"));
  std::mt19937 rng(99);
  for (int i = 0; i < 300; ++i) {
    // Mutate one random slice of the serialized file and splice it back.
    const size_t start = rng() % seed.size(), len = 1 + rng() % 256;
    const std::string slice = seed.substr(start, len);
    nova::test::mutate_each(slice, 1, static_cast<uint32_t>(rng()), [&](const std::string& mutated) {
      check_mutant(seed.substr(0, start) + mutated + seed.substr(std::min(seed.size(), start + len)));
    });
  }
}

// Random text from a pool of characters that exercise every branch of the split regexes.
std::string random_text(std::mt19937& rng, size_t max_chars) {
  static const std::vector<std::string> pool = {
      "a", "Z", "é", "e\u0301", "ß", "中", "文", "한", "ё", "ا", "🙂", "👍🏽", "\u200d", "\u200b", "0", "7", "٣", "½",
      " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", ".", ",", "'s", "'T", "!", "?", "#", "$", "€", "-", "_",
      "(", ")", "\"", "’", "∑", "\u0301", "ＡＢ"};
  std::string s;
  const size_t n = rng() % (max_chars + 1);
  for (size_t i = 0; i < n; ++i) s += pool[rng() % pool.size()];
  return s;
}

TEST(Tokenizer, RoundTripProperty) {
  std::mt19937 rng(7);
  for (int i = 0; i < 400 / test::kRandomCaseDivisor; ++i) {
    const std::string text = random_text(rng, 40);
    for (const bool special : {false, true}) {
      const Tokenizer& gpt2 = test::fixture_tokenizer("gpt2");
      EXPECT_EQ(gpt2.decode(gpt2.encode(text, special)), text) << json(text).dump();
      const Tokenizer& qwen = test::fixture_tokenizer("qwen3");
      EXPECT_EQ(qwen.decode(qwen.encode(text, special)), unicode::normalize(text, unicode::NormalForm::NFC))
          << json(text).dump();
      const Tokenizer& llama = test::fixture_tokenizer("llama2");
      EXPECT_EQ(llama.decode(llama.encode(text, false)), text) << json(text).dump();
      EXPECT_EQ(llama.decode(llama.encode(text, true), true), text) << json(text).dump();
    }
  }
}

// encode() takes any bytes: invalid UTF-8 is repaired to U+FFFD, never a crash or an exception.
TEST(Tokenizer, EncodeFuzzRandomBytes) {
  std::mt19937 rng(11);
  for (int i = 0; i < 1500 / test::kRandomCaseDivisor; ++i) {
    std::string bytes(rng() % 48, '\0');
    for (char& c : bytes) {
      const uint32_t r = rng();
      c = static_cast<char>(r % 3 == 0 ? 0x80 + (r >> 8) % 0x80 : (r >> 8) % 256);
    }
    for (const std::string family : {"gpt2", "llama2", "qwen3"}) {
      const Tokenizer& tok = test::fixture_tokenizer(family);
      std::vector<int32_t> ids;
      ASSERT_NO_THROW(ids = tok.encode(bytes, true)) << family;
      for (const int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.vocab_size()) << family;
      const std::string text = tok.decode(ids);
      ASSERT_TRUE(unicode::is_valid_utf8(text)) << family;
      if (family == "gpt2") {
        ASSERT_EQ(text, unicode::to_valid_utf8(bytes));
      }
    }
  }
}

TEST(Tokenizer, InvalidUtf8IsReplaced) {
  EXPECT_EQ(unicode::to_valid_utf8("a\xff" "b"), "a\uFFFDb");
  EXPECT_EQ(unicode::to_valid_utf8("\xE4\xB8"), "\uFFFD");          // truncated 3-byte sequence: one U+FFFD
  EXPECT_EQ(unicode::to_valid_utf8("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // surrogate: each byte
  EXPECT_EQ(unicode::to_valid_utf8("\xF0\x9F\x99\x82"), "🙂");
  const Tokenizer& gpt2 = test::fixture_tokenizer("gpt2");
  EXPECT_EQ(gpt2.encode("a\xff", false), gpt2.encode("a\uFFFD", false));
}

}  // namespace
}  // namespace nova::tokenizer
