#include "train/train_model.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "formats/safetensors.h"
#include "model/rope_frequencies.h"
#include "model/weight_names.h"
#include "train/layers/cross_entropy.h"
#include "train/layers/embedding.h"
#include "train/layers/linear.h"
#include "train/layers/rmsnorm.h"
#include "train/model_params.h"

namespace nova::train {

namespace names = model::weight_names;

TrainModel::TrainModel(formats::ModelConfig config, ParamStore params, TrainOptions options)
    : config_(std::move(config)), params_(std::move(params)), options_(options) {
  validate_config(config_);
  embed_ = params_.view(names::kEmbed);
  final_norm_ = params_.view(names::kFinalNorm);
  head_ = config_.tie_word_embeddings ? embed_ : params_.view(names::kLmHead);
  require(embed_ && final_norm_ && head_, "train model", "parameter store lacks the embedding, final norm or lm_head");
  for (int l = 0; l < config_.num_layers; ++l) layers_.push_back(layer_params(params_, config_, l));
}

std::unique_ptr<TrainModel> TrainModel::from_pretrained(const std::string& dir, TrainOptions options) {
  formats::ModelConfig c = formats::load_hf_config(dir + "/config.json");
  const formats::Checkpoint ckpt = formats::Checkpoint::open_dir(dir);
  ParamStore p = load_params(c, ckpt);
  return std::make_unique<TrainModel>(std::move(c), std::move(p), options);
}

void TrainModel::prepare_rope(int64_t B, int64_t T) {
  if (B == rope_B_ && T == rope_T_) return;
  const model::RopeFrequencies f = model::rope_frequencies(config_, T);
  half_ = static_cast<int64_t>(f.inv_freq.size());
  std::vector<float> c(static_cast<size_t>(T * half_)), s(c.size());
  model::rope_table(f, 0, T, c.data(), s.data());
  cos_.clear();
  sin_.clear();
  for (int64_t b = 0; b < B; ++b) {  // every sequence starts at position 0
    cos_.insert(cos_.end(), c.begin(), c.end());
    sin_.insert(sin_.end(), s.begin(), s.end());
  }
  rope_B_ = B;
  rope_T_ = T;
}

LossParts TrainModel::forward(const Batch& batch) { return run(batch, false, 0.0); }

LossParts TrainModel::forward_backward(const Batch& batch, double weight) { return run(batch, true, weight); }

LossParts TrainModel::run(const Batch& batch, bool backward, double weight) {
  batch.check(config_.vocab_size);
  const formats::ModelConfig& c = config_;
  const int64_t M = batch.B * batch.T, H = c.hidden_size, V = c.vocab_size;
  const int L = c.num_layers;
  prepare_rope(batch.B, batch.T);
  LayerContext ctx;
  ctx.config = &config_;
  ctx.B = batch.B;
  ctx.T = batch.T;
  ctx.cos = cos_.data();
  ctx.sin = sin_.data();
  ctx.half = half_;
  ctx.eps = static_cast<float>(c.rms_norm_eps);
  ctx.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));

  // ---- forward ----
  residual_.resize(static_cast<size_t>(L + 1));
  for (auto& r : residual_) r.resize(static_cast<size_t>(M * H));
  const bool per_layer_acts = backward && !options_.recompute;
  acts_.resize(per_layer_acts ? static_cast<size_t>(L) : 1);
  router_stats_.assign(static_cast<size_t>(L), RouterStats{});
  embedding_forward(residual_[0].data(), batch.inputs.data(), M, embed_.value, H);
  for (int l = 0; l < L; ++l) {
    LayerActs& a = acts_[per_layer_acts ? l : 0];
    layer_forward(residual_[l + 1].data(), a, residual_[l].data(), l, ctx, layers_[l]);
    if (layers_[l].is_moe) router_stats_[l] = a.moe.stats;
  }
  final_h_.resize(static_cast<size_t>(M * H));
  final_rstd_.resize(static_cast<size_t>(M));
  rmsnorm_forward(final_h_.data(), final_rstd_.data(), residual_[L].data(), final_norm_.value, M, H, ctx.eps);
  logits_.resize(static_cast<size_t>(M * V));
  linear_forward(logits_.data(), final_h_.data(), head_.value, nullptr, M, H, V);

  LossParts out;
  // With a backward, the loss and its gradient come from one pass (logits_ := dlogits); dloss
  // needs the count of counted targets first.
  int64_t counted = 0;
  for (int32_t t : batch.targets) counted += t != kIgnoreIndex;
  const float dloss = counted > 0 ? static_cast<float>(weight / static_cast<double>(counted)) : 0.0f;
  const CrossEntropySum ce = backward
                                 ? cross_entropy_forward_backward(logits_.data(), batch.targets.data(), M, V, dloss)
                                 : cross_entropy_forward(logits_.data(), batch.targets.data(), M, V);
  out.tokens = ce.count;
  out.ce_loss = ce.count > 0 ? ce.loss_sum / static_cast<double>(ce.count) : 0.0;
  std::vector<double> dprob;
  if (c.num_experts > 0)  // computed (and reported) even when its weight is 0
    out.aux_loss = load_balancing_loss(router_stats_, c.num_experts, weight * options_.router_aux_loss_coef, dprob);
  out.loss = out.ce_loss + options_.router_aux_loss_coef * out.aux_loss;
  if (!backward) return out;

  // ---- backward ----
  dh_.assign(static_cast<size_t>(M * H), 0.0f);
  dx_.assign(static_cast<size_t>(M * H), 0.0f);
  linear_backward(dh_.data(), head_.grad, nullptr, logits_.data(), final_h_.data(), head_.value, M, H, V);
  rmsnorm_backward(dx_.data(), final_norm_.grad, dh_.data(), residual_[L].data(), final_norm_.value,
                   final_rstd_.data(), M, H);
  if (options_.recompute) recompute_out_.resize(static_cast<size_t>(M * H));
  for (int l = L - 1; l >= 0; --l) {
    LayerActs& a = acts_[per_layer_acts ? l : 0];
    if (options_.recompute) layer_forward(recompute_out_.data(), a, residual_[l].data(), l, ctx, layers_[l]);
    layer_backward(dx_.data(), residual_[l].data(), a, l, ctx, layers_[l], dprob.empty() ? nullptr : dprob.data(),
                   grad_scratch_);
  }
  embedding_backward(embed_.grad, dx_.data(), batch.inputs.data(), M, H);
  return out;
}

}  // namespace nova::train
