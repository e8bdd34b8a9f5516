// API keys: what a key is, how it is made and how it is stored. The secret is shown once, at
// creation; stores only ever see its SHA-256 (hex) and the short public id used for lookup.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace nova::serve::auth {

enum class Role { kAdmin, kUser };

std::string_view role_name(Role role);
// Throws nova::Error for anything but "admin" / "user".
Role parse_role(std::string_view name);

// Per-key limits; unset means "the server default" (which may itself be unlimited).
struct KeyLimits {
  std::optional<int64_t> requests_per_minute;
  std::optional<int64_t> tokens_per_minute;
  bool operator==(const KeyLimits&) const = default;
};

// One stored key. Never holds the secret.
struct ApiKeyRecord {
  std::string id;         // public prefix of the key, e.g. "nova-Ab3x9QzK"; safe to log
  std::string name;       // what the admin called it
  Role role = Role::kUser;
  int64_t created = 0;    // unix seconds
  KeyLimits limits;
  bool revoked = false;
  std::string hash_hex;   // SHA-256 of the full key, lowercase hex
  bool operator==(const ApiKeyRecord&) const = default;
};

// Keys look like "nova-" + base64url(32 random bytes) (43 characters, no padding).
inline constexpr std::string_view kKeyPrefix = "nova-";
// The id is the key's first kKeyIdLength characters ("nova-" + 8 characters, 48 random bits).
inline constexpr size_t kKeyIdLength = 13;

// A fresh random key from OpenSSL's CSPRNG; throws nova::Error if RAND_bytes fails.
std::string generate_key();
// The public id of a key string, or nullopt when it does not look like one of our keys.
std::optional<std::string> key_id_of(std::string_view key);
std::string sha256_hex(std::string_view data);
// Compares in time that depends only on the lengths (CRYPTO_memcmp), never on where bytes differ.
bool constant_time_equal(std::string_view a, std::string_view b);

// JSON shape used by the keys file and the admin API (no secret, ever).
nlohmann::json record_to_json(const ApiKeyRecord& r, bool include_hash);
// Throws nova::Error naming `where` and the bad field.
ApiKeyRecord record_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace nova::serve::auth
