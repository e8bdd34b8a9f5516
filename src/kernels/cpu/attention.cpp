#include "kernels/cpu/attention.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/attention_row.h"

namespace nova::kernels::cpu {

void attention(const float* q, int64_t rows, int64_t q_heads, int64_t head_dim, const float* k, const float* v,
               int64_t kv_heads, int64_t pos0, int64_t window, float scale, float* out) {
  const int64_t group = q_heads / kv_heads;
  const int64_t kv_stride = kv_heads * head_dim;  // floats between consecutive cache rows
  ThreadPool::global().parallel_for(rows * q_heads, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    std::vector<double> acc;
    for (int64_t t = begin; t < end; ++t) {
      const int64_t r = t / q_heads, h = t % q_heads, kvh = h / group;
      const int64_t p = pos0 + r;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      const auto row_of = [&](int64_t j) { return j * kv_stride; };
      detail::attend_row(q + t * head_dim, k + kvh * head_dim, v + kvh * head_dim, head_dim, lo, p + 1 - lo, row_of,
                         scale, scores, acc, out + t * head_dim);
    }
  }, 4);
}

}  // namespace nova::kernels::cpu
