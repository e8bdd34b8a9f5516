#include "serve/app/completion_job.h"

#include <chrono>
#include <cstdio>
#include <random>

namespace nova::serve::app {

using nlohmann::json;

namespace {

std::string random_id(const char* prefix) {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  uint64_t a, b;
  {
    std::lock_guard lock(mu);
    a = rng();
    b = rng();
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return std::string(prefix) + buf;
}

json bytes_of(const std::string& s) {
  json out = json::array();
  for (unsigned char c : s) out.push_back(static_cast<int>(c));
  return out;
}

}  // namespace

std::string openai_finish_reason(const std::string& engine_reason) { return engine_reason; }

CompletionJob::CompletionJob(const ModelBundle& model, const ParsedRequest& request, http::ResponseWriterPtr writer)
    : model_(model),
      req_(request),
      writer_(std::move(writer)),
      id_(random_id(request.endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-")),
      created_(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                   .count()) {
  req_.engine.on_token = nullptr;
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

json CompletionJob::chunk(json choices) const {
  json j = {{"id", id_},
            {"object", req_.endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
            {"created", created_},
            {"model", model_.name},
            {"choices", std::move(choices)}};
  if (req_.include_usage) j["usage"] = nullptr;
  return j;
}

json CompletionJob::usage() const {
  int completion = 0;
  for (const auto& c : choices_) completion += static_cast<int>(c.tokens.size());
  const int prompt = static_cast<int>(req_.engine.prompt.size());
  return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json CompletionJob::chat_logprobs(const std::vector<int32_t>& ids, const std::vector<float>& lps,
                                  const std::vector<std::vector<engine::TokenLogprob>>& top) const {
  json content = json::array();
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string t = token_text(ids[i]);
    json tops = json::array();
    if (i < top.size())
      for (const auto& tl : top[i]) {
        const std::string tt = token_text(tl.id);
        tops.push_back({{"token", tt}, {"logprob", tl.logprob}, {"bytes", bytes_of(tt)}});
      }
    content.push_back({{"token", t}, {"logprob", lps[i]}, {"bytes", bytes_of(t)}, {"top_logprobs", tops}});
  }
  return {{"content", content}};
}

json CompletionJob::completion_logprobs(const std::vector<int32_t>& ids, const std::vector<float>& lps,
                                        const std::vector<std::vector<engine::TokenLogprob>>& top) const {
  json tokens = json::array(), token_lps = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string t = token_text(ids[i]);
    tokens.push_back(t);
    token_lps.push_back(lps[i]);
    json m = json::object();
    if (i < top.size())
      for (const auto& tl : top[i]) m[token_text(tl.id)] = tl.logprob;
    tops.push_back(m);
    offsets.push_back(offset);
    offset += t.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", token_lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

bool CompletionJob::on_event(int index, const engine::TokenEvent& ev) {
  std::lock_guard lock(mu_);
  if (failed_) return false;
  Choice& c = choices_.at(static_cast<size_t>(index));
  if (c.done) return false;
  if (ev.token >= 0) {
    c.tokens.push_back(ev.token);
    c.logprobs.push_back(ev.logprob);
    c.top.push_back(ev.top);
  }
  c.text += ev.text;
  if (ev.finished) {
    c.done = true;
    c.finish_reason = openai_finish_reason(ev.finish_reason);
  }
  if (req_.stream) stream_event(index, ev);
  if (ev.finished && ++done_count_ == static_cast<int>(choices_.size())) complete();
  return writer_->is_open() || (ev.finished && done_count_ == static_cast<int>(choices_.size()));
}

void CompletionJob::stream_event(int index, const engine::TokenEvent& ev) {
  Choice& c = choices_[static_cast<size_t>(index)];
  const bool chat = req_.endpoint == Endpoint::kChat;
  if (chat && !c.role_sent) {
    c.role_sent = true;
    writer_->write_event(chunk(json::array({{{"index", index},
                                              {"delta", {{"role", "assistant"}, {"content", ""}}},
                                              {"logprobs", nullptr},
                                              {"finish_reason", nullptr}}}))
                             .dump(-1, ' ', false, json::error_handler_t::replace));
  }
  const bool has_token = ev.token >= 0;
  const bool show_lp = req_.want_logprobs && has_token;
  if (!ev.text.empty() || show_lp) {
    std::vector<int32_t> ids;
    std::vector<float> lps;
    std::vector<std::vector<engine::TokenLogprob>> top;
    if (show_lp) {
      ids = {ev.token};
      lps = {ev.logprob};
      top = {ev.top};
    }
    json choice = {{"index", index}};
    if (chat) choice["delta"] = {{"content", ev.text}};
    else choice["text"] = ev.text;
    choice["logprobs"] = show_lp ? (chat ? chat_logprobs(ids, lps, top) : completion_logprobs(ids, lps, top)) : json();
    choice["finish_reason"] = nullptr;
    writer_->write_event(chunk(json::array({choice})).dump(-1, ' ', false, json::error_handler_t::replace));
  }
  if (ev.finished) {
    json choice = {{"index", index}};
    if (chat) choice["delta"] = json::object();
    else choice["text"] = "";
    choice["logprobs"] = nullptr;
    choice["finish_reason"] = c.finish_reason;
    writer_->write_event(chunk(json::array({choice})).dump(-1, ' ', false, json::error_handler_t::replace));
  }
}

void CompletionJob::complete() {
  if (req_.stream) {
    if (req_.include_usage) {
      json j = chunk(json::array());
      j["usage"] = usage();
      writer_->write_event(j.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    writer_->write_event("[DONE]");
    writer_->finish();
    return;
  }
  json body;
  if (req_.endpoint == Endpoint::kInvocation) {
    json responses = json::array();
    for (const auto& c : choices_) responses.push_back(c.text);
    body = {{"responses", responses}, {"input_prompt", req_.prompt_text}, {"generation_config", req_.generation_config}};
  } else {
    const bool chat = req_.endpoint == Endpoint::kChat;
    json choices = json::array();
    for (size_t i = 0; i < choices_.size(); ++i) {
      const Choice& c = choices_[i];
      json lp = req_.want_logprobs ? (chat ? chat_logprobs(c.tokens, c.logprobs, c.top)
                                           : completion_logprobs(c.tokens, c.logprobs, c.top))
                                   : json();
      if (chat)
        choices.push_back({{"index", i},
                           {"message", {{"role", "assistant"}, {"content", c.text}}},
                           {"logprobs", lp},
                           {"finish_reason", c.finish_reason}});
      else
        choices.push_back({{"index", i}, {"text", c.text}, {"logprobs", lp}, {"finish_reason", c.finish_reason}});
    }
    body = {{"id", id_},
            {"object", chat ? "chat.completion" : "text_completion"},
            {"created", created_},
            {"model", model_.name},
            {"choices", choices},
            {"usage", usage()}};
  }
  writer_->send_json(200, body.dump(-1, ' ', false, json::error_handler_t::replace));
}

}  // namespace nova::serve::app
