#include "kernels/op_checks.h"

#include "core/error.h"

namespace nova::kernels::checks {

void bad(const char* op, const std::string& what) { fail(std::string("kernels::") + op, what); }

void f32(const Tensor& t, const char* op, const char* arg, int ndim) {
  if (t.empty() && t.numel() != 0) bad(op, std::string(arg) + " has no data");
  if (t.dtype() != DType::F32)
    bad(op, std::string(arg) + " must be F32, got " + std::string(dtype_name(t.dtype())));
  if (!t.is_contiguous()) bad(op, std::string(arg) + " must be contiguous");
  if (ndim >= 0 && t.ndim() != ndim)
    bad(op, std::string(arg) + " must have " + std::to_string(ndim) + " dims, got " + t.shape_string());
}

int64_t rows_of(const Tensor& t) { return t.ndim() == 0 ? 1 : t.dim(0); }

int64_t row_width(const Tensor& t) {
  int64_t w = 1;
  for (int i = 1; i < t.ndim(); ++i) w *= t.dim(i);
  return w;
}

void same_numel(const Tensor& a, const Tensor& b, const char* op) {
  if (a.numel() != b.numel()) bad(op, "size mismatch: " + a.shape_string() + " vs " + b.shape_string());
}

void weight(const Tensor& w, const char* op) {
  if (w.ndim() != 2) bad(op, "weight must be 2-D, got " + w.shape_string());
  if (!w.is_contiguous()) bad(op, "weight must be contiguous");
  if (w.dtype() != DType::F32 && w.dtype() != DType::BF16 && w.dtype() != DType::F16)
    bad(op, "weight dtype " + std::string(dtype_name(w.dtype())) + " not supported (F32/BF16/F16)");
}

}  // namespace nova::kernels::checks
