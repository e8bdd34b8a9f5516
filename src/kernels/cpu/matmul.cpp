#include "kernels/cpu/matmul.h"

namespace nova::kernels::cpu {

// Placeholder until the optimised kernels land: correct, slow.
void matmul(const float* x, int64_t M, int64_t K, const void* W, DType w_dtype, int64_t N, float* y) {
  matmul_reference(x, M, K, W, w_dtype, N, y);
}

}  // namespace nova::kernels::cpu
