#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "serve/openai/json_text.h"
#include "serve/openai/responses.h"

namespace nova::serve::openai {
namespace {

// The reference is what the server wrote before: nlohmann's dump with the replace handler.
std::string reference(const std::string& s) { return dump_json(Json(s)); }
std::string ours(const std::string& s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) s += static_cast<char>(cp);
  else if (cp < 0x800) s += static_cast<char>(0xC0 | (cp >> 6)), s += static_cast<char>(0x80 | (cp & 0x3F));
  else if (cp < 0x10000)
    s += static_cast<char>(0xE0 | (cp >> 12)), s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
        s += static_cast<char>(0x80 | (cp & 0x3F));
  else
    s += static_cast<char>(0xF0 | (cp >> 18)), s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
        s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), s += static_cast<char>(0x80 | (cp & 0x3F));
  return s;
}

TEST(JsonText, EveryCodePointMatchesNlohmann) {
  // Surrogates encoded as 3-byte sequences are invalid UTF-8 and must be replaced the same way.
  std::string batch;
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const std::string one = utf8(cp);
    if (cp < 0x800 || (cp >= 0xD800 && cp < 0xE000)) {
      ASSERT_EQ(ours(one), reference(one)) << "U+" << std::hex << cp;
    }
    batch += one;
    if (batch.size() > 4096 || cp == 0x10FFFF) {
      ASSERT_EQ(ours(batch), reference(batch)) << "batch ending at U+" << std::hex << cp;
      batch.clear();
    }
  }
}

TEST(JsonText, EscapesAndInvalidUtf8MatchNlohmann) {
  const std::vector<std::string> cases = {
      "", "plain", "\"quoted\" \\back\\slash/", std::string("nul\0byte", 8), "\b\f\n\r\t\x01\x1f\x7f",
      "\x80", "\xC0\x80", "\xC1\xBF", "\xC2", "\xE0\x80\x80", "\xE0\xA0", "\xED\xA0\x80", "\xF0\x8F\xBF\xBF",
      "\xF4\x90\x80\x80", "\xF5\x80", "\xFF\xFE", "a\xE2\x82", "a\xE2\x82z", "\xE2\x82\xE2\x82\xAC", "\xF0\x9F\x98",
      "\xF0\x9F\x98\x80\xF0", "ok\xC3(x", "\xC3\xA9\xC3", "\xE2\x28\xA1"};
  for (const auto& s : cases) EXPECT_EQ(ours(s), reference(s)) << testing::PrintToString(s);
}

TEST(JsonText, RandomBytesMatchNlohmann) {
  std::mt19937 rng(5);
  // Biased towards UTF-8 structure bytes so sequences are often almost valid.
  const unsigned char pool[] = {0x00, 0x0a, 0x1f, '"', '\\', 'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
                                0xc0, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 12, '\0');
    for (auto& c : s) c = static_cast<char>(rng() % 2 ? pool[rng() % sizeof pool] : rng() % 256);
    ASSERT_EQ(ours(s), reference(s)) << testing::PrintToString(s);
  }
}

TEST(JsonText, NumbersMatchNlohmann) {
  std::mt19937_64 rng(7);
  std::vector<double> values = {0.0, -0.0, 1.0, -1.25, 1e-5, 1e-4, 123456789012345678.0, 1e16, 1e15, 0.1,
                                -3.4028234663852886e38, 5e-324, std::numeric_limits<double>::max(),
                                std::nan(""), std::numeric_limits<double>::infinity(), -1e300};
  for (int i = 0; i < 20000; ++i) {
    values.push_back(std::bit_cast<double>(rng()));
    values.push_back(static_cast<float>(-std::ldexp(static_cast<double>(rng() % 1000000), -static_cast<int>(rng() % 40))));
  }
  for (double v : values) {
    std::string out;
    append_json_double(out, v);
    ASSERT_EQ(out, dump_json(Json(v))) << v;
  }
  for (int64_t v : {int64_t{0}, int64_t{-1}, int64_t{1700000000}, std::numeric_limits<int64_t>::min(),
                    std::numeric_limits<int64_t>::max()}) {
    std::string out;
    append_json_int(out, v);
    EXPECT_EQ(out, dump_json(Json(v)));
  }
}

}  // namespace
}  // namespace nova::serve::openai
