#include "serve/app/completion_job.h"

namespace nova::serve::app {

using openai::Json;

CompletionJob::CompletionJob(const ModelBundle& model, GenerationRequest request, http::ResponseWriterPtr writer,
                             std::shared_ptr<RequestRecord> record, metrics::ServerMetrics* metrics,
                             http::Headers headers, OnSettled on_settled)
    : model_(model),
      req_(std::move(request)),
      writer_(std::move(writer)),
      record_(std::move(record)),
      metrics_(metrics),
      headers_(std::move(headers)),
      on_settled_(std::move(on_settled)) {
  meta_.id = openai::make_id(req_.endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-");
  meta_.created = openai::unix_now();
  meta_.model = model_.name;
  req_.engine.on_token = nullptr;
  record_->set_request_id(meta_.id);
  record_->set_prompt(req_.prompt_text(), req_.prompt_tokens());
}

engine::CancellationToken CompletionJob::add_choice() {
  Choice c;
  c.cancel = std::make_shared<std::atomic<bool>>(false);
  choices_.push_back(c);
  return c.cancel;
}

void CompletionJob::cancel_all() {
  // No lock: choices_ only grows while the submitting handler holds mu_, before the writer can
  // report a disconnect, and the tokens are atomics.
  for (auto& c : choices_) c.cancel->store(true);
}

std::string CompletionJob::token_text(int32_t id) const {
  const int32_t one[1] = {id};
  return model_.tokenizer->decode(one, /*skip_special_tokens=*/false);
}

openai::TokenLogprob CompletionJob::token_logprob(int32_t token, float logprob,
                                                  const std::vector<engine::TokenLogprob>& top) const {
  openai::TokenLogprob t;
  t.token = token_text(token);
  t.logprob = logprob;
  for (const auto& alt : top) t.top.push_back({token_text(alt.id), alt.logprob});
  return t;
}

openai::Usage CompletionJob::usage() const {
  openai::Usage u;
  u.prompt_tokens = req_.prompt_tokens();
  for (const auto& c : choices_) u.completion_tokens += static_cast<int64_t>(c.tokens.size());
  return u;
}

void CompletionJob::start_stream() {
  chunks_ = std::make_unique<openai::StreamChunkWriter>(
      meta_, req_.endpoint == Endpoint::kChat ? openai::StreamChunkWriter::Kind::kChat
                                              : openai::StreamChunkWriter::Kind::kText,
      req_.include_usage);
  role_sent_.assign(choices_.size(), false);
  writer_->start_sse(headers_);
  writer_->set_pull([weak = weak_from_this()] {
    if (auto job = weak.lock()) job->pull();
  });
  if (!req_.echo) return;
  for (int i = 0; i < req_.choices(); ++i) {
    openai::CompletionChoice c{i, prompt_of(i), std::nullopt, std::nullopt};
    writer_->write_event(openai::dump_json(openai::text_completion_json(meta_, {c}, std::nullopt, req_.include_usage)));
  }
}

bool CompletionJob::on_event(int index, const engine::TokenEvent& ev) {
  std::lock_guard lock(mu_);
  if (failed_) return false;
  Choice& c = choices_.at(static_cast<size_t>(index));
  if (c.done) return false;
  if (ev.token >= 0) {
    const auto now = std::chrono::steady_clock::now();
    if (c.tokens.empty()) record_->mark_first_token();
    else if (metrics_) metrics_->inter_token_latency_seconds.observe(std::chrono::duration<double>(now - c.last_token).count());
    c.last_token = now;
    if (metrics_) metrics_->generation_tokens_total.inc();
    c.tokens.push_back(ev.token);
    // A stream's logprobs are formatted with its chunks; only a full response keeps them.
    if (req_.want_logprobs && !req_.stream) c.logprobs.push_back(token_logprob(ev.token, ev.logprob, ev.top));
  }
  c.text += ev.text;
  if (ev.finished) {
    c.done = true;
    c.finish_reason = ev.finish_reason;
  }
  if (req_.stream) {
    StreamItem item;
    item.index = index;
    item.show_logprob = req_.want_logprobs && ev.token >= 0;
    item.token = ev.token;
    item.logprob = ev.logprob;
    if (item.show_logprob) item.top = ev.top;
    item.text = ev.text;
    item.finished = ev.finished;
    item.finish_reason = ev.finish_reason;
    std::lock_guard q(queue_mu_);
    queue_.push_back(std::move(item));
  }
  const bool all_done = ev.finished && ++done_count_ == static_cast<int>(choices_.size());
  if (all_done) complete();
  else if (req_.stream) writer_->request_pull();
  return writer_->is_open() || all_done;
}

void CompletionJob::pull() {
  std::string out;
  std::lock_guard render(render_mu_);
  render_queued(out);
  if (!out.empty()) writer_->write_pulled(out);
}

void CompletionJob::render_queued(std::string& out) {
  rendering_.clear();
  {
    std::lock_guard q(queue_mu_);
    rendering_.swap(queue_);
  }
  if (rendering_.empty() || !chunks_) return;
  out.reserve(out.size() + rendering_.size() * 320);
  const bool chat = req_.endpoint == Endpoint::kChat;
  for (const StreamItem& it : rendering_) {
    if (chat && !role_sent_[static_cast<size_t>(it.index)]) {
      role_sent_[static_cast<size_t>(it.index)] = true;
      chunks_->role(out, it.index);
    }
    if (!it.text.empty() || it.show_logprob) {
      if (it.show_logprob) {
        const openai::TokenLogprob lp = token_logprob(it.token, it.logprob, it.top);
        chunks_->delta(out, it.index, it.text, &lp);
      } else {
        chunks_->delta(out, it.index, it.text, nullptr);
      }
    }
    if (it.finished) chunks_->finish(out, it.index, it.finish_reason);
  }
}

void CompletionJob::complete() {
  const openai::Usage u = usage();
  if (on_settled_) on_settled_(u.prompt_tokens + u.completion_tokens);
  // The log keeps the first choice's text (redacted to its length unless --log-prompts).
  record_->set_completion(choices_.empty() ? std::string() : choices_[0].text, u.completion_tokens,
                          choices_.empty() ? std::string() : choices_[0].finish_reason);
  const bool client_gone = writer_->cancelled();
  if (req_.stream) {
    // The tail goes out from here, after whatever the loop has not pulled yet, in one write.
    std::lock_guard render(render_mu_);
    std::string out;
    render_queued(out);
    if (req_.include_usage)
      out.append("data: ")
          .append(openai::dump_json(req_.endpoint == Endpoint::kChat ? openai::chat_usage_chunk_json(meta_, u)
                                                                     : openai::text_completion_json(meta_, {}, u)))
          .append("\n\n");
    out.append("data: [DONE]\n\n");
    record_->finish(200);  // the head went out; a client that left shows as finish_reason "cancelled"
    writer_->write_chunk(out);
    writer_->finish();
    return;
  }
  Json body;
  if (req_.endpoint == Endpoint::kInvocation) {
    Json responses = Json::array();
    for (const auto& c : choices_) responses.push_back(c.text);
    body = {{"responses", responses}, {"input_prompt", req_.prompt_text()}, {"generation_config", req_.generation_config}};
  } else if (req_.endpoint == Endpoint::kChat) {
    std::vector<openai::ChatChoice> out;
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice& c = choices_[i];
      openai::ChatChoice cc;
      cc.index = static_cast<int64_t>(i);
      cc.content = c.text;
      cc.finish_reason = c.finish_reason;
      if (req_.want_logprobs) cc.logprobs = c.logprobs;
      out.push_back(std::move(cc));
    }
    body = openai::chat_completion_json(meta_, out, u);
  } else {
    std::vector<openai::CompletionChoice> out;
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice& c = choices_[i];
      const std::string prefix = req_.echo ? prompt_of(static_cast<int>(i)) : std::string();
      openai::CompletionChoice cc{static_cast<int64_t>(i), prefix + c.text, c.finish_reason, std::nullopt};
      if (req_.want_logprobs) cc.logprobs = openai::completion_logprobs_json(c.logprobs, static_cast<int64_t>(prefix.size()));
      out.push_back(std::move(cc));
    }
    body = openai::text_completion_json(meta_, out, u);
  }
  record_->finish(client_gone ? kStatusClientClosed : 200);
  writer_->send_json(200, openai::dump_json(body), headers_);
}

}  // namespace nova::serve::app
