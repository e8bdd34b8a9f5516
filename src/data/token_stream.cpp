#include "data/token_stream.h"

#include <algorithm>
#include <cassert>

#include "core/error.h"
#include "data/manifest.h"

namespace nova::data {

TokenStream::TokenStream(std::vector<Shard> shards) {
  for (Shard& s : shards) {
    if (s.size() == 0) continue;
    if (vocab_size_ == 0) vocab_size_ = s.header().vocab_size;
    require(s.header().vocab_size == vocab_size_, s.path(),
            "vocab size " + std::to_string(s.header().vocab_size) + " differs from the other shards' " +
                std::to_string(vocab_size_));
    starts_.push_back(total_);
    total_ += s.size();
    shards_.push_back(std::move(s));
  }
}

TokenStream TokenStream::open(const std::vector<std::string>& paths, bool verify_checksum) {
  std::vector<Shard> shards;
  shards.reserve(paths.size());
  for (const auto& p : paths) shards.push_back(Shard::open(p, verify_checksum));
  return TokenStream(std::move(shards));
}

TokenStream TokenStream::open_manifest(const std::string& manifest_path, const std::string& split,
                                       bool verify_checksum) {
  const Manifest m = Manifest::load(manifest_path);
  const std::vector<std::string> paths = m.shard_paths(manifest_path, split);
  const auto& entries = (split == "train" ? m.train : m.val).shards;
  std::vector<Shard> shards;
  for (size_t i = 0; i < paths.size(); ++i) {
    shards.push_back(Shard::open(paths[i], verify_checksum));
    // The manifest and the shard must agree, or the shard was replaced after preparing.
    require(shards.back().size() == entries[i].tokens, paths[i],
            "has " + std::to_string(shards.back().size()) + " tokens but " + manifest_path + " says " +
                std::to_string(entries[i].tokens));
  }
  return TokenStream(std::move(shards));
}

void TokenStream::copy(uint64_t begin, uint64_t count, int32_t* tokens, uint8_t* loss_mask) const {
  assert(begin + count <= total_);
  // The shard holding `begin`: the last one starting at or before it.
  size_t i = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), begin) - starts_.begin()) - 1;
  while (count > 0) {
    const uint64_t local = begin - starts_[i];
    const uint64_t n = std::min(count, shards_[i].size() - local);
    shards_[i].copy_tokens(local, n, tokens);
    if (loss_mask) {
      shards_[i].copy_loss_mask(local, n, loss_mask);
      loss_mask += n;
    }
    tokens += n;
    begin += n;
    count -= n;
    ++i;
  }
}

}  // namespace nova::data
