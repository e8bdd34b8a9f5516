#include "engine/llm_engine.h"

#include <algorithm>
#include <exception>

#include "core/error.h"

namespace nova::engine {

// ---- RequestHandle ----

std::optional<TokenEvent> RequestHandle::next_event() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return !events_.empty() || done_; });
  if (events_.empty()) return std::nullopt;
  TokenEvent ev = std::move(events_.front());
  events_.pop_front();
  return ev;
}

GenerationResult RequestHandle::wait() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return done_; });
  return result_;
}

bool RequestHandle::finished() const {
  std::lock_guard lk(mu_);
  return done_;
}

void RequestHandle::push(const TokenEvent& ev) {
  {
    std::lock_guard lk(mu_);
    events_.push_back(ev);
  }
  cv_.notify_all();
}

void RequestHandle::finish(GenerationResult result) {
  {
    std::lock_guard lk(mu_);
    result_ = std::move(result);
    done_ = true;
  }
  cv_.notify_all();
}

// ---- LlmEngine ----

namespace {

EngineConfig resolved(EngineConfig c, int64_t max_positions) {
  require(c.block_size > 0, "engine.block_size", "must be > 0, got " + std::to_string(c.block_size));
  require(c.max_running > 0, "engine.max_running", "must be > 0, got " + std::to_string(c.max_running));
  require(c.num_blocks >= 0, "engine.num_blocks", "must be >= 0, got " + std::to_string(c.num_blocks));
  if (c.num_blocks == 0) {
    require(max_positions > 0, "engine.num_blocks", "0 needs the model's max_position_embeddings");
    c.num_blocks = c.max_running * ((max_positions + c.block_size - 1) / c.block_size);
  }
  return c;
}

SchedulerConfig scheduler_config(const EngineConfig& c, int64_t max_length) {
  SchedulerConfig s;
  s.num_blocks = c.num_blocks;
  s.block_size = c.block_size;
  s.max_tokens_per_step = c.max_tokens_per_step;
  s.max_running = c.max_running;
  s.max_waiting = c.max_waiting;
  s.prefix_caching = c.prefix_caching;
  s.max_sequence_length = max_length;
  return s;
}

int64_t context_of(const ModelRunner& runner, const EngineConfig& c) {
  const int64_t pool = c.num_blocks * c.block_size;
  return runner.max_positions() > 0 ? std::min(runner.max_positions(), pool) : pool;
}

}  // namespace

LlmEngine::LlmEngine(std::shared_ptr<const model::Transformer> model, const Detokenizer* detok, EngineConfig config)
    : LlmEngine(std::make_unique<TransformerRunner>(
                    model, resolved(config, model->config().max_position_embeddings).num_blocks, config.block_size),
                detok, resolved(config, model->config().max_position_embeddings)) {}

LlmEngine::LlmEngine(std::unique_ptr<ModelRunner> runner, const Detokenizer* detok, EngineConfig config)
    : runner_(std::move(runner)),
      detok_(detok),
      config_(resolved(config, runner_->max_positions())),
      max_length_(context_of(*runner_, config_)),
      scheduler_(scheduler_config(config_, max_length_)) {
  if (config_.background) thread_ = std::thread([this] { loop(); });
}

LlmEngine::~LlmEngine() {
  {
    std::lock_guard lk(mu_);
    accepting_ = false;
    stop_ = true;
    std::vector<uint64_t> ids;
    for (const auto& [id, live] : live_) ids.push_back(id);
    for (uint64_t id : ids) scheduler_.cancel(id);
  }
  work_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    while (step()) {
    }
  }
}

SubmitResult LlmEngine::submit(EngineRequest request) {
  const int vocab = runner_->vocab_size();
  GenerationRequest g;
  g.prompt = request.prompt;
  g.max_tokens = request.max_tokens;
  g.sampling = request.sampling;
  g.stop_token_ids = request.stop_token_ids;
  g.logprobs = request.logprobs;
  validate_request(g, vocab);
  require(request.timeout.count() >= 0, "timeout", "must be >= 0");
  require(static_cast<int64_t>(request.prompt.size()) <= max_length_, "prompt",
          std::to_string(request.prompt.size()) + " tokens exceed the context of " + std::to_string(max_length_));

  Sampler sampler(request.sampling, vocab);
  StopCriteria stop({request.stop_token_ids, request.stop_strings, request.max_tokens},
                    detok_ ? detok_->open_stream(request.skip_special_tokens) : nullptr);
  SequenceRequest seq;
  seq.prompt = request.prompt;
  seq.priority = request.priority;
  if (request.timeout.count() > 0) seq.deadline = Clock::now() + request.timeout;

  SubmitResult res;
  {
    std::lock_guard lk(mu_);
    if (!accepting_) {
      res.status = EngineStatus::ShuttingDown;
      return res;
    }
    if (stop.finished()) {  // max_tokens == 0: nothing to generate, nothing to queue
      res.handle = std::shared_ptr<RequestHandle>(new RequestHandle(next_id_++));
      GenerationResult done;
      done.prompt_tokens = static_cast<int>(request.prompt.size());
      done.finish_reason = stop.finish_reason();
      res.handle->finish(std::move(done));
      return res;
    }
    seq.id = next_id_;
    if (scheduler_.submit(std::move(seq)) == SubmitStatus::QueueFull) {
      res.status = EngineStatus::QueueFull;
      return res;
    }
    const uint64_t id = next_id_++;
    res.handle = std::shared_ptr<RequestHandle>(new RequestHandle(id));
    auto live = std::make_unique<Live>(Live{std::move(request), res.handle, std::move(sampler), std::move(stop), {}});
    live->result.prompt_tokens = static_cast<int>(live->request.prompt.size());
    live_.emplace(id, std::move(live));
  }
  work_cv_.notify_all();
  return res;
}

bool LlmEngine::cancel(uint64_t id) {
  bool ok;
  {
    std::lock_guard lk(mu_);
    ok = live_.count(id) && scheduler_.cancel(id);
  }
  work_cv_.notify_all();
  return ok;
}

EngineStats LlmEngine::stats() const {
  std::lock_guard lk(mu_);
  EngineStats s;
  s.waiting = scheduler_.num_waiting();
  s.running = scheduler_.num_running();
  s.kv = scheduler_.kv_stats();
  s.preemptions = scheduler_.preemptions();
  s.steps = steps_;
  s.generated_tokens = generated_;
  return s;
}

void LlmEngine::drain() {
  {
    std::unique_lock lk(mu_);
    accepting_ = false;
    if (thread_.joinable()) idle_cv_.wait(lk, [&] { return !scheduler_.has_work() && live_.empty(); });
    stop_ = true;
  }
  work_cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    while (step()) {
    }
  }
}

void LlmEngine::end(uint64_t id, const std::string& reason, std::vector<Delivery>& out) {
  auto it = live_.find(id);
  if (it == live_.end()) return;
  Live& l = *it->second;
  Delivery d;
  d.handle = l.handle;
  d.callback = l.request.on_token;
  d.id = id;
  d.event.index = static_cast<int>(l.result.tokens.size());
  d.event.token = -1;
  d.event.text = l.stop.finished() ? std::string() : l.stop.finish_early(reason);
  d.event.finished = true;
  d.event.finish_reason = reason;
  d.has_event = true;
  l.result.text += d.event.text;
  l.result.finish_reason = reason;
  d.final_result = std::move(l.result);
  out.push_back(std::move(d));
  live_.erase(it);
}

void LlmEngine::deliver(std::vector<Delivery>& out) {
  for (Delivery& d : out) {
    if (d.has_event) {
      d.handle->push(d.event);
      if (d.callback && !d.callback(d.event) && !d.event.finished) cancel(d.id);
    }
    if (d.final_result) d.handle->finish(std::move(*d.final_result));
  }
  out.clear();
}

bool LlmEngine::step() {
  std::lock_guard step_lk(step_mu_);
  std::vector<Delivery> deliveries;
  SchedulerOutput out;
  const bool on_device = config_.device_sampling && runner_->samples_on_device();
  DeviceSampling sampling;  // on_device: the step's rows, their draws taken from each request's Sampler
  {
    std::lock_guard lk(mu_);
    for (const auto& [id, live] : live_)
      if (live->request.cancel && live->request.cancel->load()) scheduler_.cancel(id);
    out = scheduler_.schedule(Clock::now());
    for (const FinishedSequence& f : out.finished) end(f.id, f.reason, deliveries);
    if (on_device) {
      for (const ScheduledSequence& sc : out.sequences) {
        if (!sc.samples) continue;
        auto it = live_.find(sc.id);
        if (it == live_.end()) {
          sampling.add_placeholder();
          continue;
        }
        Live& l = *it->second;
        sampling.add(l.sampler, {l.request.prompt, l.result.tokens}, l.request.logprobs);
      }
    }
  }
  if (out.sequences.empty()) {
    deliver(deliveries);
    idle_cv_.notify_all();
    return !out.finished.empty();
  }

  std::vector<float> logits;
  std::vector<SampleOutcome> sampled;
  std::string error;
  try {
    if (on_device) sampled = runner_->run_sampled(out, sampling);
    else runner_->run(out, logits);
  } catch (const std::exception& e) {
    error = e.what();
  }

  {
    std::lock_guard lk(mu_);
    ++steps_;
    const int vocab = runner_->vocab_size();
    if (error.empty() && on_device && sampled.size() != static_cast<size_t>(out.num_sampling()))
      error = "model returned " + std::to_string(sampled.size()) + " sampled tokens for " +
              std::to_string(out.num_sampling()) + " sequences";
    if (error.empty() && !on_device && logits.size() != static_cast<size_t>(out.num_sampling()) * vocab)
      error = "model returned " + std::to_string(logits.size()) + " logits for " +
              std::to_string(out.num_sampling()) + " sequences";
    if (!error.empty()) {  // the step is lost: end every request it touched
      for (const ScheduledSequence& sc : out.sequences) {
        scheduler_.finish(sc.id);
        end(sc.id, "error", deliveries);
      }
    } else {
      std::vector<int32_t> next(out.sequences.size(), -1);
      std::vector<uint64_t> done;
      size_t row = 0;
      for (size_t i = 0; i < out.sequences.size(); ++i) {
        const ScheduledSequence& sc = out.sequences[i];
        if (!sc.samples) continue;
        const size_t r = row++;
        auto it = live_.find(sc.id);
        if (it == live_.end() || !scheduler_.is_running(sc.id)) continue;  // cancelled meanwhile
        Live& l = *it->second;
        const SampledToken t =
            on_device ? sampled[r].get()
                      : l.sampler.sample(std::span<const float>(logits.data() + r * vocab, static_cast<size_t>(vocab)),
                                         {l.request.prompt, l.result.tokens}, l.request.logprobs);
        next[i] = t.id;
        Delivery d;
        d.handle = l.handle;
        d.callback = l.request.on_token;
        d.id = sc.id;
        d.has_event = true;
        TokenEvent& ev = d.event;
        ev.index = static_cast<int>(l.result.tokens.size());
        ev.token = t.id;
        ev.logprob = t.logprob;
        ev.top = t.top;
        l.result.tokens.push_back(t.id);
        l.result.token_logprobs.push_back(t.logprob);
        if (l.request.logprobs > 0) l.result.top_logprobs.push_back(t.top);
        ++generated_;
        ev.text = l.stop.push(t.id);
        // As generate(): the next step needs this token in the cache; if it does not fit, end here.
        const int64_t cached = static_cast<int64_t>(l.request.prompt.size() + l.result.tokens.size()) - 1;
        if (!l.stop.finished() && cached >= max_length_) ev.text += l.stop.finish_early("length");
        ev.finished = l.stop.finished();
        ev.finish_reason = l.stop.finish_reason();
        l.result.text += ev.text;
        if (ev.finished) {
          l.result.finish_reason = l.stop.finish_reason();
          l.result.stop_string = l.stop.matched_stop_string();
          l.result.stop_token = l.stop.matched_stop_token();
          d.final_result = std::move(l.result);
          done.push_back(sc.id);
        }
        deliveries.push_back(std::move(d));
      }
      scheduler_.complete(out, next);
      for (uint64_t id : done) {
        scheduler_.finish(id);
        live_.erase(id);
      }
    }
  }
  deliver(deliveries);
  idle_cv_.notify_all();
  return true;
}

void LlmEngine::loop() {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      work_cv_.wait(lk, [&] { return stop_ || scheduler_.has_work(); });
      if (stop_ && !scheduler_.has_work()) return;
    }
    try {
      step();
    } catch (const std::exception&) {
      // A sampler/stop error on bad logits: the requests of that step cannot continue; drop them
      // rather than take the process down (their handles end with "cancelled").
      std::lock_guard lk(mu_);
      std::vector<uint64_t> ids;
      for (const auto& [id, live] : live_)
        if (scheduler_.is_running(id)) ids.push_back(id);
      for (uint64_t id : ids) scheduler_.cancel(id);
    }
  }
}

}  // namespace nova::engine
