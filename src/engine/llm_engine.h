// The serving engine: requests are submitted from any thread, a background step loop runs them
// with continuous batching (Scheduler + ModelRunner), and every request streams TokenEvents
// through its handle (a thread-safe queue) and/or a callback.
//
// Per request it keeps a Sampler (its own seeded random stream) and a StopCriteria, exactly as
// generate() does for one sequence, so a request gets the same tokens whether it runs alone or
// in a batch, and whether or not it was preempted and recomputed on the way.
//
// A request that ends without a final token (cancelled, timed out) gets a last event with
// token = -1, finished = true and finish_reason "cancelled" | "timeout".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/detokenizer.h"
#include "engine/generate.h"
#include "engine/model_runner.h"
#include "engine/scheduler.h"
#include "engine/stop_criteria.h"

namespace nova::engine {

struct EngineConfig {
  int64_t num_blocks = 0;  // KV pool; 0: enough for max_running sequences of the model's full context
  int64_t block_size = 16;
  int64_t max_tokens_per_step = 512;
  int max_running = 64;
  int max_waiting = 256;  // submit beyond this returns QueueFull (HTTP 429)
  bool prefix_caching = true;
  bool background = true;  // run the step loop on a thread; false: the caller calls step()
  // Sample on the device when the model's backend can (ModelRunner::samples_on_device): only the
  // chosen ids and logprobs reach the host. false: download the logits, sample on the host.
  bool device_sampling = true;
};

// Set to true (from any thread) to cancel the request it was given to.
using CancellationToken = std::shared_ptr<std::atomic<bool>>;

struct EngineRequest {
  std::vector<int32_t> prompt;  // not empty
  SamplingParams sampling;
  int max_tokens = 16;
  std::vector<int32_t> stop_token_ids;
  std::vector<std::string> stop_strings;  // need a detokenizer
  int logprobs = 0;
  bool skip_special_tokens = true;
  int priority = 0;                           // higher runs first
  std::chrono::milliseconds timeout{0};       // 0: none; counted from submit
  CancellationToken cancel;                   // may be null
  TokenCallback on_token;                     // may be empty; runs on the step thread; false cancels
};

enum class EngineStatus { Ok, QueueFull, ShuttingDown };

// One submitted request's results, filled by the step loop.
class RequestHandle {
 public:
  uint64_t id() const { return id_; }
  // Blocks for the next event; nullopt once the request is finished and every event was taken.
  std::optional<TokenEvent> next_event();
  // Blocks until the request is finished; the whole result.
  GenerationResult wait();
  bool finished() const;

 private:
  friend class LlmEngine;
  explicit RequestHandle(uint64_t id) : id_(id) {}
  void push(const TokenEvent& ev);
  void finish(GenerationResult result);

  uint64_t id_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TokenEvent> events_;
  GenerationResult result_;
  bool done_ = false;
};

struct SubmitResult {
  EngineStatus status = EngineStatus::Ok;
  std::shared_ptr<RequestHandle> handle;  // null unless Ok
};

struct EngineStats {
  size_t waiting = 0;
  size_t running = 0;
  KvStats kv;
  int64_t preemptions = 0;
  int64_t steps = 0;
  int64_t generated_tokens = 0;
};

class LlmEngine {
 public:
  // `detok` may be null (no text, no stop strings) and must outlive the engine.
  LlmEngine(std::shared_ptr<const model::Transformer> model, const Detokenizer* detok, EngineConfig config = {});
  LlmEngine(std::unique_ptr<ModelRunner> runner, const Detokenizer* detok, EngineConfig config = {});
  // Cancels whatever is left and stops the step loop.
  ~LlmEngine();
  LlmEngine(const LlmEngine&) = delete;
  LlmEngine& operator=(const LlmEngine&) = delete;

  // Validates the request (nova::Error naming the field) and queues it.
  SubmitResult submit(EngineRequest request);
  // Cancels a waiting or running request; its blocks are freed at once. False if not live.
  bool cancel(uint64_t id);
  EngineStats stats() const;
  // Refuses new requests (ShuttingDown), runs every accepted one to its end, stops the loop.
  void drain();
  // One iteration of the step loop (for background = false). False when there was nothing to do.
  bool step();

 private:
  struct Live {
    EngineRequest request;
    std::shared_ptr<RequestHandle> handle;
    Sampler sampler;
    StopCriteria stop;
    GenerationResult result;
  };
  // An event or an end to deliver once the engine lock is released.
  struct Delivery {
    std::shared_ptr<RequestHandle> handle;
    TokenCallback callback;
    uint64_t id = 0;
    TokenEvent event;
    bool has_event = false;
    std::optional<GenerationResult> final_result;
  };
  void loop();
  void end(uint64_t id, const std::string& reason, std::vector<Delivery>& out);  // under mu_
  void deliver(std::vector<Delivery>& out);  // without mu_

  std::unique_ptr<ModelRunner> runner_;
  const Detokenizer* detok_;
  EngineConfig config_;
  int64_t max_length_ = 0;

  mutable std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_;
  Scheduler scheduler_;
  std::unordered_map<uint64_t, std::unique_ptr<Live>> live_;
  uint64_t next_id_ = 1;
  bool accepting_ = true;
  bool stop_ = false;
  int64_t steps_ = 0, generated_ = 0;
  std::mutex step_mu_;  // one step at a time
  std::thread thread_;
};

}  // namespace nova::engine
