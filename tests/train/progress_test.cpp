// Progress output: a bar redrawn in place on a terminal, plain lines every log_every steps otherwise.
#include <gtest/gtest.h>

#include <sstream>

#include "train/progress.h"

namespace nova::train {
namespace {

TEST(Progress, PlainLinesEveryLogEveryStepsWhenNotATerminal) {
  std::ostringstream out;
  Progress p(out, /*terminal=*/false, /*log_every=*/5);
  for (int s = 1; s <= 12; ++s) p.update({s, 12, 3.25, 1e-3, 0.5, 12345.0, 30.0, false, std::nullopt});
  p.message("step 12: val loss 3.0");
  p.finish();
  const std::string text = out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find("step 5/12  loss 3.2500  12.3k tok/s  ETA 00:30  lr 0.001  grad_norm 0.5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("step 10/12"), std::string::npos);
  EXPECT_NE(text.find("step 12/12"), std::string::npos);  // the last step is always logged
  EXPECT_EQ(text.find("step 11/12"), std::string::npos);
  EXPECT_NE(text.find("step 12: val loss 3.0\n"), std::string::npos);
}

TEST(Progress, BarRedrawnInPlaceOnATerminal) {
  std::ostringstream out;
  Progress p(out, /*terminal=*/true, 1);
  p.update({1, 4, 2.0, 1e-3, 1.0, 500.0, 3725.0, false, std::nullopt});
  p.message("saved x");
  p.update({4, 4, 1.5, 1e-3, 1.0, 2.5e6, 0.0, false, std::nullopt});
  p.finish();
  const std::string text = out.str();
  EXPECT_NE(text.find("\r\033[2K[######..................] 1/4  loss 2.0000  500 tok/s  ETA 1:02:05"), std::string::npos)
      << text;
  EXPECT_NE(text.find("\r\033[2Ksaved x\n"), std::string::npos) << text;  // the bar is cleared first
  EXPECT_NE(text.find("[########################] 4/4  loss 1.5000  2.50M tok/s  ETA 00:00\n"), std::string::npos) << text;
  EXPECT_EQ(format_duration(59.6), "01:00");
}

TEST(Progress, MoeRunsShowTheAuxLoss) {
  std::ostringstream out;
  Progress p(out, /*terminal=*/false, 1);
  p.update({1, 2, 3.0, 1e-3, 1.0, 100.0, 1.0, false, 2.125});
  EXPECT_NE(out.str().find("step 1/2  loss 3.0000  aux 2.1250  100 tok/s"), std::string::npos) << out.str();
  EXPECT_EQ(format_duration(-1), "--:--");
}

}  // namespace
}  // namespace nova::train
