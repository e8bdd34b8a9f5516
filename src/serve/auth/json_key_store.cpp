#include "serve/auth/json_key_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/mapped_file.h"

namespace nova::serve::auth {

namespace {

// Holds flock(LOCK_EX) on <path>.lock for the lifetime of the object.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    fd_ = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0) fail(path + ".lock", std::string("cannot open lock file: ") + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) {
        ::close(fd_);
        fail(path + ".lock", std::string("cannot lock: ") + std::strerror(errno));
      }
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

void write_all(int fd, const std::string& bytes, const std::string& where) {
  size_t off = 0;
  while (off < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(where, std::string("write failed: ") + std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
}

bool by_creation(const ApiKeyRecord& a, const ApiKeyRecord& b) {
  return a.created != b.created ? a.created < b.created : a.id < b.id;
}

}  // namespace

JsonKeyStore::JsonKeyStore(std::string path) : path_(std::move(path)) {
  std::lock_guard lock(mu_);
  reload_if_changed_locked();
}

JsonKeyStore::FileStamp JsonKeyStore::stamp() const {
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) return {};
  return {true, st.st_ino, st.st_size, int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec};
}

void JsonKeyStore::reload_if_changed_locked() const {
  const FileStamp now = stamp();
  if (now == loaded_) return;
  std::vector<ApiKeyRecord> keys;
  if (now.exists) {
    const std::string text = read_text_file(path_);
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      fail(path_, std::string("not valid JSON: ") + e.what());
    }
    if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array())
      fail(path_, "expected an object with a \"keys\" array");
    for (size_t i = 0; i < doc["keys"].size(); ++i) {
      keys.push_back(record_from_json(doc["keys"][i], path_ + ": keys[" + std::to_string(i) + "]"));
      for (size_t k = 0; k + 1 < keys.size(); ++k)
        if (keys[k].id == keys.back().id) fail(path_, "duplicate key id " + keys.back().id);
    }
  }
  std::sort(keys.begin(), keys.end(), by_creation);
  keys_ = std::move(keys);
  loaded_ = now;
}

void JsonKeyStore::write_locked(const std::vector<ApiKeyRecord>& keys) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& k : keys) arr.push_back(record_to_json(k, /*include_hash=*/true));
  const std::string text = nlohmann::json{{"version", 1}, {"keys", std::move(arr)}}.dump(2) + "\n";

  const std::string tmp = path_ + ".tmp." + std::to_string(::getpid());
  // O_EXCL + 0600: the file is private from its first byte (no window with a wider mode).
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) fail(tmp, std::string("cannot create: ") + std::strerror(errno));
  try {
    write_all(fd, text, tmp);
    if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) fail(tmp, std::string("fsync failed: ") + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(path_, std::string("cannot replace: ") + std::strerror(err));
  }
  // Make the rename durable.
  const std::string dir = std::filesystem::path(path_).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  keys_ = keys;
  std::sort(keys_.begin(), keys_.end(), by_creation);
  loaded_ = stamp();
}

void JsonKeyStore::insert(const ApiKeyRecord& record) {
  std::lock_guard lock(mu_);
  FileLock file_lock(path_);
  reload_if_changed_locked();
  for (const auto& k : keys_)
    if (k.id == record.id) fail(path_, "key id " + record.id + " already exists");
  auto keys = keys_;
  keys.push_back(record);
  write_locked(keys);
}

std::optional<ApiKeyRecord> JsonKeyStore::find(std::string_view id) const {
  std::lock_guard lock(mu_);
  reload_if_changed_locked();
  for (const auto& k : keys_)
    if (k.id == id) return k;
  return std::nullopt;
}

std::vector<ApiKeyRecord> JsonKeyStore::list() const {
  std::lock_guard lock(mu_);
  reload_if_changed_locked();
  return keys_;
}

bool JsonKeyStore::revoke(std::string_view id) {
  std::lock_guard lock(mu_);
  FileLock file_lock(path_);
  reload_if_changed_locked();
  auto keys = keys_;
  auto it = std::find_if(keys.begin(), keys.end(), [&](const ApiKeyRecord& k) { return k.id == id; });
  if (it == keys.end()) return false;
  if (it->revoked) return true;
  it->revoked = true;
  write_locked(keys);
  return true;
}

}  // namespace nova::serve::auth
