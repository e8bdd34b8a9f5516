// Keys in a SQLite database (table api_keys), for deployments where several server processes
// share one key set. Only prepared statements with bound parameters touch the database. The
// database file is created with mode 0600.
#pragma once

#include <mutex>
#include <string>

#include "serve/auth/key_store.h"

struct sqlite3;

namespace nova::serve::auth {

class SqliteKeyStore : public KeyStore {
 public:
  explicit SqliteKeyStore(const std::string& path);
  ~SqliteKeyStore() override;
  SqliteKeyStore(const SqliteKeyStore&) = delete;
  SqliteKeyStore& operator=(const SqliteKeyStore&) = delete;

  void insert(const ApiKeyRecord& record) override;
  std::optional<ApiKeyRecord> find(std::string_view id) const override;
  std::vector<ApiKeyRecord> list() const override;
  bool revoke(std::string_view id) override;

 private:
  bool find_unlocked_exists(std::string_view id) const;

  std::string path_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mu_;  // one connection, used by one thread at a time
};

}  // namespace nova::serve::auth
