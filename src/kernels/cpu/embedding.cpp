#include "kernels/cpu/embedding.h"

#include <cstring>

namespace nova::kernels::cpu {

void row_to_f32(const void* src, DType dtype, int64_t n, float* dst) {
  switch (dtype) {
    case DType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      break;
    case DType::BF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      break;
    }
    case DType::F16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      break;
    }
    default:
      break;  // callers validate the dtype
  }
}

void embedding(const void* table, DType dtype, int64_t dim, const int32_t* ids, int64_t n, float* out) {
  const size_t row_bytes = static_cast<size_t>(dim) * dtype_size(dtype);
  for (int64_t i = 0; i < n; ++i)
    row_to_f32(static_cast<const char*>(table) + static_cast<size_t>(ids[i]) * row_bytes, dtype, dim, out + i * dim);
}

}  // namespace nova::kernels::cpu
