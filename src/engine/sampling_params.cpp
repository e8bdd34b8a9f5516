#include "engine/sampling_params.h"

#include <cmath>
#include <string>

#include "core/error.h"

namespace nova::engine {
namespace {

void check(bool ok, const char* field, const std::string& what) {
  require(ok, std::string("sampling.") + field, what);
}

}  // namespace

void SamplingParams::validate() const {
  check(std::isfinite(temperature) && temperature >= 0, "temperature",
        "must be a finite number >= 0, got " + std::to_string(temperature));
  check(top_k >= 0, "top_k", "must be >= 0 (0 disables it), got " + std::to_string(top_k));
  check(std::isfinite(top_p) && top_p > 0 && top_p <= 1, "top_p", "must be in (0, 1], got " + std::to_string(top_p));
  check(std::isfinite(min_p) && min_p >= 0 && min_p <= 1, "min_p", "must be in [0, 1], got " + std::to_string(min_p));
  check(std::isfinite(repetition_penalty) && repetition_penalty > 0, "repetition_penalty",
        "must be a finite number > 0, got " + std::to_string(repetition_penalty));
  check(std::isfinite(presence_penalty) && presence_penalty >= -2 && presence_penalty <= 2, "presence_penalty",
        "must be in [-2, 2], got " + std::to_string(presence_penalty));
  check(std::isfinite(frequency_penalty) && frequency_penalty >= -2 && frequency_penalty <= 2, "frequency_penalty",
        "must be in [-2, 2], got " + std::to_string(frequency_penalty));
}

}  // namespace nova::engine
