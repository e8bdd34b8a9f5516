// The loss plot SVG: well-formed XML with the curves, axes, ticks and labels; tick spacing; EMA.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <vector>

#include "train/loss_plot.h"

namespace nova::train {
namespace {

// Minimal XML well-formedness: every tag closes in order, attributes are quoted, no stray '<' or '&'.
bool well_formed(const std::string& s, std::string& why) {
  std::vector<std::string> open;
  size_t i = 0;
  if (s.rfind("<?xml", 0) == 0) i = s.find("?>") + 2;
  while ((i = s.find_first_of("<&", i)) != std::string::npos) {
    if (s[i] == '&') {
      const size_t semi = s.find(';', i);
      const std::string ent = s.substr(i, semi - i + 1);
      if (ent != "&lt;" && ent != "&gt;" && ent != "&amp;" && ent != "&quot;") return why = "bad entity " + ent, false;
      i = semi;
      continue;
    }
    const size_t end = s.find('>', i);
    if (end == std::string::npos) return why = "unterminated tag", false;
    std::string tag = s.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos) return why = "'<' inside a tag", false;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1)) return why = "mismatched </" + tag.substr(1) + ">", false;
      open.pop_back();
    } else {
      const bool self_closing = tag.back() == '/';
      const std::string name = tag.substr(0, tag.find_first_of(" /"));
      static const std::regex attrs(R"(^[a-zA-Z]+(\s+[a-zA-Z0-9:-]+="[^"<]*")*\s*/?$)");
      if (!std::regex_match(tag, attrs)) return why = "bad attributes in <" + tag + ">", false;
      if (!self_closing) open.push_back(name);
    }
    i = end + 1;
  }
  if (!open.empty()) return why = "unclosed <" + open.back() + ">", false;
  return true;
}

int count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
  return n;
}

TEST(LossPlot, WellFormedSvgWithCurvesAxesAndTicks) {
  LossCurves c;
  for (int s = 1; s <= 200; ++s) c.train.emplace_back(s, 5.0 * std::exp(-s / 60.0) + 1.0 + 0.1 * std::sin(s));
  for (int s = 50; s <= 200; s += 50) c.eval.emplace_back(s, 1.5 + 100.0 / (s + 50));
  c.train.emplace_back(201, std::nan(""));  // left out, not drawn as NaN
  LossPlotOptions o;
  o.title = "run <tiny> & co";
  const std::string svg = loss_plot_svg(c, o);
  std::string why;
  EXPECT_TRUE(well_formed(svg, why)) << why;
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_NE(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\""), std::string::npos);
  EXPECT_EQ(count(svg, "<polyline"), 3);  // train, smoothed, eval
  EXPECT_EQ(count(svg, "class=\"eval-point\""), 4);
  EXPECT_NE(svg.find(">step</text>"), std::string::npos);
  EXPECT_NE(svg.find(">loss (nats)</text>"), std::string::npos);
  EXPECT_NE(svg.find("run &lt;tiny&gt; &amp; co"), std::string::npos);
  // x ticks at multiples of 20 or 50 over 1..201 include 100 and 200.
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);
  EXPECT_NE(svg.find(">200</text>"), std::string::npos);
  // The train polyline has one point per finite step.
  const size_t p = svg.find("class=\"train\" points=\"");
  ASSERT_NE(p, std::string::npos);
  const std::string pts = svg.substr(p, svg.find('"', p + 22) - p);
  EXPECT_EQ(count(pts, ","), 200);

  EXPECT_TRUE(well_formed(loss_plot_svg({}), why)) << why;  // empty run: axes only
  LossCurves flat;
  flat.train = {{1, 2.0}};
  EXPECT_TRUE(well_formed(loss_plot_svg(flat), why)) << why;
}

TEST(LossPlot, NiceTicksAndEma) {
  EXPECT_EQ(nice_ticks(0, 10, 5), (std::vector<double>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(nice_ticks(1, 201, 8), (std::vector<double>{50, 100, 150, 200}));
  const auto t = nice_ticks(2.31, 2.87, 6);
  ASSERT_GE(t.size(), 3u);
  EXPECT_NEAR(t[1] - t[0], 0.1, 1e-12);
  EXPECT_NEAR(t[0], 2.4, 1e-12);
  const auto e = ema({1, 1, 1}, 0.9);
  for (double v : e) EXPECT_DOUBLE_EQ(v, 1.0);  // bias-corrected: a constant stays constant
  const auto f = ema({0, 10}, 0.5);
  EXPECT_DOUBLE_EQ(f[0], 0.0);
  EXPECT_DOUBLE_EQ(f[1], (0.5 * 0 * 0.5 + 0.5 * 10) / 0.75);
}

}  // namespace
}  // namespace nova::train
