#include "data/shard.h"

#include <bit>
#include <cstring>

#include "core/error.h"
#include "core/mapped_file.h"
#include "data/atomic_file.h"

namespace nova::data {

static_assert(std::endian::native == std::endian::little, "shards are little-endian; add byte swapping");

namespace {

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class T>
void store(unsigned char* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

}  // namespace

uint64_t ShardHeader::payload_bytes() const {
  // Overflow-checked by parse_shard before use on untrusted headers.
  return token_count * token_width + (has_loss_mask() ? token_count : 0);
}

uint64_t fnv1a64(const void* data, size_t size, uint64_t state) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) {
    state ^= p[i];
    state *= 0x100000001b3ull;
  }
  return state;
}

uint32_t token_width_for_vocab(uint32_t vocab_size) { return vocab_size <= 65535 ? 2 : 4; }

void write_shard(const std::string& path, std::span<const int32_t> tokens, uint64_t document_count,
                 uint32_t vocab_size, std::span<const uint8_t> loss_mask) {
  require(loss_mask.empty() || loss_mask.size() == tokens.size(), path,
          "loss mask has " + std::to_string(loss_mask.size()) + " entries for " + std::to_string(tokens.size()) +
              " tokens");
  ShardHeader h;
  h.token_width = token_width_for_vocab(vocab_size);
  h.token_count = tokens.size();
  h.document_count = document_count;
  h.flags = loss_mask.empty() ? 0 : kShardFlagLossMask;
  h.vocab_size = vocab_size;

  std::string payload(h.payload_bytes(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(payload.data());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t id = tokens[i];
    if (id < 0 || static_cast<uint32_t>(id) >= vocab_size)
      fail(path, "token id " + std::to_string(id) + " at position " + std::to_string(i) +
                     " is outside the vocabulary of " + std::to_string(vocab_size));
    if (h.token_width == 2)
      store<uint16_t>(out + 2 * i, static_cast<uint16_t>(id));
    else
      store<uint32_t>(out + 4 * i, static_cast<uint32_t>(id));
  }
  for (size_t i = 0; i < loss_mask.size(); ++i) {
    require(loss_mask[i] <= 1, path, "loss mask values must be 0 or 1");
    out[tokens.size() * h.token_width + i] = loss_mask[i];
  }
  h.checksum = fnv1a64(payload.data(), payload.size());

  unsigned char header[kShardHeaderBytes] = {};
  std::memcpy(header, kShardMagic, 8);
  store<uint32_t>(header + 8, h.version);
  store<uint32_t>(header + 12, h.token_width);
  store<uint64_t>(header + 16, h.token_count);
  store<uint64_t>(header + 24, h.document_count);
  store<uint64_t>(header + 32, h.checksum);
  store<uint32_t>(header + 40, h.flags);
  store<uint32_t>(header + 44, h.vocab_size);
  write_file_atomically(path, {std::string_view(reinterpret_cast<const char*>(header), sizeof header), payload});
}

ShardHeader parse_shard(std::span<const unsigned char> bytes, const std::string& where, bool verify_checksum) {
  if (bytes.size() < kShardHeaderBytes)
    fail(where, "truncated shard: " + std::to_string(bytes.size()) + " bytes, shorter than the " +
                    std::to_string(kShardHeaderBytes) + "-byte header");
  const unsigned char* p = bytes.data();
  require(std::memcmp(p, kShardMagic, 8) == 0, where, "not a shard: bad magic (expected \"NOVASHRD\")");
  ShardHeader h;
  h.version = load<uint32_t>(p + 8);
  h.token_width = load<uint32_t>(p + 12);
  h.token_count = load<uint64_t>(p + 16);
  h.document_count = load<uint64_t>(p + 24);
  h.checksum = load<uint64_t>(p + 32);
  h.flags = load<uint32_t>(p + 40);
  h.vocab_size = load<uint32_t>(p + 44);
  require(h.version == kShardVersion, where,
          "unsupported shard version " + std::to_string(h.version) + " (this build reads version 1)");
  require(h.token_width == 2 || h.token_width == 4, where,
          "bad token width " + std::to_string(h.token_width) + " (expected 2 or 4)");
  require((h.flags & ~kShardFlagLossMask) == 0, where, "unknown flag bits " + std::to_string(h.flags));
  for (size_t i = 48; i < kShardHeaderBytes; ++i)
    require(p[i] == 0, where, "corrupted header: reserved byte " + std::to_string(i) + " is not zero");
  require(h.token_width == token_width_for_vocab(h.vocab_size) && h.vocab_size > 0, where,
          "corrupted header: token width " + std::to_string(h.token_width) + " does not match vocab size " +
              std::to_string(h.vocab_size));
  const uint64_t per_token = h.token_width + (h.has_loss_mask() ? 1 : 0);
  const uint64_t available = bytes.size() - kShardHeaderBytes;
  if (h.token_count > available / per_token || h.token_count * per_token != available) {
    const bool short_file = h.token_count > available / per_token;
    fail(where, std::string(short_file ? "truncated shard" : "corrupted shard") + ": header says " +
                    std::to_string(h.token_count) + " tokens (" +
                    (short_file ? std::string("more than fit in") : std::to_string(h.token_count * per_token)) +
                    " payload bytes" + (short_file ? "" : " expected") + "), file has " + std::to_string(available) +
                    " payload bytes");
  }
  require(h.document_count <= h.token_count, where,
          "corrupted header: " + std::to_string(h.document_count) + " documents in " +
              std::to_string(h.token_count) + " tokens");
  if (verify_checksum) {
    const uint64_t sum = fnv1a64(p + kShardHeaderBytes, available);
    require(sum == h.checksum, where, "checksum mismatch: the payload is corrupted");
    // Ids are checked once here so that a reader of a verified shard never sees an out-of-vocabulary id.
    const unsigned char* t = p + kShardHeaderBytes;
    for (uint64_t i = 0; i < h.token_count; ++i) {
      const uint32_t id = h.token_width == 2 ? load<uint16_t>(t + 2 * i) : load<uint32_t>(t + 4 * i);
      if (id >= h.vocab_size)
        fail(where, "token id " + std::to_string(id) + " at position " + std::to_string(i) +
                        " is outside the vocabulary of " + std::to_string(h.vocab_size));
    }
    if (h.has_loss_mask()) {
      const unsigned char* m = t + h.token_count * h.token_width;
      for (uint64_t i = 0; i < h.token_count; ++i)
        require(m[i] <= 1, where, "loss mask byte at position " + std::to_string(i) + " is not 0 or 1");
    }
  }
  return h;
}

Shard Shard::open(const std::string& path, bool verify_checksum) {
  Shard s;
  s.file_ = MappedFile::open(path);
  s.header_ = parse_shard({s.file_->data(), s.file_->size()}, path, verify_checksum);
  s.tokens_ = s.file_->data() + kShardHeaderBytes;
  if (s.header_.has_loss_mask()) s.mask_ = s.tokens_ + s.header_.token_count * s.header_.token_width;
  return s;
}

const std::string& Shard::path() const { return file_->path(); }

int32_t Shard::token(uint64_t i) const {
  return header_.token_width == 2 ? static_cast<int32_t>(load<uint16_t>(tokens_ + 2 * i))
                                  : static_cast<int32_t>(load<uint32_t>(tokens_ + 4 * i));
}

void Shard::copy_tokens(uint64_t begin, uint64_t count, int32_t* out) const {
  if (header_.token_width == 2) {
    for (uint64_t i = 0; i < count; ++i) out[i] = load<uint16_t>(tokens_ + 2 * (begin + i));
  } else {
    for (uint64_t i = 0; i < count; ++i) out[i] = static_cast<int32_t>(load<uint32_t>(tokens_ + 4 * (begin + i)));
  }
}

void Shard::copy_loss_mask(uint64_t begin, uint64_t count, uint8_t* out) const {
  if (mask_)
    std::memcpy(out, mask_ + begin, count);
  else
    std::memset(out, 1, count);
}

std::vector<int32_t> Shard::tokens() const {
  std::vector<int32_t> v(size());
  copy_tokens(0, size(), v.data());
  return v;
}

}  // namespace nova::data
