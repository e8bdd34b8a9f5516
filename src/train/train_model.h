// The trainable decoder-only transformer: explicit forward and backward over the layers of
// train/layers (llm.c style, no autograd), float32 on the CPU, for every architecture
// model/transformer.h runs (Llama, Mistral, Qwen2, Qwen3, Mixtral, Qwen2-MoE).
//
// Objective of one batch: mean cross-entropy over its counted target positions, plus
// router_aux_loss_coef * the load-balancing loss for MoE models (as transformers adds it when
// output_router_logits is on). Gradients accumulate into the ParamStore's grads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "train/batch.h"
#include "train/decoder_layer.h"
#include "train/param_store.h"

namespace nova::train {

struct TrainOptions {
  // Keep only each layer's input during the forward and recompute the layer's activations in
  // the backward (gradient checkpointing). Gives bit-identical gradients.
  bool recompute = false;
  // transformers' router_aux_loss_coef (Mixtral 0.02, Qwen2-MoE 0.001 when output_router_logits);
  // 0 leaves the load-balancing loss out.
  double router_aux_loss_coef = 0.0;
};

struct LossParts {
  double loss = 0.0;      // ce_loss + router_aux_loss_coef * aux_loss
  double ce_loss = 0.0;   // mean over counted targets (0 when there are none)
  double aux_loss = 0.0;  // load-balancing loss (0 for dense models)
  int64_t tokens = 0;     // counted target positions
};

class TrainModel {
 public:
  TrainModel(formats::ModelConfig config, ParamStore params, TrainOptions options = {});
  // config.json + safetensors of a Hugging Face model directory.
  static std::unique_ptr<TrainModel> from_pretrained(const std::string& dir, TrainOptions options = {});

  const formats::ModelConfig& config() const { return config_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }
  TrainOptions& options() { return options_; }

  // The objective's value only; no activations kept, no gradients touched.
  LossParts forward(const Batch& batch);
  // Forward, then backward of `weight` * the objective: grads += weight * d(objective)/d(param).
  // (The trainer passes each micro-batch's share of the accumulated step's objective.)
  LossParts forward_backward(const Batch& batch, double weight = 1.0);

  // The logits [B*T, vocab] of the last forward() (forward_backward overwrites them with their
  // gradient).
  const std::vector<float>& last_logits() const { return logits_; }

 private:
  LossParts run(const Batch& batch, bool backward, double weight);
  void prepare_rope(int64_t B, int64_t T);

  formats::ModelConfig config_;
  ParamStore params_;
  TrainOptions options_;
  std::vector<LayerParams> layers_;
  ParamView embed_, final_norm_, head_;

  // Activations, reused across steps.
  std::vector<std::vector<float>> residual_;  // [L + 1][M * H]: each layer's input, then the last output
  std::vector<LayerActs> acts_;               // one per layer, or one shared when recomputing
  std::vector<RouterStats> router_stats_;     // per layer (MoE layers only filled)
  std::vector<float> final_h_, final_rstd_, logits_;
  // Backward temporaries, reused across steps.
  std::vector<float> dh_, dx_, recompute_out_;
  LayerGradScratch grad_scratch_;
  std::vector<float> cos_, sin_;
  int64_t rope_B_ = -1, rope_T_ = -1, half_ = 0;
};

}  // namespace nova::train
