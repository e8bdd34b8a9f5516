// The SwiGLU feed-forward block down(silu(gate x) * up x), shared by dense MLPs, MoE experts and
// the Qwen2-MoE shared expert: linear + swiglu composed, with the activations it keeps.
#pragma once

#include <cstdint>
#include <vector>

#include "train/param_store.h"

namespace nova::train {

struct FfnParams {
  ParamView gate_w, gate_b, up_w, up_b, down_w, down_b;  // biases may be absent
};

struct FfnActs {
  std::vector<float> gate, up, act;  // [rows, inter] each
};

// The backward's temporaries, kept by the caller so that a training step allocates nothing.
struct FfnGradScratch {
  std::vector<float> dact, dgate, dup;  // [rows, inter] each
};

// x [rows, hidden] -> out [rows, hidden] (written).
void ffn_forward(float* out, FfnActs& acts, const float* x, int64_t rows, int64_t hidden, int64_t inter,
                 const FfnParams& p);
// dx [rows, hidden] += (null: skipped); parameter grads accumulate.
// `scratch` may be null (then the temporaries are local).
void ffn_backward(float* dx, const float* dout, const float* x, const FfnActs& acts, int64_t rows, int64_t hidden,
                  int64_t inter, const FfnParams& p, FfnGradScratch* scratch = nullptr);

}  // namespace nova::train
