#include "train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.h"

namespace nova::train {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (kind == LrScheduleKind::Constant) return lr;
  const int64_t span = total_steps - warmup_steps;
  const double progress =
      span <= 0 ? 1.0 : std::clamp(static_cast<double>(step - warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  const double factor = kind == LrScheduleKind::Cosine ? 0.5 * (1.0 + std::cos(std::numbers::pi * progress))
                                                       : 1.0 - progress;
  return min_lr + (lr - min_lr) * factor;
}

LrScheduleKind parse_lr_schedule_kind(const std::string& name, const std::string& where) {
  if (name == "constant") return LrScheduleKind::Constant;
  if (name == "cosine") return LrScheduleKind::Cosine;
  if (name == "linear") return LrScheduleKind::Linear;
  fail(where, "unknown learning-rate schedule \"" + name + "\" (expected constant, cosine or linear)");
}

}  // namespace nova::train
