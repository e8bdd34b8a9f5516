// Shape and dtype validation shared by every Backend implementation, so each op's contract
// (documented in backend.h) is checked in exactly one place.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace nova::kernels::checks {

// A contiguous float32 tensor with `ndim` dims (ndim < 0: any).
void f32(const Tensor& t, const char* op, const char* arg, int ndim = -1);
// Row count = first dim; row width = product of the remaining dims.
int64_t rows_of(const Tensor& t);
int64_t row_width(const Tensor& t);
void same_numel(const Tensor& a, const Tensor& b, const char* op);
void weight(const Tensor& w, const char* op);  // contiguous 2-D F32/BF16/F16

[[noreturn]] void bad(const char* op, const std::string& what);

}  // namespace nova::kernels::checks
