// Global gradient norm and clipping with torch.nn.utils.clip_grad_norm_'s semantics:
// norm = ||all grads||_2; grads *= min(1, max_norm / (norm + 1e-6)).
#pragma once

#include "train/param_store.h"

namespace nova::train {

// The L2 norm over every parameter's gradient (summed in double). Non-finite if any grad is.
double global_grad_norm(const ParamStore& params);
// min(1, max_norm / (norm + 1e-6)) with torch's roundings (norm rounded to float32 first); 1 when
// max_norm <= 0 (clipping off).
float clip_factor(double norm, double max_norm);
// Scales every grad by min(1, max_norm / (norm + 1e-6)) for the given pre-clip `norm`; returns
// the factor used. max_norm <= 0 disables clipping (factor 1, grads untouched).
float clip_grads(ParamStore& params, double norm, double max_norm);

}  // namespace nova::train
