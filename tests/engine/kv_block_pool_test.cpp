#include "engine/kv_block_pool.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"
#include "engine/kv_cache_manager.h"

namespace nova::engine {
namespace {

TEST(KvBlockPool, RefCountsAndFreeList) {
  KvBlockPool pool(4, 2);
  EXPECT_EQ(pool.num_free(), 4);
  const auto a = pool.allocate(3);
  EXPECT_EQ(a, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_EQ(pool.num_used(), 3);
  EXPECT_THROW(pool.allocate(2), Error);
  EXPECT_EQ(pool.num_free(), 1);  // a failed allocation takes nothing
  EXPECT_THROW(pool.acquire(3), Error);  // free and not cached: nothing to share
  pool.release(1);
  EXPECT_EQ(pool.ref_count(1), 0);
  EXPECT_THROW(pool.release(1), Error);
  EXPECT_THROW(pool.release(7), Error);
  // The free list is FIFO: 3 was free first, then 1.
  EXPECT_EQ(pool.allocate(2), (std::vector<int32_t>{3, 1}));
}

TEST(KvBlockPool, CachedBlocksAreReusedUntilEvictedInLruOrder) {
  KvBlockPool pool(3, 2);
  const auto b = pool.allocate(3);
  const std::vector<int32_t> t0 = {1, 2}, t1 = {3, 4}, t2 = {5, 6};
  const BlockHash h0 = hash_block(0, t0), h1 = hash_block(h0, t1), h2 = hash_block(h1, t2);
  EXPECT_TRUE(pool.register_block(b[0], h0, 0, t0));
  EXPECT_TRUE(pool.register_block(b[1], h1, h0, t1));
  EXPECT_TRUE(pool.register_block(b[2], h2, h1, t2));
  EXPECT_FALSE(pool.register_block(b[2], h2, h1, t2));  // already registered
  EXPECT_EQ(pool.num_cached(), 3);
  EXPECT_EQ(pool.lookup(h1, h0, t1), b[1]);
  EXPECT_EQ(pool.lookup(h1, h0, t0), -1);  // a hash hit with other tokens is no hit
  EXPECT_EQ(pool.lookup(h1, 12345, t1), -1);
  EXPECT_THROW(pool.register_block(b[0], 9, 0, std::vector<int32_t>{1}), Error);  // not full

  for (int32_t x : {b[2], b[1], b[0]}) pool.release(x);  // tail first: b[2] is least recently used
  EXPECT_EQ(pool.num_free(), 3);
  EXPECT_EQ(pool.num_cached(), 3);
  pool.acquire(b[1]);  // a hit takes a free cached block back
  EXPECT_EQ(pool.ref_count(b[1]), 1);
  EXPECT_EQ(pool.num_free(), 2);
  EXPECT_EQ(pool.allocate(1), (std::vector<int32_t>{b[2]}));  // evicts the LRU one
  EXPECT_EQ(pool.lookup(h2, h1, t2), -1);
  EXPECT_EQ(pool.lookup(h0, 0, t0), b[0]);
  EXPECT_EQ(pool.num_cached(), 2);
}

TEST(KvBlockPool, HashChainsDependOnParentAndOrder) {
  const std::vector<int32_t> a = {1, 2}, b = {2, 1};
  EXPECT_NE(hash_block(0, a), hash_block(0, b));
  EXPECT_NE(hash_block(0, a), hash_block(1, a));
  EXPECT_EQ(hash_block(7, a), hash_block(7, a));
  EXPECT_THROW(KvBlockPool(0, 4), Error);
  EXPECT_THROW(KvBlockPool(4, 0), Error);
}

std::vector<int32_t> iota_tokens(int n, int start) {
  std::vector<int32_t> v;
  for (int i = 0; i < n; ++i) v.push_back(start + i);
  return v;
}

TEST(KvCacheManager, SharedPrefixReusesBlocksAndCountsHits) {
  KvCacheManager kv(16, 4, true);
  auto p1 = iota_tokens(10, 100);  // 2 full blocks + 2
  EXPECT_TRUE(kv.match_prefix(p1).blocks.empty());
  ASSERT_TRUE(kv.allocate(1, 10, nullptr));
  EXPECT_EQ(kv.table(1).size(), 3u);
  kv.commit(1, p1, 10);
  EXPECT_EQ(kv.stats().cached_blocks, 2);

  auto p2 = p1;
  p2.resize(8);
  for (int32_t t : {7, 7, 7}) p2.push_back(t);  // same two blocks, then different
  const PrefixMatch m = kv.match_prefix(p2);
  EXPECT_EQ(m.blocks, (std::vector<int32_t>{kv.table(1)[0], kv.table(1)[1]}));
  ASSERT_TRUE(kv.allocate(2, 11, &m));
  EXPECT_EQ(kv.table(2)[0], kv.table(1)[0]);
  EXPECT_EQ(kv.pool().ref_count(kv.table(1)[0]), 2);
  EXPECT_EQ(kv.stats().prefix_hits, 2);
  EXPECT_EQ(kv.stats().prefix_queries, 2);
  EXPECT_EQ(kv.stats().used_blocks, 4);

  // A prompt that is exactly cached still leaves its last block to compute.
  auto p3 = p1;
  p3.resize(8);
  EXPECT_EQ(kv.match_prefix(p3).blocks.size(), 1u);
  // Different first block: nothing, even though the second block's tokens match.
  auto p4 = p1;
  p4[0] = 5;
  EXPECT_TRUE(kv.match_prefix(p4).blocks.empty());

  kv.free(1);
  EXPECT_EQ(kv.pool().ref_count(kv.table(2)[0]), 1);
  kv.free(2);
  EXPECT_EQ(kv.stats().used_blocks, 0);
  EXPECT_EQ(kv.stats().cached_blocks, 2);  // still reusable after both finished
  EXPECT_EQ(kv.match_prefix(p1).blocks.size(), 2u);
}

TEST(KvCacheManager, AllocationFailureChangesNothingAndGrowthIsIncremental) {
  KvCacheManager kv(4, 4, true);
  ASSERT_TRUE(kv.allocate(1, 5));
  EXPECT_EQ(kv.table(1).size(), 2u);
  ASSERT_TRUE(kv.allocate(1, 8));  // still fits its two blocks
  EXPECT_EQ(kv.table(1).size(), 2u);
  EXPECT_FALSE(kv.allocate(2, 12));
  EXPECT_FALSE(kv.has(2));
  EXPECT_EQ(kv.stats().used_blocks, 2);
  ASSERT_TRUE(kv.allocate(1, 9));
  EXPECT_EQ(kv.table(1).size(), 3u);
  EXPECT_THROW(kv.table(9), Error);
  EXPECT_THROW(kv.commit(1, iota_tokens(9, 0), 13), Error);
}

TEST(KvCacheManager, NoCachingWhenDisabled) {
  KvCacheManager kv(8, 2, false);
  const auto p = iota_tokens(6, 0);
  ASSERT_TRUE(kv.allocate(1, 6));
  kv.commit(1, p, 6);
  EXPECT_EQ(kv.stats().cached_blocks, 0);
  EXPECT_TRUE(kv.match_prefix(p).blocks.empty());
}

}  // namespace
}  // namespace nova::engine
