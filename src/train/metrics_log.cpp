#include "train/metrics_log.h"

#include <filesystem>
#include <sstream>

#include "core/error.h"
#include "data/atomic_file.h"

namespace nova::train {

MetricsLog::MetricsLog(std::string path, int64_t keep_through_step) : path_(std::move(path)) {
  std::string kept;
  if (keep_through_step > 0 && std::filesystem::exists(path_)) {
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!j.is_object() || !j.contains("step") || !j["step"].is_number_integer()) continue;
      if (j["step"].get<int64_t>() > keep_through_step) continue;
      kept += line + "\n";
      track(j);
    }
  }
  data::write_file_atomically(path_, {kept});
  out_.open(path_, std::ios::app);
  if (!out_) fail(path_, "cannot open for appending");
}

void MetricsLog::track(const nlohmann::json& j) {
  if (!j.contains("loss") || !j["loss"].is_number()) return;
  const auto point = std::make_pair(j["step"].get<int64_t>(), j["loss"].get<double>());
  const std::string split = j.value("split", "");
  if (split == "train" && !j.value("skipped", false)) curves_.train.push_back(point);
  else if (split == "val") curves_.eval.push_back(point);
}

void MetricsLog::write(const nlohmann::ordered_json& line) {
  out_ << line.dump() << "\n";
  out_.flush();
  if (!out_) fail(path_, "cannot write");
  track(nlohmann::json::parse(line.dump()));
}

}  // namespace nova::train
