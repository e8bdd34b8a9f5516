#include "serve/auth/authenticator.h"

#include <chrono>

#include "core/error.h"

namespace nova::serve::auth {

namespace {

AuthError unauthorized(std::string message, std::string code) { return {401, std::move(message), std::move(code)}; }

bool is_space(char c) { return c == ' ' || c == '\t'; }

// "Bearer <token>" (scheme case-insensitive, RFC 9110 §11.1); nullopt when malformed.
std::optional<std::string_view> bearer_token(std::string_view value) {
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
  constexpr std::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() || !is_space(value[kScheme.size()])) return std::nullopt;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if ((value[i] | 0x20) != kScheme[i]) return std::nullopt;
  value.remove_prefix(kScheme.size());
  while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
  if (value.empty()) return std::nullopt;
  for (char c : value)
    if (is_space(c)) return std::nullopt;
  return value;
}

// Compared against when the id is unknown, so unknown and wrong keys cost about the same.
constexpr std::string_view kDummyHash = "0000000000000000000000000000000000000000000000000000000000000000";

}  // namespace

Authenticator::Authenticator(std::shared_ptr<KeyStore> store) : store_(std::move(store)) {
  require(store_ != nullptr, "auth", "an authenticator needs a key store (or use no_auth())");
}

Authenticator Authenticator::no_auth() { return Authenticator(); }

KeyStore& Authenticator::store() const {
  if (!store_) fail("auth", "key management is unavailable in --no-auth mode");
  return *store_;
}

AuthResult Authenticator::check(std::optional<std::string_view> authorization) const {
  AuthResult result;
  if (!store_) {
    result.principal = Principal{"local", Role::kAdmin, {}};
    return result;
  }
  if (!authorization) {
    result.error = unauthorized("Missing API key: send the header 'Authorization: Bearer <key>'.", "missing_api_key");
    return result;
  }
  const auto token = bearer_token(*authorization);
  if (!token) {
    result.error = unauthorized("Malformed Authorization header: expected 'Bearer <key>'.", "invalid_api_key");
    return result;
  }
  const auto id = key_id_of(*token);
  const std::string presented_hash = sha256_hex(*token);
  const auto record = id ? store_->find(*id) : std::nullopt;
  const bool match = constant_time_equal(presented_hash, record ? std::string_view(record->hash_hex) : kDummyHash);
  if (!record || !match) {
    result.error = unauthorized("Incorrect API key provided.", "invalid_api_key");
    return result;
  }
  if (record->revoked) {
    result.error = unauthorized("API key " + record->id + " has been revoked.", "revoked_api_key");
    return result;
  }
  result.principal = Principal{record->id, record->role, record->limits};
  return result;
}

CreatedKey Authenticator::create_key(std::string name, Role role, KeyLimits limits) {
  KeyStore& s = store();
  if (limits.requests_per_minute) require(*limits.requests_per_minute > 0, "requests_per_minute", "must be positive");
  if (limits.tokens_per_minute) require(*limits.tokens_per_minute > 0, "tokens_per_minute", "must be positive");
  // 48 random bits of id: a collision is astronomically rare, but retry rather than fail.
  for (int attempt = 0; attempt < 8; ++attempt) {
    CreatedKey out;
    out.key = generate_key();
    out.record.id = *key_id_of(out.key);
    if (s.find(out.record.id)) continue;
    out.record.name = std::move(name);
    out.record.role = role;
    out.record.created = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
    out.record.limits = limits;
    out.record.hash_hex = sha256_hex(out.key);
    s.insert(out.record);
    return out;
  }
  fail("auth", "could not find a free key id");
}

std::vector<ApiKeyRecord> Authenticator::list_keys() const { return store().list(); }

bool Authenticator::revoke_key(std::string_view id) { return store().revoke(id); }

std::optional<AuthError> require_role(const Principal& principal, Role needed) {
  if (needed == Role::kUser || principal.role == Role::kAdmin) return std::nullopt;
  return AuthError{403, "API key " + principal.key_id + " may not use this route: it needs the admin role.",
                   "insufficient_role"};
}

}  // namespace nova::serve::auth
