#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>
#include <string>

#include "core/error.h"
#include "serve/auth/authenticator.h"
#include "serve/auth/json_key_store.h"
#include "serve/auth/sqlite_key_store.h"
#include "support/fixtures.h"

namespace nova::serve::auth {
namespace {

TEST(AuthKeys, GeneratedKeysHaveTheDocumentedShape) {
  const std::string a = generate_key(), b = generate_key();
  EXPECT_NE(a, b);
  ASSERT_EQ(a.size(), 5u + 43u);
  EXPECT_EQ(a.substr(0, 5), "nova-");
  ASSERT_TRUE(key_id_of(a).has_value());
  EXPECT_EQ(*key_id_of(a), a.substr(0, kKeyIdLength));
  EXPECT_FALSE(key_id_of("nova-short"));
  EXPECT_FALSE(key_id_of("sk-" + a.substr(3)));
  std::string bad = a;
  bad[20] = '+';  // not base64url
  EXPECT_FALSE(key_id_of(bad));
}

TEST(AuthKeys, Sha256MatchesTheFipsVectors) {
  // FIPS 180-2 appendix B.1 and the empty-message digest.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(AuthKeys, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("abcdef", "abcdef"));
  EXPECT_FALSE(constant_time_equal("abcdef", "abcdeg"));
  EXPECT_FALSE(constant_time_equal("abcdef", "bbcdef"));
  EXPECT_FALSE(constant_time_equal("abc", "abcdef"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(AuthKeys, RecordJsonRoundTripsAndRejectsBadEntries) {
  ApiKeyRecord r{"nova-AAAAAAAA", "ci", Role::kAdmin, 1700000000, {60, std::nullopt}, true, sha256_hex("x")};
  EXPECT_EQ(record_from_json(record_to_json(r, true), "t"), r);
  EXPECT_FALSE(record_to_json(r, false).contains("sha256"));
  auto j = record_to_json(r, true);
  j["role"] = "root";
  EXPECT_THROW(record_from_json(j, "t"), Error);
  j = record_to_json(r, true);
  j["sha256"] = "xyz";
  EXPECT_THROW(record_from_json(j, "t"), Error);
  j = record_to_json(r, true);
  j["limits"]["tokens_per_minute"] = -5;
  EXPECT_THROW(record_from_json(j, "t"), Error);
}

enum class StoreKind { kJson, kSqlite };

class AuthStoreTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    dir_ = test::scratch_dir(std::string("auth_store_") + (GetParam() == StoreKind::kJson ? "json" : "sqlite"));
    path_ = dir_ + (GetParam() == StoreKind::kJson ? "/keys.json" : "/keys.db");
    store_ = open();
  }
  std::shared_ptr<KeyStore> open() const {
    if (GetParam() == StoreKind::kJson) return std::make_shared<JsonKeyStore>(path_);
    return std::make_shared<SqliteKeyStore>(path_);
  }
  static std::string bearer(const std::string& key) { return "Bearer " + key; }

  std::string dir_, path_;
  std::shared_ptr<KeyStore> store_;
};

TEST_P(AuthStoreTest, CreateVerifyRevoke) {
  Authenticator auth(store_);
  const CreatedKey admin = auth.create_key("ops", Role::kAdmin);
  const CreatedKey user = auth.create_key("alice", Role::kUser, {30, 5000});

  auto r = auth.check(bearer(user.key));
  ASSERT_TRUE(r.ok()) << r.error.message;
  EXPECT_EQ(r.principal->key_id, user.record.id);
  EXPECT_EQ(r.principal->role, Role::kUser);
  EXPECT_EQ(r.principal->limits.requests_per_minute, 30);
  EXPECT_EQ(r.principal->limits.tokens_per_minute, 5000);

  r = auth.check(bearer(admin.key));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.principal->role, Role::kAdmin);

  // A reopened store (another process) sees the same keys.
  Authenticator other(open());
  EXPECT_TRUE(other.check(bearer(user.key)).ok());
  const auto listed = other.list_keys();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_NE(std::find_if(listed.begin(), listed.end(), [&](const auto& r) { return r == admin.record; }), listed.end());
  EXPECT_NE(std::find_if(listed.begin(), listed.end(), [&](const auto& r) { return r == user.record; }), listed.end());

  EXPECT_TRUE(auth.revoke_key(user.record.id));
  EXPECT_TRUE(auth.revoke_key(user.record.id));  // idempotent
  EXPECT_FALSE(auth.revoke_key("nova-nosuchid"));
  r = auth.check(bearer(user.key));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error.status, 401);
  EXPECT_EQ(r.error.code, "revoked_api_key");
  EXPECT_NE(r.error.message.find(user.record.id), std::string::npos);  // the id, never the key
  EXPECT_EQ(r.error.message.find(user.key), std::string::npos);
  // The other process picks the revocation up too.
  EXPECT_FALSE(other.check(bearer(user.key)).ok());
  EXPECT_TRUE(other.check(bearer(admin.key)).ok());
}

TEST_P(AuthStoreTest, OnlyHashesReachTheDiskAndTheFileIsPrivate) {
  Authenticator auth(store_);
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) keys.push_back(auth.create_key("k" + std::to_string(i), Role::kUser).key);
  auth.revoke_key(*key_id_of(keys[0]));
  const std::string bytes = test::read_file(path_);
  ASSERT_FALSE(bytes.empty());
  for (const auto& k : keys) {
    EXPECT_EQ(bytes.find(k), std::string::npos) << "raw key on disk";
    EXPECT_EQ(bytes.find(k.substr(kKeyIdLength)), std::string::npos) << "secret part on disk";
    EXPECT_NE(bytes.find(sha256_hex(k)), std::string::npos) << "hash missing";
  }
  struct stat st {};
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_P(AuthStoreTest, RejectsMissingMalformedAndUnknownKeys) {
  Authenticator auth(store_);
  const CreatedKey k = auth.create_key("bob", Role::kUser);
  auto expect_401 = [&](std::optional<std::string_view> header, const std::string& code) {
    const auto r = auth.check(header);
    ASSERT_FALSE(r.ok()) << (header ? std::string(*header) : "<none>");
    EXPECT_EQ(r.error.status, 401);
    EXPECT_EQ(r.error.code, code);
    EXPECT_EQ(r.error.message.find(k.key), std::string::npos);
    EXPECT_EQ(r.error.message.find(k.key.substr(kKeyIdLength)), std::string::npos);
  };
  expect_401(std::nullopt, "missing_api_key");
  expect_401("", "invalid_api_key");
  expect_401("Bearer", "invalid_api_key");
  expect_401("Bearer ", "invalid_api_key");
  expect_401("Basic " + k.key, "invalid_api_key");
  expect_401(k.key, "invalid_api_key");
  expect_401("Bearer " + k.key + " extra", "invalid_api_key");
  expect_401("Bearer sk-not-ours", "invalid_api_key");
  expect_401("Bearer " + generate_key(), "invalid_api_key");
  std::string last_flipped = k.key;
  last_flipped.back() = last_flipped.back() == 'A' ? 'B' : 'A';  // same id, wrong secret
  expect_401("Bearer " + last_flipped, "invalid_api_key");
  // Scheme is case-insensitive; surrounding whitespace is tolerated.
  EXPECT_TRUE(auth.check("bearer " + k.key).ok());
  EXPECT_TRUE(auth.check("  BEARER \t" + k.key + " ").ok());
}

TEST_P(AuthStoreTest, HostileIdsAreJustUnknown) {
  Authenticator auth(store_);
  const CreatedKey k = auth.create_key("x", Role::kUser);
  EXPECT_FALSE(auth.revoke_key("' OR '1'='1"));
  EXPECT_FALSE(auth.revoke_key("x\"; DROP TABLE api_keys; --"));
  EXPECT_FALSE(store_->find("' OR 1=1 --").has_value());
  EXPECT_TRUE(auth.check("Bearer " + k.key).ok());
  // Names with quotes and newlines survive the round trip.
  const CreatedKey odd = auth.create_key("o'brien \"q\"\n; DROP", Role::kUser);
  EXPECT_EQ(open()->find(odd.record.id)->name, "o'brien \"q\"\n; DROP");
}

INSTANTIATE_TEST_SUITE_P(Stores, AuthStoreTest, ::testing::Values(StoreKind::kJson, StoreKind::kSqlite),
                         [](const auto& info) { return info.param == StoreKind::kJson ? "Json" : "Sqlite"; });

TEST(AuthRoles, AdminRoutesNeedAdmin) {
  EXPECT_FALSE(require_role({"nova-AAAAAAAA", Role::kAdmin, {}}, Role::kAdmin).has_value());
  EXPECT_FALSE(require_role({"nova-AAAAAAAA", Role::kUser, {}}, Role::kUser).has_value());
  EXPECT_FALSE(require_role({"nova-AAAAAAAA", Role::kAdmin, {}}, Role::kUser).has_value());
  const auto denied = require_role({"nova-BBBBBBBB", Role::kUser, {}}, Role::kAdmin);
  ASSERT_TRUE(denied.has_value());
  EXPECT_EQ(denied->status, 403);
  EXPECT_EQ(denied->code, "insufficient_role");
  EXPECT_NE(denied->message.find("nova-BBBBBBBB"), std::string::npos);
}

TEST(AuthNoAuth, EveryRequestIsTheLocalAdmin) {
  Authenticator auth = Authenticator::no_auth();
  EXPECT_FALSE(auth.enabled());
  for (auto header : {std::optional<std::string_view>{}, std::optional<std::string_view>{"Bearer junk"}}) {
    const auto r = auth.check(header);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.principal->key_id, "local");
    EXPECT_EQ(r.principal->role, Role::kAdmin);
  }
  EXPECT_THROW(auth.create_key("x", Role::kUser), Error);
}

TEST(AuthJsonStore, MalformedFilesThrowWithThePath) {
  const std::string dir = test::scratch_dir("auth_json_bad");
  const std::string path = dir + "/keys.json";
  test::write_file(path, "{\"keys\": [{\"id\": 1}]}");
  try {
    JsonKeyStore s(path);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
  }
  test::write_file(path, "not json");
  EXPECT_THROW(JsonKeyStore{path}, Error);
  // Fuzz: any mutation of a valid file loads or throws nova::Error.
  {
    JsonKeyStore seed(dir + "/seed.json");
    Authenticator(std::make_shared<JsonKeyStore>(dir + "/seed.json")).create_key("a", Role::kAdmin, {1, 2});
  }
  const std::string valid = test::read_file(dir + "/seed.json");
  test::mutate_each(valid, 200, 7, [&](const std::string& m) {
    test::write_file(path, m);
    try {
      JsonKeyStore s(path);
    } catch (const Error&) {
    }
  });
}

}  // namespace
}  // namespace nova::serve::auth
