// Shared helpers of the tokenizer tests: fixture tokenizers loaded once per test binary.
#pragma once

#include <map>
#include <string>

#include "support/fixtures.h"
#include "tokenizer/tokenizer.h"

namespace nova::tokenizer::test {

// Instrumented builds (ASan/UBSan, Debug) run fewer random cases so the binary stays quick there.
#if defined(__SANITIZE_ADDRESS__) || !defined(NDEBUG)
inline constexpr int kRandomCaseDivisor = 3;
#else
inline constexpr int kRandomCaseDivisor = 1;
#endif

inline std::string fixture_path(const std::string& family, const std::string& file) {
  return nova::test::fixture("tokenizers/" + family + "/" + file);
}

// gpt2, llama2 or qwen3 from shared/fixtures, loaded on first use.
inline const Tokenizer& fixture_tokenizer(const std::string& family) {
  static std::map<std::string, Tokenizer> loaded;
  auto it = loaded.find(family);
  if (it == loaded.end()) {
    it = loaded.emplace(family, Tokenizer::from_file(fixture_path(family, "tokenizer.json"))).first;
  }
  return it->second;
}

}  // namespace nova::tokenizer::test
