#include "serve/auth/sqlite_key_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include "core/error.h"

namespace nova::serve::auth {

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS api_keys ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " name TEXT NOT NULL,"
    " role TEXT NOT NULL CHECK (role IN ('admin', 'user')),"
    " created INTEGER NOT NULL,"
    " requests_per_minute INTEGER,"
    " tokens_per_minute INTEGER,"
    " revoked INTEGER NOT NULL DEFAULT 0,"
    " sha256 TEXT NOT NULL)";

constexpr const char* kColumns = "id, name, role, created, requests_per_minute, tokens_per_minute, revoked, sha256";

// A prepared statement that finalizes itself.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::string& where) : db_(db), where_(where) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK)
      fail(where_, std::string("prepare failed: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  void bind(int i, std::string_view text) {
    check(sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT));
  }
  void bind(int i, int64_t v) { check(sqlite3_bind_int64(stmt_, i, v)); }
  void bind(int i, const std::optional<int64_t>& v) {
    check(v ? sqlite3_bind_int64(stmt_, i, *v) : sqlite3_bind_null(stmt_, i));
  }
  // true while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(where_, std::string("query failed: ") + sqlite3_errmsg(db_));
  }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(where_, std::string("bind failed: ") + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string where_;
};

std::string column_text(sqlite3_stmt* s, int i) {
  const unsigned char* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

std::optional<int64_t> column_optional(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

ApiKeyRecord read_row(sqlite3_stmt* s, const std::string& where) {
  ApiKeyRecord r;
  r.id = column_text(s, 0);
  r.name = column_text(s, 1);
  try {
    r.role = parse_role(column_text(s, 2));
  } catch (const Error& e) {
    fail(where, "key " + r.id + ": " + e.what());
  }
  r.created = sqlite3_column_int64(s, 3);
  r.limits.requests_per_minute = column_optional(s, 4);
  r.limits.tokens_per_minute = column_optional(s, 5);
  r.revoked = sqlite3_column_int64(s, 6) != 0;
  r.hash_hex = column_text(s, 7);
  return r;
}

}  // namespace

SqliteKeyStore::SqliteKeyStore(const std::string& path) : path_(path) {
  struct stat st {};
  const bool existed = ::stat(path.c_str(), &st) == 0;
  const int rc = sqlite3_open_v2(path.c_str(), &db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    fail(path, "cannot open SQLite database: " + msg);
  }
  if (!existed) ::chmod(path.c_str(), 0600);  // created just now: keep it private
  sqlite3_busy_timeout(db_, 5000);  // other processes may hold the write lock briefly
  char* err = nullptr;
  if (sqlite3_exec(db_, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db_);
    db_ = nullptr;
    fail(path, "cannot create the api_keys table: " + msg);
  }
}

SqliteKeyStore::~SqliteKeyStore() { sqlite3_close(db_); }

void SqliteKeyStore::insert(const ApiKeyRecord& r) {
  std::lock_guard lock(mu_);
  if (find_unlocked_exists(r.id)) fail(path_, "key id " + r.id + " already exists");
  Statement s(db_, std::string("INSERT INTO api_keys (") + kColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)", path_);
  s.bind(1, r.id);
  s.bind(2, r.name);
  s.bind(3, role_name(r.role));
  s.bind(4, r.created);
  s.bind(5, r.limits.requests_per_minute);
  s.bind(6, r.limits.tokens_per_minute);
  s.bind(7, int64_t{r.revoked ? 1 : 0});
  s.bind(8, r.hash_hex);
  s.step();
}

bool SqliteKeyStore::find_unlocked_exists(std::string_view id) const {
  Statement s(db_, "SELECT 1 FROM api_keys WHERE id = ?", path_);
  s.bind(1, id);
  return s.step();
}

std::optional<ApiKeyRecord> SqliteKeyStore::find(std::string_view id) const {
  std::lock_guard lock(mu_);
  Statement s(db_, std::string("SELECT ") + kColumns + " FROM api_keys WHERE id = ?", path_);
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_row(s.get(), path_);
}

std::vector<ApiKeyRecord> SqliteKeyStore::list() const {
  std::lock_guard lock(mu_);
  Statement s(db_, std::string("SELECT ") + kColumns + " FROM api_keys ORDER BY created, id", path_);
  std::vector<ApiKeyRecord> out;
  while (s.step()) out.push_back(read_row(s.get(), path_));
  return out;
}

bool SqliteKeyStore::revoke(std::string_view id) {
  std::lock_guard lock(mu_);
  Statement s(db_, "UPDATE api_keys SET revoked = 1 WHERE id = ?", path_);
  s.bind(1, id);
  s.step();
  if (sqlite3_changes(db_) > 0) return true;
  return find_unlocked_exists(id);
}

}  // namespace nova::serve::auth
