#include "serve/openai/sampling_params.h"

#include <charconv>

namespace nova::serve::openai {

std::vector<std::string> read_stop(const Json& body, std::string_view key, std::string_view parent) {
  const std::string param = join_path(parent, key);
  const Json* v = field(body, key);
  std::vector<std::string> out;
  if (!v) return out;
  auto take = [&](const Json& s, const std::string& p) {
    if (!s.is_string()) throw InvalidRequest(p, "'" + p + "' must be a string, got " + type_phrase(s) + ".", "invalid_type");
    if (s.get_ref<const std::string&>().empty()) throw InvalidRequest(p, "'" + p + "' must not be empty.");
    out.push_back(s.get<std::string>());
  };
  if (v->is_string()) {
    take(*v, param);
  } else if (v->is_array()) {
    if (v->size() > kMaxStopSequences)
      throw InvalidRequest(param, "'" + param + "' may hold at most " + std::to_string(kMaxStopSequences) +
                                      " sequences, got " + std::to_string(v->size()) + ".");
    for (size_t i = 0; i < v->size(); ++i) take((*v)[i], index_path(param, i));
  } else {
    throw InvalidRequest(param, "'" + param + "' must be a string or an array of strings, got " + type_phrase(*v) + ".",
                         "invalid_type");
  }
  return out;
}

SamplingParams read_sampling(const Json& body) {
  SamplingParams p;
  p.temperature = read_number(body, "temperature", 0, 2);
  p.top_p = read_number(body, "top_p", 0, 1, /*lo_open=*/true);
  p.min_p = read_number(body, "min_p", 0, 1);
  if (auto k = read_int(body, "top_k", -1, kMaxTokenId)) p.top_k = *k;
  p.presence_penalty = read_number(body, "presence_penalty", -2, 2);
  p.frequency_penalty = read_number(body, "frequency_penalty", -2, 2);
  p.repetition_penalty = read_number(body, "repetition_penalty", 0, 100, /*lo_open=*/true);
  if (auto n = read_int(body, "n", 1, kMaxN)) p.n = *n;
  p.stop = read_stop(body, "stop");
  p.seed = read_int(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max());
  if (const Json* bias = field(body, "logit_bias")) {
    if (!bias->is_object())
      throw InvalidRequest("logit_bias", "'logit_bias' must be an object mapping token ids to numbers.", "invalid_type");
    for (const auto& [key, value] : bias->items()) {
      const std::string param = "logit_bias";
      int64_t id = -1;
      const auto r = std::from_chars(key.data(), key.data() + key.size(), id);
      if (r.ec != std::errc() || r.ptr != key.data() + key.size() || id < 0 || id > kMaxTokenId)
        throw InvalidRequest("logit_bias", "'logit_bias' keys must be token ids (non-negative integers).");
      p.logit_bias[id] = as_number(value, -100, 100, false, param);
    }
  }
  return p;
}

}  // namespace nova::serve::openai
