// RoPE frequency variants checked against their definitions (the fixtures check the exact
// float32 agreement with transformers end to end).
#include "model/rope_frequencies.h"

#include <cmath>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"

namespace nova {
namespace {

using formats::ModelConfig;
using formats::RopeType;

ModelConfig base_config(RopeType type) {
  ModelConfig c;
  c.head_dim = 16;
  c.max_position_embeddings = 256;
  c.rope.type = type;
  c.rope.theta = 10000.0;
  return c;
}

std::vector<double> plain(double theta, int dim) {
  std::vector<double> v;
  for (int i = 0; i < dim; i += 2) v.push_back(std::pow(theta, -static_cast<double>(i) / dim));
  return v;
}

TEST(RopeFrequencies, DefaultAndLinear) {
  ModelConfig c = base_config(RopeType::Default);
  const auto want = plain(1e4, 16);
  auto f = model::rope_frequencies(c, 0);
  ASSERT_EQ(f.inv_freq.size(), 8u);
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(f.inv_freq[i], want[i], 1e-7 * want[i] + 1e-9);
  EXPECT_EQ(f.attention_scaling, 1.0f);
  c.rope.type = RopeType::Linear;
  c.rope.factor = 4.0;
  f = model::rope_frequencies(c, 0);
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(f.inv_freq[i], want[i] / 4, 1e-7 * want[i]);
}

TEST(RopeFrequencies, PartialRotaryUsesAFractionOfTheHead) {
  ModelConfig c = base_config(RopeType::Default);
  c.rope.partial_rotary_factor = 0.5;
  const auto f = model::rope_frequencies(c, 0);
  const auto want = plain(1e4, 8);
  ASSERT_EQ(f.inv_freq.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(f.inv_freq[i], want[i], 1e-7 * want[i]);
  c.rope.partial_rotary_factor = 0.0;
  EXPECT_THROW(model::rope_frequencies(c, 0), Error);
}

TEST(RopeFrequencies, Llama3KeepsHighAndScalesLowFrequencies) {
  ModelConfig c = base_config(RopeType::Llama3);
  c.rope.theta = 500000.0;
  c.rope.factor = 8.0;
  c.rope.original_max_position = 32;
  const auto want = plain(5e5, 16);
  const auto f = model::rope_frequencies(c, 0);
  for (size_t i = 0; i < 8; ++i) {
    const double wavelen = 2 * M_PI / want[i];
    if (wavelen < 32.0 / 4.0) EXPECT_NEAR(f.inv_freq[i], want[i], 1e-7 * want[i]);
    else if (wavelen > 32.0) EXPECT_NEAR(f.inv_freq[i], want[i] / 8, 1e-7 * want[i]);
    else {
      const double smooth = (32.0 / wavelen - 1.0) / 3.0;
      EXPECT_NEAR(f.inv_freq[i], (1 - smooth) * want[i] / 8 + smooth * want[i], 1e-6 * want[i]);
    }
  }
}

TEST(RopeFrequencies, YarnBlendsAndScalesAttention) {
  ModelConfig c = base_config(RopeType::Yarn);
  c.rope.factor = 4.0;
  c.rope.original_max_position = 32;
  const auto f = model::rope_frequencies(c, 0);
  EXPECT_NEAR(f.attention_scaling, 0.1 * std::log(4.0) + 1.0, 1e-7);
  const auto want = plain(1e4, 16);
  // Correction range from beta_fast=32, beta_slow=1 over 32 original positions, truncated.
  auto corr = [](double rot) { return 16 * std::log(32 / (rot * 2 * M_PI)) / (2 * std::log(1e4)); };
  const double lo = std::max(0.0, std::floor(corr(32))), hi = std::min(15.0, std::ceil(corr(1)));
  for (size_t i = 0; i < 8; ++i) {
    const double ramp = std::clamp((i - lo) / (hi - lo), 0.0, 1.0);
    const double expect = want[i] / 4 * ramp + want[i] * (1 - ramp);
    EXPECT_NEAR(f.inv_freq[i], expect, 1e-6 * want[i]) << i;
  }
  c.rope.mscale = 1.0;
  c.rope.mscale_all_dim = 0.5;
  EXPECT_NEAR(model::rope_frequencies(c, 0).attention_scaling, (0.1 * std::log(4.0) + 1) / (0.05 * std::log(4.0) + 1),
              1e-6);
  c.rope.attention_factor = 1.5;
  EXPECT_FLOAT_EQ(model::rope_frequencies(c, 0).attention_scaling, 1.5f);
}

TEST(RopeFrequencies, DynamicGrowsTheBaseOnlyPastMaxPositions) {
  ModelConfig c = base_config(RopeType::Dynamic);
  c.rope.factor = 2.0;
  const auto want = plain(1e4, 16);
  const auto short_seq = model::rope_frequencies(c, 256);
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(short_seq.inv_freq[i], want[i], 1e-7 * want[i]);
  const auto long_seq = model::rope_frequencies(c, 512);
  const double base = 1e4 * std::pow(2.0 * 512 / 256 - 1, 16.0 / 14.0);
  const auto want_long = plain(base, 16);
  for (size_t i = 0; i < 8; ++i) EXPECT_NEAR(long_seq.inv_freq[i], want_long[i], 1e-6 * want_long[i]);
}

TEST(RopeFrequencies, TableIsCosSinOfFloatAngles) {
  model::RopeFrequencies f;
  f.inv_freq = {1.0f, 0.01f};
  f.attention_scaling = 2.0f;
  float cos[4], sin[4];
  model::rope_table(f, 3, 2, cos, sin);
  EXPECT_FLOAT_EQ(cos[0], 2 * std::cos(3.0f));
  EXPECT_FLOAT_EQ(sin[3], 2 * std::sin(0.04f));
}

// The cached table (rope_frequencies() sets one for every type but dynamic) holds exactly the
// values computed without it, across growths, from any start, and past its last cached position.
TEST(RopeFrequencies, CachedTableEqualsComputedBitForBit) {
  ModelConfig c = base_config(RopeType::Yarn);
  c.rope.factor = 4.0;
  c.rope.original_max_position = 64;
  const model::RopeFrequencies cached = model::rope_frequencies(c, 0);
  ASSERT_NE(cached.cache, nullptr);
  model::RopeFrequencies plain_f = cached;
  plain_f.cache = nullptr;
  const size_t half = cached.inv_freq.size();
  struct Span {
    int64_t pos0, n;
  };
  for (const Span& sp : {Span{0, 5}, Span{3, 1}, Span{4, 300}, Span{0, 1}, Span{1000, 7}, Span{17, 2000},
                         Span{model::kRopeCacheRows - 3, 9}, Span{model::kRopeCacheRows - 2, 2}}) {
    std::vector<float> a(sp.n * half), b(sp.n * half), as(sp.n * half), bs(sp.n * half);
    model::rope_table(cached, sp.pos0, sp.n, a.data(), as.data());
    model::rope_table(plain_f, sp.pos0, sp.n, b.data(), bs.data());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "cos from " << sp.pos0;
    EXPECT_EQ(std::memcmp(as.data(), bs.data(), as.size() * sizeof(float)), 0) << "sin from " << sp.pos0;
  }
  const model::RopeFrequencies copy = cached;  // copies share the rows already computed
  EXPECT_EQ(copy.cache, cached.cache);
  EXPECT_EQ(model::rope_frequencies(base_config(RopeType::Dynamic), 0).cache, nullptr)
      << "dynamic NTK's frequencies change with the length: never cached";
}

}  // namespace
}  // namespace nova
