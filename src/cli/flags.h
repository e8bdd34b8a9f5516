// Command-line flags for `nova` subcommands: declared once with their help text, so --help,
// validation and the error for an unknown flag all come from the same table.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nova::cli {

// A bad command line. main() prints it with the subcommand's usage and exits with code 2.
struct UsageError {
  std::string message;
};

struct FlagSpec {
  std::string name{};           // without the leading "--"
  std::string value_name{};     // "" for a boolean switch
  std::string help{};
  std::string default_value{};  // shown in --help; "" for none
  bool required = false;
};

class Flags {
 public:
  Flags(std::string command, std::string summary, std::vector<FlagSpec> specs);

  // Parses args (after the subcommand). Returns false if --help was given (help already printed).
  // Throws UsageError for unknown flags, missing values or missing required flags.
  bool parse(const std::vector<std::string>& args);

  bool has(const std::string& name) const;
  std::string str(const std::string& name) const;  // value, or the spec's default
  int64_t integer(const std::string& name) const;  // throws UsageError if not an integer
  double number(const std::string& name) const;    // throws UsageError if not a number
  bool flag(const std::string& name) const { return has(name); }
  const std::vector<std::string>& positional() const { return positional_; }

  std::string usage() const;

 private:
  const FlagSpec* find(const std::string& name) const;

  std::string command_, summary_;
  std::vector<FlagSpec> specs_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

// "1,2,3" -> {1,2,3}; throws UsageError naming the flag on anything else.
std::vector<int32_t> parse_id_list(const std::string& text, const std::string& flag);

}  // namespace nova::cli
