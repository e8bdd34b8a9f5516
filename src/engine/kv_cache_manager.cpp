#include "engine/kv_cache_manager.h"

#include <string>

#include "core/error.h"

namespace nova::engine {

KvCacheManager::KvCacheManager(int64_t num_blocks, int64_t block_size, bool prefix_caching)
    : pool_(num_blocks, block_size), prefix_caching_(prefix_caching) {}

PrefixMatch KvCacheManager::match_prefix(std::span<const int32_t> tokens) const {
  PrefixMatch m;
  if (!prefix_caching_ || tokens.empty()) return m;
  const int64_t bs = block_size();
  // A fully cached prompt still needs its last token run for the logits; rather than rewrite a
  // shared block, the last block is then recomputed into a private one.
  const int64_t full = (static_cast<int64_t>(tokens.size()) - 1) / bs;
  m.queried = full;
  BlockHash parent = 0;
  for (int64_t b = 0; b < full; ++b) {
    const auto chunk = tokens.subspan(static_cast<size_t>(b * bs), static_cast<size_t>(bs));
    const BlockHash h = hash_block(parent, chunk);
    const int32_t block = pool_.lookup(h, parent, chunk);
    if (block < 0) break;
    m.blocks.push_back(block);
    m.hashes.push_back(h);
    parent = h;
  }
  return m;
}

bool KvCacheManager::allocate(uint64_t seq, int64_t total_tokens, const PrefixMatch* prefix) {
  auto it = seqs_.find(seq);
  const bool fresh = it == seqs_.end();
  const int64_t have = fresh ? 0 : static_cast<int64_t>(it->second.table.size());
  const int64_t reuse = fresh && prefix ? static_cast<int64_t>(prefix->blocks.size()) : 0;
  const int64_t need = blocks_for(total_tokens) - have - reuse;
  // Reused blocks nobody holds now are on the free list: taking them shrinks it.
  int64_t reuse_free = 0;
  for (int64_t i = 0; i < reuse; ++i) reuse_free += pool_.ref_count(prefix->blocks[i]) == 0;
  if (need > 0 && need > pool_.num_free() - reuse_free) return false;

  SeqBlocks& s = fresh ? seqs_[seq] : it->second;
  if (fresh && prefix) {
    for (int32_t b : prefix->blocks) pool_.acquire(b);
    s.table = prefix->blocks;
    s.hashes = prefix->hashes;
    queries_ += prefix->queried;
    hits_ += reuse;
  }
  if (need > 0) {
    const std::vector<int32_t> fresh_blocks = pool_.allocate(need);
    s.table.insert(s.table.end(), fresh_blocks.begin(), fresh_blocks.end());
  }
  return true;
}

void KvCacheManager::commit(uint64_t seq, std::span<const int32_t> tokens, int64_t computed) {
  auto it = seqs_.find(seq);
  require(it != seqs_.end(), "KvCacheManager::commit", "unknown sequence " + std::to_string(seq));
  SeqBlocks& s = it->second;
  require(computed >= 0 && computed <= static_cast<int64_t>(tokens.size()) &&
              blocks_for(computed) <= static_cast<int64_t>(s.table.size()),
          "KvCacheManager::commit", "sequence " + std::to_string(seq) + ": " + std::to_string(computed) +
                                        " computed tokens do not fit its blocks");
  if (!prefix_caching_) return;
  const int64_t bs = block_size();
  for (auto b = static_cast<int64_t>(s.hashes.size()); b < computed / bs; ++b) {
    const BlockHash parent = b == 0 ? 0 : s.hashes[b - 1];
    const auto chunk = tokens.subspan(static_cast<size_t>(b * bs), static_cast<size_t>(bs));
    const BlockHash h = hash_block(parent, chunk);
    pool_.register_block(s.table[b], h, parent, chunk);  // false: the same content is cached already
    s.hashes.push_back(h);
  }
}

void KvCacheManager::free(uint64_t seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return;
  for (auto b = it->second.table.rbegin(); b != it->second.table.rend(); ++b) pool_.release(*b);
  seqs_.erase(it);
}

const std::vector<int32_t>& KvCacheManager::table(uint64_t seq) const {
  auto it = seqs_.find(seq);
  require(it != seqs_.end(), "KvCacheManager::table", "unknown sequence " + std::to_string(seq));
  return it->second.table;
}

KvStats KvCacheManager::stats() const {
  KvStats s;
  s.total_blocks = pool_.num_blocks();
  s.used_blocks = pool_.num_used();
  s.cached_blocks = pool_.num_cached();
  s.prefix_queries = queries_;
  s.prefix_hits = hits_;
  return s;
}

}  // namespace nova::engine
