// Keys in one JSON file: {"version": 1, "keys": [{id, name, role, created, limits, revoked, sha256}]}.
// Every change rewrites the file atomically (temporary file with mode 0600, fsync, rename), under
// an advisory lock (<path>.lock) so two processes cannot lose each other's writes; readers pick up
// changes made by other processes when the file's mtime/size/inode change.
#pragma once

#include <mutex>
#include <string>
#include <sys/types.h>
#include <vector>

#include "serve/auth/key_store.h"

namespace nova::serve::auth {

class JsonKeyStore : public KeyStore {
 public:
  // A missing file is an empty store (created on the first insert); a malformed one throws.
  explicit JsonKeyStore(std::string path);

  void insert(const ApiKeyRecord& record) override;
  std::optional<ApiKeyRecord> find(std::string_view id) const override;
  std::vector<ApiKeyRecord> list() const override;
  bool revoke(std::string_view id) override;

  const std::string& path() const { return path_; }

 private:
  struct FileStamp {
    bool exists = false;
    ino_t inode = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
  };
  FileStamp stamp() const;
  void reload_if_changed_locked() const;
  void write_locked(const std::vector<ApiKeyRecord>& keys);

  std::string path_;
  mutable std::mutex mu_;
  mutable std::vector<ApiKeyRecord> keys_;
  mutable FileStamp loaded_;
};

}  // namespace nova::serve::auth
