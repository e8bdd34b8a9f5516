// A whole training run (`nova train`): data, model, optimiser and schedule from a RunConfig, then
// the step loop with metrics (metrics.jsonl), progress on stderr, evaluation on the held-out split
// every train.eval_every steps, checkpoints every train.save_every steps and at the end (the last
// train.keep_last kept, plus best/), the loss plot (loss.svg, refreshed at every eval and
// checkpoint) and a clean stop on SIGINT/SIGTERM (a checkpoint is saved first).
//
// Resuming continues exactly: parameters, AdamW state, step counters and the data cursor come back
// from the checkpoint, so the losses after a resume equal those of an uninterrupted run bit for bit.
// The checkpoint's config snapshot must agree with this run's on model.*, data.* and train.seed.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "train/checkpoint.h"
#include "train/run_config.h"

namespace nova::train {

struct RunOptions {
  // "": a fresh run (refused when output.dir already holds checkpoints); "latest": the newest
  // checkpoint in output.dir (a fresh run when there is none); else a checkpoint directory.
  std::string resume;
  std::ostream* log = nullptr;           // progress and messages; default std::cerr
  std::optional<bool> terminal;          // draw a progress bar; default: whether stderr is a TTY
  bool handle_signals = true;            // SIGINT/SIGTERM stop the run after the current step
  // Test hook: called after every step; true stops the run as a signal would.
  std::function<bool(int64_t step)> stop_after_step;
  // Fault injection: called after each checkpoint file is staged (see write_checkpoint).
  CheckpointFileHook after_checkpoint_file;
};

struct RunResult {
  int64_t step = 0;            // steps done when the run ended
  bool completed = false;      // reached train.steps
  int signal = 0;              // the signal that stopped it (0: none, or the test hook)
  std::string last_checkpoint;
  std::optional<double> last_eval_loss, best_eval_loss;
};

// Throws nova::Error (before any step) for unusable data, models or checkpoints.
RunResult run_training(const RunConfig& config, const RunOptions& options = {});

// File names inside output.dir.
inline constexpr const char* kMetricsFile = "metrics.jsonl";
inline constexpr const char* kLossPlotFile = "loss.svg";
inline constexpr const char* kBestDir = "best";

}  // namespace nova::train
