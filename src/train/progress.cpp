#include "train/progress.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace nova::train {

namespace {

std::string fixed(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

std::string rate(double tokens_per_s) {
  if (tokens_per_s >= 1e6) return fixed("%.2fM", tokens_per_s / 1e6);
  if (tokens_per_s >= 1e3) return fixed("%.1fk", tokens_per_s / 1e3);
  return fixed("%.0f", tokens_per_s);
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%02lld:%02lld", s / 60, s % 60);
  return buf;
}

bool stderr_is_terminal() { return ::isatty(2) == 1; }

Progress::Progress(std::ostream& out, bool terminal, int64_t log_every)
    : out_(out), terminal_(terminal), log_every_(log_every < 1 ? 1 : log_every) {}

void Progress::update(const ProgressLine& l) {
  const std::string stats = "loss " + fixed("%.4f", l.loss) + (l.skipped ? " (skipped)" : "") +
                            (l.aux_loss ? "  aux " + fixed("%.4f", *l.aux_loss) : "") + "  " +
                            rate(l.tokens_per_s) + " tok/s  ETA " + format_duration(l.eta_s);
  if (!terminal_) {
    if (l.step % log_every_ != 0 && l.step != l.total && !l.skipped) return;
    out_ << "step " << l.step << "/" << l.total << "  " << stats << "  lr " << fixed("%.3g", l.lr) << "  grad_norm "
         << fixed("%.3g", l.grad_norm) << "\n";
    out_.flush();
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (bar_shown_ && l.step != l.total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 24;
  const int filled = l.total > 0 ? static_cast<int>(kWidth * l.step / l.total) : 0;
  std::string bar = "[" + std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(kWidth - filled), '.') + "]";
  out_ << "\r\033[2K" << bar << " " << l.step << "/" << l.total << "  " << stats << std::flush;
  bar_shown_ = true;
}

void Progress::clear() {
  if (terminal_ && bar_shown_) {
    out_ << "\r\033[2K";
    bar_shown_ = false;
    last_draw_ = {};
  }
}

void Progress::message(const std::string& text) {
  clear();
  out_ << text << "\n";
  out_.flush();
}

void Progress::finish() {
  if (terminal_ && bar_shown_) out_ << "\n";
  bar_shown_ = false;
  out_.flush();
}

}  // namespace nova::train
