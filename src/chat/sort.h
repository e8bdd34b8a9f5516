// Python's sorted(items, key=..., reverse=...): stable, comparing keys with Python's `<`
// (which throws for unorderable types, so a plain merge sort that tolerates that is used).
#pragma once

#include <functional>

#include "chat/value.h"

namespace nova::chat {

void stable_sort_values(List& items, const std::function<Value(const Value&)>& key, bool reverse);

}  // namespace nova::chat
