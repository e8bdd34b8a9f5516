#include "engine/penalties.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "engine/sampler.h"

namespace nova::engine {
namespace {

TEST(Penalties, RepetitionIsHfStyleOverTheSetOfSeenIds) {
  std::vector<float> l = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 0.0f};
  const std::vector<int32_t> prompt = {0, 1, 1, 5};
  const std::vector<int32_t> generated = {3, 3, 1};
  apply_repetition_penalty(l, 2.0f, {prompt, generated});
  // positive / p, negative * p, once per id however often it was seen; 0 stays 0.
  EXPECT_EQ(l, (std::vector<float>{1.0f, -2.0f, 0.5f, 1.5f, -2.0f, 0.0f}));

  std::vector<float> m = {2.0f, -1.0f};
  const std::vector<int32_t> seen = {0, 1};
  apply_repetition_penalty(m, 0.5f, {seen, {}});  // p < 1 encourages repetition
  EXPECT_EQ(m, (std::vector<float>{4.0f, -0.5f}));
}

TEST(Penalties, PresenceAndFrequencyAreOpenAiStyleOverGeneratedTokens) {
  std::vector<float> l = {1.0f, 1.0f, 1.0f, 1.0f, 1.0f};
  const std::vector<int32_t> generated = {2, 2, 4, 2};
  apply_presence_frequency_penalty(l, 0.5f, 0.25f, generated);
  // id 2: 1 - (0.5 + 3 * 0.25) = -0.25; id 4: 1 - (0.5 + 0.25) = 0.25.
  EXPECT_EQ(l, (std::vector<float>{1.0f, 1.0f, -0.25f, 1.0f, 0.25f}));
}

TEST(Penalties, SamplerAppliesRepetitionToPromptButPresenceOnlyToGenerated) {
  const std::vector<float> logits = {1.0f, 0.9f, 0.0f};
  const std::vector<int32_t> prompt = {0};
  SamplingParams p;
  p.temperature = 0;
  p.presence_penalty = 2.0f;  // would demote 0, but 0 is only in the prompt
  EXPECT_EQ(Sampler(p, 3).sample(logits, {prompt, {}}).id, 0);
  p.presence_penalty = 0;
  p.repetition_penalty = 1.2f;  // 1.0 / 1.2 < 0.9
  EXPECT_EQ(Sampler(p, 3).sample(logits, {prompt, {}}).id, 1);
  p.repetition_penalty = 1.0f;
  p.frequency_penalty = 0.2f;
  const std::vector<int32_t> gen = {0};
  EXPECT_EQ(Sampler(p, 3).sample(logits, {{}, gen}).id, 1);
}

TEST(Penalties, RejectOutOfRangeIds) {
  std::vector<float> l(4, 0.0f);
  const std::vector<int32_t> bad = {4};
  const std::vector<int32_t> neg = {-1};
  EXPECT_THROW(apply_repetition_penalty(l, 1.5f, {bad, {}}), Error);
  EXPECT_THROW(apply_repetition_penalty(l, 1.5f, {{}, neg}), Error);
  EXPECT_THROW(apply_presence_frequency_penalty(l, 0.1f, 0.1f, bad), Error);
}

}  // namespace
}  // namespace nova::engine
