// One step of several sequences for Transformer::forward_batch: per sequence the tokens to run
// now (a prefill chunk or one decode token), where they start and which KV blocks hold it.
// A plain value: the engine's scheduler builds it, the model only reads it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace nova::model {

struct BatchSequence {
  std::span<const int32_t> tokens;       // at positions pos0 .. pos0 + tokens.size() - 1; not empty
  int64_t pos0 = 0;                      // tokens already in this sequence's blocks
  std::span<const int32_t> block_table;  // must cover positions [0, pos0 + tokens.size())
  int num_logits = 1;  // logits for this many of its last tokens (0: none, 1: next-token, tokens.size(): all)
};

struct BatchInput {
  std::vector<BatchSequence> sequences;  // no two may share a block they write to
};

}  // namespace nova::model
