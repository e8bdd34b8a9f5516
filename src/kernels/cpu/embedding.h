// Token embedding lookup: rows of a [vocab, dim] table (F32/BF16/F16) gathered as float32.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace nova::kernels::cpu {

// out[i, :] = float(table[ids[i], :]); ids must already be validated against the table.
void embedding(const void* table, DType dtype, int64_t dim, const int32_t* ids, int64_t n, float* out);

// One row of `n` elements of any float dtype converted to float32.
void row_to_f32(const void* src, DType dtype, int64_t n, float* dst);

}  // namespace nova::kernels::cpu
