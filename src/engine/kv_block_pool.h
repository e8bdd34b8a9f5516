// The KV cache's blocks as a resource: reference counts, the free list, and the prefix cache.
//
// A block whose reference count drops to 0 goes to the tail of the free list but keeps its
// content and, if it was registered, its place in the prefix cache: a later request with the
// same prefix can take it back (a hit) until allocation reaches it at the head of the list and
// evicts it. So the free list is also the LRU order of the cached blocks.
//
// A cached block is keyed by the hash of its tokens chained with its parent block's hash (so a
// block is only ever reused after the same whole prefix); the tokens and parent hash are kept
// and compared on lookup too, so a 64-bit collision cannot hand out the wrong K/V.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace nova::engine {

using BlockHash = uint64_t;

// The hash of a full block's tokens after the prefix whose last block hashed to `parent`
// (0 for the first block).
BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens);

class KvBlockPool {
 public:
  // Throws nova::Error for non-positive sizes.
  KvBlockPool(int64_t num_blocks, int64_t block_size);

  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }
  int64_t block_size() const { return block_size_; }
  // Blocks nobody references (cached ones included: they can be evicted).
  int64_t num_free() const { return num_free_; }
  int64_t num_used() const { return num_blocks() - num_free_; }
  // Blocks registered in the prefix cache (referenced or not).
  int64_t num_cached() const { return static_cast<int64_t>(by_hash_.size()); }
  int ref_count(int32_t block) const;
  bool is_cached(int32_t block) const;

  // Takes n blocks from the head of the free list (least recently used first), each with one
  // reference; a cached one is evicted. Throws nova::Error if fewer than n are free.
  std::vector<int32_t> allocate(int64_t n);
  // One more reference to a block; a free one leaves the free list (a prefix-cache hit).
  void acquire(int32_t block);
  // One reference less; at zero the block goes to the tail of the free list.
  void release(int32_t block);

  // Registers a full block's content. Returns false (and registers nothing) when another block
  // already holds this content, or the block is already registered.
  bool register_block(int32_t block, BlockHash hash, BlockHash parent, std::span<const int32_t> tokens);
  // The cached block with exactly this content after this parent, or -1.
  int32_t lookup(BlockHash hash, BlockHash parent, std::span<const int32_t> tokens) const;

 private:
  struct Block {
    int refs = 0;
    bool cached = false;
    BlockHash hash = 0, parent = 0;
    std::vector<int32_t> tokens;
  };
  void check(int32_t block, const char* op) const;
  void unlink(int32_t block);
  void push_back(int32_t block);
  void evict(int32_t block);

  int64_t block_size_;
  std::vector<Block> blocks_;
  std::vector<int32_t> link_prev_, link_next_;  // [num_blocks + 1], the last entry is the sentinel
  int64_t num_free_ = 0;
  std::unordered_map<BlockHash, int32_t> by_hash_;
};

}  // namespace nova::engine
