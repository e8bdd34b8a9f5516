#include "engine/kv_block_pool.h"

#include <algorithm>
#include <string>

#include "core/error.h"

namespace nova::engine {

BlockHash hash_block(BlockHash parent, std::span<const int32_t> tokens) {
  // FNV-1a over the parent hash and the token ids, then a final avalanche (splitmix64) so that
  // nearby inputs spread over the whole table.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(parent);
  mix(tokens.size());
  for (int32_t t : tokens) mix(static_cast<uint32_t>(t));
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

KvBlockPool::KvBlockPool(int64_t num_blocks, int64_t block_size) : block_size_(block_size) {
  require(num_blocks > 0 && num_blocks < (int64_t{1} << 31) && block_size > 0, "KvBlockPool",
          "num_blocks (" + std::to_string(num_blocks) + ") and block_size (" + std::to_string(block_size) +
              ") must be positive");
  blocks_.resize(static_cast<size_t>(num_blocks));
  link_prev_.assign(static_cast<size_t>(num_blocks + 1), static_cast<int32_t>(num_blocks));
  link_next_.assign(static_cast<size_t>(num_blocks + 1), static_cast<int32_t>(num_blocks));
  for (int32_t b = 0; b < num_blocks; ++b) push_back(b);
}

void KvBlockPool::check(int32_t block, const char* op) const {
  require(block >= 0 && block < num_blocks(), op,
          "block " + std::to_string(block) + " outside [0, " + std::to_string(num_blocks()) + ")");
}

int KvBlockPool::ref_count(int32_t block) const {
  check(block, "KvBlockPool::ref_count");
  return blocks_[block].refs;
}

bool KvBlockPool::is_cached(int32_t block) const {
  check(block, "KvBlockPool::is_cached");
  return blocks_[block].cached;
}

void KvBlockPool::unlink(int32_t b) {
  link_next_[link_prev_[b]] = link_next_[b];
  link_prev_[link_next_[b]] = link_prev_[b];
  --num_free_;
}

void KvBlockPool::push_back(int32_t b) {
  const auto sentinel = static_cast<int32_t>(num_blocks());
  const int32_t last = link_prev_[sentinel];
  link_next_[last] = b;
  link_prev_[b] = last;
  link_next_[b] = sentinel;
  link_prev_[sentinel] = b;
  ++num_free_;
}

void KvBlockPool::evict(int32_t b) {
  Block& blk = blocks_[b];
  if (!blk.cached) return;
  auto it = by_hash_.find(blk.hash);
  if (it != by_hash_.end() && it->second == b) by_hash_.erase(it);
  blk.cached = false;
  blk.tokens.clear();
}

std::vector<int32_t> KvBlockPool::allocate(int64_t n) {
  require(n >= 0 && n <= num_free_, "KvBlockPool::allocate",
          "asked for " + std::to_string(n) + " blocks, " + std::to_string(num_free_) + " free");
  std::vector<int32_t> out;
  const auto sentinel = static_cast<int32_t>(num_blocks());
  for (int64_t i = 0; i < n; ++i) {
    const int32_t b = link_next_[sentinel];
    unlink(b);
    evict(b);
    blocks_[b].refs = 1;
    out.push_back(b);
  }
  return out;
}

void KvBlockPool::acquire(int32_t block) {
  check(block, "KvBlockPool::acquire");
  Block& b = blocks_[block];
  if (b.refs == 0) {
    require(b.cached, "KvBlockPool::acquire", "block " + std::to_string(block) + " is free and holds no cached prefix");
    unlink(block);
  }
  ++b.refs;
}

void KvBlockPool::release(int32_t block) {
  check(block, "KvBlockPool::release");
  Block& b = blocks_[block];
  require(b.refs > 0, "KvBlockPool::release", "block " + std::to_string(block) + " is not in use");
  if (--b.refs == 0) push_back(block);
}

bool KvBlockPool::register_block(int32_t block, BlockHash hash, BlockHash parent, std::span<const int32_t> tokens) {
  check(block, "KvBlockPool::register_block");
  require(static_cast<int64_t>(tokens.size()) == block_size_, "KvBlockPool::register_block",
          "only full blocks are cached (" + std::to_string(tokens.size()) + " tokens)");
  Block& b = blocks_[block];
  require(b.refs > 0, "KvBlockPool::register_block", "block " + std::to_string(block) + " is not in use");
  if (b.cached || by_hash_.count(hash)) return false;
  b.cached = true;
  b.hash = hash;
  b.parent = parent;
  b.tokens.assign(tokens.begin(), tokens.end());
  by_hash_.emplace(hash, block);
  return true;
}

int32_t KvBlockPool::lookup(BlockHash hash, BlockHash parent, std::span<const int32_t> tokens) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return -1;
  const Block& b = blocks_[it->second];
  if (b.parent != parent || !std::equal(tokens.begin(), tokens.end(), b.tokens.begin(), b.tokens.end())) return -1;
  return it->second;
}

}  // namespace nova::engine
