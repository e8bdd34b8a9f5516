#include "engine/stop_criteria.h"

#include <gtest/gtest.h>

#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "toy_session.h"

namespace nova::engine {
namespace {

using test::FakeDetokenizer;

struct Streamed {
  std::vector<std::string> deltas;
  std::string text;
};

// Pushes `ids` until finished; collects each token's delta.
Streamed push_all(StopCriteria& stop, const std::vector<int32_t>& ids) {
  Streamed r;
  for (int32_t id : ids) {
    if (stop.finished()) break;
    r.deltas.push_back(stop.push(id));
    r.text += r.deltas.back();
  }
  return r;
}

const FakeDetokenizer kPieces({"He", "llo", " wor", "ld", "!", "<eos>", "o w", "l", "\xE2\x82", "\xAC", "x"}, {5});

TEST(StopCriteria, StopStringAcrossTokensIsCutAndHeldBackWhileAmbiguous) {
  StopCriteria stop({{}, {"lo wo"}, 100}, kPieces.open_stream(true));
  const Streamed r = push_all(stop, {0, 1, 2, 3});
  // "He" | "llo" (could start "lo wo": hold "lo") | " wor" completes it.
  EXPECT_EQ(r.deltas, (std::vector<std::string>{"He", "l", ""}));
  EXPECT_EQ(r.text, "Hel");
  EXPECT_EQ(stop.finish_reason(), "stop");
  EXPECT_EQ(stop.matched_stop_string(), "lo wo");
  EXPECT_EQ(stop.matched_stop_token(), -1);
  EXPECT_EQ(stop.generated(), 3);
}

TEST(StopCriteria, HeldBackTextIsReleasedWhenItTurnsOutNotToBeAStop) {
  StopCriteria stop({{}, {"llox"}, 100}, kPieces.open_stream(true));
  const Streamed r = push_all(stop, {0, 1, 4, 10});
  EXPECT_EQ(r.deltas, (std::vector<std::string>{"He", "", "llo!", "x"}));
  EXPECT_FALSE(stop.finished());
  EXPECT_EQ(stop.finish_early("length"), "");
  EXPECT_EQ(stop.finish_reason(), "length");
}

TEST(StopCriteria, EarliestStopStringWins) {
  StopCriteria stop({{}, {"world", "o w", "Hello"}, 100}, kPieces.open_stream(true));
  const Streamed r = push_all(stop, {0, 1, 2, 3});
  // "Hello" completes first, at the second token.
  EXPECT_EQ(r.text, "");
  EXPECT_EQ(stop.matched_stop_string(), "Hello");
  StopCriteria later({{}, {"world", "o w"}, 100}, kPieces.open_stream(true));
  EXPECT_EQ(push_all(later, {0, 1, 2, 3}).text, "Hell");
  EXPECT_EQ(later.matched_stop_string(), "o w");
}

TEST(StopCriteria, StopTokenEndsWithoutItsTextAndReleasesHeldText) {
  StopCriteria stop({{5}, {"lo!"}, 100}, kPieces.open_stream(false));
  const Streamed r = push_all(stop, {0, 1, 5, 4});
  EXPECT_EQ(r.deltas, (std::vector<std::string>{"He", "l", "lo"}));
  EXPECT_EQ(stop.finish_reason(), "stop");
  EXPECT_EQ(stop.matched_stop_token(), 5);
  EXPECT_EQ(stop.matched_stop_string(), "");
  EXPECT_EQ(stop.generated(), 3);
}

TEST(StopCriteria, MaxTokensGivesLengthAndReleasesEverything) {
  StopCriteria stop({{}, {"ld?"}, 4}, kPieces.open_stream(true));
  const Streamed r = push_all(stop, {0, 1, 2, 3, 4});
  EXPECT_EQ(r.deltas, (std::vector<std::string>{"He", "llo", " wor", "ld"}));
  EXPECT_EQ(stop.finish_reason(), "length");
  StopCriteria zero({{}, {}, 0}, nullptr);
  EXPECT_TRUE(zero.finished());
  EXPECT_EQ(zero.finish_reason(), "length");
  // A stop on the last allowed token is a "stop".
  StopCriteria both({{5}, {}, 2}, kPieces.open_stream(true));
  push_all(both, {0, 5});
  EXPECT_EQ(both.finish_reason(), "stop");
}

TEST(StopCriteria, NeverSplitsAUtf8CharacterAndFlushesAPartialOneAtTheEnd) {
  StopCriteria stop({{}, {}, 3}, kPieces.open_stream(true));
  const Streamed r = push_all(stop, {0, 8, 9});
  EXPECT_EQ(r.deltas, (std::vector<std::string>{"He", "", "\xE2\x82\xAC"}));
  StopCriteria cut({{}, {}, 2}, kPieces.open_stream(true));
  EXPECT_EQ(push_all(cut, {0, 8}).text, "He\xEF\xBF\xBD");
}

TEST(StopCriteria, CancelShowsNothingMore) {
  StopCriteria stop({{}, {"lo!"}, 100}, kPieces.open_stream(true));
  push_all(stop, {0, 1});
  EXPECT_EQ(stop.finish_early("cancelled"), "");
  EXPECT_EQ(stop.finish_reason(), "cancelled");
  EXPECT_THROW(stop.push(0), Error);
}

TEST(StopCriteria, RejectsBadConfig) {
  EXPECT_THROW(StopCriteria({{}, {""}, 4}, kPieces.open_stream(true)), Error);
  EXPECT_THROW(StopCriteria({{}, {"x"}, 4}, nullptr), Error);
  EXPECT_THROW(StopCriteria({{}, {}, -1}, nullptr), Error);
  try {
    StopCriteria({{}, {"a", ""}, 4}, kPieces.open_stream(true));
    ADD_FAILURE() << "an empty stop string was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.where(), "stop[1]");
  }
}

// Property check against an oracle: decode everything, cut at the earliest stop occurrence.
TEST(StopCriteria, RandomStreamsMatchTheWholeTextOracle) {
  const FakeDetokenizer d({"a", "b", "ab", "ba", "c", "abc", "bb", "ca"});
  std::mt19937 rng(77);
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<int32_t> ids(1 + rng() % 12);
    for (auto& id : ids) id = static_cast<int32_t>(rng() % 8);
    std::vector<std::string> stops(1 + rng() % 3);
    for (auto& s : stops) {
      s.resize(1 + rng() % 4);
      for (char& ch : s) ch = "abc"[rng() % 3];
    }
    StopCriteria stop({{}, stops, static_cast<int>(ids.size())}, d.open_stream(true));
    const Streamed r = push_all(stop, ids);
    ASSERT_TRUE(stop.finished());

    // Oracle: the first token whose text (decoded from scratch) contains a stop string; cut at
    // the earliest occurrence in that text.
    size_t cut = std::string::npos;
    std::string full;
    for (size_t k = 1; k <= ids.size() && cut == std::string::npos; ++k) {
      full = d.decode(std::span<const int32_t>(ids).first(k));
      for (const auto& s : stops) cut = std::min(cut, full.find(s));
    }
    if (cut == std::string::npos) {
      EXPECT_EQ(r.text, full);
      EXPECT_EQ(stop.finish_reason(), "length");
    } else {
      EXPECT_EQ(r.text, full.substr(0, cut)) << full;
      EXPECT_EQ(stop.finish_reason(), "stop");
      EXPECT_EQ(full.compare(cut, stop.matched_stop_string().size(), stop.matched_stop_string()), 0);
    }
    for (const auto& s : stops) EXPECT_EQ(r.text.find(s), std::string::npos);
  }
}

}  // namespace
}  // namespace nova::engine
