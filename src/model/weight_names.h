// The registry of Hugging Face tensor names, in one place: an architecture's weights are data
// here, not code. Layer names are relative to "model.layers.N."; "{E}" stands for an expert index.
#pragma once

#include <string>
#include <vector>

namespace nova::model::weight_names {

inline constexpr const char* kEmbed = "model.embed_tokens.weight";
inline constexpr const char* kFinalNorm = "model.norm.weight";
inline constexpr const char* kLmHead = "lm_head.weight";

inline constexpr const char* kInputNorm = "input_layernorm.weight";
inline constexpr const char* kPostAttnNorm = "post_attention_layernorm.weight";
inline constexpr const char* kQProj = "self_attn.q_proj";  // + ".weight" / ".bias"
inline constexpr const char* kKProj = "self_attn.k_proj";
inline constexpr const char* kVProj = "self_attn.v_proj";
inline constexpr const char* kOProj = "self_attn.o_proj";
inline constexpr const char* kQNorm = "self_attn.q_norm.weight";
inline constexpr const char* kKNorm = "self_attn.k_norm.weight";

inline constexpr const char* kMlpGate = "mlp.gate_proj";  // dense SwiGLU MLP, + ".weight" / ".bias"
inline constexpr const char* kMlpUp = "mlp.up_proj";
inline constexpr const char* kMlpDown = "mlp.down_proj";

inline constexpr const char* kSharedGate = "mlp.shared_expert.gate_proj";  // qwen2_moe shared expert
inline constexpr const char* kSharedUp = "mlp.shared_expert.up_proj";
inline constexpr const char* kSharedDown = "mlp.shared_expert.down_proj";
inline constexpr const char* kSharedExpertGate = "mlp.shared_expert_gate.weight";

// One way a checkpoint may store a layer's routed experts.
struct ExpertLayout {
  const char* router;  // [experts, hidden]
  // Per expert ("{E}"): gate [I, hidden], up [I, hidden], down [hidden, I].
  // Fused (transformers 5 MoE modules): `gate` names gate_up [experts, 2I, hidden] (gate rows
  // first), `up` is null, `down` names [experts, hidden, I].
  const char* gate;
  const char* up;
  const char* down;
  bool fused;
};

// Every layout we accept, tried in order: Mixtral's block_sparse_moe w1/w3/w2, the
// Qwen-MoE style mlp.experts.E.*_proj, and the fused 3-D tensors under either module path.
const std::vector<ExpertLayout>& expert_layouts();

// "model.layers.N." + suffix.
std::string layer(int n, const std::string& suffix);
// `pattern` with "{E}" replaced by `expert`, then under layer n.
std::string expert(int n, const char* pattern, int expert);

}  // namespace nova::model::weight_names
