// Opening the key store a command line names: "sqlite:PATH" is a SQLite database, anything
// else a JSON keys file (created on the first insert).
#pragma once

#include <memory>
#include <string>

#include "serve/auth/key_store.h"

namespace nova::serve::auth {

// Throws nova::Error for an empty spec or a store that cannot be opened.
std::shared_ptr<KeyStore> open_key_store(const std::string& spec);

// "JSON keys file PATH" / "SQLite database PATH", for startup lines.
std::string describe_key_store(const std::string& spec);

}  // namespace nova::serve::auth
