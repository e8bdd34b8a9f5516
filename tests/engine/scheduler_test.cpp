// The scheduler's policy with a fake model runner: the "model" samples a token that is a
// function of the sequence's whole history, so any mix-up of tokens, positions or recompute
// after preemption changes the output.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "core/error.h"

namespace nova::engine {
namespace {

using namespace std::chrono_literals;

// Plays the engine: runs the scheduler's steps, checks each step is self-consistent, samples
// next = hash(history) and finishes sequences after max_new tokens.
class FakeEngine {
 public:
  FakeEngine(Scheduler& s, int max_new) : s_(s), max_new_(max_new) {}

  SchedulerOutput step(Clock::time_point now = Clock::now()) {
    SchedulerOutput out = s_.schedule(now);
    EXPECT_LE(out.num_tokens(), s_.config().max_tokens_per_step);
    std::vector<int32_t> next(out.sequences.size(), -1);
    for (size_t i = 0; i < out.sequences.size(); ++i) {
      const ScheduledSequence& sc = out.sequences[i];
      const auto& toks = s_.tokens(sc.id);
      // The chunk is the next slice of the sequence's tokens, and its blocks cover it.
      EXPECT_TRUE(std::equal(sc.tokens.begin(), sc.tokens.end(), toks.begin() + sc.pos0));
      EXPECT_EQ(static_cast<int64_t>(sc.block_table.size()),
                (sc.pos0 + static_cast<int64_t>(sc.tokens.size()) + s_.config().block_size - 1) /
                    s_.config().block_size);
      EXPECT_EQ(sc.samples, sc.pos0 + static_cast<int64_t>(sc.tokens.size()) == static_cast<int64_t>(toks.size()));
      if (sc.samples) {
        uint64_t h = 1469598103934665603ull;
        for (int32_t t : toks) h = (h ^ static_cast<uint64_t>(t)) * 1099511628211ull;
        next[i] = static_cast<int32_t>(h % 1000);
      }
    }
    s_.complete(out, next);
    for (size_t i = 0; i < out.sequences.size(); ++i) {
      if (!out.sequences[i].samples) continue;
      auto& g = generated[out.sequences[i].id];
      g.push_back(next[i]);
      if (static_cast<int>(g.size()) >= max_new_) s_.finish(out.sequences[i].id);
    }
    for (const auto& f : out.finished) finished[f.id] = f.reason;
    return out;
  }
  void run_all() {
    for (int i = 0; i < 10000 && s_.has_work(); ++i) step();
    EXPECT_FALSE(s_.has_work());
  }

  std::map<uint64_t, std::vector<int32_t>> generated;
  std::map<uint64_t, std::string> finished;

 private:
  Scheduler& s_;
  int max_new_;
};

std::vector<int32_t> prompt_of(int n, int seed) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back((seed * 31 + i * 7) % 500);
  return v;
}

SchedulerConfig small_config() {
  SchedulerConfig c;
  c.num_blocks = 64;
  c.block_size = 4;
  c.max_tokens_per_step = 16;
  c.max_running = 8;
  c.max_waiting = 16;
  return c;
}

TEST(Scheduler, ChunkedPrefillSplitsLongPrompts) {
  SchedulerConfig c = small_config();
  c.max_tokens_per_step = 8;
  Scheduler s(c);
  ASSERT_EQ(s.submit({1, prompt_of(20, 1), 0, {}}), SubmitStatus::Ok);
  FakeEngine e(s, 3);
  std::vector<std::pair<int64_t, size_t>> chunks;
  for (int i = 0; i < 3; ++i) {
    const auto out = e.step();
    ASSERT_EQ(out.sequences.size(), 1u);
    chunks.emplace_back(out.sequences[0].pos0, out.sequences[0].tokens.size());
    EXPECT_EQ(out.sequences[0].samples, i == 2);
  }
  EXPECT_EQ(chunks, (std::vector<std::pair<int64_t, size_t>>{{0, 8}, {8, 8}, {16, 4}}));
  const auto decode = e.step();
  ASSERT_EQ(decode.sequences.size(), 1u);
  EXPECT_EQ(decode.sequences[0].pos0, 20);
  EXPECT_EQ(decode.sequences[0].tokens.size(), 1u);
}

TEST(Scheduler, DecodesComeBeforePrefillChunks) {
  SchedulerConfig c = small_config();
  c.max_tokens_per_step = 6;
  Scheduler s(c);
  ASSERT_EQ(s.submit({1, prompt_of(3, 1), 0, {}}), SubmitStatus::Ok);
  FakeEngine e(s, 100);
  e.step();  // 1's prompt
  ASSERT_EQ(s.submit({2, prompt_of(30, 2), 0, {}}), SubmitStatus::Ok);
  for (int i = 0; i < 4; ++i) {
    const auto out = e.step();
    ASSERT_EQ(out.sequences.size(), 2u);
    EXPECT_EQ(out.sequences[0].id, 1u);  // the decode, every step
    EXPECT_EQ(out.sequences[0].tokens.size(), 1u);
    EXPECT_EQ(out.sequences[1].id, 2u);  // the prefill gets what the budget leaves
    EXPECT_EQ(out.sequences[1].tokens.size(), 5u);
    EXPECT_EQ(out.sequences[1].pos0, 5 * i);
  }
}

TEST(Scheduler, HigherPriorityFirstFifoWithinAClass) {
  SchedulerConfig c = small_config();
  c.max_running = 1;
  Scheduler s(c);
  const int prio[] = {0, 5, 5, 0, 9, 5};
  for (uint64_t id = 1; id <= 6; ++id) ASSERT_EQ(s.submit({id, prompt_of(3, int(id)), prio[id - 1], {}}), SubmitStatus::Ok);
  FakeEngine e(s, 1);
  std::vector<uint64_t> order;
  while (s.has_work()) {
    const auto out = e.step();
    for (const auto& sc : out.sequences) order.push_back(sc.id);
  }
  EXPECT_EQ(order, (std::vector<uint64_t>{5, 2, 3, 6, 1, 4}));
}

// The same workload with a roomy pool and with one so small that sequences must be preempted
// and recomputed: every sequence generates the same tokens.
TEST(Scheduler, PreemptionRequeuesAndRecomputesWithoutChangingOutputs) {
  auto run = [](int64_t blocks, bool prefix, int64_t* preemptions) {
    SchedulerConfig c = small_config();
    c.num_blocks = blocks;
    c.prefix_caching = prefix;
    Scheduler s(c);
    for (uint64_t id = 1; id <= 6; ++id)
      EXPECT_EQ(s.submit({id, prompt_of(3 + int(id) * 2, int(id)), id == 4 ? 1 : 0, {}}), SubmitStatus::Ok);
    FakeEngine e(s, 12);
    std::vector<uint64_t> preempted;
    for (int i = 0; i < 10000 && s.has_work(); ++i) {
      const auto out = e.step();
      preempted.insert(preempted.end(), out.preempted.begin(), out.preempted.end());
      EXPECT_LE(s.kv_stats().used_blocks, blocks);
    }
    EXPECT_FALSE(s.has_work());
    *preemptions = s.preemptions();
    for (uint64_t id : preempted) EXPECT_NE(id, 4u) << "the high-priority sequence was preempted";
    return e.generated;
  };
  int64_t roomy_p = 0, tight_p = 0, tight_cached_p = 0;
  const auto roomy = run(64, true, &roomy_p);
  const auto tight = run(10, false, &tight_p);
  const auto tight_cached = run(10, true, &tight_cached_p);
  EXPECT_EQ(roomy_p, 0);
  EXPECT_GT(tight_p, 0);
  EXPECT_GT(tight_cached_p, 0);
  EXPECT_EQ(roomy.size(), 6u);
  EXPECT_EQ(tight, roomy);
  EXPECT_EQ(tight_cached, roomy);
}

TEST(Scheduler, PreemptsTheLowestPriorityNewestRunningSequence) {
  SchedulerConfig c = small_config();
  c.num_blocks = 6;
  c.block_size = 2;
  Scheduler s(c);
  ASSERT_EQ(s.submit({1, prompt_of(4, 1), 1, {}}), SubmitStatus::Ok);
  ASSERT_EQ(s.submit({2, prompt_of(4, 2), 0, {}}), SubmitStatus::Ok);
  ASSERT_EQ(s.submit({3, prompt_of(4, 3), 0, {}}), SubmitStatus::Ok);
  FakeEngine e(s, 100);
  e.step();  // all three prompts: 6 blocks, the pool is full
  EXPECT_EQ(s.kv_stats().used_blocks, 6);
  const auto out = e.step();  // every decode needs a new block: 3 (lowest, newest) makes room
  EXPECT_EQ(out.preempted, (std::vector<uint64_t>{3}));
  ASSERT_EQ(out.sequences.size(), 2u);
  EXPECT_EQ(out.sequences[0].id, 1u);
  EXPECT_EQ(out.sequences[1].id, 2u);
  EXPECT_TRUE(s.is_waiting(3));
  EXPECT_EQ(s.tokens(3).size(), 5u);  // prompt + the token it generated: recomputed later
  EXPECT_EQ(s.preemptions(), 1);
  EXPECT_EQ(s.kv_stats().used_blocks, 6);
}

TEST(Scheduler, CancellationFreesBlocksInTheSameStep) {
  Scheduler s(small_config());
  ASSERT_EQ(s.submit({1, prompt_of(9, 1), 0, {}}), SubmitStatus::Ok);
  ASSERT_EQ(s.submit({2, prompt_of(5, 2), 0, {}}), SubmitStatus::Ok);
  FakeEngine e(s, 100);
  e.step();
  EXPECT_EQ(s.kv_stats().used_blocks, 3 + 2);
  EXPECT_TRUE(s.cancel(1));
  EXPECT_EQ(s.kv_stats().used_blocks, 2);  // at once, before the next step
  EXPECT_FALSE(s.cancel(1));
  const auto out = e.step();
  ASSERT_EQ(out.finished.size(), 1u);
  EXPECT_EQ(out.finished[0].id, 1u);
  EXPECT_EQ(out.finished[0].reason, "cancelled");
  ASSERT_EQ(out.sequences.size(), 1u);
  EXPECT_EQ(out.sequences[0].id, 2u);

  // Cancelled while its step runs: complete() skips it, its blocks stay free.
  const auto in_flight = s.schedule();
  EXPECT_TRUE(s.cancel(2));
  s.complete(in_flight, std::vector<int32_t>(in_flight.sequences.size(), 1));
  EXPECT_EQ(s.kv_stats().used_blocks, 0);
  EXPECT_FALSE(s.is_running(2));

  // A waiting request can be cancelled too.
  ASSERT_EQ(s.submit({3, prompt_of(5, 3), 0, {}}), SubmitStatus::Ok);
  EXPECT_TRUE(s.cancel(3));
  EXPECT_EQ(s.num_waiting(), 0u);
}

TEST(Scheduler, TimeoutsEndWaitingAndRunningSequences) {
  SchedulerConfig c = small_config();
  c.max_running = 1;
  Scheduler s(c);
  const auto t0 = Clock::now();
  ASSERT_EQ(s.submit({1, prompt_of(5, 1), 0, t0 + 100ms}), SubmitStatus::Ok);
  ASSERT_EQ(s.submit({2, prompt_of(5, 2), 0, t0 + 50ms}), SubmitStatus::Ok);
  ASSERT_EQ(s.submit({3, prompt_of(5, 3), 0, {}}), SubmitStatus::Ok);
  FakeEngine e(s, 100);
  e.step(t0);
  EXPECT_TRUE(s.is_running(1));
  auto out = e.step(t0 + 60ms);  // 2 (waiting) times out
  ASSERT_EQ(out.finished.size(), 1u);
  EXPECT_EQ(out.finished[0].id, 2u);
  EXPECT_EQ(out.finished[0].reason, "timeout");
  out = e.step(t0 + 100ms);  // 1 (running) times out, its blocks go to 3 in the same step
  ASSERT_EQ(out.finished.size(), 1u);
  EXPECT_EQ(out.finished[0].id, 1u);
  ASSERT_EQ(out.sequences.size(), 1u);
  EXPECT_EQ(out.sequences[0].id, 3u);
  EXPECT_EQ(s.kv_stats().used_blocks, 2);
}

TEST(Scheduler, BoundedWaitingQueueAndInvalidRequests) {
  SchedulerConfig c = small_config();
  c.max_waiting = 2;
  Scheduler s(c);
  EXPECT_EQ(s.submit({1, prompt_of(3, 1), 0, {}}), SubmitStatus::Ok);
  EXPECT_EQ(s.submit({2, prompt_of(3, 2), 0, {}}), SubmitStatus::Ok);
  EXPECT_EQ(s.submit({3, prompt_of(3, 3), 0, {}}), SubmitStatus::QueueFull);
  EXPECT_FALSE(s.is_waiting(3));
  s.schedule();  // both admitted
  EXPECT_EQ(s.submit({3, prompt_of(3, 3), 0, {}}), SubmitStatus::Ok);
  EXPECT_THROW(s.submit({3, prompt_of(3, 3), 0, {}}), Error);   // duplicate id
  EXPECT_THROW(s.submit({4, {}, 0, {}}), Error);                // empty prompt
  EXPECT_THROW(s.submit({5, prompt_of(257, 5), 0, {}}), Error);  // longer than the pool
  SchedulerConfig bad = small_config();
  bad.max_tokens_per_step = 0;
  EXPECT_THROW(Scheduler{bad}, Error);
}

TEST(Scheduler, SharedPrefixSkipsCachedBlocks) {
  Scheduler s(small_config());
  auto p = prompt_of(13, 1);
  ASSERT_EQ(s.submit({1, p, 0, {}}), SubmitStatus::Ok);
  FakeEngine e(s, 1);
  e.run_all();
  p.back() = 499;
  ASSERT_EQ(s.submit({2, p, 0, {}}), SubmitStatus::Ok);
  const auto out = e.step();
  ASSERT_EQ(out.sequences.size(), 1u);
  EXPECT_EQ(out.sequences[0].pos0, 12);  // three cached blocks of 4
  EXPECT_EQ(out.sequences[0].tokens.size(), 1u);
  EXPECT_EQ(s.kv_stats().prefix_hits, 3);
}

}  // namespace
}  // namespace nova::engine
