// Sampling on the device (engine/device_sampler.h, Backend::sample_rows) against the host
// Sampler: the same seed must give the same tokens and logprobs. The CPU tests check the split
// of the Sampler's stream and the engine's plumbing (a runner that "samples on the device" with
// the host code); the CUDA tests (skipped without a GPU) compare the device op with the host
// Sampler on random logits and the engine's outputs on a fixture model.
#include "engine/device_sampler.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/llm_engine.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend_factory.h"
#include "kernels/cpu/cpu_backend.h"
#include "model/transformer.h"
#include "../kernels/cuda/cuda_test_util.h"
#include "support/fixtures.h"

namespace nova::engine {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_logits(size_t n, std::mt19937& rng, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<int32_t> random_ids(size_t n, int vocab, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> d(0, vocab - 1);
  std::vector<int32_t> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

SamplingParams params_of(float t, int k, float p, float min_p, float rep, float pres, float freq, uint64_t seed) {
  SamplingParams s;
  s.temperature = t;
  s.top_k = k;
  s.top_p = p;
  s.min_p = min_p;
  s.repetition_penalty = rep;
  s.presence_penalty = pres;
  s.frequency_penalty = freq;
  s.seed = seed;
  return s;
}

// ---- CPU ----

TEST(SamplerSplit, NextUniformAndSampleAtFollowTheStreamOfSample) {
  std::mt19937 rng(7);
  const int V = 300;
  for (float t : {0.0f, 0.7f, 1.0f}) {
    const SamplingParams p = params_of(t, 20, 0.9f, 0.01f, 1.2f, 0.3f, 0.1f, 1234);
    Sampler whole(p, V), split(p, V);
    std::vector<int32_t> gen;
    for (int step = 0; step < 40; ++step) {
      const auto logits = random_logits(V, rng, 2.0f);
      const TokenHistory h{std::span<const int32_t>(), gen};
      const SampledToken a = whole.sample(logits, h, 3);
      const double u = split.next_uniform();
      if (t == 0) {
        EXPECT_EQ(u, 0.0);
      }
      const SampledToken b = split.sample_at(logits, h, 3, u);
      ASSERT_EQ(a.id, b.id) << "t " << t << " step " << step;
      EXPECT_EQ(a.logprob, b.logprob);
      ASSERT_EQ(a.top.size(), b.top.size());
      gen.push_back(a.id);
    }
  }
  Sampler s(SamplingParams{}, 10);
  std::vector<float> logits(10, 0.0f);
  EXPECT_THROW(s.sample_at(logits, {}, 0, 1.0), Error);
  EXPECT_THROW(s.sample_at(logits, {}, 0, -0.5), Error);
}

TEST(PenaltyEntries, EveryPenalisedIdOnceWithItsGeneratedCount) {
  std::mt19937 rng(3);
  const int V = 50;
  for (int trial = 0; trial < 200; ++trial) {
    const auto prompt = random_ids(rng() % 30, V, rng);
    const auto gen = random_ids(rng() % 30, V, rng);
    const float rep = trial % 3 == 0 ? 1.0f : 1.3f;
    const float pres = trial % 2 ? 0.5f : 0.0f;
    const SamplingParams p = params_of(1, 0, 1, 0, rep, pres, 0, 0);
    const auto entries = penalty_entries(p, {prompt, gen}, V);
    std::map<int32_t, int32_t> expect;
    if (rep != 1.0f)
      for (int32_t id : prompt) expect[id] += 0;
    if (rep != 1.0f || pres != 0.0f)
      for (int32_t id : gen) ++expect[id];
    ASSERT_EQ(entries.size(), expect.size());
    size_t i = 0;
    for (const auto& [id, n] : expect) {
      EXPECT_EQ(entries[i].id, id);
      EXPECT_EQ(entries[i].generated, n);
      ++i;
    }
    // Applying the entries as the device does gives the host penalties' logits, bit for bit.
    auto logits = random_logits(V, rng, 3.0f), host = logits;
    apply_repetition_penalty(host, p.repetition_penalty, {prompt, gen});
    apply_presence_frequency_penalty(host, p.presence_penalty, p.frequency_penalty, gen);
    for (const auto& e : entries) {
      float& l = logits[static_cast<size_t>(e.id)];
      if (rep != 1.0f) l = l > 0 ? l / rep : l * rep;
      if (pres != 0.0f && e.generated > 0) l -= pres + 0.0f * static_cast<float>(e.generated);
    }
    EXPECT_EQ(logits, host);
  }
  const std::vector<int32_t> bad = {3, 60};
  EXPECT_THROW(penalty_entries(params_of(1, 0, 1, 0, 1.1f, 0, 0, 0), {bad, {}}, V), Error);
  EXPECT_THROW(penalty_entries(SamplingParams{}, {{}, bad}, V), Error);
}

TEST(DeviceSampling, HostFallbackEqualsTheSamplerOnTheWholeHistory) {
  // run_on_host (the NeedsHost fallback) keeps only each row's penalty entries, not its history:
  // its tokens and logprobs must still be the Sampler's on the real prompt + generated tokens.
  std::mt19937 rng(11);
  const int V = 64;
  for (int trial = 0; trial < 60; ++trial) {
    const auto prompt = random_ids(rng() % 40, V, rng);
    const auto gen = random_ids(rng() % 40, V, rng);
    const SamplingParams p = params_of(trial % 4 == 0 ? 0.0f : 0.9f, trial % 3 ? 10 : 0, 0.9f, 0.02f,
                                       trial % 2 ? 1.3f : 1.0f, trial % 3 == 1 ? 0.5f : 0.0f,
                                       trial % 5 == 2 ? 0.25f : 0.0f, 77 + trial);
    Sampler reference(p, V), drawn(p, V);
    DeviceSampling sampling;
    sampling.add(drawn, {prompt, gen}, 4);
    const auto logits = random_logits(V, rng, 2.0f);
    const SampledToken want = reference.sample(logits, {prompt, gen}, 4);
    const SampledToken got = sampling.run_on_host(logits, V)[0].get();
    ASSERT_EQ(got.id, want.id) << "trial " << trial;
    EXPECT_EQ(got.logprob, want.logprob);
    ASSERT_EQ(got.top.size(), want.top.size());
    for (size_t i = 0; i < got.top.size(); ++i) EXPECT_EQ(got.top[i].id, want.top[i].id);
  }
}

TEST(DeviceSampling, CpuBackendLeavesSamplingToTheHost) {
  kernels::Backend& cpu = kernels::CpuBackend::instance();
  EXPECT_FALSE(cpu.samples_on_device());
  Tensor logits = Tensor::zeros(DType::F32, {1, 4});
  const kernels::SamplingRow row;
  EXPECT_THROW(cpu.sample_rows(logits, std::span<const kernels::SamplingRow>(&row, 1), {}), Error);
  EXPECT_THROW(cpu.sample_rows_async(logits, std::span<const kernels::SamplingRow>(&row, 1), {}), Error);
  DeviceSampling ds;
  ds.add_placeholder();
  EXPECT_THROW(ds.run_async(cpu, logits), Error);
}

// A runner that claims device sampling and does it with the host code, so the engine's device
// path (draws taken before the step, outcomes after it) is checked without a GPU.
class HostSamplingRunner final : public ModelRunner {
 public:
  HostSamplingRunner(std::shared_ptr<const model::Transformer> m, int64_t blocks, int64_t block_size)
      : inner_(m, blocks, block_size), vocab_(m->config().vocab_size) {}
  int vocab_size() const override { return vocab_; }
  int64_t max_positions() const override { return inner_.max_positions(); }
  void run(const SchedulerOutput& step, std::vector<float>& logits) override { inner_.run(step, logits); }
  bool samples_on_device() const override { return true; }
  std::vector<SampleOutcome> run_sampled(const SchedulerOutput& step, const DeviceSampling& sampling) override {
    std::vector<float> logits;
    inner_.run(step, logits);
    return sampling.run_on_host(logits, vocab_);
  }

 private:
  TransformerRunner inner_;
  int vocab_;
};

std::vector<EngineRequest> sampled_requests(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<EngineRequest> out;
  for (int i = 0; i < n; ++i) {
    EngineRequest r;
    r.prompt = random_ids(1 + rng() % 20, vocab, rng);
    r.max_tokens = 12;
    r.sampling = params_of(i % 4 == 0 ? 0.0f : 0.8f, i % 3 == 0 ? 0 : 40, i % 2 ? 0.95f : 1.0f, i % 5 == 0 ? 0.05f : 0,
                           i % 2 ? 1.1f : 1.0f, i % 3 == 1 ? 0.4f : 0, i % 3 == 2 ? 0.2f : 0, 1000 + i);
    r.logprobs = i % 3;
    out.push_back(r);
  }
  return out;
}

std::vector<GenerationResult> run_all(LlmEngine& engine, const std::vector<EngineRequest>& reqs) {
  std::vector<std::shared_ptr<RequestHandle>> handles;
  for (const auto& r : reqs) {
    SubmitResult s = engine.submit(r);
    EXPECT_EQ(s.status, EngineStatus::Ok);
    handles.push_back(s.handle);
  }
  while (engine.step()) {  // background = false: the test drives the step loop
  }
  std::vector<GenerationResult> out;
  for (auto& h : handles) out.push_back(h->wait());
  return out;
}

void expect_same(const std::vector<GenerationResult>& a, const std::vector<GenerationResult>& b, double lp_tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].tokens, b[i].tokens) << "request " << i;
    ASSERT_EQ(a[i].token_logprobs.size(), b[i].token_logprobs.size());
    for (size_t j = 0; j < a[i].token_logprobs.size(); ++j)
      EXPECT_NEAR(a[i].token_logprobs[j], b[i].token_logprobs[j], lp_tol) << "request " << i << " token " << j;
    ASSERT_EQ(a[i].top_logprobs.size(), b[i].top_logprobs.size());
    for (size_t j = 0; j < a[i].top_logprobs.size(); ++j) {
      ASSERT_EQ(a[i].top_logprobs[j].size(), b[i].top_logprobs[j].size());
      for (size_t k = 0; k < a[i].top_logprobs[j].size(); ++k) {
        EXPECT_EQ(a[i].top_logprobs[j][k].id, b[i].top_logprobs[j][k].id);
        EXPECT_NEAR(a[i].top_logprobs[j][k].logprob, b[i].top_logprobs[j][k].logprob, lp_tol);
      }
    }
  }
}

TEST(DeviceSampling, EngineDevicePathGivesTheHostPathsTokens) {
  auto m = model::Transformer::load(test::fixture("models/qwen3"));
  const auto reqs = sampled_requests(10, m->config().vocab_size, 5);
  EngineConfig c;
  c.num_blocks = 64;
  c.background = false;
  c.max_running = 4;  // batches of several sequences, some prefilling while others decode
  c.max_tokens_per_step = 24;
  std::vector<GenerationResult> host, device;
  {
    EngineConfig h = c;
    h.device_sampling = false;
    LlmEngine e(std::make_unique<HostSamplingRunner>(m, c.num_blocks, c.block_size), nullptr, h);
    host = run_all(e, reqs);
  }
  {
    LlmEngine e(std::make_unique<HostSamplingRunner>(m, c.num_blocks, c.block_size), nullptr, c);
    device = run_all(e, reqs);
  }
  expect_same(host, device, 0.0);
  // And both are what generate() gives each request alone.
  for (size_t i = 0; i < reqs.size(); ++i) {
    GenerationRequest g;
    g.prompt = reqs[i].prompt;
    g.max_tokens = reqs[i].max_tokens;
    g.sampling = reqs[i].sampling;
    g.logprobs = reqs[i].logprobs;
    auto s = m->new_session();
    EXPECT_EQ(generate(*s, nullptr, g).tokens, host[i].tokens) << "request " << i;
  }
}

// ---- CUDA ----

struct Case {
  SamplingParams params;
  int top_logprobs = 0;
  size_t prompt = 0, generated = 0;  // history lengths
};

std::vector<int32_t> device_ids(kernels::Backend& be, const Tensor& ids) {
  EXPECT_EQ(ids.dtype(), DType::I32);
  std::vector<int32_t> v(static_cast<size_t>(ids.numel()));
  be.download(ids, v.data());
  return v;
}

// Samples `logits` (rows of V) on the device and the host with the same seeds; returns the
// number of rows whose id differs (a draw within rounding of a cumulative sum) and counts the
// rows the device left to the host.
int compare_rows(kernels::Backend& be, const std::vector<float>& logits, int V, const std::vector<Case>& cases,
                 std::mt19937& rng, int* needs_host, const std::string& what) {
  const size_t R = cases.size();
  std::vector<std::unique_ptr<Sampler>> dev, host;
  std::vector<std::vector<int32_t>> prompts, gens;
  DeviceSampling ds;
  for (size_t r = 0; r < R; ++r) {
    prompts.push_back(random_ids(cases[r].prompt, V, rng));
    gens.push_back(random_ids(cases[r].generated, V, rng));
    dev.push_back(std::make_unique<Sampler>(cases[r].params, V));
    host.push_back(std::make_unique<Sampler>(cases[r].params, V));
    ds.add(*dev[r], {prompts[r], gens[r]}, cases[r].top_logprobs);
  }
  Tensor d = be.upload(Tensor::view(DType::F32, {static_cast<int64_t>(R), V}, const_cast<float*>(logits.data())));
  const auto raw = be.sample_rows(d, ds.rows(), ds.penalties());
  for (const auto& r : raw) *needs_host += r.status == kernels::SampledRow::Status::NeedsHost;
  const auto got = ds.run(be, d);
  // The asynchronous form: the same outcomes, and the device-held ids are the device's choices.
  PendingSampling pending = ds.run_async(be, d);
  const std::vector<int32_t> held = device_ids(be, pending.ids());
  const auto& later = pending.wait();
  EXPECT_EQ(later.size(), R);
  for (size_t r = 0; r < R && r < later.size(); ++r) {
    SCOPED_TRACE(what + " async row " + std::to_string(r));
    EXPECT_EQ(later[r].ok, got[r].ok);
    EXPECT_EQ(later[r].token.id, got[r].token.id);
    EXPECT_EQ(later[r].token.logprob, got[r].token.logprob);
    EXPECT_EQ(later[r].token.top.size(), got[r].token.top.size());
    const bool final_id = raw[r].status == kernels::SampledRow::Status::Ok;
    EXPECT_EQ(pending.device_id_final(r), final_id);
    EXPECT_EQ(held[r], final_id ? raw[r].id : 0);
  }
  int differ = 0;
  for (size_t r = 0; r < R; ++r) {
    SCOPED_TRACE(what + " row " + std::to_string(r) + " t " + std::to_string(cases[r].params.temperature) + " k " +
                 std::to_string(cases[r].params.top_k) + " p " + std::to_string(cases[r].params.top_p) + " min_p " +
                 std::to_string(cases[r].params.min_p));
    const std::span<const float> row(logits.data() + r * V, static_cast<size_t>(V));
    SampledToken expect;
    std::string err;
    try {
      expect = host[r]->sample(row, {prompts[r], gens[r]}, cases[r].top_logprobs);
    } catch (const Error& e) {
      err = e.what();
    }
    if (!err.empty()) {
      EXPECT_FALSE(got[r].ok);
      EXPECT_THROW(got[r].get(), Error);
      if (!got[r].ok) {
        EXPECT_EQ(Error(got[r].error_where, got[r].error_what).what(), err);
      }
      continue;
    }
    EXPECT_TRUE(got[r].ok) << got[r].error_where << ": " << got[r].error_what;
    if (!got[r].ok) continue;
    const SampledToken& t = got[r].token;
    if (t.id != expect.id) ++differ;
    EXPECT_NEAR(t.logprob, expect.logprob, 1e-5 * std::max(1.0f, std::abs(expect.logprob)));
    EXPECT_EQ(t.top.size(), expect.top.size());
    for (size_t j = 0; j < t.top.size() && j < expect.top.size(); ++j) {
      EXPECT_EQ(t.top[j].id, expect.top[j].id) << "top " << j;
      EXPECT_NEAR(t.top[j].logprob, expect.top[j].logprob, 1e-5 * std::max(1.0f, std::abs(expect.top[j].logprob)));
    }
  }
  return differ;
}

TEST(DeviceSamplingCuda, MatchesTheHostSamplerOnRandomLogits) {
  NOVA_REQUIRE_CUDA(be);
  std::mt19937 rng(11);
  int rows = 0, differ = 0, needs_host = 0;
  uint64_t seed = 1;
  for (int V : {32000, 50257, 128256, 151936}) {
    std::vector<Case> cases;
    for (float t : {0.0f, 0.6f, 1.0f, 1.5f})
      for (int k : {0, 1, 50, 1000})
        for (float p : {1.0f, 0.9f, 0.5f})
          for (float mp : {0.0f, 0.05f}) {
            if ((k + static_cast<int>(p * 10) + static_cast<int>(t * 10) + V) % 3 == 0) continue;  // thin the grid
            Case c;
            c.params = params_of(t, k, p, mp, cases.size() % 4 == 1 ? 1.2f : 1.0f,
                                 cases.size() % 5 == 2 ? 0.5f : 0.0f, cases.size() % 5 == 3 ? 0.3f : 0.0f, seed++);
            c.top_logprobs = static_cast<int>(cases.size() % 4) * 3;
            c.prompt = cases.size() % 3 * 40;
            c.generated = cases.size() % 2 * 25;
            cases.push_back(c);
          }
    std::vector<float> logits;
    for (size_t r = 0; r < cases.size(); ++r) {
      // Scales from nearly flat to peaked, like a model's logits at various temperatures.
      const float scale = std::array<float, 4>{0.3f, 1.0f, 3.0f, 8.0f}[r % 4];
      const auto row = random_logits(static_cast<size_t>(V), rng, scale);
      logits.insert(logits.end(), row.begin(), row.end());
    }
    rows += static_cast<int>(cases.size());
    differ += compare_rows(*be, logits, V, cases, rng, &needs_host, "V " + std::to_string(V));
  }
  std::printf("device vs host: %d rows, %d ids differ (draw within rounding), %d left to the host\n", rows, differ,
              needs_host);
  EXPECT_LE(differ, 1);
}

TEST(DeviceSamplingCuda, EdgeCases) {
  NOVA_REQUIRE_CUDA(be);
  std::mt19937 rng(5);
  int needs_host = 0;
  const int V = 32000;
  auto base = [&](float scale) { return random_logits(V, rng, scale); };
  std::vector<std::vector<float>> rows;
  std::vector<Case> cases;
  auto add = [&](std::vector<float> l, SamplingParams p, int n = 0, size_t gen = 0) {
    rows.push_back(std::move(l));
    Case c;
    c.params = p;
    c.params.seed = rows.size();
    c.top_logprobs = n;
    c.generated = gen;
    cases.push_back(c);
  };
  // Ties at the top-k boundary: values on a coarse grid, many equal to the k-th.
  for (int k : {1, 5, 50}) {
    auto l = base(2.0f);
    for (float& x : l) x = std::round(x * 2) / 2;
    add(l, params_of(1, k, 1, 0, 1, 0, 0, 0), 5);
    add(l, params_of(0.7f, k, 0.8f, 0, 1, 0, 0, 0), 20);
  }
  // Greedy ties: the lowest id wins; -0 and +0 tie.
  {
    std::vector<float> l(V, -1.0f);
    l[700] = 3, l[40] = 3, l[9000] = 3;
    add(l, params_of(0, 0, 1, 0, 1, 0, 0, 0), 4);
    std::vector<float> z(V, -5.0f);
    z[100] = -0.0f, z[50] = 0.0f;
    add(z, params_of(0, 0, 1, 0, 1, 0, 0, 0), 2);
    add(z, params_of(1, 1, 1, 0, 1, 0, 0, 0), 2);
  }
  // One finite logit; a few finite; top_k past the vocabulary; tiny top_p; min_p at its ends.
  {
    std::vector<float> l(V, -kInf);
    l[1234] = 0.5f;
    add(l, params_of(1, 0, 1, 0, 1, 0, 0, 0), 1);
    add(l, params_of(0.5f, 10, 0.9f, 0.5f, 1, 0, 0, 0));
    std::vector<float> f(V, -kInf);
    for (int i = 0; i < 30; ++i) f[static_cast<size_t>(i * 1000 + 7)] = static_cast<float>(i % 7);
    add(f, params_of(1, 0, 1, 0, 1, 0, 0, 0), 10);
    add(f, params_of(1, 5, 0.7f, 0, 1, 0, 0, 0), 30);
  }
  add(base(1), params_of(1, V + 100, 1, 0, 1, 0, 0, 0), 3);
  add(base(1), params_of(1, 0, 1e-6f, 0, 1, 0, 0, 0), 2);
  add(base(3), params_of(0.8f, 0, 1, 1.0f, 1, 0, 0, 0));
  add(base(3), params_of(0.8f, 0, 1, 0.3f, 1, 0, 0, 0));
  add(base(0.5f), params_of(1.2f, 0, 1, 0.1f, 1, 0, 0, 0));   // min_p over a flat distribution: large
  add(base(0.5f), params_of(1.0f, 0, 0.95f, 0, 1, 0, 0, 0));  // a nucleus past the list: host
  add(base(0.5f), params_of(1.0f, 2000, 1, 0, 1, 0, 0, 0));   // top_k past the list: host
  add(base(2), params_of(1.0f, 0, 1, 0, 1.5f, -1.0f, 2.0f, 0), 5, 60);  // penalties of both families
  add(base(2), params_of(1e-6f, 0, 1, 0, 1, 0, 0, 0), 3);    // tiny temperature: finite in double
  // Errors, reported per row: NaN, +inf, no finite logit.
  {
    auto l = base(1);
    l[77] = std::nanf("");
    add(l, params_of(1, 0, 1, 0, 1, 0, 0, 0));
    auto p = base(1);
    p[5] = kInf;
    add(p, params_of(0, 0, 1, 0, 1, 0, 0, 0));
    add(std::vector<float>(V, -kInf), params_of(1, 0, 1, 0, 1, 0, 0, 0));
  }
  std::vector<float> all;
  for (const auto& r : rows) all.insert(all.end(), r.begin(), r.end());
  EXPECT_EQ(compare_rows(*be, all, V, cases, rng, &needs_host, "edge"), 0);
  EXPECT_GE(needs_host, 2);  // the nucleus and top_k past the list
}

// Every row greedy without top logprobs or penalties takes the device's short path (one pass
// over the logits summing against each chunk's own max, kernels/cuda/sampling.cuh greedy_only):
// the same ids and logprobs as the host, ties to the lowest id, errors per row.
TEST(DeviceSamplingCuda, GreedyRowsTakeTheShortPath) {
  NOVA_REQUIRE_CUDA(be);
  std::mt19937 rng(21);
  int needs_host = 0;
  for (int V : {1000, 32000, 128256}) {
    std::vector<Case> cases;
    std::vector<float> all;
    auto add = [&](std::vector<float> l) {
      all.insert(all.end(), l.begin(), l.end());
      Case c;
      c.params = params_of(0, 0, 1, 0, 1, 0, 0, cases.size());
      cases.push_back(c);
    };
    for (float scale : {0.3f, 3.0f, 30.0f}) add(random_logits(static_cast<size_t>(V), rng, scale));
    std::vector<float> ties(static_cast<size_t>(V), -2.0f);
    ties[static_cast<size_t>(V - 1)] = 5, ties[static_cast<size_t>(V / 2)] = 5;
    add(ties);
    std::vector<float> one(static_cast<size_t>(V), -kInf);
    one[static_cast<size_t>(V - 3)] = -100.0f;  // one finite logit, in the last chunk
    add(one);
    auto nan = random_logits(static_cast<size_t>(V), rng, 1.0f);
    nan[7] = std::nanf("");
    add(nan);
    add(std::vector<float>(static_cast<size_t>(V), -kInf));
    EXPECT_EQ(compare_rows(*be, all, V, cases, rng, &needs_host, "greedy V " + std::to_string(V)), 0);
  }
  EXPECT_EQ(needs_host, 0);
}

TEST(DeviceSamplingCuda, EngineGivesTheCpuEnginesTokens) {
  NOVA_REQUIRE_CUDA(be);
  const std::string dir = test::fixture("models/llama-gqa");
  auto cpu = model::Transformer::load(dir);
  auto gpu = model::Transformer::create(formats::load_hf_config(dir + "/config.json"),
                                        formats::Checkpoint::open_dir(dir), *be);
  ASSERT_TRUE(gpu->backend().samples_on_device());
  const auto reqs = sampled_requests(12, cpu->config().vocab_size, 9);
  EngineConfig c;
  c.num_blocks = 64;
  c.background = false;
  c.max_running = 6;
  c.max_tokens_per_step = 32;
  std::vector<GenerationResult> on_cpu, on_gpu, gpu_host;
  {
    LlmEngine e(cpu, nullptr, c);
    on_cpu = run_all(e, reqs);
  }
  {
    LlmEngine e(gpu, nullptr, c);
    on_gpu = run_all(e, reqs);
  }
  {
    EngineConfig h = c;
    h.device_sampling = false;
    LlmEngine e(gpu, nullptr, h);
    gpu_host = run_all(e, reqs);
  }
  expect_same(on_gpu, gpu_host, 1e-5);  // same logits: the device sampler against the host's
  expect_same(on_gpu, on_cpu, 1e-3);    // fp32 on both: logits agree to ~1e-5
}

}  // namespace
}  // namespace nova::engine
