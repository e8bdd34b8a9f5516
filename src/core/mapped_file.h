// A read-only memory map of a whole file: checkpoints are read through it zero-copy.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace nova {

class MappedFile {
 public:
  // Throws nova::Error naming `path` if it cannot be opened or mapped.
  static std::shared_ptr<const MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const unsigned char* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string; throws nova::Error naming the path.
std::string read_text_file(const std::string& path);

}  // namespace nova
