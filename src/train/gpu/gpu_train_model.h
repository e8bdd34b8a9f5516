// The trainable decoder on one CUDA device: train/train_model.h's forward and backward (Llama,
// Mistral incl. sliding windows, Qwen2 biases, Qwen3 qk-norm, and the Mixtral / Qwen2-MoE
// mixture-of-experts layers of gpu_moe_layer.h) as kernels/cuda/train/train_ops.h calls on device
// buffers, enqueued on the model's own stream.
//
// Buffers, all allocated up front (activations again only when a batch needs more rows):
//   params, grads            float32, flat, GpuParamLayout order (the optimiser's m and v live
//                            in the trainer with the same offsets)
//   params_bf16              bf16 copy of params (bf16 mode: what the GEMMs read)
//   residual[L + 1]          float32 residual stream: each layer's input, then the last output
//   per-layer activations    T = float (fp32 mode) or bf16: q, k, v, attention, FFN, ...; one
//                            shared set with recompute (each layer's forward is re-run in the
//                            backward from its kept input)
// Nothing inside a dense forward/backward synchronises the host (an MoE layer's forward waits once
// for its experts' row counts); the loss sum of each micro-batch goes to a device "scalar" slot
// that read_scalars() fetches with the step's one sync.
//
// Without CUDA in the build the constructor throws nova::Error ("built without CUDA").
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "formats/hf_config.h"
#include "train/batch.h"
#include "train/gpu/gpu_param_layout.h"
#include "train/param_store.h"

namespace nova::train {

struct GpuTrainOptions {
  int device = 0;          // CUDA device index
  bool bf16 = true;        // bf16 mixed precision (fp32 master weights); false: fp32 throughout
  bool recompute = false;  // keep only each layer's input; re-run its forward in the backward
  // MoE: transformers' router_aux_loss_coef (TrainOptions'): the load-balancing loss' weight in
  // the objective. Used by GpuTrainer; the model takes each micro-batch's scale in enqueue().
  double router_aux_loss_coef = 0.0;
};

class GpuTrainModel {
 public:
  // Checks the model is trainable here (check_gpu_training), allocates and uploads `params`.
  GpuTrainModel(const formats::ModelConfig& config, const ParamStore& params, GpuTrainOptions options);
  ~GpuTrainModel();
  GpuTrainModel(const GpuTrainModel&) = delete;
  GpuTrainModel& operator=(const GpuTrainModel&) = delete;

  const formats::ModelConfig& config() const;
  const GpuTrainOptions& options() const;
  const GpuParamLayout& layout() const;

  // Validates `batch` on the host (shapes, input ids, target ids) before enqueuing anything;
  // returns its counted targets. Then enqueues the forward (and with `backward` the backward of
  // `dloss` * the summed cross-entropy: grads += ...) and the sum of the rows' losses into
  // scalar slot `slot`. MoE models: with aux_slot >= 0 the load-balancing loss (unweighted, as
  // LossParts::aux_loss) goes to that slot, and the backward adds the gradient of aux_scale * it.
  int64_t enqueue(const Batch& batch, bool backward, float dloss, int slot, int aux_slot = -1,
                  double aux_scale = 0.0);
  void enqueue_zero_grad();
  // Scalar slot `slot` := sum of squares of every gradient (double).
  void enqueue_grad_square_sum(int slot);
  // Waits for the stream, then returns scalar slots [0, n).
  std::vector<double> read_scalars(int n);
  void synchronize();

  // Host <-> device copies of the values (synchronous). `params` must have this model's layout.
  void upload_params(const ParamStore& params);
  void download_params(ParamStore& params) const;
  // Step 0 gradients etc. for tests: the device grads into `params`' grads.
  void download_grads(ParamStore& params) const;

  // Raw device state for the optimiser (same flat offsets): float32 values and grads, the bf16
  // copy (null in fp32 mode) and the stream (a cudaStream_t).
  float* device_params();
  float* device_grads();
  void* device_params_bf16();
  void* stream();
  // Marks the start of an op group in the per-phase profile (NOVA_TRAIN_PROFILE=1, see
  // gpu_step_profile.h); nothing when profiling is off. `phase` must outlive the model (a literal).
  void profile_mark(const char* phase);

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace nova::train
