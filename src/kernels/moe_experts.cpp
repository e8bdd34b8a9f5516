// Backend::moe_experts's default: the composition of the plain ops, one expert at a time, with
// the routing decisions on the host — the definition the device overrides are measured against.
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/moe_checks.h"
#include "kernels/op_checks.h"

namespace nova::kernels {

namespace checks {

namespace {

void bias_of(const Tensor* b, int64_t n, const std::string& what) {
  if (!b) return;
  f32(*b, "moe_experts", what.c_str(), 1);
  if (b->numel() != n) bad("moe_experts", what + " " + b->shape_string() + " must have " + std::to_string(n) + " values");
}

}  // namespace

void moe_experts(const Tensor& x, const Tensor& router_logits, std::span<const MoeExpert> experts, int k,
                 const Tensor& out, bool bf16) {
  act(x, "moe_experts", "x", bf16, 2);
  f32(router_logits, "moe_experts", "router_logits", 2);
  f32(out, "moe_experts", "out", 2);
  const int64_t rows = x.dim(0), hidden = x.dim(1), E = static_cast<int64_t>(experts.size());
  if (E == 0) bad("moe_experts", "no experts given");
  if (router_logits.dim(0) != rows || router_logits.dim(1) != E)
    bad("moe_experts", "router_logits " + router_logits.shape_string() + " must be [" + std::to_string(rows) + ", " +
                           std::to_string(E) + "]");
  if (out.dim(0) != rows || out.dim(1) != hidden)
    bad("moe_experts", "out " + out.shape_string() + " must match x " + x.shape_string());
  if (k <= 0 || k > E) bad("moe_experts", "k=" + std::to_string(k) + " must be in [1, " + std::to_string(E) + "]");
  for (int64_t e = 0; e < E; ++e) {
    const MoeExpert& ex = experts[static_cast<size_t>(e)];
    const std::string name = "expert " + std::to_string(e);
    if (!ex.gate || !ex.up || !ex.down) bad("moe_experts", name + " lacks a gate, up or down weight");
    weight(*ex.gate, "moe_experts");
    weight(*ex.up, "moe_experts");
    weight(*ex.down, "moe_experts");
    const int64_t inter = ex.gate->dim(0);
    if (ex.gate->dim(1) != hidden || ex.up->shape() != ex.gate->shape() || ex.down->dim(0) != hidden ||
        ex.down->dim(1) != inter)
      bad("moe_experts", name + ": gate " + ex.gate->shape_string() + ", up " + ex.up->shape_string() + ", down " +
                             ex.down->shape_string() + " do not fit hidden size " + std::to_string(hidden));
    bias_of(ex.gate_bias, inter, name + " gate bias");
    bias_of(ex.up_bias, inter, name + " up bias");
    bias_of(ex.down_bias, hidden, name + " down bias");
    if (x.dtype() == DType::BF16 &&
        (ex.gate->dtype() != DType::BF16 || ex.up->dtype() != DType::BF16 || ex.down->dtype() != DType::BF16))
      bad("moe_experts", "a BF16 x needs BF16 expert weights (" + name + ")");
  }
}

}  // namespace checks

void Backend::moe_experts(const Tensor& x, const Tensor& router_logits, std::span<const MoeExpert> experts, int k,
                          bool normalize, Tensor& out) {
  checks::moe_experts(x, router_logits, experts, k, out, supports_activation(DType::BF16));
  const int64_t rows = x.dim(0), hidden = x.dim(1), E = static_cast<int64_t>(experts.size());
  const Routing routing = route_top_k(router_logits, k, normalize);
  std::vector<int32_t> sel_rows;
  std::vector<float> sel_weights;
  for (int64_t e = 0; e < E; ++e) {  // experts in index order, as transformers accumulates them
    sel_rows.clear();
    sel_weights.clear();
    for (int64_t r = 0; r < rows; ++r)
      for (int i = 0; i < routing.k; ++i)
        if (routing.expert[static_cast<size_t>(r * routing.k + i)] == e) {
          sel_rows.push_back(static_cast<int32_t>(r));
          sel_weights.push_back(routing.weight[static_cast<size_t>(r * routing.k + i)]);
        }
    if (sel_rows.empty()) continue;
    const MoeExpert& ex = experts[static_cast<size_t>(e)];
    const int64_t n = static_cast<int64_t>(sel_rows.size()), inter = ex.gate->dim(0);
    Tensor xe = empty(x.dtype(), {n, hidden});
    gather_rows(x, sel_rows, xe);
    Tensor h = empty(x.dtype(), {n, inter});
    if (!ex.gate_bias && !ex.up_bias) {
      linear_swiglu(xe, *ex.gate, *ex.up, h);
    } else {
      Tensor up = empty(x.dtype(), {n, inter});
      linear(xe, *ex.gate, ex.gate_bias, h);
      linear(xe, *ex.up, ex.up_bias, up);
      swiglu(h, up, h);
    }
    Tensor ye = empty(x.dtype(), {n, hidden});
    linear(h, *ex.down, ex.down_bias, ye);
    scatter_add_rows(ye, sel_rows, sel_weights, out);
  }
}

}  // namespace nova::kernels
