// Writing a file so that readers see either the old contents or the complete new ones, never a part:
// the bytes go to a temporary file in the same directory, are flushed to disk, and renamed into place.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace nova::data {

// Writes the concatenation of `parts` to `path` atomically. Throws nova::Error naming `path`.
void write_file_atomically(const std::string& path, std::initializer_list<std::string_view> parts);

}  // namespace nova::data
