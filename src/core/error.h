// The one error type of NovaLM: what failed and where (a file, a key, an offset).
// The CLI turns it into "nova: <where>: <what>" and exit code 2; the server into an OpenAI error body.
#pragma once

#include <stdexcept>
#include <string>

namespace nova {

class Error : public std::runtime_error {
 public:
  Error(std::string where, std::string what)
      : std::runtime_error(where.empty() ? what : where + ": " + what),
        where_(std::move(where)),
        what_(std::move(what)) {}

  // The file, key or request field the problem is in ("" when there is none).
  const std::string& where() const { return where_; }
  // The problem itself, without the location.
  const std::string& problem() const { return what_; }

 private:
  std::string where_;
  std::string what_;
};

[[noreturn]] inline void fail(std::string where, std::string what) {
  throw Error(std::move(where), std::move(what));
}

// Checks an invariant of *input* data (not of our own code: use assert for that).
inline void require(bool ok, const std::string& where, const std::string& what) {
  if (!ok) fail(where, what);
}

}  // namespace nova
