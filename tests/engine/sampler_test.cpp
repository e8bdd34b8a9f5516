#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <vector>

#include "core/error.h"

namespace nova::engine {
namespace {

std::vector<float> random_logits(int v, uint32_t seed, float scale = 3.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> out(v);
  for (float& x : out) x = d(rng);
  return out;
}

// The field a rejected SamplingParams names.
std::string rejected_field(const SamplingParams& p) {
  try {
    p.validate();
  } catch (const Error& e) {
    return e.where();
  }
  return "";
}

TEST(SamplingParams, RejectsOutOfRangeNamingTheField) {
  SamplingParams p;
  EXPECT_EQ(rejected_field(p), "");
  p = {};
  p.temperature = -0.5f;
  EXPECT_EQ(rejected_field(p), "sampling.temperature");
  p = {};
  p.temperature = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(rejected_field(p), "sampling.temperature");
  p = {};
  p.top_k = -1;
  EXPECT_EQ(rejected_field(p), "sampling.top_k");
  for (float bad : {0.0f, -0.1f, 1.01f}) {
    p = {};
    p.top_p = bad;
    EXPECT_EQ(rejected_field(p), "sampling.top_p") << bad;
  }
  p = {};
  p.min_p = 1.5f;
  EXPECT_EQ(rejected_field(p), "sampling.min_p");
  p = {};
  p.repetition_penalty = 0;
  EXPECT_EQ(rejected_field(p), "sampling.repetition_penalty");
  p = {};
  p.presence_penalty = 2.5f;
  EXPECT_EQ(rejected_field(p), "sampling.presence_penalty");
  p = {};
  p.frequency_penalty = -3;
  EXPECT_EQ(rejected_field(p), "sampling.frequency_penalty");
  p = {};
  p.temperature = -1;
  EXPECT_THROW(Sampler(p, 10), Error);
}

TEST(Sampler, GreedyIsArgmaxWithLowestIdOnTies) {
  SamplingParams p;
  p.temperature = 0;
  Sampler s(p, 6);
  EXPECT_EQ(s.sample(std::vector<float>{0, 1, 5, 2, 5, -1}, {}).id, 2);
  EXPECT_EQ(s.sample(std::vector<float>{-3, -3, -3, -3, -3, -3}, {}).id, 0);
  Sampler big(p, 100);
  for (uint32_t seed = 0; seed < 50; ++seed) {
    const auto l = random_logits(100, seed);
    const auto expect = std::max_element(l.begin(), l.end()) - l.begin();
    EXPECT_EQ(big.sample(l, {}).id, expect);
  }
}

TEST(Sampler, TopK1EqualsGreedy) {
  SamplingParams p;
  p.temperature = 1.7f;
  p.top_k = 1;
  p.seed = 99;
  Sampler s(p, 64);
  SamplingParams g;
  g.temperature = 0;
  Sampler greedy(g, 64);
  for (uint32_t seed = 0; seed < 200; ++seed) {
    const auto l = random_logits(64, seed);
    EXPECT_EQ(s.sample(l, {}).id, greedy.sample(l, {}).id);
  }
}

std::vector<int32_t> draw(const SamplingParams& p, const std::vector<float>& logits, int n) {
  Sampler s(p, static_cast<int>(logits.size()));
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(s.sample(logits, {}).id);
  return out;
}

TEST(Sampler, SameSeedSameTokensDifferentSeedDifferentTokens) {
  const auto l = random_logits(50, 7, 1.0f);  // flat-ish: many plausible tokens
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = 1234;
  const auto a = draw(p, l, 100);
  EXPECT_EQ(a, draw(p, l, 100));
  p.seed = 1235;
  const auto b = draw(p, l, 100);
  EXPECT_NE(a, b);
  p.seed = 0;  // seed 0 is an ordinary, fixed seed too
  EXPECT_EQ(draw(p, l, 100), draw(p, l, 100));
}

// Expected distribution computed directly from the definitions (sort once, cut, renormalise).
std::vector<double> expected_probs(const std::vector<float>& logits, float temperature, int top_k, float top_p,
                                   float min_p) {
  const size_t v = logits.size();
  std::vector<double> z(v);
  for (size_t i = 0; i < v; ++i) z[i] = logits[i] / static_cast<double>(temperature);
  std::vector<size_t> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return z[a] > z[b]; });
  std::vector<bool> alive(v, true);
  if (top_k > 0) {
    for (size_t r = static_cast<size_t>(top_k); r < v; ++r) alive[order[r]] = false;
  }
  auto normalised = [&]() {
    std::vector<double> p(v, 0.0);
    double s = 0;
    for (size_t i = 0; i < v; ++i) {
      if (alive[i]) s += (p[i] = std::exp(z[i]));
    }
    for (double& x : p) x /= s;
    return p;
  };
  if (top_p < 1) {
    const auto p = normalised();
    double cum = 0;
    for (size_t r = 0; r < v; ++r) {
      const size_t i = order[r];
      if (!alive[i]) continue;
      if (cum >= top_p) alive[i] = false;
      cum += p[i];
    }
  }
  if (min_p > 0) {
    const auto p = normalised();
    const double pmax = *std::max_element(p.begin(), p.end());
    for (size_t i = 0; i < v; ++i) {
      if (p[i] < min_p * pmax) alive[i] = false;
    }
  }
  return normalised();
}

// Chi-square goodness of fit of `n` draws; fails if a token with zero expected mass appears.
double chi_square(const SamplingParams& p, const std::vector<float>& logits, int n, int* support) {
  const auto expect = expected_probs(logits, p.temperature, p.top_k, p.top_p, p.min_p);
  std::vector<int> counts(logits.size(), 0);
  for (int32_t id : draw(p, logits, n)) ++counts[static_cast<size_t>(id)];
  double chi = 0;
  *support = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (expect[i] == 0) {
      EXPECT_EQ(counts[i], 0) << "token " << i << " should have been cut off";
      continue;
    }
    ++*support;
    const double e = expect[i] * n;
    chi += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi;
}

TEST(Sampler, EmpiricalFrequenciesMatchTheDistribution) {
  // 12 tokens with clearly separated logits so each cut is unambiguous.
  const std::vector<float> logits = {1.2f, -0.4f, 2.0f, 0.3f, -1.5f, 0.9f, 1.6f, -0.8f, 0.0f, 2.4f, -2.2f, 0.6f};
  struct Case {
    float temperature;
    int top_k;
    float top_p;
    float min_p;
    int support;  // tokens left after truncation (checked to make the case meaningful)
  };
  const Case cases[] = {
      {1.0f, 0, 1.0f, 0.0f, 12}, {0.6f, 0, 1.0f, 0.0f, 12}, {1.5f, 4, 1.0f, 0.0f, 4},
      {1.0f, 0, 0.7f, 0.0f, 0},  {1.0f, 0, 1.0f, 0.3f, 0},  {1.3f, 6, 0.9f, 0.15f, 0},
  };
  const int n = 20000;
  for (const Case& c : cases) {
    SamplingParams p;
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.seed = 2024;
    int support = 0;
    const double chi = chi_square(p, logits, n, &support);
    if (c.support) {
      EXPECT_EQ(support, c.support);
    }
    EXPECT_GT(support, 1);
    // 99.99th percentile of chi-square with <= 11 degrees of freedom is 37.37; the seed is
    // fixed, so this cannot flake, yet a wrong distribution (even one token off by 2%) fails.
    EXPECT_LT(chi, 37.37) << "T=" << c.temperature << " k=" << c.top_k << " p=" << c.top_p << " min_p=" << c.min_p;
  }
}

TEST(Sampler, TruncationCutsAreExact) {
  // probs ~ 0.5, 0.25, 0.125, 0.0625, ... (logits ln 2 apart)
  std::vector<float> logits;
  for (int i = 0; i < 8; ++i) logits.push_back(-static_cast<float>(i) * std::log(2.0f));
  auto support = [&](SamplingParams p) {
    std::vector<bool> seen(8, false);
    for (int32_t id : draw(p, logits, 3000)) seen[static_cast<size_t>(id)] = true;
    return static_cast<int>(std::count(seen.begin(), seen.end(), true));
  };
  SamplingParams p;
  p.top_p = 0.6f;  // 0.5 < 0.6: the second token crosses it and is kept
  EXPECT_EQ(support(p), 2);
  p.top_p = 0.8f;  // 0.5 + 0.25 = 0.75 < 0.8: three
  EXPECT_EQ(support(p), 3);
  p = {};
  p.min_p = 0.2f;  // ratios 1, .5, .25, .125: keeps three
  EXPECT_EQ(support(p), 3);
  p = {};
  p.top_k = 2;
  EXPECT_EQ(support(p), 2);
  // top_k keeps ties at the boundary (HF: remove only logits < the k-th largest).
  const std::vector<float> tied = {3, 1, 1, 1, 0};
  p = {};
  p.top_k = 2;
  std::vector<bool> seen(5, false);
  for (int32_t id : draw(p, tied, 2000)) seen[static_cast<size_t>(id)] = true;
  EXPECT_EQ(seen, (std::vector<bool>{true, true, true, true, false}));
}

TEST(Sampler, TopPOverALargeVocabularyKeepsTheWholeNucleus) {
  // 1000 equal logits: top_p = 0.5 keeps exactly 500 of them (ids 0..499 by the id tie-break),
  // far more than the sampler sorts at first.
  const std::vector<float> flat(1000, 0.0f);
  SamplingParams p;
  p.top_p = 0.5f;
  p.seed = 3;
  std::vector<bool> seen(1000, false);
  for (int32_t id : draw(p, flat, 1500)) seen[static_cast<size_t>(id)] = true;
  EXPECT_EQ(std::count(seen.begin() + 500, seen.end(), true), 0);
  EXPECT_GT(std::count(seen.begin(), seen.begin() + 500, true), 440);
}

TEST(Sampler, LogprobsAreLogSoftmaxAfterPenaltiesAndTemperature) {
  const std::vector<float> logits = {1.0f, 3.0f, -2.0f, 0.5f, 3.0f};
  const std::vector<int32_t> prompt = {1};
  SamplingParams p;
  p.temperature = 0.5f;
  p.repetition_penalty = 1.5f;
  p.top_k = 1;  // truncation does not change reported logprobs
  Sampler s(p, 5);
  const SampledToken t = s.sample(logits, {prompt, {}}, 3);
  // By hand: penalised = {1, 2, -2, .5, 3}; /0.5 = {2, 4, -4, 1, 6}.
  const std::vector<double> z = {2, 4, -4, 1, 6};
  double lse = 0;
  for (double v : z) lse += std::exp(v);
  lse = std::log(lse);
  EXPECT_EQ(t.id, 4);
  EXPECT_NEAR(t.logprob, 6 - lse, 1e-5);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].id, 4);
  EXPECT_EQ(t.top[1].id, 1);
  EXPECT_EQ(t.top[2].id, 0);
  EXPECT_NEAR(t.top[1].logprob, 4 - lse, 1e-5);
  EXPECT_NEAR(t.top[2].logprob, 2 - lse, 1e-5);
}

TEST(Sampler, TopNBreaksTiesByLowestId) {
  const auto top = top_n(std::vector<float>{-1, -0.5f, -1, -0.5f}, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].id, 1);
  EXPECT_EQ(top[1].id, 3);
  EXPECT_EQ(top[2].id, 0);
}

TEST(Sampler, MaskedTokensAreNeverDrawn) {
  const float ninf = -std::numeric_limits<float>::infinity();
  const std::vector<float> logits = {ninf, 0.0f, ninf, 0.1f};
  SamplingParams p;
  p.seed = 5;
  for (int32_t id : draw(p, logits, 500)) EXPECT_TRUE(id == 1 || id == 3);
}

TEST(Sampler, RejectsBadLogits) {
  SamplingParams p;
  Sampler s(p, 3);
  const float ninf = -std::numeric_limits<float>::infinity();
  EXPECT_THROW(s.sample(std::vector<float>{0, 1}, {}), Error);
  EXPECT_THROW(s.sample(std::vector<float>{0, std::nanf(""), 1}, {}), Error);
  EXPECT_THROW(s.sample(std::vector<float>{ninf, ninf, ninf}, {}), Error);
  EXPECT_THROW(s.sample(std::vector<float>{0, 1, 2}, {}, 4), Error);
  const std::vector<int32_t> bad = {3};
  EXPECT_THROW(s.sample(std::vector<float>{0, 1, 2}, {bad, {}}), Error);
}

}  // namespace
}  // namespace nova::engine
