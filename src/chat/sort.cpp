#include "chat/sort.h"

#include <numeric>

namespace nova::chat {

void stable_sort_values(List& items, const std::function<Value(const Value&)>& key, bool reverse) {
  const size_t n = items.size();
  List keys;
  keys.reserve(n);
  for (const Value& v : items) keys.push_back(key(v));
  // `before(a, b)`: a must come first. With reverse, equal keys keep their order, as in Python.
  auto before = [&](size_t a, size_t b) { return reverse ? compare(keys[b], keys[a]) < 0 : compare(keys[a], keys[b]) < 0; };
  std::vector<size_t> idx(n), tmp(n);
  std::iota(idx.begin(), idx.end(), size_t{0});
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      const size_t mid = std::min(lo + width, n), hi = std::min(lo + 2 * width, n);
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) tmp[k++] = before(idx[j], idx[i]) ? idx[j++] : idx[i++];
      while (i < mid) tmp[k++] = idx[i++];
      while (j < hi) tmp[k++] = idx[j++];
    }
    idx.swap(tmp);
  }
  List out;
  out.reserve(n);
  for (size_t i : idx) out.push_back(std::move(items[i]));
  items = std::move(out);
}

}  // namespace nova::chat
