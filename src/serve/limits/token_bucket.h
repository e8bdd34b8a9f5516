// The token-bucket arithmetic shared by the in-memory limiter (and mirrored by the Redis Lua
// script): capacity = the per-minute limit, refilled continuously at capacity/60 per second.
#pragma once

#include <cstdint>

namespace nova::serve::limits {

struct BucketState {
  double tokens = 0;
  double updated = 0;   // seconds on the limiter's clock
  bool initialized = false;  // a bucket never seen starts full
};

// Brings `s` up to `now`: adds the refill since `updated`, capped at `capacity`. A clock that
// went backwards adds nothing.
void refill(BucketState& s, double capacity, double now);

// Seconds until a bucket holding `tokens` can pay `cost`; 0 when it can now, +inf when the cost
// exceeds the capacity (it never can).
double seconds_until(double tokens, double capacity, double cost);

// Refill, then take `cost` if the bucket holds that much. Returns whether it did.
bool try_take(BucketState& s, double capacity, double now, double cost);

// Refill, then return `amount` tokens (capped at capacity): refunds of unused reservations.
void give_back(BucketState& s, double capacity, double now, double amount);

}  // namespace nova::serve::limits
