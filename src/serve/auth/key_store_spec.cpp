#include "serve/auth/key_store_spec.h"

#include "core/error.h"
#include "serve/auth/json_key_store.h"
#include "serve/auth/sqlite_key_store.h"

namespace nova::serve::auth {

namespace {
constexpr std::string_view kSqlitePrefix = "sqlite:";
bool is_sqlite(const std::string& spec) { return spec.rfind(kSqlitePrefix, 0) == 0; }
}  // namespace

std::shared_ptr<KeyStore> open_key_store(const std::string& spec) {
  require(!spec.empty(), "api keys", "no key store given (a keys file path or sqlite:PATH)");
  if (is_sqlite(spec)) {
    const std::string path = spec.substr(kSqlitePrefix.size());
    require(!path.empty(), "api keys", "'sqlite:' needs a database path, e.g. sqlite:/var/lib/nova/keys.db");
    return std::make_shared<SqliteKeyStore>(path);
  }
  return std::make_shared<JsonKeyStore>(spec);
}

std::string describe_key_store(const std::string& spec) {
  if (is_sqlite(spec)) return "SQLite database " + spec.substr(kSqlitePrefix.size());
  return "JSON keys file " + spec;
}

}  // namespace nova::serve::auth
