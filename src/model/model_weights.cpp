#include "model/model_weights.h"

#include <initializer_list>

#include "core/error.h"
#include "model/weight_names.h"

namespace nova::model {

namespace names = weight_names;
using formats::ModelConfig;

namespace {

class Loader {
 public:
  Loader(const formats::Checkpoint& ckpt, kernels::Backend& backend) : ckpt_(ckpt), backend_(backend) {}

  // A matrix, left in its stored dtype.
  Tensor matrix(const std::string& name, std::vector<int64_t> shape) {
    const Tensor& t = ckpt_.get(name, shape);
    check_float(name, t);
    Tensor up = backend_.upload(t);
    copies_ = copies_ || up.data() != t.data();
    return up;
  }
  // Places matrices of one dtype and input width back to back in one backend allocation (rows
  // in the order given), each left a [rows, in] view of its part: a backend may then run x times
  // all of them as one GEMM (the CUDA backend's linears / linear_swiglu check adjacency by address:
  // a layer's q|k|v and gate|up in a prefill), while every reader still sees separate matrices.
  // Only where upload() copies (a device): a zero-copy upload (the CPU backend's view of the
  // mapped checkpoint) would be duplicated for nothing.
  void place_back_to_back(std::initializer_list<Tensor*> parts) {
    if (!copies_ || parts.size() < 2) return;
    const Tensor& first = **parts.begin();
    int64_t rows = 0;
    for (const Tensor* p : parts) {
      if (p->dtype() != first.dtype() || p->ndim() != 2 || p->dim(1) != first.dim(1)) return;
      rows += p->dim(0);
    }
    Tensor packed = backend_.empty(first.dtype(), {rows, first.dim(1)});
    int64_t row0 = 0;
    for (Tensor* p : parts) {
      const int64_t n = p->dim(0);
      backend_.copy_rows(*p, packed, row0);
      *p = packed.slice_rows(row0, row0 + n);
      row0 += n;
    }
  }
  // A vector (norm weight, bias) as float32.
  Tensor vector_f32(const std::string& name, int64_t n) {
    const Tensor& t = ckpt_.get(name, {n});
    check_float(name, t);
    return backend_.upload(t.to_f32());
  }
  LinearWeights linear(const std::string& base, int64_t out, int64_t in, bool bias) {
    LinearWeights l;
    l.w = matrix(base + ".weight", {out, in});
    if (bias) l.b = vector_f32(base + ".bias", out);
    return l;
  }
  FfnWeights ffn(int layer, const char* gate, const char* up, const char* down, int64_t hidden, int64_t inter,
                 bool bias) {
    FfnWeights f;
    f.gate = linear(names::layer(layer, gate), inter, hidden, bias);
    f.up = linear(names::layer(layer, up), inter, hidden, bias);
    f.down = linear(names::layer(layer, down), hidden, inter, bias);
    return f;
  }
  bool has(const std::string& name) const { return ckpt_.contains(name); }
  const formats::Checkpoint& ckpt() const { return ckpt_; }
  kernels::Backend& backend() { return backend_; }

 private:
  static void check_float(const std::string& name, const Tensor& t) {
    if (t.dtype() != DType::F32 && t.dtype() != DType::BF16 && t.dtype() != DType::F16)
      fail(name, "dtype " + std::string(dtype_name(t.dtype())) + " is not a float type (F32/BF16/F16)");
  }
  const formats::Checkpoint& ckpt_;
  kernels::Backend& backend_;
  bool copies_ = false;  // whether upload() made a copy (seen on a matrix so far)
};

MoeWeights load_moe(Loader& ld, const ModelConfig& c, int layer) {
  const int64_t H = c.hidden_size, I = c.moe_intermediate_size, E = c.num_experts;
  const names::ExpertLayout* found = nullptr;
  for (const names::ExpertLayout& lay : names::expert_layouts()) {
    if (ld.has(names::expert(layer, lay.gate, 0)) && ld.has(names::layer(layer, lay.router))) {
      found = &lay;
      break;
    }
  }
  if (!found) {
    std::string expected;
    for (const names::ExpertLayout& lay : names::expert_layouts())
      expected += (expected.empty() ? "" : " or ") + names::expert(layer, lay.gate, 0);
    fail(names::layer(layer, "experts"), "missing MoE expert weights: expected " + expected);
  }
  MoeWeights m;
  m.router = ld.matrix(names::layer(layer, found->router), {E, H});
  m.experts.resize(static_cast<size_t>(E));
  if (!found->fused) {
    for (int e = 0; e < E; ++e) {
      FfnWeights& f = m.experts[e];
      f.gate.w = ld.matrix(names::expert(layer, found->gate, e), {I, H});
      f.up.w = ld.matrix(names::expert(layer, found->up, e), {I, H});
      f.down.w = ld.matrix(names::expert(layer, found->down, e), {H, I});
    }
  } else {
    // Slices of the 3-D tensors, as [rows, in] matrices sharing the mapped memory.
    const std::string gu_name = names::layer(layer, found->gate), d_name = names::layer(layer, found->down);
    const Tensor& gate_up = ld.ckpt().get(gu_name, {E, 2 * I, H});
    const Tensor& down = ld.ckpt().get(d_name, {E, H, I});
    const Tensor gu2 = gate_up.reshape({E * 2 * I, H});
    const Tensor d2 = down.reshape({E * H, I});
    for (int e = 0; e < E; ++e) {
      FfnWeights& f = m.experts[e];
      f.gate.w = ld.backend().upload(gu2.slice_rows(e * 2 * I, e * 2 * I + I));
      f.up.w = ld.backend().upload(gu2.slice_rows(e * 2 * I + I, (e + 1) * 2 * I));
      f.down.w = ld.backend().upload(d2.slice_rows(e * H, (e + 1) * H));
    }
  }
  if (c.shared_expert_intermediate_size > 0) {
    m.has_shared = true;
    m.shared = ld.ffn(layer, names::kSharedGate, names::kSharedUp, names::kSharedDown, H,
                      c.shared_expert_intermediate_size, false);
    m.shared_gate = ld.matrix(names::layer(layer, names::kSharedExpertGate), {1, H});
  }
  return m;
}

}  // namespace

ModelWeights load_weights(const formats::Checkpoint& ckpt, const ModelConfig& c, kernels::Backend& backend) {
  Loader ld(ckpt, backend);
  const int64_t H = c.hidden_size, V = c.vocab_size, D = c.head_dim;
  const int64_t q_out = int64_t{c.num_heads} * D, kv_out = int64_t{c.num_kv_heads} * D;
  ModelWeights w;
  w.embed = ld.matrix(names::kEmbed, {V, H});
  w.final_norm = ld.vector_f32(names::kFinalNorm, H);
  // Tied checkpoints normally omit lm_head; when one is present anyway, transformers ties it.
  w.lm_head = c.tie_word_embeddings ? w.embed : ld.matrix(names::kLmHead, {V, H});
  w.layers.resize(static_cast<size_t>(c.num_layers));
  for (int l = 0; l < c.num_layers; ++l) {
    LayerWeights& L = w.layers[l];
    L.input_norm = ld.vector_f32(names::layer(l, names::kInputNorm), H);
    L.post_attn_norm = ld.vector_f32(names::layer(l, names::kPostAttnNorm), H);
    L.q = ld.linear(names::layer(l, names::kQProj), q_out, H, c.qkv_bias);
    L.k = ld.linear(names::layer(l, names::kKProj), kv_out, H, c.qkv_bias);
    L.v = ld.linear(names::layer(l, names::kVProj), kv_out, H, c.qkv_bias);
    ld.place_back_to_back({&L.q.w, &L.k.w, &L.v.w});
    L.o = ld.linear(names::layer(l, names::kOProj), H, q_out, c.o_bias);
    if (c.qk_norm) {
      L.q_norm = ld.vector_f32(names::layer(l, names::kQNorm), D);
      L.k_norm = ld.vector_f32(names::layer(l, names::kKNorm), D);
    }
    L.is_moe = c.num_experts > 0 && (c.layer_moe.empty() || c.layer_moe.at(l));
    if (L.is_moe)
      L.moe = load_moe(ld, c, l);
    else {
      L.mlp = ld.ffn(l, names::kMlpGate, names::kMlpUp, names::kMlpDown, H, c.intermediate_size, c.mlp_bias);
      ld.place_back_to_back({&L.mlp.gate.w, &L.mlp.up.w});
    }
  }
  return w;
}

}  // namespace nova::model
