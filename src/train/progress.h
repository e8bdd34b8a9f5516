// Training progress on stderr. On a terminal: one bar redrawn in place (at most ~10 times a second)
//   [########............] 412/1000  loss 3.4102  41.2k tok/s  ETA 02:13
// Otherwise (a log file, CI): a plain line every `log_every` steps and at the last step.
// Messages (evals, checkpoints) go on their own lines; the bar is cleared first.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

namespace nova::train {

struct ProgressLine {
  int64_t step = 0, total = 0;
  double loss = 0, lr = 0, grad_norm = 0, tokens_per_s = 0;
  double eta_s = 0;
  bool skipped = false;
  std::optional<double> aux_loss;  // MoE models: the load-balancing loss (shown as "aux")
};

class Progress {
 public:
  Progress(std::ostream& out, bool terminal, int64_t log_every);
  void update(const ProgressLine& line);
  void message(const std::string& text);
  void finish();  // ends the bar's line

 private:
  void clear();

  std::ostream& out_;
  bool terminal_;
  int64_t log_every_;
  bool bar_shown_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

// "02:13", "1:02:13".
std::string format_duration(double seconds);
// Whether file descriptor 2 is a terminal.
bool stderr_is_terminal();

}  // namespace nova::train
