// Validation of Backend::moe_experts (backend.h), shared by its default composition and by the
// backends that override it, so the op's contract is checked in one place.
#pragma once

#include <span>

#include "core/tensor.h"
#include "kernels/backend.h"

namespace nova::kernels::checks {

// Throws nova::Error naming moe_experts on misuse: x [rows, hidden] (F32, or BF16 when `bf16`,
// with BF16 expert weights, as linear() asks),
// router_logits [rows, experts.size()] F32, out [rows, hidden] F32, k in [1, experts], every
// expert's gate/up [inter, hidden] and down [hidden, inter] weights, biases F32 of matching size.
void moe_experts(const Tensor& x, const Tensor& router_logits, std::span<const MoeExpert> experts, int k,
                 const Tensor& out, bool bf16);

}  // namespace nova::kernels::checks
