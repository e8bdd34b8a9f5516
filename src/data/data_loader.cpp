#include "data/data_loader.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "data/index_permutation.h"

namespace nova::data {

namespace {

constexpr uint64_t kOffsetSalt = 0x6f66667365742121ull;
constexpr uint64_t kKeySalt = 0x7065726d75746521ull;

// Fills row `row` of `b` from the stream window [start, start + len + 1), len <= T; the rest of the row
// is padding (id 0, mask 0).
void fill_row(const TokenStream& stream, uint64_t start, uint64_t len, int64_t row, Batch& b,
              std::vector<int32_t>& tokens, std::vector<uint8_t>& loss_mask) {
  const auto T = static_cast<size_t>(b.seq_len);
  tokens.assign(T + 1, 0);
  loss_mask.assign(T + 1, 0);
  stream.copy(start, len + 1, tokens.data(), loss_mask.data());
  const size_t base = static_cast<size_t>(row) * T;
  for (size_t t = 0; t < T; ++t) {
    b.inputs[base + t] = tokens[t];
    b.targets[base + t] = tokens[t + 1];
    b.mask[base + t] = t < len ? loss_mask[t + 1] : 0;
  }
}

Batch empty_batch(int64_t rows, int64_t T) {
  Batch b;
  b.rows = rows;
  b.seq_len = T;
  const auto n = static_cast<size_t>(rows * T);
  b.inputs.assign(n, 0);
  b.targets.assign(n, 0);
  b.mask.assign(n, 0);
  return b;
}

uint64_t get_u64(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) fail(where, std::string("missing key \"") + key + "\"");
  require(it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0), where,
          std::string("\"") + key + "\" must be a non-negative integer");
  return it->get<uint64_t>();
}

}  // namespace

nlohmann::json LoaderCursor::to_json() const {
  // rng_state is a full 64-bit value; JSON readers that use doubles would round it, so it is a string.
  return {{"epoch", epoch}, {"position", position}, {"rng_state", std::to_string(rng_state)},
          {"dataset_tokens", dataset_tokens}};
}

LoaderCursor LoaderCursor::from_json(const nlohmann::json& j, const std::string& where) {
  require(j.is_object(), where, "loader cursor must be a JSON object");
  LoaderCursor c;
  c.epoch = get_u64(j, "epoch", where);
  c.position = get_u64(j, "position", where);
  c.dataset_tokens = get_u64(j, "dataset_tokens", where);
  auto it = j.find("rng_state");
  require(it != j.end(), where, "missing key \"rng_state\"");
  require(it->is_string(), where, "\"rng_state\" must be a decimal string");
  const std::string s = it->get<std::string>();
  require(!s.empty() && s.size() <= 20 && s.find_first_not_of("0123456789") == std::string::npos, where,
          "\"rng_state\" must be a decimal string");
  unsigned long long v = 0;
  try {
    v = std::stoull(s);
  } catch (const std::exception&) {
    fail(where, "\"rng_state\" is out of range");
  }
  c.rng_state = v;
  return c;
}

DataLoader::DataLoader(std::shared_ptr<const TokenStream> stream, LoaderOptions options)
    : stream_(std::move(stream)), options_(options) {
  require(options_.batch_size > 0, "batch_size", "must be positive");
  require(options_.seq_len > 0, "seq_len", "must be positive");
  const auto T = static_cast<uint64_t>(options_.seq_len);
  require(stream_->size() >= T + 1, "seq_len",
          "the data set has " + std::to_string(stream_->size()) + " tokens, fewer than seq_len + 1 = " +
              std::to_string(T + 1));
  cursor_.dataset_tokens = stream_->size();
  begin_epoch(0);
}

DataLoader::Epoch DataLoader::epoch_layout(uint64_t epoch) const {
  const auto T = static_cast<uint64_t>(options_.seq_len);
  const uint64_t n = stream_->size();
  Epoch e;
  // The offset keeps at least one full window: offset <= n - (T + 1).
  if (options_.shuffle) e.offset = splitmix64(options_.seed ^ splitmix64(epoch ^ kOffsetSalt)) % std::min(T, n - T);
  e.windows = (n - 1 - e.offset) / T;
  return e;
}

uint64_t DataLoader::epoch_key(uint64_t epoch) const {
  return options_.shuffle ? splitmix64(options_.seed ^ splitmix64(epoch ^ kKeySalt)) : 0;
}

uint64_t DataLoader::windows_in_epoch(uint64_t epoch) const { return epoch_layout(epoch).windows; }

void DataLoader::begin_epoch(uint64_t epoch) {
  cursor_.epoch = epoch;
  cursor_.position = 0;
  cursor_.rng_state = epoch_key(epoch);
  epoch_ = epoch_layout(epoch);
}

void DataLoader::restore(const LoaderCursor& c) {
  require(c.dataset_tokens == stream_->size(), "loader cursor",
          "saved for a data set of " + std::to_string(c.dataset_tokens) + " tokens, this one has " +
              std::to_string(stream_->size()));
  require(c.rng_state == epoch_key(c.epoch), "loader cursor",
          "RNG state does not match this seed and epoch (the cursor is from a run with another seed or shuffle)");
  const Epoch e = epoch_layout(c.epoch);
  require(c.position < e.windows, "loader cursor",
          "position " + std::to_string(c.position) + " is not inside the " + std::to_string(e.windows) +
              " windows of epoch " + std::to_string(c.epoch));
  cursor_ = c;
  epoch_ = e;
}

Batch DataLoader::next() {
  const auto T = static_cast<uint64_t>(options_.seq_len);
  Batch b = empty_batch(options_.batch_size, options_.seq_len);
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;
  for (int64_t row = 0; row < options_.batch_size; ++row) {
    // Constructing the permutation is a few hashes, so it is rebuilt per row rather than cached.
    const uint64_t window = options_.shuffle ? IndexPermutation(epoch_.windows, cursor_.rng_state)(cursor_.position)
                                             : cursor_.position;
    fill_row(*stream_, epoch_.offset + window * T, T, row, b, tokens, loss_mask);
    // Advance eagerly, so a finished epoch is always saved as the start of the next one.
    if (++cursor_.position == epoch_.windows) begin_epoch(cursor_.epoch + 1);
  }
  return b;
}

SequentialLoader::SequentialLoader(std::shared_ptr<const TokenStream> stream, int64_t batch_size, int64_t seq_len)
    : stream_(std::move(stream)), batch_size_(batch_size), seq_len_(seq_len) {
  require(batch_size_ > 0, "batch_size", "must be positive");
  require(seq_len_ > 0, "seq_len", "must be positive");
  const uint64_t n = stream_->size();
  const auto T = static_cast<uint64_t>(seq_len_);
  windows_ = n < 2 ? 0 : (n - 1 + T - 1) / T;  // ceil((n - 1) / T): the targets are tokens 1 .. n-1
}

std::optional<Batch> SequentialLoader::next() {
  if (next_window_ >= windows_) return std::nullopt;
  const auto T = static_cast<uint64_t>(seq_len_);
  const uint64_t rows = std::min<uint64_t>(static_cast<uint64_t>(batch_size_), windows_ - next_window_);
  Batch b = empty_batch(static_cast<int64_t>(rows), seq_len_);
  std::vector<int32_t> tokens;
  std::vector<uint8_t> loss_mask;
  const uint64_t n = stream_->size();
  for (uint64_t r = 0; r < rows; ++r, ++next_window_) {
    const uint64_t start = next_window_ * T;
    fill_row(*stream_, start, std::min(T, n - 1 - start), static_cast<int64_t>(r), b, tokens, loss_mask);
  }
  return b;
}

}  // namespace nova::data
