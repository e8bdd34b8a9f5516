// Writing safetensors files atomically: a temporary file in the same directory, then rename(2),
// so a crash never leaves a half-written checkpoint under the final name.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"

namespace nova::formats {
namespace {

// Owns the temporary file until commit(); removes it on any failure.
class TempFile {
 public:
  explicit TempFile(const std::string& final_path) : final_(final_path) {
    static std::atomic<unsigned> counter{0};
    tmp_ = final_path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) fail(final_, std::string("cannot create temporary file: ") + std::strerror(errno));
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(tmp_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  void write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) fail(final_, std::string("write failed: ") + std::strerror(errno));
      p += w;
      n -= static_cast<size_t>(w);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) fail(final_, std::string("fsync failed: ") + std::strerror(errno));
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) fail(final_, std::string("close failed: ") + std::strerror(errno));
    if (::rename(tmp_.c_str(), final_.c_str()) != 0)
      fail(final_, std::string("cannot rename temporary file into place: ") + std::strerror(errno));
    committed_ = true;
  }

 private:
  std::string final_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Descending element size keeps every tensor aligned to its element size (the data section
  // starts 8-aligned); name breaks ties so that output is deterministic.
  std::vector<std::pair<const std::string*, const Tensor*>> order;
  for (const auto& [name, t] : tensors) {
    require(name != "__metadata__", path, "a tensor cannot be named \"__metadata__\"");
    require(t.is_contiguous(), path, "tensor '" + name + "' is not contiguous");
    require(t.numel() == 0 || !t.empty(), path, "tensor '" + name + "' has no data");
    order.emplace_back(&name, &t);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return dtype_size(a.second->dtype()) > dtype_size(b.second->dtype());
  });

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : order) {
    const uint64_t n = t->nbytes();
    header[*name] = {{"dtype", std::string(dtype_name(t->dtype()))},
                     {"shape", t->shape()},
                     {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {  // e.g. a tensor name that is not UTF-8
    fail(path, std::string("cannot encode header: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // trailing spaces are valid JSON whitespace

  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(uint64_t{text.size()} >> (8 * i));

  TempFile out(path);
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const auto& [name, t] : order)
    if (t->nbytes()) out.write(t->data(), t->nbytes());
  out.commit();
}

}  // namespace nova::formats
