#include "train/gpu/gpu_train_model.h"

#include <string>

#include "core/error.h"
#include "train/gpu/gpu_device.h"

#ifdef NOVA_HAVE_CUDA

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <type_traits>

#include "kernels/cuda/train/train_ops.h"
#include "model/rope_frequencies.h"
#include "model/weight_names.h"
#include "train/gpu/gpu_decoder_layer.h"
#include "train/gpu/gpu_memory.h"
#include "train/gpu/gpu_step_profile.h"
#include "train/layers/cross_entropy.h"
#include "train/model_params.h"

namespace nova::train {

namespace names = model::weight_names;
namespace ops = kernels::cuda::train;
using kernels::cuda::check_cuda;
using gpu::Carver;
using gpu::DeviceBlock;
using gpu::PinnedBlock;

// State shared by both precisions; Engine<T> below adds the activations and the passes.
class GpuTrainModel::Impl {
 public:
  Impl(const formats::ModelConfig& config, const ParamStore& params, GpuTrainOptions options)
      : config_(config), options_(options), layout_(params) {
    check_gpu_training(config_, options_.device);
    validate_config(config_);
    check_cuda(cudaSetDevice(options_.device), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    try {  // (the destructor does not run when the constructor throws, e.g. out of memory)
      const int64_t n = layout_.total();
      params_.allocate(sizeof(float) * n);
      grads_.allocate(sizeof(float) * n);
      check_cuda(cudaMemset(params_.as<float>(), 0, sizeof(float) * n), "cudaMemset");
      check_cuda(cudaMemset(grads_.as<float>(), 0, sizeof(float) * n), "cudaMemset");
      if (options_.bf16) params_bf16_.allocate(sizeof(ops::bf16) * n);
      grad_sum_scratch_.allocate(sizeof(double) * std::max<size_t>(1, ops::sum_scratch_doubles(n)));
      grow_scalars(64);
      resolve_offsets();
      upload_params(params);
      profile_.reset(gpu::StepProfile::from_env(stream_));
    } catch (...) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
      throw;
    }
  }
  virtual ~Impl() {
    if (stream_) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
  }

  virtual int64_t enqueue(const Batch& batch, bool backward, float dloss, int slot, int aux_slot,
                          double aux_scale) = 0;

  void zero_grad() {
    gpu::mark(profile_.get(), "zero grad");
    check_cuda(cudaMemsetAsync(grads_.as<float>(), 0, sizeof(float) * layout_.total(), stream_), "cudaMemsetAsync");
  }
  void grad_square_sum(int slot) {
    ensure_scalar(slot);
    gpu::mark(profile_.get(), "grad norm");
    ops::sum_f32(scalars_.as<double>() + slot, grads_.as<float>(), layout_.total(), true,
                 grad_sum_scratch_.as<double>(), stream_);
  }
  std::vector<double> read_scalars(int n) {
    require(n >= 0 && n <= scalar_capacity_, "gpu trainer", "scalar slot out of range");
    std::vector<double> out(static_cast<size_t>(n));
    gpu::mark(profile_.get(), "(end)");
    synchronize();
    if (profile_) profile_->end_cycle();
    if (n > 0) check_cuda(cudaMemcpy(out.data(), scalars_.as<double>(), sizeof(double) * n, cudaMemcpyDeviceToHost),
                          "cudaMemcpy");
    return out;
  }
  void synchronize() { check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

  void upload_params(const ParamStore& params) {
    require(layout_.matches(params), "gpu trainer", "the parameter store does not match the model's parameters");
    synchronize();
    size_t i = 0;
    for (const Param& p : params.params()) {
      const GpuParamSlot& s = layout_.slots()[i++];
      check_cuda(cudaMemcpy(params_.as<float>() + s.offset, p.value.data_as<float>(), sizeof(float) * s.numel,
                            cudaMemcpyHostToDevice),
                 "cudaMemcpy");
    }
    if (options_.bf16)
      ops::convert<ops::bf16, float>(params_bf16_.as<ops::bf16>(), params_.as<float>(), layout_.total(), stream_);
    synchronize();
  }
  void download(ParamStore& params, bool grads) {
    require(layout_.matches(params), "gpu trainer", "the parameter store does not match the model's parameters");
    synchronize();
    size_t i = 0;
    for (Param& p : params.params()) {
      const GpuParamSlot& s = layout_.slots()[i++];
      const float* src = (grads ? grads_ : params_).as<float>() + s.offset;
      float* dst = grads ? p.grad_data() : p.data();
      check_cuda(cudaMemcpy(dst, src, sizeof(float) * s.numel, cudaMemcpyDeviceToHost), "cudaMemcpy");
    }
  }

  formats::ModelConfig config_;
  GpuTrainOptions options_;
  GpuParamLayout layout_;
  cudaStream_t stream_ = nullptr;
  DeviceBlock params_, grads_, params_bf16_, grad_sum_scratch_, scalars_;
  int scalar_capacity_ = 0;
  std::unique_ptr<gpu::StepProfile> profile_;  // null unless NOVA_TRAIN_PROFILE
  std::vector<gpu::LayerOffsets> offsets_;
  int64_t embed_ = -1, final_norm_ = -1, head_ = -1;
  int moe_layers_ = 0, dense_layers_ = 0;

 protected:
  void ensure_scalar(int slot) {
    require(slot >= 0, "gpu trainer", "negative scalar slot");
    if (slot < scalar_capacity_) return;
    grow_scalars(std::max(slot + 1, 2 * scalar_capacity_));
  }

 private:
  void grow_scalars(int n) {
    DeviceBlock bigger;
    bigger.allocate(sizeof(double) * n);
    check_cuda(cudaMemset(bigger.as<double>(), 0, sizeof(double) * n), "cudaMemset");
    if (scalar_capacity_ > 0) {
      synchronize();
      check_cuda(cudaMemcpy(bigger.as<double>(), scalars_.as<double>(), sizeof(double) * scalar_capacity_,
                            cudaMemcpyDeviceToDevice),
                 "cudaMemcpy");
    }
    scalars_ = std::move(bigger);
    scalar_capacity_ = n;
  }

  void resolve_offsets() {
    // NOVA_TRAIN_FUSED_GATE_UP=0 keeps gate and up as two GEMMs (for comparisons).
    const char* fuse_env = std::getenv("NOVA_TRAIN_FUSED_GATE_UP");
    const bool fuse_gate_up = !(fuse_env && std::string(fuse_env) == "0");
    embed_ = layout_.require(names::kEmbed);
    final_norm_ = layout_.require(names::kFinalNorm);
    head_ = config_.tie_word_embeddings ? embed_ : layout_.require(names::kLmHead);
    for (int l = 0; l < config_.num_layers; ++l) {
      auto need = [&](const std::string& s) { return layout_.require(names::layer(l, s)); };
      auto maybe = [&](const std::string& s) { return layout_.offset(names::layer(l, s)); };
      gpu::LayerOffsets o;
      o.is_moe = config_.num_experts > 0 && (config_.layer_moe.empty() || config_.layer_moe[l]);
      o.input_norm = need(names::kInputNorm);
      o.post_norm = need(names::kPostAttnNorm);
      auto lin = [&](const char* base, int64_t& w, int64_t& b) {
        w = need(std::string(base) + ".weight");
        b = maybe(std::string(base) + ".bias");
      };
      lin(names::kQProj, o.q_w, o.q_b);
      lin(names::kKProj, o.k_w, o.k_b);
      lin(names::kVProj, o.v_w, o.v_b);
      lin(names::kOProj, o.o_w, o.o_b);
      if (config_.qk_norm) {
        o.q_norm = need(names::kQNorm);
        o.k_norm = need(names::kKNorm);
      }
      if (o.is_moe) {
        o.moe = gpu::moe_offsets(config_, l, layout_);
        if (!fuse_gate_up) o.moe.fused_gate_up = o.moe.shared_fused = false;
        ++moe_layers_;
      } else {
        lin(names::kMlpGate, o.gate_w, o.gate_b);
        lin(names::kMlpUp, o.up_w, o.up_b);
        lin(names::kMlpDown, o.down_w, o.down_b);
        o.fused_gate_up = fuse_gate_up && o.gate_b < 0 && o.up_b < 0 &&
                          o.up_w == o.gate_w + int64_t{config_.intermediate_size} * config_.hidden_size;
        ++dense_layers_;
      }
      offsets_.push_back(o);
    }
  }
};

namespace {

// A micro-batch's ids as the device needs them, in one int32 array of 5M + 1 entries: inputs [M],
// targets [M], then the embedding backward's grouping — unique [M], offsets [M + 1], positions
// [M] (kernels' build_embedding_groups; `counts` is its scratch). The ids are already checked to
// lie in [0, vocab). Returns the number of distinct input ids.
int64_t stage_ids(const Batch& b, int64_t vocab, std::vector<int32_t>& counts, int32_t* out) {
  const int64_t M = b.B * b.T;
  std::copy(b.inputs.begin(), b.inputs.end(), out);
  std::copy(b.targets.begin(), b.targets.end(), out + M);
  return ops::build_embedding_groups(out, M, vocab, out + 2 * M, out + 3 * M, out + 4 * M + 1, counts);
}

template <class Act>
class Engine final : public GpuTrainModel::Impl {
 public:
  using Impl::Impl;
  // Queued kernels may still use the buffers the members below free.
  ~Engine() override { cudaStreamSynchronize(stream_); }

  int64_t enqueue(const Batch& b, bool backward, float dloss, int slot, int aux_slot, double aux_scale) override {
    // Checked before anything is queued: the kernels cannot report a bad id.
    b.check(config_.vocab_size);
    check_targets(b.targets.data(), b.B * b.T, config_.vocab_size);
    const int64_t counted = b.target_count();
    ensure_scalar(slot);
    if (aux_slot >= 0) ensure_scalar(aux_slot);
    prepare(b.B, b.T);
    const formats::ModelConfig& c = config_;
    const int64_t M = b.B * b.T, H = c.hidden_size, V = c.vocab_size;
    const int L = c.num_layers;
    const cudaStream_t st = stream_;

    // The ids: host staging (pinned, one area per slot, so a later micro-batch cannot overwrite
    // ids whose copy is still queued), then one copy.
    if (static_cast<size_t>(slot) >= staging_.size()) staging_.resize(static_cast<size_t>(slot) + 1);
    PinnedBlock& pin = staging_[static_cast<size_t>(slot)];
    const size_t id_bytes = sizeof(int32_t) * static_cast<size_t>(5 * M + 1);
    if (pin.bytes() < id_bytes) {
      synchronize();
      pin.allocate(id_bytes);
    }
    const int64_t n_unique = stage_ids(b, config_.vocab_size, id_counts_, pin.as<int32_t>());
    gpu::StepProfile* prof = profile_.get();
    gpu::mark(prof, "ids H2D");
    check_cuda(cudaMemcpyAsync(ids_, pin.as<int32_t>(), id_bytes, cudaMemcpyHostToDevice, st), "cudaMemcpyAsync");
    const int32_t* d_inputs = ids_;
    const int32_t* d_targets = ids_ + M;

    gpu::LayerPass<Act> pass = layer_pass();
    const float* P = params_.as<float>();
    float* G = grads_.as<float>();
    const Act* W = pass.weights;

    gpu::mark(prof, "embedding fwd");
    ops::embedding_forward(resid_[0], d_inputs, M, P + embed_, H, st);
    const int E = c.num_experts;
    if (moe_layers_ > 0)
      check_cuda(cudaMemsetAsync(scratch_.moe.stats, 0, sizeof(double) * 2 * E * L, st), "cudaMemsetAsync");
    for (int l = 0; l < L; ++l) gpu::layer_forward<Act>(resid_[l + 1], acts_for(l), resid_[l], l, offsets_[l], pass, scratch_);
    // The load-balancing loss over every MoE layer's routing, and its gradient per probability.
    const bool aux_grad = backward && moe_layers_ > 0 && aux_scale != 0.0;
    if (moe_layers_ > 0 && (aux_slot >= 0 || aux_grad)) {
      gpu::mark(prof, "moe aux loss");
      ops::moe_aux_loss(aux_slot >= 0 ? scalars_.as<double>() + aux_slot : nullptr, moe_dprob_, scratch_.moe.stats, L,
                        E, int64_t{moe_layers_} * M, aux_scale, st);
    } else if (aux_slot >= 0) {
      check_cuda(cudaMemsetAsync(scalars_.as<double>() + aux_slot, 0, sizeof(double), st), "cudaMemsetAsync");
    }
    pass.moe_dprob = aux_grad ? moe_dprob_ : nullptr;
    gpu::mark(prof, "rmsnorm fwd");
    ops::rmsnorm_forward<float, Act>(final_h_, final_rstd_, resid_[L], P + final_norm_, M, H, pass.eps, st);
    ops::TrainGemm& gemm = gemm_;
    gpu::mark(prof, "lm head fwd");
    gemm.forward<Act>(logits_, final_h_, W + head_, nullptr, M, V, H, st);
    gpu::mark(prof, "cross entropy");
    ops::cross_entropy_forward_backward<Act>(logits_, row_loss_, d_targets, M, V, backward ? dloss : 0.0f, st);
    gpu::mark(prof, "loss sum");
    ops::sum_f32(scalars_.as<double>() + slot, row_loss_, M, false, loss_sum_scratch_, st);
    if (!backward) return counted;

    gpu::mark(prof, "lm head dX");
    gemm.backward_input<Act>(scratch_.dh, logits_, W + head_, M, V, H, false, st);
    gpu::mark(prof, "lm head dW");
    gemm.backward_weight<Act>(G + head_, logits_, final_h_, M, V, H, st);
    gpu::mark(prof, "memset dx");
    check_cuda(cudaMemsetAsync(dx_, 0, sizeof(float) * M * H, st), "cudaMemsetAsync");
    gpu::mark(prof, "rmsnorm bwd");
    ops::rmsnorm_backward<float, Act>(dx_, G + final_norm_, scratch_.dh, resid_[L], P + final_norm_, final_rstd_, M, H,
                                      scratch_.norm_scratch, scratch_.dy, st);  // dy: dx as Act (bf16 mode)
    for (int l = L - 1; l >= 0; --l) {
      if (options_.recompute)
        gpu::layer_forward<Act>(recompute_out_, acts_for(l), resid_[l], l, offsets_[l], pass, scratch_);
      gpu::layer_backward<Act>(dx_, resid_[l], acts_for(l), l, offsets_[l], pass, scratch_);
    }
    const int32_t* d_unique = ids_ + 2 * M;
    const int32_t* d_offsets = ids_ + 3 * M;
    const int32_t* d_positions = ids_ + 4 * M + 1;
    gpu::mark(prof, "embedding bwd");
    ops::embedding_backward(G + embed_, dx_, d_unique, d_offsets, d_positions, n_unique, H, st);
    return counted;
  }

 private:
  const gpu::LayerActs<Act>& acts_for(int l) const { return acts_[options_.recompute ? 0 : static_cast<size_t>(l)]; }

  gpu::LayerPass<Act> layer_pass() {
    gpu::LayerPass<Act> p;
    p.config = &config_;
    p.B = B_;
    p.T_len = T_;
    p.half = half_;
    p.cos = cos_;
    p.sin = sin_;
    p.eps = static_cast<float>(config_.rms_norm_eps);
    p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(config_.head_dim)));
    p.params = params_.as<float>();
    p.grads = grads_.as<float>();
    if constexpr (std::is_same_v<Act, float>)
      p.weights = params_.as<float>();
    else
      p.weights = params_bf16_.as<Act>();
    p.gemm = &gemm_;
    p.stream = stream_;
    p.profile = profile_.get();
    return p;
  }

  // Buffers for batches of B x T (re-laid out when the shape changes, reallocated only when it
  // needs more memory) and the RoPE table of those positions.
  void prepare(int64_t B, int64_t T) {
    if (B == B_ && T == T_) return;
    Carver measure(nullptr);
    plan(measure, B, T);
    synchronize();  // queued work may still use the old layout
    if (moe_layers_ > 0 && moe_host_counts_.bytes() == 0)
      moe_host_counts_.allocate(sizeof(int32_t) * static_cast<size_t>(config_.num_experts));
    if (measure.used() > acts_block_.bytes()) acts_block_.allocate(measure.used());
    Carver carve(acts_block_.as<char>());
    plan(carve, B, T);
    B_ = B;
    T_ = T;
    // RoPE table, computed as the CPU TrainModel does (every sequence starts at position 0).
    const model::RopeFrequencies f = model::rope_frequencies(config_, T);
    std::vector<float> c(static_cast<size_t>(T * half_)), s(c.size());
    model::rope_table(f, 0, T, c.data(), s.data());
    for (int64_t b = 0; b < B; ++b) {
      check_cuda(cudaMemcpy(cos_ + b * T * half_, c.data(), sizeof(float) * c.size(), cudaMemcpyHostToDevice),
                 "cudaMemcpy");
      check_cuda(cudaMemcpy(sin_ + b * T * half_, s.data(), sizeof(float) * s.size(), cudaMemcpyHostToDevice),
                 "cudaMemcpy");
    }
  }

  void plan(Carver& k, int64_t B, int64_t T) {
    const formats::ModelConfig& c = config_;
    const int64_t M = B * T, H = c.hidden_size, D = c.head_dim, Hq = c.num_heads, Hkv = c.num_kv_heads;
    const int64_t q_out = Hq * D, kv_out = Hkv * D, I = c.intermediate_size, V = c.vocab_size;
    const int L = c.num_layers;
    half_ = static_cast<int64_t>(model::rope_frequencies(c, T).inv_freq.size());
    cos_ = k.take<float>(M * half_);
    sin_ = k.take<float>(M * half_);
    ids_ = k.take<int32_t>(5 * M + 1);
    resid_.assign(static_cast<size_t>(L + 1), nullptr);
    for (float*& r : resid_) r = k.take<float>(M * H);
    const int64_t E = c.num_experts, K = c.experts_per_token, Im = c.moe_intermediate_size;
    const int64_t S = c.shared_expert_intermediate_size;
    const int64_t cap = moe_layers_ > 0 ? gpu::moe_permuted_capacity(c, M) : 0;
    acts_.assign(options_.recompute ? 1 : static_cast<size_t>(L), gpu::LayerActs<Act>{});
    moe_host_offsets_.assign(acts_.size(), std::vector<int64_t>(static_cast<size_t>(E + 1), 0));
    for (size_t i = 0; i < acts_.size(); ++i) {
      gpu::LayerActs<Act>& a = acts_[i];
      // One shared set (recompute) serves both kinds of layer; otherwise set i is layer i's.
      const bool moe = options_.recompute ? moe_layers_ > 0 : offsets_[i].is_moe;
      const bool dense = options_.recompute ? dense_layers_ > 0 : !offsets_[i].is_moe;
      a.h1 = k.take<Act>(M * H);
      if (c.qk_norm) {
        a.q_raw = k.take<Act>(M * q_out);
        a.k_raw = k.take<Act>(M * kv_out);
        a.q_rstd = k.take<float>(M * Hq);
        a.k_rstd = k.take<float>(M * Hkv);
      }
      a.q = k.take<Act>(M * q_out);
      a.k = k.take<Act>(M * kv_out);
      a.v = k.take<Act>(M * kv_out);
      a.attn = k.take<Act>(M * q_out);
      a.lse = k.take<float>(M * Hq);
      a.h2 = k.take<Act>(M * H);
      if (dense) {
        a.gate = k.take<Act>(2 * M * I);  // one block: [M, 2I] when gate|up are fused
        a.up = a.gate + M * I;
        a.act = k.take<Act>(M * I);
      }
      a.rstd1 = k.take<float>(M);
      a.mid = k.take<float>(M * H);
      a.rstd2 = k.take<float>(M);
      if (moe) {
        gpu::MoeActs<Act>& m = a.moe;
        m.probs = k.take<float>(M * E);
        m.top_expert = k.take<int32_t>(M * K);
        m.top_weight = k.take<float>(M * K);
        m.pos = k.take<int32_t>(M * K);
        m.perm_assign = k.take<int32_t>(cap);
        m.xp = k.take<Act>(cap * H);
        m.gu = k.take<Act>(cap * 2 * Im);  // [cap, 2I] fused, or gate [cap, I] then up
        m.up = m.gu + cap * Im;
        m.act = k.take<Act>(cap * Im);
        m.y = k.take<Act>(cap * H);
        if (S > 0) {
          m.sh_gu = k.take<Act>(M * 2 * S);
          m.sh_up = m.sh_gu + M * S;
          m.sh_act = k.take<Act>(M * S);
          m.sh_out = k.take<Act>(M * H);
          m.sh_logit = k.take<float>(M);
        }
        m.offsets = moe_host_offsets_[i].data();
      }
    }
    gpu::LayerScratch<Act>& s = scratch_;
    s.tmp = k.take<Act>(M * H);
    s.dy = std::is_same_v<Act, float> ? nullptr : k.take<Act>(M * H);
    s.dh = k.take<Act>(M * H);
    s.dattn = k.take<Act>(M * q_out);
    s.dq = k.take<Act>(M * q_out);
    s.dk = k.take<Act>(M * kv_out);
    s.dv = k.take<Act>(M * kv_out);
    if (c.qk_norm) {
      s.dq_raw = k.take<Act>(M * q_out);
      s.dk_raw = k.take<Act>(M * kv_out);
    }
    s.dact = dense_layers_ > 0 ? k.take<Act>(M * I) : nullptr;
    if (moe_layers_ > 0) {
      gpu::MoeScratch<Act>& m = s.moe;
      m.counts = k.take<int32_t>(E);
      m.chunk_counts = k.take<int32_t>(ops::moe_stat_chunks(M) * E);
      m.chunk_psum = k.take<double>(ops::moe_stat_chunks(M) * E);
      m.host_counts = moe_host_counts_.as<int32_t>();
      m.dyp = k.take<Act>(cap * H);
      m.dact = k.take<Act>(std::max(cap * Im, M * S));
      m.dweight = k.take<float>(M * K);
      m.dl = k.take<float>(M * (E + 1));
      m.dsh = S > 0 ? k.take<Act>(M * H) : nullptr;
      m.stats = k.take<double>(2 * E * L);
      m.router_grad_scratch =
          k.take<float>(static_cast<int64_t>(ops::moe_router_weight_grad_scratch_floats(M, H, static_cast<int>(E))));
      moe_dprob_ = k.take<double>(E);
    }
    const size_t norm_floats = std::max({ops::rmsnorm_backward_scratch_floats(M, H),
                                         ops::rmsnorm_backward_scratch_floats(M * Hq, D),
                                         ops::rmsnorm_backward_scratch_floats(M * Hkv, D), size_t{1}});
    s.norm_scratch = k.take<float>(static_cast<int64_t>(norm_floats));
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    size_t ws = 1;
    for (int l = 0; l < L; ++l) ws = std::max(ws, ops::attention_workspace_bytes(gpu::attention_dims(c, B, T, l, scale)));
    s.attn_workspace = k.take<char>(static_cast<int64_t>(ws));
    recompute_out_ = options_.recompute ? k.take<float>(M * H) : nullptr;
    final_h_ = k.take<Act>(M * H);
    final_rstd_ = k.take<float>(M);
    logits_ = k.take<Act>(M * V);
    row_loss_ = k.take<float>(M);
    dx_ = k.take<float>(M * H);
    loss_sum_scratch_ = k.take<double>(static_cast<int64_t>(std::max<size_t>(1, ops::sum_scratch_doubles(M))));
  }

  ops::TrainGemm gemm_;
  std::vector<PinnedBlock> staging_;
  PinnedBlock moe_host_counts_;                         // the experts' row counts read by each MoE forward
  std::vector<std::vector<int64_t>> moe_host_offsets_;  // per activation set: the experts' permuted offsets
  double* moe_dprob_ = nullptr;                         // [E] load-balancing loss gradient
  std::vector<int32_t> id_counts_;  // stage_ids' scratch
  DeviceBlock acts_block_;
  int64_t B_ = -1, T_ = -1, half_ = 0;
  float *cos_ = nullptr, *sin_ = nullptr;
  int32_t* ids_ = nullptr;
  std::vector<float*> resid_;
  std::vector<gpu::LayerActs<Act>> acts_;
  gpu::LayerScratch<Act> scratch_;
  float* recompute_out_ = nullptr;
  Act* final_h_ = nullptr;
  float* final_rstd_ = nullptr;
  Act* logits_ = nullptr;
  float *row_loss_ = nullptr, *dx_ = nullptr;
  double* loss_sum_scratch_ = nullptr;
};

}  // namespace

GpuTrainModel::GpuTrainModel(const formats::ModelConfig& config, const ParamStore& params, GpuTrainOptions options) {
  if (options.bf16)
    impl_ = std::make_unique<Engine<ops::bf16>>(config, params, options);
  else
    impl_ = std::make_unique<Engine<float>>(config, params, options);
}

GpuTrainModel::~GpuTrainModel() = default;

const formats::ModelConfig& GpuTrainModel::config() const { return impl_->config_; }
const GpuTrainOptions& GpuTrainModel::options() const { return impl_->options_; }
const GpuParamLayout& GpuTrainModel::layout() const { return impl_->layout_; }
int64_t GpuTrainModel::enqueue(const Batch& batch, bool backward, float dloss, int slot, int aux_slot,
                               double aux_scale) {
  return impl_->enqueue(batch, backward, dloss, slot, aux_slot, aux_scale);
}
void GpuTrainModel::enqueue_zero_grad() { impl_->zero_grad(); }
void GpuTrainModel::enqueue_grad_square_sum(int slot) { impl_->grad_square_sum(slot); }
std::vector<double> GpuTrainModel::read_scalars(int n) { return impl_->read_scalars(n); }
void GpuTrainModel::synchronize() { impl_->synchronize(); }
void GpuTrainModel::upload_params(const ParamStore& params) { impl_->upload_params(params); }
void GpuTrainModel::download_params(ParamStore& params) const { impl_->download(params, false); }
void GpuTrainModel::download_grads(ParamStore& params) const { impl_->download(params, true); }
float* GpuTrainModel::device_params() { return impl_->params_.as<float>(); }
float* GpuTrainModel::device_grads() { return impl_->grads_.as<float>(); }
void* GpuTrainModel::device_params_bf16() { return impl_->params_bf16_.as<ops::bf16>(); }
void* GpuTrainModel::stream() { return impl_->stream_; }
void GpuTrainModel::profile_mark(const char* phase) { gpu::mark(impl_->profile_.get(), phase); }

}  // namespace nova::train

#else  // !NOVA_HAVE_CUDA

namespace nova::train {

class GpuTrainModel::Impl {};

namespace {
[[noreturn]] void no_cuda() { fail("gpu trainer", "this nova was built without CUDA (configure with -DNOVA_CUDA=ON)"); }
}  // namespace

GpuTrainModel::GpuTrainModel(const formats::ModelConfig&, const ParamStore&, GpuTrainOptions) { no_cuda(); }
GpuTrainModel::~GpuTrainModel() = default;
const formats::ModelConfig& GpuTrainModel::config() const { no_cuda(); }
const GpuTrainOptions& GpuTrainModel::options() const { no_cuda(); }
const GpuParamLayout& GpuTrainModel::layout() const { no_cuda(); }
int64_t GpuTrainModel::enqueue(const Batch&, bool, float, int, int, double) { no_cuda(); }
void GpuTrainModel::enqueue_zero_grad() { no_cuda(); }
void GpuTrainModel::enqueue_grad_square_sum(int) { no_cuda(); }
std::vector<double> GpuTrainModel::read_scalars(int) { no_cuda(); }
void GpuTrainModel::synchronize() { no_cuda(); }
void GpuTrainModel::upload_params(const ParamStore&) { no_cuda(); }
void GpuTrainModel::download_params(ParamStore&) const { no_cuda(); }
void GpuTrainModel::download_grads(ParamStore&) const { no_cuda(); }
float* GpuTrainModel::device_params() { no_cuda(); }
float* GpuTrainModel::device_grads() { no_cuda(); }
void* GpuTrainModel::device_params_bf16() { no_cuda(); }
void* GpuTrainModel::stream() { no_cuda(); }
void GpuTrainModel::profile_mark(const char*) {}

}  // namespace nova::train

#endif  // NOVA_HAVE_CUDA
