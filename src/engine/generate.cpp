#include "engine/generate.h"

#include <algorithm>
#include <optional>
#include <string>

#include "core/error.h"
#include "engine/device_sampler.h"
#include "engine/stop_criteria.h"
#include "kernels/backend.h"

namespace nova::engine {

void validate_request(const GenerationRequest& request, int vocab_size) {
  request.sampling.validate();
  require(!request.prompt.empty(), "prompt", "must not be empty (the next token's logits come from its last token)");
  require(request.max_tokens >= 0, "max_tokens", "must be >= 0, got " + std::to_string(request.max_tokens));
  require(request.prefill_chunk > 0, "prefill_chunk", "must be > 0, got " + std::to_string(request.prefill_chunk));
  require(request.logprobs >= 0 && request.logprobs <= vocab_size, "logprobs",
          "must be in [0, " + std::to_string(vocab_size) + "], got " + std::to_string(request.logprobs));
  auto check_ids = [&](const std::vector<int32_t>& ids, const char* field) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || ids[i] >= vocab_size) {
        fail(std::string(field) + "[" + std::to_string(i) + "]",
             "token id " + std::to_string(ids[i]) + " is outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
      }
    }
  };
  check_ids(request.prompt, "prompt");
  check_ids(request.stop_token_ids, "stop_token_ids");
}

GenerationResult generate(model::Session& session, const Detokenizer* detok, const GenerationRequest& request,
                          const TokenCallback& on_token) {
  const int vocab = session.vocab_size();
  validate_request(request, vocab);
  const auto prompt_len = static_cast<int64_t>(request.prompt.size());
  require(session.length() + prompt_len <= session.capacity(), "prompt",
          std::to_string(prompt_len) + " tokens after " + std::to_string(session.length()) +
              " cached ones exceed the context of " + std::to_string(session.capacity()));

  Sampler sampler(request.sampling, vocab);
  StopCriteria stop({request.stop_token_ids, request.stop_strings, request.max_tokens},
                    detok ? detok->open_stream(request.skip_special_tokens) : nullptr);

  GenerationResult result;
  result.prompt_tokens = static_cast<int>(prompt_len);

  // On a device backend the logits stay there and are sampled there (DeviceSampling draws from
  // `sampler`, so the tokens are the host path's); else they come to the host.
  kernels::Backend* device = request.device_sampling ? session.device_sampling_backend() : nullptr;
  std::vector<float> logits;
  Tensor device_logits;
  auto forward = [&](std::span<const int32_t> ids) {
    if (device) device_logits = session.forward_logits(ids);
    else session.forward(ids, logits);
  };
  auto check_device_logits = [&](const Tensor& t) {
    if (t.ndim() != 2 || t.dim(0) != 1 || t.dim(1) != vocab)
      fail("model", "returned logits of shape " + t.shape_string() + " for one row of a vocabulary of " +
                        std::to_string(vocab));
  };
  auto sample = [&]() -> SampledToken {
    const TokenHistory history{request.prompt, result.tokens};
    if (!device) {
      if (logits.size() != static_cast<size_t>(vocab))
        fail("model",
             "returned " + std::to_string(logits.size()) + " logits for a vocabulary of " + std::to_string(vocab));
      return sampler.sample(logits, history, request.logprobs);
    }
    check_device_logits(device_logits);
    DeviceSampling rows;
    rows.add(sampler, history, request.logprobs);
    return rows.run(*device, device_logits).at(0).get();
  };
  // Hands token t to the stop rules and the callback; returns whether generation ends with it.
  // `fits`: whether the session has room to run t through the model (else it ends with "length").
  auto emit = [&](const SampledToken& t, bool fits) {
    TokenEvent ev;
    ev.index = static_cast<int>(result.tokens.size());
    ev.token = t.id;
    ev.logprob = t.logprob;
    ev.top = t.top;
    result.tokens.push_back(t.id);
    result.token_logprobs.push_back(t.logprob);
    if (request.logprobs > 0) result.top_logprobs.push_back(t.top);

    ev.text = stop.push(t.id);
    if (!stop.finished() && !fits) ev.text += stop.finish_early("length");
    ev.finished = stop.finished();
    ev.finish_reason = stop.finish_reason();
    result.text += ev.text;

    if (on_token && !on_token(ev) && !stop.finished()) stop.finish_early("cancelled");
    return stop.finished();
  };

  // Prefill in chunks; only the last chunk's last row of logits is needed.
  for (int64_t begin = 0; begin < prompt_len; begin += request.prefill_chunk) {
    const int64_t n = std::min<int64_t>(request.prefill_chunk, prompt_len - begin);
    forward(std::span<const int32_t>(request.prompt).subspan(begin, n));
  }

  if (!(device && request.overlap_steps && !uses_penalties(request.sampling))) {
    while (!stop.finished()) {
      const SampledToken t = sample();
      if (emit(t, session.length() < session.capacity())) break;
      forward(std::span<const int32_t>(&result.tokens.back(), 1));
    }
  } else if (!stop.finished()) {
    // Overlapped decode: the next step runs on the token the device picked (still on the device:
    // without penalties the next row needs nothing else from it) while the host reads that token,
    // so the device never waits for the host between steps. A step run ahead of the last token is
    // dropped (the session truncated back); one run on a token the device left to the host
    // (NeedsHost) is run again on the host's token, with the same draw for the row after it.
    auto sample_async = [&](const Tensor& t) {
      check_device_logits(t);
      DeviceSampling rows;
      rows.add(sampler, {request.prompt, result.tokens}, request.logprobs);
      return rows.run_async(*device, t);
    };
    PendingSampling pending = sample_async(device_logits);
    device_logits = Tensor();
    for (;;) {
      const bool fits = session.length() < session.capacity();
      // Run ahead unless this token is surely the last (max_tokens reached with it).
      std::optional<PendingSampling> ahead;
      if (fits && static_cast<int64_t>(result.tokens.size()) + 1 < request.max_tokens)
        ahead.emplace(sample_async(session.forward_logits_from_device(pending.ids())));
      auto drop_ahead = [&] {
        if (!ahead) return;
        session.truncate(session.length() - 1);
        ahead.reset();
      };
      SampledToken t;
      try {
        t = pending.wait().at(0).get();
        if (ahead && !pending.device_id_final(0)) {  // the step ahead ran on the wrong token
          const PendingSampling stale = std::move(*ahead);
          ahead.reset();
          session.truncate(session.length() - 1);
          ahead.emplace(stale.rerun(session.forward_logits(std::span<const int32_t>(&t.id, 1))));
        }
      } catch (...) {
        drop_ahead();
        throw;
      }
      if (emit(t, fits)) {
        drop_ahead();
        break;
      }
      // Not finished: neither capacity nor max_tokens stopped it, so the step ran ahead.
      if (!ahead) fail("generate", "internal: decode continued without a step run ahead");
      pending = std::move(*ahead);
    }
  }

  result.finish_reason = stop.finish_reason();
  result.stop_string = stop.matched_stop_string();
  result.stop_token = stop.matched_stop_token();
  return result;
}

}  // namespace nova::engine
