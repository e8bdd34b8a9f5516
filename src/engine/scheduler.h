// Iteration-level scheduling for continuous batching. Every step, schedule() decides which
// sequences run and how many tokens each, and hands that out as a plain value (SchedulerOutput)
// for the model runner; complete() then records what the step produced. No model in here, so
// the policy is testable with a fake runner.
//
// Policy, per step:
//  1. Cancelled and timed-out sequences are dropped and their blocks freed.
//  2. Running sequences, highest priority first (then oldest): first every decode (one token),
//     then prefills that are still in progress (chunked: as many prompt tokens as the token
//     budget leaves). When the KV pool is out of blocks, the lowest-priority, newest running
//     sequence is preempted: its blocks are freed and it goes back to the waiting queue, to be
//     recomputed from its prompt plus the tokens it already generated (so its output does not
//     change). If that is the sequence being scheduled, it waits.
//  3. If nothing was preempted, waiting sequences are admitted, highest priority first, FIFO
//     within a priority, while the budget, max_running and the pool allow (reusing cached
//     prefix blocks). Admission stops at the first one that does not fit (no overtaking).
//     Waiting requests never preempt running ones.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/kv_cache_manager.h"

namespace nova::engine {

using Clock = std::chrono::steady_clock;

struct SchedulerConfig {
  int64_t num_blocks = 0;               // KV pool size (> 0)
  int64_t block_size = 16;              // tokens per block (> 0)
  int64_t max_tokens_per_step = 512;    // token budget of one step (> 0)
  int max_running = 64;                 // sequences in one step (> 0)
  int max_waiting = 256;                // waiting-queue bound (>= 0); submit beyond it is refused
  bool prefix_caching = true;
  int64_t max_sequence_length = 0;      // 0: the pool's size in tokens
};

struct SequenceRequest {
  uint64_t id = 0;
  std::vector<int32_t> prompt;  // not empty
  int priority = 0;             // higher runs first
  std::optional<Clock::time_point> deadline;  // finished with "timeout" once passed
};

enum class SubmitStatus { Ok, QueueFull };

// One sequence's work in a step.
struct ScheduledSequence {
  uint64_t id = 0;
  int64_t pos0 = 0;                  // tokens already in its blocks
  std::vector<int32_t> tokens;       // to run now (prefill chunk, or the last sampled token)
  std::vector<int32_t> block_table;  // covers positions [0, pos0 + tokens.size())
  bool samples = false;              // its last token is the sequence's last: sample the next one
};

struct FinishedSequence {
  uint64_t id = 0;
  std::string reason;  // "cancelled" | "timeout"
};

struct SchedulerOutput {
  std::vector<ScheduledSequence> sequences;  // in running order
  std::vector<uint64_t> preempted;           // went back to waiting in this step
  std::vector<FinishedSequence> finished;    // dropped since the last step (blocks already freed)
  int64_t num_tokens() const;
  int num_sampling() const;
};

class Scheduler {
 public:
  // Throws nova::Error for an invalid configuration.
  explicit Scheduler(SchedulerConfig config);

  // Queues a request. Throws nova::Error for an empty prompt, a prompt longer than
  // max_sequence_length, or an id already known.
  SubmitStatus submit(SequenceRequest request);
  // Plans the next step.
  SchedulerOutput schedule(Clock::time_point now = Clock::now());
  // Records a step's results: next_tokens[i] is the token sampled for step.sequences[i] when it
  // samples (ignored otherwise). Sequences cancelled since schedule() are skipped.
  void complete(const SchedulerOutput& step, std::span<const int32_t> next_tokens);
  // Ends a sequence for the caller (a stop rule fired): frees its blocks. Unknown ids ignored.
  void finish(uint64_t id);
  // Drops a waiting or running sequence now, freeing its blocks; reported as finished
  // ("cancelled") by the next schedule(). False if the id is not live.
  bool cancel(uint64_t id);

  bool has_work() const { return !waiting_.empty() || !running_.empty() || !pending_finished_.empty(); }
  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  bool is_running(uint64_t id) const;
  bool is_waiting(uint64_t id) const;
  // Tokens of a live sequence: prompt then generated (throws for an unknown id).
  const std::vector<int32_t>& tokens(uint64_t id) const;
  int64_t preemptions() const { return preemptions_; }
  KvStats kv_stats() const { return kv_.stats(); }
  const KvCacheManager& kv() const { return kv_; }
  const SchedulerConfig& config() const { return config_; }

 private:
  struct Seq {
    uint64_t id = 0;
    std::vector<int32_t> tokens;
    int64_t computed = 0;  // tokens whose K/V is in its blocks
    int priority = 0;
    uint64_t arrival = 0;
    std::optional<Clock::time_point> deadline;
  };
  static bool runs_before(const Seq& a, const Seq& b);
  void drop(uint64_t id, const std::string& reason);
  void preempt(uint64_t id);

  SchedulerConfig config_;
  KvCacheManager kv_;
  std::unordered_map<uint64_t, Seq> seqs_;
  std::vector<uint64_t> waiting_, running_;
  std::vector<FinishedSequence> pending_finished_;
  uint64_t next_arrival_ = 0;
  int64_t preemptions_ = 0;
};

}  // namespace nova::engine
