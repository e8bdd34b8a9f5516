// A seeded pseudo-random permutation of [0, n) evaluated one index at a time, in O(1) memory: a 4-round
// Feistel network on the smallest even-bit power-of-two domain >= n, with cycle walking to stay below n.
// Used to shuffle window positions of data sets far too large to hold a permutation table for.
#pragma once

#include <cstdint>

namespace nova::data {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class IndexPermutation {
 public:
  IndexPermutation(uint64_t n, uint64_t key) : n_(n) {
    half_bits_ = 1;
    while (half_bits_ < 32 && (uint64_t{1} << (2 * half_bits_)) < n) ++half_bits_;
    half_mask_ = (uint64_t{1} << half_bits_) - 1;
    for (int r = 0; r < 4; ++r) keys_[r] = splitmix64(key + static_cast<uint64_t>(r) * 0x632be59bd9b4e019ull);
  }

  uint64_t size() const { return n_; }

  // The image of i (i < size()); distinct i give distinct results, all < size().
  uint64_t operator()(uint64_t i) const {
    uint64_t x = i;
    do x = encrypt(x);
    while (x >= n_);  // the domain is < 4n, so this walks a few steps on average
    return x;
  }

 private:
  uint64_t encrypt(uint64_t x) const {
    uint64_t left = x >> half_bits_, right = x & half_mask_;
    for (uint64_t k : keys_) {
      const uint64_t next = left ^ (splitmix64(right ^ k) & half_mask_);
      left = right;
      right = next;
    }
    return (left << half_bits_) | right;
  }

  uint64_t n_;
  int half_bits_;
  uint64_t half_mask_;
  uint64_t keys_[4];
};

}  // namespace nova::data
