// Loss curves as a self-contained SVG: the raw train loss (thin, light), its exponential moving
// average (bold) and the eval loss (points joined by a line) against the step, with axes, "nice"
// tick values, grid lines, axis labels and a legend. No external fonts, scripts or styles.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nova::train {

struct LossCurves {
  std::vector<std::pair<int64_t, double>> train;  // (step, loss), steps increasing
  std::vector<std::pair<int64_t, double>> eval;
};

struct LossPlotOptions {
  int width = 800, height = 450;
  double smoothing = 0.9;  // EMA factor of the smoothed train curve (0: none)
  std::string title = "loss";
};

// The SVG document. Non-finite losses are left out; empty curves give empty axes.
std::string loss_plot_svg(const LossCurves& curves, const LossPlotOptions& options = {});

// Tick values covering [lo, hi] at a 1/2/5 x 10^k spacing, about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target);

// Bias-corrected exponential moving average (as TensorBoard's smoothing).
std::vector<double> ema(const std::vector<double>& values, double factor);

}  // namespace nova::train
