// Where API key records live. Two implementations: a JSON keys file (json_key_store.h) for a
// single host, SQLite (sqlite_key_store.h) when several processes share one database file.
// Implementations are thread-safe.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "serve/auth/api_key.h"

namespace nova::serve::auth {

class KeyStore {
 public:
  virtual ~KeyStore() = default;
  // Throws nova::Error when the id is taken or the store cannot be written.
  virtual void insert(const ApiKeyRecord& record) = 0;
  virtual std::optional<ApiKeyRecord> find(std::string_view id) const = 0;
  virtual std::vector<ApiKeyRecord> list() const = 0;  // ordered by creation, then id
  // false when no key has that id; revoking twice is not an error.
  virtual bool revoke(std::string_view id) = 0;
};

}  // namespace nova::serve::auth
