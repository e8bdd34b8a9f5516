// A decoder-only transformer's weights, resolved from a checkpoint by the names in
// weight_names.h and checked against the config's shapes. Matrices stay zero-copy views in
// their stored dtype; norm weights and biases are converted to float32 once, here.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend.h"

namespace nova::model {

struct LinearWeights {
  Tensor w;  // [out, in], F32 / BF16 / F16
  Tensor b;  // [out] F32, empty when the layer has no bias
  const Tensor* bias() const { return b.empty() ? nullptr : &b; }
};

// SwiGLU feed-forward: down(silu(gate(x)) * up(x)).
struct FfnWeights {
  LinearWeights gate, up, down;
};

struct MoeWeights {
  Tensor router;                   // [experts, hidden]
  std::vector<FfnWeights> experts;
  bool has_shared = false;         // qwen2_moe: + sigmoid(shared_gate(x)) * shared(x)
  FfnWeights shared;
  Tensor shared_gate;              // [1, hidden]
};

struct LayerWeights {
  Tensor input_norm, post_attn_norm;  // [hidden] F32
  LinearWeights q, k, v, o;
  Tensor q_norm, k_norm;              // [head_dim] F32, qk_norm only
  bool is_moe = false;
  FfnWeights mlp;                     // dense layers
  MoeWeights moe;                     // MoE layers
};

struct ModelWeights {
  Tensor embed;       // [vocab, hidden]
  Tensor final_norm;  // [hidden] F32
  Tensor lm_head;     // [vocab, hidden]; the embedding itself when tied
  std::vector<LayerWeights> layers;
};

// Throws nova::Error naming the tensor when one is missing or has the wrong shape or dtype.
ModelWeights load_weights(const formats::Checkpoint& ckpt, const formats::ModelConfig& c, kernels::Backend& backend);

}  // namespace nova::model
