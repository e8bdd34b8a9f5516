// Learning-rate schedules: constant, warmup + cosine decay to min_lr, warmup + linear decay to
// min_lr. `step` is the 0-based index of the optimiser step about to be taken. Warmup (all
// kinds) ramps linearly, lr * (step + 1) / warmup_steps, reaching lr at step warmup_steps - 1;
// decay runs over steps [warmup_steps, total_steps] and holds min_lr afterwards.
#pragma once

#include <cstdint>
#include <string>

namespace nova::train {

enum class LrScheduleKind { Constant, Cosine, Linear };

struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::Constant;
  double lr = 3e-4;      // peak
  double min_lr = 0.0;   // cosine / linear floor
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // cosine / linear: where the decay ends

  double at(int64_t step) const;
};

// "constant", "cosine", "linear"; nova::Error naming `where` otherwise.
LrScheduleKind parse_lr_schedule_kind(const std::string& name, const std::string& where);

}  // namespace nova::train
