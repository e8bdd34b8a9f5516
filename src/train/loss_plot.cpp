#include "train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace nova::train {

namespace {

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// A tick label with as few digits as the spacing needs.
std::string tick_label(double v, double spacing) {
  if (std::fabs(v) < spacing * 1e-9) v = 0;
  const double mag = std::max(std::fabs(v), spacing);
  if (mag >= 1e6 || mag < 1e-3) return fmt("%.2g", v);
  const int decimals = spacing >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(spacing) - 1e-9));
  char format[16];
  std::snprintf(format, sizeof format, "%%.%df", decimals);
  return fmt(format, v);
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

struct Frame {
  double x0, x1, y0, y1;         // data range
  double left, right, top, bottom;  // plot area in pixels
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (right - left); }
  double py(double y) const { return bottom - (y - y0) / (y1 - y0) * (bottom - top); }
};

std::string polyline(const Frame& f, const std::vector<std::pair<double, double>>& pts, const char* color,
                     double width, const char* extra = "") {
  if (pts.empty()) return "";
  std::string s = "<polyline fill=\"none\" stroke=\"" + std::string(color) + "\" stroke-width=\"" +
                  fmt("%.1f", width) + "\"" + extra + " points=\"";
  for (size_t i = 0; i < pts.size(); ++i)
    s += (i ? " " : "") + fmt("%.2f", f.px(pts[i].first)) + "," + fmt("%.2f", f.py(pts[i].second));
  return s + "\"/>\n";
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || target < 1) return {lo};
  const double raw = (hi - lo) / target;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  double step = p;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * p;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  const double first = std::ceil(lo / step - 1e-9);
  for (int i = 0; i < 1000; ++i) {  // multiples of step, not a running sum: no drift in the labels
    const double t = (first + i) * step;
    if (t > hi + step * 1e-9) break;
    ticks.push_back(t);
  }
  return ticks;
}

std::vector<double> ema(const std::vector<double>& values, double factor) {
  std::vector<double> out;
  out.reserve(values.size());
  double acc = 0, weight = 0;
  for (double v : values) {
    acc = acc * factor + (1 - factor) * v;
    weight = weight * factor + (1 - factor);
    out.push_back(weight > 0 ? acc / weight : v);
  }
  return out;
}

std::string loss_plot_svg(const LossCurves& curves, const LossPlotOptions& o) {
  std::vector<std::pair<double, double>> train, eval;
  for (const auto& [s, l] : curves.train)
    if (std::isfinite(l)) train.emplace_back(static_cast<double>(s), l);
  for (const auto& [s, l] : curves.eval)
    if (std::isfinite(l)) eval.emplace_back(static_cast<double>(s), l);
  std::vector<double> raw;
  for (const auto& p : train) raw.push_back(p.second);
  const std::vector<double> smooth_values = ema(raw, o.smoothing);
  std::vector<std::pair<double, double>> smooth;
  for (size_t i = 0; i < train.size(); ++i) smooth.emplace_back(train[i].first, smooth_values[i]);

  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto* c : {&train, &eval})
    for (const auto& [x, y] : *c) {
      x0 = std::min(x0, x), x1 = std::max(x1, x);
      y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y0 -= 0.5, y1 += 0.5;
  const double pad = (y1 - y0) * 0.05;
  y0 -= pad, y1 += pad;
  const std::vector<double> xt = nice_ticks(x0, x1, 8), yt = nice_ticks(y0, y1, 6);
  const double xs = xt.size() > 1 ? xt[1] - xt[0] : 1, ys = yt.size() > 1 ? yt[1] - yt[0] : 1;

  const int W = std::max(o.width, 200), H = std::max(o.height, 150);
  const Frame f{x0, x1, y0, y1, 70, W - 20.0, 40, H - 55.0};
  std::string s;
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(W) + "\" height=\"" +
       std::to_string(H) + "\" viewBox=\"0 0 " + std::to_string(W) + " " + std::to_string(H) +
       "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect x=\"0\" y=\"0\" width=\"" + std::to_string(W) + "\" height=\"" + std::to_string(H) +
       "\" fill=\"white\"/>\n";
  s += "<text x=\"" + fmt("%.1f", W / 2.0) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">" +
       escape(o.title) + "</text>\n";
  // Grid and ticks.
  s += "<g class=\"grid\" stroke=\"#e5e5e5\" stroke-width=\"1\">\n";
  for (double t : xt)
    if (t >= x0 && t <= x1)
      s += "<line x1=\"" + fmt("%.2f", f.px(t)) + "\" y1=\"" + fmt("%.2f", f.top) + "\" x2=\"" + fmt("%.2f", f.px(t)) +
           "\" y2=\"" + fmt("%.2f", f.bottom) + "\"/>\n";
  for (double t : yt)
    if (t >= y0 && t <= y1)
      s += "<line x1=\"" + fmt("%.2f", f.left) + "\" y1=\"" + fmt("%.2f", f.py(t)) + "\" x2=\"" +
           fmt("%.2f", f.right) + "\" y2=\"" + fmt("%.2f", f.py(t)) + "\"/>\n";
  s += "</g>\n<g class=\"ticks\" fill=\"#333\">\n";
  for (double t : xt)
    if (t >= x0 && t <= x1)
      s += "<text x=\"" + fmt("%.2f", f.px(t)) + "\" y=\"" + fmt("%.2f", f.bottom + 17) + "\" text-anchor=\"middle\">" +
           tick_label(t, xs) + "</text>\n";
  for (double t : yt)
    if (t >= y0 && t <= y1)
      s += "<text x=\"" + fmt("%.2f", f.left - 6) + "\" y=\"" + fmt("%.2f", f.py(t) + 4) + "\" text-anchor=\"end\">" +
           tick_label(t, ys) + "</text>\n";
  s += "</g>\n";
  // Axes and labels.
  s += "<g class=\"axes\" stroke=\"#333\" stroke-width=\"1\">\n";
  s += "<line x1=\"" + fmt("%.2f", f.left) + "\" y1=\"" + fmt("%.2f", f.bottom) + "\" x2=\"" + fmt("%.2f", f.right) +
       "\" y2=\"" + fmt("%.2f", f.bottom) + "\"/>\n";
  s += "<line x1=\"" + fmt("%.2f", f.left) + "\" y1=\"" + fmt("%.2f", f.top) + "\" x2=\"" + fmt("%.2f", f.left) +
       "\" y2=\"" + fmt("%.2f", f.bottom) + "\"/>\n</g>\n";
  s += "<text x=\"" + fmt("%.1f", (f.left + f.right) / 2) + "\" y=\"" + fmt("%.1f", H - 12.0) +
       "\" text-anchor=\"middle\">step</text>\n";
  s += "<text x=\"16\" y=\"" + fmt("%.1f", (f.top + f.bottom) / 2) + "\" text-anchor=\"middle\" transform=\"rotate(-90 16 " +
       fmt("%.1f", (f.top + f.bottom) / 2) + ")\">loss (nats)</text>\n";
  // Curves.
  s += polyline(f, train, "#9ecae1", 1.0, " class=\"train\"");
  s += polyline(f, smooth, "#08519c", 2.0, " class=\"train-smoothed\"");
  s += polyline(f, eval, "#d94801", 2.0, " class=\"eval\"");
  for (const auto& [x, y] : eval)
    s += "<circle class=\"eval-point\" cx=\"" + fmt("%.2f", f.px(x)) + "\" cy=\"" + fmt("%.2f", f.py(y)) +
         "\" r=\"3\" fill=\"#d94801\"/>\n";
  // Legend.
  const double lx = f.right - 170, ly = f.top + 8;
  s += "<g class=\"legend\">\n<rect x=\"" + fmt("%.1f", lx) + "\" y=\"" + fmt("%.1f", ly) +
       "\" width=\"165\" height=\"62\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n";
  const char* names[] = {"train loss", "train (smoothed)", "eval loss"};
  const char* colors[] = {"#9ecae1", "#08519c", "#d94801"};
  for (int i = 0; i < 3; ++i) {
    const double y = ly + 15 + 18 * i;
    s += "<line x1=\"" + fmt("%.1f", lx + 8) + "\" y1=\"" + fmt("%.1f", y) + "\" x2=\"" + fmt("%.1f", lx + 32) +
         "\" y2=\"" + fmt("%.1f", y) + "\" stroke=\"" + colors[i] + "\" stroke-width=\"2\"/>\n";
    s += "<text x=\"" + fmt("%.1f", lx + 38) + "\" y=\"" + fmt("%.1f", y + 4) + "\">" + names[i] + "</text>\n";
  }
  s += "</g>\n</svg>\n";
  return s;
}

}  // namespace nova::train
