// metrics.jsonl of a run: one JSON object per line, written and flushed as it happens.
//   {"split":"train","step":12,"loss":3.41,"lr":0.0003,"grad_norm":1.2,"tokens":4096,
//    "tokens_per_s":51234.5,"skipped":false,"elapsed_s":3.2}
//   {"split":"val","step":100,"loss":3.52,"perplexity":33.8,"tokens":20480}
// The loss curves of the lines written so far are kept for the plot.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "train/loss_plot.h"

namespace nova::train {

class MetricsLog {
 public:
  // Keeps the existing lines with step <= keep_through_step (a resumed run redoes later steps;
  // 0 starts an empty file), loads their losses into curves(), then appends. Unparsable lines (a
  // line cut short by a kill) are dropped. Throws nova::Error naming `path` if it cannot be written.
  MetricsLog(std::string path, int64_t keep_through_step);

  void write(const nlohmann::ordered_json& line);
  const LossCurves& curves() const { return curves_; }
  const std::string& path() const { return path_; }

 private:
  void track(const nlohmann::json& line);

  std::string path_;
  std::ofstream out_;
  LossCurves curves_;
};

}  // namespace nova::train
