#include "kernels/cpu/paged_attention.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/cpu/attention_row.h"

namespace nova::kernels::cpu {

void paged_attention(const float* q, int64_t q_heads, int64_t head_dim, const float* k_blocks, const float* v_blocks,
                     int64_t block_size, int64_t kv_heads, const PagedAttentionSeq* seqs, int64_t num_seqs,
                     const int32_t* block_tables, int64_t window, float scale, float* out) {
  const int64_t group = q_heads / kv_heads;
  const int64_t kv_stride = kv_heads * head_dim;  // floats between consecutive slots of a block
  // One work item per (row, head) of every sequence, so a batch of one-row decodes still spreads
  // over all threads; `owner[i]` is the sequence of the i-th named row.
  std::vector<int64_t> owner, row_index;
  for (int64_t s = 0; s < num_seqs; ++s)
    for (int64_t r = 0; r < seqs[s].q_rows; ++r) {
      owner.push_back(s);
      row_index.push_back(r);
    }
  const int64_t rows = static_cast<int64_t>(owner.size());
  ThreadPool::global().parallel_for(rows * q_heads, [&](int64_t begin, int64_t end) {
    std::vector<float> scores;
    std::vector<double> acc;
    for (int64_t t = begin; t < end; ++t) {
      const PagedAttentionSeq& s = seqs[owner[t / q_heads]];
      const int64_t r = row_index[t / q_heads], h = t % q_heads, kvh = h / group;
      const int64_t p = s.pos0 + r;
      const int64_t lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      const int32_t* table = block_tables + s.table_begin;
      const auto row_of = [&](int64_t j) {
        return (static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size) * kv_stride;
      };
      const int64_t qrow = (s.q_begin + r) * q_heads + h;
      detail::attend_row(q + qrow * head_dim, k_blocks + kvh * head_dim, v_blocks + kvh * head_dim, head_dim, lo,
                         p + 1 - lo, row_of, scale, scores, acc, out + qrow * head_dim);
    }
  }, 4);
}

}  // namespace nova::kernels::cpu
