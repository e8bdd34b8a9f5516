// RoPE frequencies exactly as transformers' ROPE_INIT_FUNCTIONS compute them (default, linear,
// dynamic NTK, llama3, yarn), reproducing torch's float32 arithmetic step by step so the angles
// match to the last bit or so, and the cos/sin tables the rope op consumes.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "formats/hf_config.h"

namespace nova::model {

struct RopeTableCache;

struct RopeFrequencies {
  std::vector<float> inv_freq;      // [rotary_dim / 2]
  float attention_scaling = 1.0f;   // multiplied into cos and sin (yarn)
  // rope_table()'s rows for positions from 0, computed once and copied after (shared by copies of
  // this struct; the frequencies must not change once it holds rows). rope_frequencies() sets it
  // for every type but dynamic NTK (whose frequencies change with seq_len); null: no cache.
  std::shared_ptr<RopeTableCache> cache;
};

// int(head_dim * partial_rotary_factor), the number of rotated features per head.
int rotary_dim(const formats::ModelConfig& c);

// `seq_len` (largest position + 1 of the current forward) only matters for dynamic NTK, whose
// base grows once seq_len exceeds max_position_embeddings (as transformers' dynamic_rope_update).
RopeFrequencies rope_frequencies(const formats::ModelConfig& c, int64_t seq_len);

// cos/sin [n, inv_freq.size()] for positions pos0 .. pos0+n-1: angle = float(pos) * inv_freq in
// float32, then cos/sin of that float, times attention_scaling — torch's order of operations.
// With f.cache, positions below kRopeCacheRows come from the cache (grown as needed): the same
// values, without a prefill's thousands of double cos/sin before its first kernel.
inline constexpr int64_t kRopeCacheRows = 32768;
void rope_table(const RopeFrequencies& f, int64_t pos0, int64_t n, float* cos_out, float* sin_out);

}  // namespace nova::model
