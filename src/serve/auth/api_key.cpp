#include "serve/auth/api_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>

#include "core/error.h"

namespace nova::serve::auth {

std::string_view role_name(Role role) { return role == Role::kAdmin ? "admin" : "user"; }

Role parse_role(std::string_view name) {
  if (name == "admin") return Role::kAdmin;
  if (name == "user") return Role::kUser;
  fail("role", "must be \"admin\" or \"user\"");
}

namespace {

std::string base64url(const unsigned char* data, size_t n) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((n * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool is_base64url_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

std::string generate_key() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) fail("api key", "RAND_bytes failed");
  std::string key(kKeyPrefix);
  key += base64url(bytes.data(), bytes.size());
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return key;
}

std::optional<std::string> key_id_of(std::string_view key) {
  constexpr size_t kSecretChars = 43;  // base64url of 32 bytes, unpadded
  if (key.size() != kKeyPrefix.size() + kSecretChars || key.substr(0, kKeyPrefix.size()) != kKeyPrefix)
    return std::nullopt;
  for (char c : key.substr(kKeyPrefix.size()))
    if (!is_base64url_char(c)) return std::nullopt;
  return std::string(key.substr(0, kKeyIdLength));
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) fail("api key", "SHA-256 failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;  // lengths are public (hashes are always 64 hex chars)
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

nlohmann::json record_to_json(const ApiKeyRecord& r, bool include_hash) {
  nlohmann::json j = {{"id", r.id},
                      {"name", r.name},
                      {"role", std::string(role_name(r.role))},
                      {"created", r.created},
                      {"revoked", r.revoked}};
  nlohmann::json limits = nlohmann::json::object();
  if (r.limits.requests_per_minute) limits["requests_per_minute"] = *r.limits.requests_per_minute;
  if (r.limits.tokens_per_minute) limits["tokens_per_minute"] = *r.limits.tokens_per_minute;
  j["limits"] = std::move(limits);
  if (include_hash) j["sha256"] = r.hash_hex;
  return j;
}

namespace {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end()) fail(where, std::string("missing \"") + key + "\"");
  return *it;
}

std::optional<int64_t> optional_limit(const nlohmann::json& limits, const char* key, const std::string& where) {
  auto it = limits.find(key);
  if (it == limits.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<int64_t>() <= 0)
    fail(where, std::string("\"limits.") + key + "\" must be a positive integer");
  return it->get<int64_t>();
}

}  // namespace

ApiKeyRecord record_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) fail(where, "a key entry must be an object");
  ApiKeyRecord r;
  const auto& id = field(j, "id", where);
  const auto& name = field(j, "name", where);
  const auto& role = field(j, "role", where);
  const auto& created = field(j, "created", where);
  const auto& hash = field(j, "sha256", where);
  if (!id.is_string() || id.get<std::string>().size() != kKeyIdLength) fail(where, "\"id\" must be a key id string");
  if (!name.is_string()) fail(where, "\"name\" must be a string");
  if (!role.is_string()) fail(where, "\"role\" must be a string");
  if (!created.is_number_integer()) fail(where, "\"created\" must be an integer");
  if (!hash.is_string() || hash.get<std::string>().size() != 64) fail(where, "\"sha256\" must be 64 hex characters");
  r.id = id.get<std::string>();
  r.name = name.get<std::string>();
  try {
    r.role = parse_role(role.get<std::string>());
  } catch (const Error& e) {
    fail(where, "\"role\" " + e.problem());
  }
  r.created = created.get<int64_t>();
  r.hash_hex = hash.get<std::string>();
  for (char c : r.hash_hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) fail(where, "\"sha256\" must be lowercase hex");
  if (auto it = j.find("revoked"); it != j.end()) {
    if (!it->is_boolean()) fail(where, "\"revoked\" must be a boolean");
    r.revoked = it->get<bool>();
  }
  if (auto it = j.find("limits"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) fail(where, "\"limits\" must be an object");
    r.limits.requests_per_minute = optional_limit(*it, "requests_per_minute", where);
    r.limits.tokens_per_minute = optional_limit(*it, "tokens_per_minute", where);
  }
  return r;
}

}  // namespace nova::serve::auth
