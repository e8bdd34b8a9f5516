// Per-sequence block tables over a KvBlockPool: allocation for prefill chunks and decodes,
// prefix-cache matching and registration, freeing on finish / cancel / preemption, and the
// usage statistics the server exports on /metrics.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/kv_block_pool.h"

namespace nova::engine {

struct KvStats {
  int64_t total_blocks = 0;
  int64_t used_blocks = 0;    // referenced by a sequence
  int64_t cached_blocks = 0;  // registered in the prefix cache (used or evictable)
  int64_t prefix_queries = 0;  // full prompt blocks looked up when sequences were admitted
  int64_t prefix_hits = 0;     // of those, found in the cache (their tokens are not recomputed)
  double usage() const { return total_blocks ? static_cast<double>(used_blocks) / total_blocks : 0.0; }
};

// The cached blocks found at the start of a sequence's tokens.
struct PrefixMatch {
  std::vector<int32_t> blocks;
  std::vector<BlockHash> hashes;  // chain hash of each block
  int64_t queried = 0;            // blocks that were looked up
};

class KvCacheManager {
 public:
  KvCacheManager(int64_t num_blocks, int64_t block_size, bool prefix_caching);

  int64_t block_size() const { return pool_.block_size(); }
  int64_t num_blocks() const { return pool_.num_blocks(); }
  int64_t blocks_for(int64_t tokens) const { return (tokens + block_size() - 1) / block_size(); }

  // The longest cached prefix of `tokens` in whole blocks, leaving at least one token to
  // compute (its logits are needed). Empty when prefix caching is off.
  PrefixMatch match_prefix(std::span<const int32_t> tokens) const;

  // Makes seq's block table cover `total_tokens` positions. A sequence new to the manager
  // starts from `prefix` (taken from match_prefix just before; counted in the statistics).
  // Returns false, changing nothing, when the pool has too few free blocks.
  bool allocate(uint64_t seq, int64_t total_tokens, const PrefixMatch* prefix = nullptr);
  // The K/V of seq's first `computed` tokens is now written: registers its newly full blocks in
  // the prefix cache. `tokens` are the sequence's tokens (at least `computed` of them).
  void commit(uint64_t seq, std::span<const int32_t> tokens, int64_t computed);
  // Releases seq's blocks (the last block first, so that a prefix's head outlives its tail in
  // the LRU order). Unknown ids are ignored.
  void free(uint64_t seq);

  bool has(uint64_t seq) const { return seqs_.count(seq) != 0; }
  // Throws nova::Error for an unknown sequence.
  const std::vector<int32_t>& table(uint64_t seq) const;
  KvStats stats() const;
  const KvBlockPool& pool() const { return pool_; }

 private:
  struct SeqBlocks {
    std::vector<int32_t> table;
    std::vector<BlockHash> hashes;  // chain hashes of its first hashes.size() (full, committed) blocks
  };
  KvBlockPool pool_;
  bool prefix_caching_;
  std::unordered_map<uint64_t, SeqBlocks> seqs_;
  int64_t queries_ = 0, hits_ = 0;
};

}  // namespace nova::engine
