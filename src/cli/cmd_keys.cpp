// nova keys: manage the API keys `nova serve --api-keys STORE` accepts, directly in the store
// (a JSON keys file or sqlite:PATH). `create` is how the first admin key is made; later keys
// can also be created over HTTP by an admin (POST /v1/admin/keys).
#include <ctime>
#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "serve/auth/authenticator.h"
#include "serve/auth/key_store_spec.h"

namespace nova::cli {

namespace {

const FlagSpec kStoreFlag{"store", "STORE", "keys file (JSON) or sqlite:PATH, as given to nova serve --api-keys", "", true};

std::optional<int64_t> optional_limit(const Flags& flags, const char* name) {
  if (!flags.has(name)) return std::nullopt;
  const int64_t v = flags.integer(name);
  if (v < 1) throw UsageError{std::string("--") + name + " must be at least 1"};
  return v;
}

int keys_create(const Args& args) {
  Flags flags("keys create",
              "Creates an API key and prints it once on stdout (only its SHA-256 is stored). Details go to stderr.",
              {kStoreFlag,
               {"role", "ROLE", "admin (may list/create/revoke keys) or user (may only run inference)", "user"},
               {"name", "NAME", "a label for the key", ""},
               {"rpm", "N", "requests per minute for this key (default: the server's --rpm)"},
               {"tpm", "N", "tokens per minute for this key (default: the server's --tpm)"}});
  if (!flags.parse(args)) return 0;
  const std::string role = flags.str("role");
  if (role != "admin" && role != "user") throw UsageError{"--role must be admin or user, got '" + role + "'"};
  serve::auth::KeyLimits limits;
  limits.requests_per_minute = optional_limit(flags, "rpm");
  limits.tokens_per_minute = optional_limit(flags, "tpm");
  serve::auth::Authenticator auth(serve::auth::open_key_store(flags.str("store")));
  const auto created = auth.create_key(flags.str("name"), serve::auth::parse_role(role), limits);
  std::cout << created.key << std::endl;
  std::cerr << "created " << role << " key " << created.record.id << " in "
            << serve::auth::describe_key_store(flags.str("store"))
            << "; the key above is shown only now, keep it secret\n";
  return 0;
}

int keys_list(const Args& args) {
  Flags flags("keys list", "Lists the keys of a store as JSON lines (ids, names, roles, limits; never secrets).",
              {kStoreFlag});
  if (!flags.parse(args)) return 0;
  serve::auth::Authenticator auth(serve::auth::open_key_store(flags.str("store")));
  for (const auto& k : auth.list_keys()) std::cout << serve::auth::record_to_json(k, false).dump() << "\n";
  return 0;
}

int keys_revoke(const Args& args) {
  Flags flags("keys revoke", "Revokes a key by its id (the first 13 characters, e.g. nova-Ab3x9QzK).",
              {kStoreFlag, {"id", "ID", "the key id", "", true}});
  if (!flags.parse(args)) return 0;
  serve::auth::Authenticator auth(serve::auth::open_key_store(flags.str("store")));
  if (!auth.revoke_key(flags.str("id"))) {
    std::cerr << "nova keys revoke: no key has the id '" << flags.str("id") << "'\n";
    return 1;
  }
  std::cerr << "revoked " << flags.str("id") << "\n";
  return 0;
}

}  // namespace

int cmd_keys(const Args& args) {
  return dispatch_subcommand("keys", args,
                             {{"create", "create a key (prints it once)", keys_create},
                              {"list", "list keys (no secrets)", keys_list},
                              {"revoke", "revoke a key by id", keys_revoke}});
}

}  // namespace nova::cli
