// Turns an Authorization header into who is calling (key id, role, limits) or a 401, and checks
// roles for admin routes (403). Keys are verified by SHA-256 and a constant-time comparison; the
// key itself never appears in a message, only its public id.
//
// --no-auth mode (Authenticator::no_auth()) is for local, single-user use only: every request,
// with or without a header, is treated as the admin "local" principal with no per-key limits.
// Never expose a --no-auth server on a shared network.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/auth/key_store.h"

namespace nova::serve::auth {

struct Principal {
  std::string key_id;  // "local" in --no-auth mode
  Role role = Role::kUser;
  KeyLimits limits;
};

// An answer for the client: status 401 or 403, an OpenAI-style message and code.
struct AuthError {
  int status = 401;
  std::string message;
  std::string code;  // "missing_api_key", "invalid_api_key", "revoked_api_key", "insufficient_role"
};

struct AuthResult {
  std::optional<Principal> principal;  // set on success
  AuthError error;                     // meaningful when !ok()
  bool ok() const { return principal.has_value(); }
};

// What create_key returns: the record as stored and the key, which is shown this once only.
struct CreatedKey {
  ApiKeyRecord record;
  std::string key;
};

class Authenticator {
 public:
  explicit Authenticator(std::shared_ptr<KeyStore> store);
  static Authenticator no_auth();

  bool enabled() const { return store_ != nullptr; }

  // `authorization`: the Authorization header's value, if the request had one.
  AuthResult check(std::optional<std::string_view> authorization) const;

  // Admin operations (throw nova::Error in --no-auth mode, which has no store).
  CreatedKey create_key(std::string name, Role role, KeyLimits limits = {});
  std::vector<ApiKeyRecord> list_keys() const;
  bool revoke_key(std::string_view id);

 private:
  Authenticator() = default;
  KeyStore& store() const;

  std::shared_ptr<KeyStore> store_;
};

// nullopt when `principal` may use a route that needs `needed`; a 403 otherwise.
std::optional<AuthError> require_role(const Principal& principal, Role needed);

}  // namespace nova::serve::auth
