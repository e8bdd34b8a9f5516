#include "serve/limits/token_bucket.h"

#include <algorithm>
#include <limits>

namespace nova::serve::limits {

void refill(BucketState& s, double capacity, double now) {
  if (!s.initialized) {
    s = {capacity, now, true};
    return;
  }
  if (now > s.updated) s.tokens += (now - s.updated) * (capacity / 60.0);
  s.tokens = std::min(s.tokens, capacity);  // also applies a lowered limit at once
  s.updated = std::max(s.updated, now);
}

double seconds_until(double tokens, double capacity, double cost) {
  if (cost <= tokens) return 0;
  if (cost > capacity) return std::numeric_limits<double>::infinity();
  return (cost - tokens) / (capacity / 60.0);
}

bool try_take(BucketState& s, double capacity, double now, double cost) {
  refill(s, capacity, now);
  if (cost > s.tokens) return false;
  s.tokens -= cost;
  return true;
}

void give_back(BucketState& s, double capacity, double now, double amount) {
  refill(s, capacity, now);
  s.tokens = std::min(capacity, s.tokens + std::max(0.0, amount));
}

}  // namespace nova::serve::limits
