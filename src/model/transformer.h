// One decoder-only transformer, written once over kernels::Backend, covering Llama, Mistral,
// Qwen2, Qwen3, Mixtral and Qwen2-MoE: family differences are ModelConfig fields and the
// weight-name registry, never separate model code.
//
// The math of one layer (transformers' fp32 forward):
//   h   = RMSNorm(x) * w_in                       RMSNorm(x) = x * rsqrt(mean(x^2) + eps)
//   q,k,v = h Wq (+bq), h Wk (+bk), h Wv (+bv)     per head; qwen3: q,k = RMSNorm_head(q,k)
//   q,k = RoPE(q,k) (rotate_half, partial rotary)  inv_freq per rope_frequencies.h
//   a   = softmax(q k^T / sqrt(head_dim) + causal/window mask) v    (GQA: kv head = q head / group)
//   x   = x + a Wo (+bo)
//   h   = RMSNorm(x) * w_post
//   x   = x + FFN(h),  FFN = down(silu(gate h) * up h)                                 (dense)
//            or sum_{e in topk(softmax(router h))} p_e FFN_e(h)  (p renormalised if norm_topk_prob)
//               + sigmoid(shared_gate h) * FFN_shared(h)                     (qwen2_moe shared expert)
//   logits = RMSNorm(x) * w_final  W_lm^T           (W_lm = embedding when tied)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "kernels/backend.h"
#include "model/batch_input.h"
#include "model/kv_cache.h"
#include "model/model_weights.h"
#include "model/paged_kv_cache.h"
#include "model/rope_frequencies.h"
#include "model/session.h"

namespace nova::model {

// Called with each named intermediate ("layers.3.attn_out", ...) during a forward, so a
// mismatch against a reference can be located layer by layer. Tensors live on the backend.
using Probe = std::function<void(std::string_view name, const Tensor& t)>;

class KvView;

class Transformer : public std::enable_shared_from_this<Transformer> {
 public:
  // Reads model_dir/config.json (or `config_path`) and the safetensors weights.
  static std::shared_ptr<Transformer> load(const std::string& model_dir);
  static std::shared_ptr<Transformer> load(const std::string& model_dir, const std::string& config_path);
  // From parts already parsed; `backend` must outlive the model.
  static std::shared_ptr<Transformer> create(formats::ModelConfig config, formats::Checkpoint checkpoint,
                                             kernels::Backend& backend);

  const formats::ModelConfig& config() const { return config_; }
  kernels::Backend& backend() const { return *backend_; }
  // The activation dtype, picked once at create(): BF16 when the backend supports BF16
  // activations (Backend::supports_activation; a CUDA backend made under NOVA_CUDA_ACT=f32 does
  // not) and every linear weight (lm_head included) is BF16; else F32 (fp32 checkpoints stay fp32
  // end to end). In BF16 mode the hidden states h, q/k/v, attention output, MLP intermediates and
  // the KV cache are BF16; the residual stream x stays F32 (bf16 rounding does not accumulate over
  // layers) and so do the logits and forward_hidden's output. Norms, softmax, RoPE and GEMM
  // accumulation are fp32.
  DType activation_dtype() const { return act_; }
  // The KV cache's dtype: the activation dtype (new_session, new_paged_cache use it).
  DType kv_dtype() const { return act_; }

  // max_tokens = 0: max_position_embeddings.
  std::unique_ptr<Session> new_session(int64_t max_tokens = 0);

  // The forward of `ids` at positions pos0.. over `cache` (rows [0, pos0) already filled).
  // Writes logits [ids.size(), vocab] if all_logits, else [1, vocab] for the last id.
  // Validates ids and capacity before touching the cache.
  void forward(std::span<const int32_t> ids, int64_t pos0, KvCache& cache, std::vector<float>& logits,
               bool all_logits, const Probe* probe = nullptr) const;

  // The same forward, stopping before lm_head: writes the final hidden states (after the last
  // RMSNorm) of every id, [ids.size(), hidden_size], so logits = hidden W_lm^T. Embeddings pool
  // these; keeping them out of forward() spares the vocab-wide matmul.
  void forward_hidden(std::span<const int32_t> ids, int64_t pos0, KvCache& cache, std::vector<float>& hidden) const;
  // forward() of the last id leaving its logits on the backend: [1, vocab] F32, nothing
  // downloaded, so a device backend samples them where they are (TransformerSession::forward_logits).
  Tensor forward_logits(std::span<const int32_t> ids, int64_t pos0, KvCache& cache, const Probe* probe = nullptr) const;
  // forward_logits() of ids the backend holds (I32 [n]: kernels::PendingSamples::ids(), a token
  // sampled on the device that the host has not seen yet), so a decode step is enqueued before
  // the previous one's token is known. The ids are not checked (an id outside the vocabulary
  // embeds row 0); positions and capacity are.
  Tensor forward_logits(const Tensor& device_ids, int64_t pos0, KvCache& cache) const;

  // One step of several sequences over a shared paged cache: all their tokens go through the
  // matmuls together (M = total tokens), attention runs per sequence over its own blocks. Each
  // sequence's K/V rows are written to its blocks at its positions. Writes logits
  // [sum of num_logits, vocab], sequences in batch order (empty when none asks). Same math as
  // forward(): a sequence gets the logits a single-sequence forward over the same history gives.
  // Validates the whole batch (ids, positions, block tables, num_logits) before writing any K/V.
  void forward_batch(const BatchInput& batch, PagedKvCache& cache, std::vector<float>& logits,
                     const Probe* probe = nullptr) const;
  // forward_batch() leaving the logits on the backend: [sum of num_logits, vocab] F32, nothing
  // downloaded (an empty tensor when no sequence asks), so a device backend samples them where
  // they are (Backend::sample_rows, engine/device_sampler.h).
  Tensor forward_batch_logits(const BatchInput& batch, PagedKvCache& cache, const Probe* probe = nullptr) const;

  // A paged cache shaped for this model.
  PagedKvCache new_paged_cache(int64_t num_blocks, int64_t block_size) const;

 private:
  Transformer() = default;
  // A step's token ids: on the host (checked before use), or held by the backend.
  struct StepIds {
    std::span<const int32_t> host;
    const Tensor* device = nullptr;
    int64_t size() const { return device ? device->numel() : static_cast<int64_t>(host.size()); }
  };
  // The layer stack, shared by forward and forward_batch: embeds `ids`, runs every layer with
  // RoPE rows cos/sin (one per id) and K/V through `kv`, and writes the logits of `logit_rows`
  // (or, with `hidden_only`, their final-normed hidden states).
  void run(StepIds ids, const Tensor& cos, const Tensor& sin, const KvView& kv,
           std::span<const int32_t> logit_rows, std::vector<float>& logits, const Probe* probe,
           bool hidden_only = false, Tensor* device_logits = nullptr) const;
  // forward_batch's body: the logits downloaded to `logits`, or left in *device_logits when given.
  void forward_batch_to(const BatchInput& batch, PagedKvCache& cache, std::vector<float>& logits,
                        Tensor* device_logits, const Probe* probe) const;
  // forward() and forward_hidden(): validation, RoPE rows, then run().
  // With device_logits: the logits are left there instead of downloaded to `out`.
  void forward_contiguous(StepIds ids, int64_t pos0, KvCache& cache, std::vector<float>& out,
                          bool all_rows, const Probe* probe, bool hidden_only, Tensor* device_logits = nullptr) const;
  // The RoPE frequencies for a sequence whose positions reach `seq_len`.
  RopeFrequencies frequencies_for(int64_t seq_len) const;
  Tensor ffn(const FfnWeights& f, const Tensor& x, int64_t inter) const;
  Tensor moe(const MoeWeights& m, const Tensor& x) const;

  formats::ModelConfig config_;
  formats::Checkpoint checkpoint_;  // owns the mapped files the weights view
  kernels::Backend* backend_ = nullptr;
  ModelWeights weights_;
  RopeFrequencies rope_;  // fixed frequencies (all types but dynamic)
  DType act_ = DType::F32;
};

}  // namespace nova::model
