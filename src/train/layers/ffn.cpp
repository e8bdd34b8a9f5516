#include "train/layers/ffn.h"

#include "train/layers/linear.h"
#include "train/layers/swiglu.h"

namespace nova::train {

void ffn_forward(float* out, FfnActs& a, const float* x, int64_t rows, int64_t hidden, int64_t inter,
                 const FfnParams& p) {
  const size_t n = static_cast<size_t>(rows * inter);
  a.gate.resize(n);
  a.up.resize(n);
  a.act.resize(n);
  linear_forward(a.gate.data(), x, p.gate_w.value, p.gate_b.value, rows, hidden, inter);
  linear_forward(a.up.data(), x, p.up_w.value, p.up_b.value, rows, hidden, inter);
  swiglu_forward(a.act.data(), a.gate.data(), a.up.data(), rows * inter);
  linear_forward(out, a.act.data(), p.down_w.value, p.down_b.value, rows, inter, hidden);
}

void ffn_backward(float* dx, const float* dout, const float* x, const FfnActs& a, int64_t rows, int64_t hidden,
                  int64_t inter, const FfnParams& p, FfnGradScratch* scratch) {
  const size_t n = static_cast<size_t>(rows * inter);
  FfnGradScratch local;
  FfnGradScratch& s = scratch ? *scratch : local;
  std::vector<float>&dact = s.dact, &dgate = s.dgate, &dup = s.dup;
  dact.assign(n, 0.0f);  // linear_backward accumulates into it
  dgate.resize(n);
  dup.resize(n);
  linear_backward(dact.data(), p.down_w.grad, p.down_b.grad, dout, a.act.data(), p.down_w.value, rows, inter, hidden);
  swiglu_backward(dgate.data(), dup.data(), dact.data(), a.gate.data(), a.up.data(), rows * inter);
  linear_backward(dx, p.gate_w.grad, p.gate_b.grad, dgate.data(), x, p.gate_w.value, rows, hidden, inter);
  linear_backward(dx, p.up_w.grad, p.up_b.grad, dup.data(), x, p.up_w.value, rows, hidden, inter);
}

}  // namespace nova::train
