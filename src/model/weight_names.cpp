#include "model/weight_names.h"

namespace nova::model::weight_names {

const std::vector<ExpertLayout>& expert_layouts() {
  static const std::vector<ExpertLayout> layouts = {
      {"block_sparse_moe.gate.weight", "block_sparse_moe.experts.{E}.w1.weight",
       "block_sparse_moe.experts.{E}.w3.weight", "block_sparse_moe.experts.{E}.w2.weight", false},
      {"mlp.gate.weight", "mlp.experts.{E}.gate_proj.weight", "mlp.experts.{E}.up_proj.weight",
       "mlp.experts.{E}.down_proj.weight", false},
      {"mlp.gate.weight", "mlp.experts.gate_up_proj", nullptr, "mlp.experts.down_proj", true},
      {"block_sparse_moe.gate.weight", "block_sparse_moe.experts.gate_up_proj", nullptr,
       "block_sparse_moe.experts.down_proj", true},
  };
  return layouts;
}

std::string layer(int n, const std::string& suffix) { return "model.layers." + std::to_string(n) + "." + suffix; }

std::string expert(int n, const char* pattern, int expert) {
  std::string s = pattern;
  const size_t at = s.find("{E}");
  if (at != std::string::npos) s.replace(at, 3, std::to_string(expert));
  return layer(n, s);
}

}  // namespace nova::model::weight_names
