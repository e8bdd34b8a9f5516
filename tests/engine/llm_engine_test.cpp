// The engine end to end on fixture models: whatever the batching, chunking, preemption or
// prefix caching, every request gets exactly what generate() gives it alone.
#include "engine/llm_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "core/error.h"
#include "engine/generate.h"
#include "model/transformer.h"
#include "support/fixtures.h"
#include "toy_session.h"

namespace nova::engine {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<model::Transformer> load(const std::string& name) {
  return model::Transformer::load(test::fixture("models/" + name));
}

// Prompts of different lengths of random ids (fixed seed).
std::vector<std::vector<int32_t>> random_prompts(int n, int vocab, uint32_t seed, int max_len = 48) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  std::uniform_int_distribution<int> len(1, max_len);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(n));
  for (auto& p : out) {
    p.resize(static_cast<size_t>(len(rng)));
    for (auto& t : p) t = id(rng);
  }
  return out;
}

EngineRequest request_for(const std::vector<int32_t>& prompt, int max_tokens) {
  EngineRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0;
  r.stop_token_ids = {2};
  return r;
}

GenerationResult alone(model::Transformer& m, const EngineRequest& r, const Detokenizer* detok = nullptr) {
  GenerationRequest g;
  g.prompt = r.prompt;
  g.max_tokens = r.max_tokens;
  g.sampling = r.sampling;
  g.stop_token_ids = r.stop_token_ids;
  g.stop_strings = r.stop_strings;
  g.logprobs = r.logprobs;
  auto session = m.new_session();
  return generate(*session, detok, g);
}

// Submits every request at once and checks each result against generate() alone.
EngineStats check_batch(const std::string& name, EngineConfig config, int n, int max_tokens, uint32_t seed) {
  SCOPED_TRACE(name);
  auto m = load(name);
  const auto prompts = random_prompts(n, m->config().vocab_size, seed);
  std::vector<GenerationResult> expect;
  for (const auto& p : prompts) expect.push_back(alone(*m, request_for(p, max_tokens)));

  LlmEngine engine(m, nullptr, config);
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (const auto& p : prompts) {
    SubmitResult s = engine.submit(request_for(p, max_tokens));
    EXPECT_EQ(s.status, EngineStatus::Ok);
    handles.push_back(s.handle);
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    std::vector<int32_t> streamed;
    while (auto ev = handles[i]->next_event()) streamed.push_back(ev->token);
    const GenerationResult got = handles[i]->wait();
    EXPECT_EQ(got.tokens, expect[i].tokens) << "request " << i << " (" << prompts[i].size() << " prompt tokens)";
    EXPECT_EQ(streamed, got.tokens) << "request " << i;
    EXPECT_EQ(got.finish_reason, expect[i].finish_reason) << "request " << i;
    EXPECT_EQ(got.prompt_tokens, static_cast<int>(prompts[i].size()));
  }
  engine.drain();
  return engine.stats();
}

TEST(LlmEngine, SixtyFourBatchedGreedyRequestsMatchGenerateAlone) {
  EngineConfig c;
  c.block_size = 8;
  c.max_tokens_per_step = 128;  // long prompts are chunked, decodes share steps with prefills
  c.max_running = 64;
  for (const char* name : {"qwen3", "mixtral-moe"}) {
    const EngineStats s = check_batch(name, c, 64, 10, 11);
    EXPECT_EQ(s.preemptions, 0);
    EXPECT_GT(s.steps, 0);
    EXPECT_EQ(s.kv.used_blocks, 0);  // everything freed
    EXPECT_EQ(s.running + s.waiting, 0u);
  }
}

TEST(LlmEngine, OutputsSurvivePreemptionInATinyKvPool) {
  EngineConfig c;
  c.block_size = 4;
  c.num_blocks = 24;  // 96 tokens for 64 requests of up to 58 tokens each
  c.max_tokens_per_step = 64;
  c.max_running = 16;
  for (const bool prefix : {false, true}) {
    c.prefix_caching = prefix;
    const EngineStats s = check_batch("qwen3", c, 64, 10, 12);
    EXPECT_GT(s.preemptions, 0) << "the pool was meant to be too small";
    EXPECT_EQ(s.kv.used_blocks, 0);
  }
  c.prefix_caching = true;
  EXPECT_GT(check_batch("mixtral-moe", c, 24, 8, 13).preemptions, 0);
}

TEST(LlmEngine, SharedPrefixHitsTheCacheWithoutChangingOutputs) {
  auto m = load("qwen3");
  auto prefix = random_prompts(1, m->config().vocab_size, 21, 1)[0];
  std::mt19937 rng(3);
  prefix.clear();
  for (int i = 0; i < 40; ++i) prefix.push_back(static_cast<int32_t>(rng() % 512));
  auto a = prefix, b = prefix;
  a.insert(a.end(), {5, 6, 7});
  b.insert(b.end(), {9, 10});
  const auto ea = alone(*m, request_for(a, 8)), eb = alone(*m, request_for(b, 8));

  EngineConfig c;
  c.block_size = 8;
  LlmEngine engine(m, nullptr, c);
  EXPECT_EQ(engine.submit(request_for(a, 8)).handle->wait().tokens, ea.tokens);
  EXPECT_EQ(engine.stats().kv.prefix_hits, 0);
  EXPECT_EQ(engine.submit(request_for(b, 8)).handle->wait().tokens, eb.tokens);
  EXPECT_EQ(engine.stats().kv.prefix_hits, 5);  // 40 shared tokens = 5 blocks of 8
  EXPECT_EQ(engine.submit(request_for(a, 8)).handle->wait().tokens, ea.tokens);  // again: 5 blocks
  EXPECT_EQ(engine.stats().kv.prefix_hits, 10);
  EXPECT_GT(engine.stats().kv.prefix_queries, 10);
}

TEST(LlmEngine, SampledRequestsKeepTheirOwnRandomStream) {
  auto m = load("qwen3");
  const auto prompts = random_prompts(12, m->config().vocab_size, 31, 20);
  std::vector<EngineRequest> reqs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    EngineRequest r = request_for(prompts[i], 12);
    r.sampling.temperature = 0.9f;
    r.sampling.top_p = 0.95f;
    r.sampling.seed = 1000 + i;
    r.logprobs = 2;
    reqs.push_back(r);
  }
  std::vector<GenerationResult> expect;
  for (const auto& r : reqs) expect.push_back(alone(*m, r));
  EngineConfig c;
  c.block_size = 4;
  c.num_blocks = 20;  // preemption too
  c.max_tokens_per_step = 24;
  LlmEngine engine(m, nullptr, c);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (const auto& r : reqs) hs.push_back(engine.submit(r).handle);
  for (size_t i = 0; i < hs.size(); ++i) {
    const auto got = hs[i]->wait();
    EXPECT_EQ(got.tokens, expect[i].tokens) << i;
    ASSERT_EQ(got.token_logprobs.size(), expect[i].token_logprobs.size());
    for (size_t j = 0; j < got.token_logprobs.size(); ++j)
      EXPECT_NEAR(got.token_logprobs[j], expect[i].token_logprobs[j], 1e-4);
    EXPECT_EQ(got.top_logprobs.size(), got.tokens.size());
  }
}

TEST(LlmEngine, StopStringsAndTextAsGenerate) {
  auto m = load("qwen3");
  std::vector<std::string> pieces;
  for (int i = 0; i < m->config().vocab_size; ++i) pieces.push_back(std::string(1, static_cast<char>('a' + i % 26)));
  const test::FakeDetokenizer detok(pieces);
  const auto prompts = random_prompts(8, m->config().vocab_size, 41, 16);
  LlmEngine engine(m, &detok, {});
  for (const auto& p : prompts) {
    EngineRequest r = request_for(p, 16);
    r.stop_strings = {"e", "xy"};
    const auto expect = alone(*m, r, &detok);
    std::string streamed;
    r.on_token = [&](const TokenEvent& ev) {
      streamed += ev.text;
      return true;
    };
    const auto got = engine.submit(r).handle->wait();
    EXPECT_EQ(got.tokens, expect.tokens);
    EXPECT_EQ(got.text, expect.text);
    EXPECT_EQ(streamed, expect.text);
    EXPECT_EQ(got.finish_reason, expect.finish_reason);
    EXPECT_EQ(got.stop_string, expect.stop_string);
  }
}

TEST(LlmEngine, CancelTimeoutQueueBoundAndDrain) {
  auto m = load("qwen3");
  EngineConfig c;
  c.background = false;  // steps by hand: deterministic
  c.max_waiting = 2;
  c.max_running = 1;
  c.block_size = 4;
  LlmEngine engine(m, nullptr, c);
  const auto p = random_prompts(1, 512, 51, 10)[0];
  auto token = std::make_shared<std::atomic<bool>>(false);
  EngineRequest r1 = request_for(p, 100);
  r1.stop_token_ids.clear();
  r1.cancel = token;
  auto h1 = engine.submit(r1).handle;
  EngineRequest r2 = request_for(p, 100);
  r2.timeout = 1ms;
  auto h2 = engine.submit(r2).handle;
  EXPECT_EQ(engine.submit(request_for(p, 4)).status, EngineStatus::QueueFull);
  EXPECT_THROW(engine.submit(request_for({}, 4)), Error);
  EXPECT_THROW(engine.submit(request_for({100000}, 4)), Error);

  ASSERT_TRUE(engine.step());  // h1 runs (max_running 1), h2 waits
  ASSERT_TRUE(engine.step());
  EXPECT_EQ(engine.stats().running, 1u);
  EXPECT_GT(engine.stats().kv.used_blocks, 0);
  std::this_thread::sleep_for(5ms);
  token->store(true);
  ASSERT_TRUE(engine.step());  // both end in this step: cancelled and timed out
  EXPECT_EQ(engine.stats().kv.used_blocks, 0);
  EXPECT_EQ(h1->wait().finish_reason, "cancelled");
  EXPECT_EQ(h1->wait().tokens.size(), 2u);
  EXPECT_EQ(h2->wait().finish_reason, "timeout");
  EXPECT_TRUE(h2->wait().tokens.empty());
  std::vector<TokenEvent> evs;
  while (auto ev = h1->next_event()) evs.push_back(*ev);
  ASSERT_EQ(evs.size(), 3u);
  EXPECT_EQ(evs.back().token, -1);
  EXPECT_TRUE(evs.back().finished);

  // cancel(id) frees the blocks at once.
  auto h3 = engine.submit(request_for(p, 100)).handle;
  engine.step();
  EXPECT_GT(engine.stats().kv.used_blocks, 0);
  EXPECT_TRUE(engine.cancel(h3->id()));
  EXPECT_EQ(engine.stats().kv.used_blocks, 0);
  EXPECT_FALSE(engine.cancel(h3->id()));
  engine.step();
  EXPECT_EQ(h3->wait().finish_reason, "cancelled");

  // A callback returning false cancels after that token.
  EngineRequest r4 = request_for(p, 100);
  r4.stop_token_ids.clear();
  int seen = 0;
  r4.on_token = [&](const TokenEvent& ev) { return ev.token < 0 || ++seen < 3; };
  auto h4 = engine.submit(r4).handle;
  auto h5 = engine.submit(request_for(p, 3)).handle;
  auto h0 = engine.submit(request_for(p, 0)).handle;  // nothing to generate: never queued
  ASSERT_NE(h0, nullptr);
  EXPECT_TRUE(h0->finished());
  EXPECT_EQ(h0->wait().finish_reason, "length");
  engine.drain();
  EXPECT_EQ(h4->wait().finish_reason, "cancelled");
  EXPECT_EQ(h4->wait().tokens.size(), 3u);
  EXPECT_EQ(h5->wait().tokens, alone(*m, request_for(p, 3)).tokens);
  EXPECT_EQ(engine.submit(request_for(p, 4)).status, EngineStatus::ShuttingDown);
}

TEST(LlmEngine, DrainFinishesEverythingOnTheBackgroundThread) {
  auto m = load("mixtral-moe");
  LlmEngine engine(m, nullptr, {});
  const auto prompts = random_prompts(8, 512, 61, 12);
  std::vector<std::shared_ptr<RequestHandle>> hs;
  for (const auto& p : prompts) hs.push_back(engine.submit(request_for(p, 6)).handle);
  engine.drain();
  for (auto& h : hs) EXPECT_TRUE(h->finished());
  EXPECT_EQ(engine.stats().generated_tokens > 0, true);
  EXPECT_EQ(engine.submit(request_for(prompts[0], 4)).status, EngineStatus::ShuttingDown);
}

}  // namespace
}  // namespace nova::engine
