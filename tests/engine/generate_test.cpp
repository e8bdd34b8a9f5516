#include "engine/generate.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "toy_session.h"

namespace nova::engine {
namespace {

using test::FakeDetokenizer;
using test::ToySession;

constexpr int kVocab = 40;

ToySession markov(int64_t capacity = 4096, uint64_t salt = 11) {
  return ToySession(kVocab, capacity, test::markov_logits(salt));
}

GenerationRequest greedy_request(std::vector<int32_t> prompt, int max_tokens) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  return r;
}

TEST(Generate, GreedyIsTheArgmaxAtEveryStep) {
  ToySession s = markov();
  const auto r = generate(s, nullptr, greedy_request({3, 1, 4, 1, 5}, 20));
  ASSERT_EQ(r.tokens.size(), 20u);
  EXPECT_EQ(r.finish_reason, "length");
  std::vector<int32_t> history = {3, 1, 4, 1, 5};
  for (int32_t tok : r.tokens) {
    const auto l = s.logits_after(history);
    EXPECT_EQ(tok, std::max_element(l.begin(), l.end()) - l.begin());
    history.push_back(tok);
  }
  // The session holds everything but the last generated token.
  EXPECT_EQ(s.tokens(), std::vector<int32_t>(history.begin(), history.end() - 1));
}

TEST(Generate, TopK1EqualsGreedy) {
  ToySession a = markov();
  ToySession b = markov();
  GenerationRequest r = greedy_request({7, 8}, 30);
  const auto greedy = generate(a, nullptr, r);
  r.sampling.temperature = 1.3f;
  r.sampling.top_k = 1;
  r.sampling.seed = 5;
  EXPECT_EQ(generate(b, nullptr, r).tokens, greedy.tokens);
}

TEST(Generate, SeedReproducesAndDifferentSeedsDiffer) {
  GenerationRequest r;
  r.prompt = {2, 9};
  r.max_tokens = 40;
  r.sampling.temperature = 1.0f;
  r.sampling.seed = 42;
  auto run = [&]() {
    ToySession s = markov();
    return generate(s, nullptr, r).tokens;
  };
  const auto a = run();
  EXPECT_EQ(a, run());
  r.sampling.seed = 43;
  EXPECT_NE(a, run());
}

TEST(Generate, ChunkedPrefillGivesTheSameResult) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < 10; ++i) prompt.push_back(i * 3 % kVocab);
  GenerationRequest r = greedy_request(prompt, 4);
  ToySession whole = markov();
  const auto expect = generate(whole, nullptr, r);
  r.prefill_chunk = 3;
  ToySession chunked = markov();
  EXPECT_EQ(generate(chunked, nullptr, r).tokens, expect.tokens);
  EXPECT_EQ(chunked.calls(), (std::vector<size_t>{3, 3, 3, 1, 1, 1, 1}));
  EXPECT_EQ(whole.calls(), (std::vector<size_t>{10, 1, 1, 1}));
}

TEST(Generate, ContinuesFromWhatTheSessionHolds) {
  ToySession fresh = markov();
  const auto expect = generate(fresh, nullptr, greedy_request({1, 2, 3, 4}, 8));
  ToySession warm = markov();
  std::vector<float> logits;
  const std::vector<int32_t> prefix = {1, 2};
  warm.forward(prefix, logits);
  const auto got = generate(warm, nullptr, greedy_request({3, 4}, 8));
  EXPECT_EQ(got.tokens, expect.tokens);
  EXPECT_EQ(warm.length(), 4 + 8 - 1);
}

// A model that spells "Hello world! Bye" one piece per token, then loops.
const FakeDetokenizer kText({"He", "llo", " wo", "rld", "!", " By", "e", "<eos>", "\xE2\x82", "\xAC"}, {7});

GenerationRequest scripted_request(std::vector<int32_t> script, int max_tokens, ToySession* out_session) {
  const std::vector<int32_t> prompt = {0};
  *out_session = ToySession(10, 4096, test::scripted_logits(std::move(script), prompt.size()));
  return greedy_request(prompt, max_tokens);
}

TEST(Generate, StopStringAcrossTokensStreamsOnlySafeText) {
  ToySession s(1, 1, {});
  GenerationRequest r = scripted_request({0, 1, 2, 3, 4, 5, 6}, 50, &s);
  r.stop_strings = {"o world", "Bye"};
  std::vector<std::string> deltas;
  std::string streamed;
  const auto res = generate(s, &kText, r, [&](const TokenEvent& ev) {
    deltas.push_back(ev.text);
    streamed += ev.text;
    EXPECT_EQ(ev.index + 1, static_cast<int>(deltas.size()));
    EXPECT_EQ(ev.finished, ev.index == 3);
    return true;
  });
  EXPECT_EQ(res.text, "Hell");
  EXPECT_EQ(streamed, res.text);
  EXPECT_EQ(deltas, (std::vector<std::string>{"He", "ll", "", ""}));
  EXPECT_EQ(res.finish_reason, "stop");
  EXPECT_EQ(res.stop_string, "o world");
  EXPECT_EQ(res.tokens, (std::vector<int32_t>{0, 1, 2, 3}));  // the token completing the stop is kept
}

TEST(Generate, StopTokenEndsGenerationAndIsNotInTheText) {
  ToySession s(1, 1, {});
  GenerationRequest r = scripted_request({0, 1, 4, 7, 0, 1}, 50, &s);
  r.stop_token_ids = {7};
  const auto res = generate(s, &kText, r);
  EXPECT_EQ(res.tokens, (std::vector<int32_t>{0, 1, 4, 7}));
  EXPECT_EQ(res.text, "Hello!");
  EXPECT_EQ(res.finish_reason, "stop");
  EXPECT_EQ(res.stop_token, 7);
  EXPECT_EQ(res.token_logprobs.size(), 4u);
}

TEST(Generate, SpecialTokensAreSkippedUnlessAsked) {
  ToySession s(1, 1, {});
  GenerationRequest r = scripted_request({0, 7, 1}, 3, &s);
  EXPECT_EQ(generate(s, &kText, r).text, "Hello");
  r = scripted_request({0, 7, 1}, 3, &s);
  r.skip_special_tokens = false;
  EXPECT_EQ(generate(s, &kText, r).text, "He<eos>llo");
}

TEST(Generate, MaxTokensEndsWithLengthAndStreamsEveryByte) {
  ToySession s(1, 1, {});
  GenerationRequest r = scripted_request({0, 8, 9, 1, 8}, 5, &s);
  r.stop_strings = {"llo?"};
  std::string streamed;
  int events = 0;
  const auto res = generate(s, &kText, r, [&](const TokenEvent& ev) {
    streamed += ev.text;
    ++events;
    return true;
  });
  EXPECT_EQ(events, 5);
  EXPECT_EQ(res.finish_reason, "length");
  EXPECT_EQ(res.text, "He\xE2\x82\xACllo\xEF\xBF\xBD");  // the trailing half character flushes as U+FFFD
  EXPECT_EQ(streamed, res.text);
}

TEST(Generate, CallbackReturningFalseCancels) {
  ToySession s = markov();
  int seen = 0;
  const auto res = generate(s, nullptr, greedy_request({1}, 50), [&](const TokenEvent&) { return ++seen < 3; });
  EXPECT_EQ(seen, 3);
  EXPECT_EQ(res.tokens.size(), 3u);
  EXPECT_EQ(res.finish_reason, "cancelled");
}

TEST(Generate, ZeroMaxTokensOnlyPrefills) {
  ToySession s = markov();
  const auto res = generate(s, nullptr, greedy_request({1, 2, 3}, 0));
  EXPECT_TRUE(res.tokens.empty());
  EXPECT_EQ(res.finish_reason, "length");
  EXPECT_EQ(s.length(), 3);
}

TEST(Generate, FullContextEndsWithLength) {
  ToySession s = markov(/*capacity=*/8);
  const auto res = generate(s, nullptr, greedy_request({1, 2, 3, 4, 5}, 100));
  // 5 prompt tokens + 3 generated fill the cache; the 4th generated token needs no cache slot.
  EXPECT_EQ(res.tokens.size(), 4u);
  EXPECT_EQ(res.finish_reason, "length");
  ToySession small = markov(/*capacity=*/4);
  EXPECT_THROW(generate(small, nullptr, greedy_request({1, 2, 3, 4, 5}, 1)), Error);
}

TEST(Generate, LogprobsAreReportedPerToken) {
  ToySession s = markov();
  GenerationRequest r = greedy_request({4}, 5);
  r.logprobs = 3;
  std::vector<TokenEvent> events;
  const auto res = generate(s, nullptr, r, [&](const TokenEvent& ev) {
    events.push_back(ev);
    return true;
  });
  ASSERT_EQ(res.top_logprobs.size(), 5u);
  std::vector<int32_t> history = {4};
  for (size_t i = 0; i < 5; ++i) {
    ASSERT_EQ(res.top_logprobs[i].size(), 3u);
    EXPECT_EQ(res.top_logprobs[i][0].id, res.tokens[i]);  // greedy: the chosen token is the best
    EXPECT_FLOAT_EQ(res.top_logprobs[i][0].logprob, res.token_logprobs[i]);
    EXPECT_EQ(events[i].top.size(), 3u);
    EXPECT_FLOAT_EQ(events[i].logprob, res.token_logprobs[i]);
    // By hand: log_softmax of the toy logits.
    const auto l = s.logits_after(history);
    double z = 0;
    for (float v : l) z += std::exp(static_cast<double>(v));
    EXPECT_NEAR(res.token_logprobs[i], l[res.tokens[i]] - std::log(z), 1e-5);
    history.push_back(res.tokens[i]);
  }
}

TEST(Generate, RejectsBadRequestsNamingTheField) {
  auto field_of = [](const GenerationRequest& r, const Detokenizer* d) -> std::string {
    ToySession s = markov();
    try {
      generate(s, d, r);
    } catch (const Error& e) {
      return e.where();
    }
    return "";
  };
  GenerationRequest r = greedy_request({1}, 4);
  EXPECT_EQ(field_of(r, nullptr), "");
  r.prompt = {};
  EXPECT_EQ(field_of(r, nullptr), "prompt");
  r.prompt = {1, kVocab};
  EXPECT_EQ(field_of(r, nullptr), "prompt[1]");
  r = greedy_request({1}, -1);
  EXPECT_EQ(field_of(r, nullptr), "max_tokens");
  r = greedy_request({1}, 4);
  r.sampling.top_p = 0;
  EXPECT_EQ(field_of(r, nullptr), "sampling.top_p");
  r = greedy_request({1}, 4);
  r.stop_strings = {"x"};
  EXPECT_EQ(field_of(r, nullptr), "stop");
  r = greedy_request({1}, 4);
  r.stop_token_ids = {-3};
  EXPECT_EQ(field_of(r, nullptr), "stop_token_ids[0]");
  r = greedy_request({1}, 4);
  r.logprobs = kVocab + 1;
  EXPECT_EQ(field_of(r, nullptr), "logprobs");
  r = greedy_request({1}, 4);
  r.prefill_chunk = 0;
  EXPECT_EQ(field_of(r, nullptr), "prefill_chunk");
}

}  // namespace
}  // namespace nova::engine
