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
  std::lock_guard lock(mu_);
  for (auto& c : choices_) c.cancel->store(true);
}

std::string CompletionJob::token_text(int32_t id) const {
  const int32_t one[1] = {id};
  return model_.tokenizer->decode(one, /*skip_special_tokens=*/false);
}

openai::TokenLogprob CompletionJob::token_logprob(const engine::TokenEvent& ev) const {
  openai::TokenLogprob t;
  t.token = token_text(ev.token);
  t.logprob = ev.logprob;
  for (const auto& alt : ev.top) t.top.push_back({token_text(alt.id), alt.logprob});
  return t;
}

openai::Usage CompletionJob::usage() const {
  openai::Usage u;
  u.prompt_tokens = req_.prompt_tokens();
  for (const auto& c : choices_) u.completion_tokens += static_cast<int64_t>(c.tokens.size());
  return u;
}

void CompletionJob::start_stream() {
  writer_->start_sse(headers_);
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
    if (req_.want_logprobs) c.logprobs.push_back(token_logprob(ev));
  }
  c.text += ev.text;
  if (ev.finished) {
    c.done = true;
    c.finish_reason = ev.finish_reason;
  }
  if (req_.stream) stream_event(index, ev);
  if (ev.finished && ++done_count_ == static_cast<int>(choices_.size())) complete();
  return writer_->is_open() || (ev.finished && done_count_ == static_cast<int>(choices_.size()));
}

void CompletionJob::stream_event(int index, const engine::TokenEvent& ev) {
  Choice& c = choices_[static_cast<size_t>(index)];
  const bool chat = req_.endpoint == Endpoint::kChat;
  auto send = [&](const Json& j) { writer_->write_event(openai::dump_json(j)); };
  if (chat && !c.role_sent) {
    c.role_sent = true;
    openai::ChatDelta d;
    d.index = index;
    d.role = "assistant";
    d.content = "";
    send(openai::chat_chunk_json(meta_, {d}, req_.include_usage));
  }
  const bool show_lp = req_.want_logprobs && ev.token >= 0;
  if (!ev.text.empty() || show_lp) {
    std::vector<openai::TokenLogprob> lps;
    if (show_lp) lps.push_back(c.logprobs.back());
    if (chat) {
      openai::ChatDelta d;
      d.index = index;
      d.content = ev.text;
      if (show_lp) d.logprobs = lps;
      send(openai::chat_chunk_json(meta_, {d}, req_.include_usage));
    } else {
      openai::CompletionChoice cc{index, ev.text, std::nullopt, std::nullopt};
      if (show_lp) cc.logprobs = openai::completion_logprobs_json(lps);
      send(openai::text_completion_json(meta_, {cc}, std::nullopt, req_.include_usage));
    }
  }
  if (ev.finished) {
    if (chat) {
      openai::ChatDelta d;
      d.index = index;
      d.finish_reason = c.finish_reason;
      send(openai::chat_chunk_json(meta_, {d}, req_.include_usage));
    } else {
      openai::CompletionChoice cc{index, "", c.finish_reason, std::nullopt};
      send(openai::text_completion_json(meta_, {cc}, std::nullopt, req_.include_usage));
    }
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
    if (req_.include_usage)
      writer_->write_event(openai::dump_json(req_.endpoint == Endpoint::kChat
                                                 ? openai::chat_usage_chunk_json(meta_, u)
                                                 : openai::text_completion_json(meta_, {}, u)));
    record_->finish(200);  // the head went out; a client that left shows as finish_reason "cancelled"
    writer_->write_event("[DONE]");
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
