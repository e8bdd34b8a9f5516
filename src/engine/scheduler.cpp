#include "engine/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace nova::engine {

int64_t SchedulerOutput::num_tokens() const {
  int64_t n = 0;
  for (const auto& s : sequences) n += static_cast<int64_t>(s.tokens.size());
  return n;
}

int SchedulerOutput::num_sampling() const {
  int n = 0;
  for (const auto& s : sequences) n += s.samples;
  return n;
}

namespace {
SchedulerConfig checked(SchedulerConfig c) {
  require(c.num_blocks > 0, "scheduler.num_blocks", "must be > 0, got " + std::to_string(c.num_blocks));
  require(c.block_size > 0, "scheduler.block_size", "must be > 0, got " + std::to_string(c.block_size));
  require(c.max_tokens_per_step > 0, "scheduler.max_tokens_per_step",
          "must be > 0, got " + std::to_string(c.max_tokens_per_step));
  require(c.max_running > 0, "scheduler.max_running", "must be > 0, got " + std::to_string(c.max_running));
  require(c.max_waiting >= 0, "scheduler.max_waiting", "must be >= 0, got " + std::to_string(c.max_waiting));
  const int64_t pool_tokens = c.num_blocks * c.block_size;
  require(c.max_sequence_length >= 0, "scheduler.max_sequence_length", "must be >= 0");
  if (c.max_sequence_length == 0 || c.max_sequence_length > pool_tokens) c.max_sequence_length = pool_tokens;
  return c;
}

void erase_id(std::vector<uint64_t>& v, uint64_t id) { v.erase(std::remove(v.begin(), v.end(), id), v.end()); }
}  // namespace

Scheduler::Scheduler(SchedulerConfig config)
    : config_(checked(config)), kv_(config_.num_blocks, config_.block_size, config_.prefix_caching) {}

bool Scheduler::runs_before(const Seq& a, const Seq& b) {
  if (a.priority != b.priority) return a.priority > b.priority;
  return a.arrival < b.arrival;
}

SubmitStatus Scheduler::submit(SequenceRequest request) {
  require(!request.prompt.empty(), "prompt", "must not be empty");
  require(static_cast<int64_t>(request.prompt.size()) <= config_.max_sequence_length, "prompt",
          std::to_string(request.prompt.size()) + " tokens exceed the context of " +
              std::to_string(config_.max_sequence_length));
  require(!seqs_.count(request.id), "scheduler", "request id " + std::to_string(request.id) + " is already queued");
  if (static_cast<int64_t>(waiting_.size()) >= config_.max_waiting) return SubmitStatus::QueueFull;
  Seq s;
  s.id = request.id;
  s.tokens = std::move(request.prompt);
  s.priority = request.priority;
  s.arrival = next_arrival_++;
  s.deadline = request.deadline;
  seqs_.emplace(s.id, std::move(s));
  waiting_.push_back(request.id);
  return SubmitStatus::Ok;
}

bool Scheduler::is_running(uint64_t id) const {
  return std::find(running_.begin(), running_.end(), id) != running_.end();
}

bool Scheduler::is_waiting(uint64_t id) const {
  return std::find(waiting_.begin(), waiting_.end(), id) != waiting_.end();
}

const std::vector<int32_t>& Scheduler::tokens(uint64_t id) const {
  auto it = seqs_.find(id);
  require(it != seqs_.end(), "scheduler", "unknown sequence " + std::to_string(id));
  return it->second.tokens;
}

void Scheduler::drop(uint64_t id, const std::string& reason) {
  kv_.free(id);
  erase_id(waiting_, id);
  erase_id(running_, id);
  seqs_.erase(id);
  pending_finished_.push_back({id, reason});
}

void Scheduler::finish(uint64_t id) {
  if (!seqs_.count(id)) return;
  kv_.free(id);
  erase_id(waiting_, id);
  erase_id(running_, id);
  seqs_.erase(id);
}

bool Scheduler::cancel(uint64_t id) {
  if (!seqs_.count(id)) return false;
  drop(id, "cancelled");
  return true;
}

void Scheduler::preempt(uint64_t id) {
  kv_.free(id);
  seqs_.at(id).computed = 0;  // recomputed (prefix cache permitting) from prompt + generated tokens
  erase_id(running_, id);
  waiting_.push_back(id);
  ++preemptions_;
}

SchedulerOutput Scheduler::schedule(Clock::time_point now) {
  SchedulerOutput out;
  std::vector<uint64_t> expired;
  for (const auto& [id, s] : seqs_)
    if (s.deadline && *s.deadline <= now) expired.push_back(id);
  std::sort(expired.begin(), expired.end());
  for (uint64_t id : expired) drop(id, "timeout");

  auto by_order = [&](uint64_t a, uint64_t b) { return runs_before(seqs_.at(a), seqs_.at(b)); };
  int64_t budget = config_.max_tokens_per_step;
  bool preempted_any = false;

  auto emit = [&](Seq& s, int64_t n) {
    ScheduledSequence sc;
    sc.id = s.id;
    sc.pos0 = s.computed;
    sc.tokens.assign(s.tokens.begin() + s.computed, s.tokens.begin() + s.computed + n);
    const std::vector<int32_t>& table = kv_.table(s.id);
    sc.block_table.assign(table.begin(), table.begin() + kv_.blocks_for(s.computed + n));
    sc.samples = s.computed + n == static_cast<int64_t>(s.tokens.size());
    out.sequences.push_back(std::move(sc));
    budget -= n;
  };
  // Frees the lowest-priority, newest running sequence (the last in running order); unschedules
  // it if it already got work in this step.
  auto preempt_last = [&]() -> uint64_t {
    const uint64_t victim = running_.back();
    for (auto it = out.sequences.begin(); it != out.sequences.end(); ++it)
      if (it->id == victim) {
        budget += static_cast<int64_t>(it->tokens.size());
        out.sequences.erase(it);
        break;
      }
    preempt(victim);
    out.preempted.push_back(victim);
    preempted_any = true;
    return victim;
  };

  // Running sequences: decodes first, then prefills in progress.
  std::sort(running_.begin(), running_.end(), by_order);
  const std::vector<uint64_t> order = running_;
  for (const bool decode_pass : {true, false}) {
    for (uint64_t id : order) {
      if (budget <= 0) break;
      if (!is_running(id)) continue;  // preempted earlier in this step
      Seq& s = seqs_.at(id);
      const int64_t remaining = static_cast<int64_t>(s.tokens.size()) - s.computed;
      if ((remaining == 1) != decode_pass) continue;
      const int64_t n = std::min(remaining, budget);
      if (s.computed + n > config_.max_sequence_length) {  // the engine ends sequences before this
        drop(id, "length");
        continue;
      }
      bool fits = true;
      while (!kv_.allocate(id, s.computed + n)) {
        if (preempt_last() == id) {
          fits = false;
          break;
        }
      }
      if (fits) emit(s, n);
    }
  }

  // Waiting sequences, in priority then arrival order, until one does not fit.
  if (!preempted_any) {
    std::sort(waiting_.begin(), waiting_.end(), by_order);
    while (!waiting_.empty() && budget > 0 && static_cast<int>(running_.size()) < config_.max_running) {
      Seq& s = seqs_.at(waiting_.front());
      const PrefixMatch match = kv_.match_prefix(s.tokens);
      const int64_t cached = static_cast<int64_t>(match.blocks.size()) * config_.block_size;
      const int64_t n = std::min(static_cast<int64_t>(s.tokens.size()) - cached, budget);
      if (!kv_.allocate(s.id, cached + n, &match)) break;
      s.computed = cached;
      waiting_.erase(waiting_.begin());
      running_.push_back(s.id);
      emit(s, n);
    }
  }

  out.finished = std::move(pending_finished_);
  pending_finished_.clear();
  return out;
}

void Scheduler::complete(const SchedulerOutput& step, std::span<const int32_t> next_tokens) {
  require(next_tokens.size() == step.sequences.size(), "Scheduler::complete",
          std::to_string(next_tokens.size()) + " tokens for " + std::to_string(step.sequences.size()) + " sequences");
  for (size_t i = 0; i < step.sequences.size(); ++i) {
    const ScheduledSequence& sc = step.sequences[i];
    if (!is_running(sc.id)) continue;  // cancelled while the step ran
    Seq& s = seqs_.at(sc.id);
    s.computed += static_cast<int64_t>(sc.tokens.size());
    kv_.commit(sc.id, s.tokens, s.computed);
    if (sc.samples) s.tokens.push_back(next_tokens[i]);
  }
}

}  // namespace nova::engine
