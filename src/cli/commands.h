// The `nova` subcommands. Each is thin: parse flags, call the layer below, print.
// Each returns the process exit code; nova::Error and UsageError are handled by main().
#pragma once

#include <string>
#include <vector>

namespace nova::cli {

using Args = std::vector<std::string>;

int cmd_chat(const Args& args);
int cmd_generate(const Args& args);
int cmd_info(const Args& args);
int cmd_tokenize(const Args& args);
int cmd_logits(const Args& args);
int cmd_template(const Args& args);

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const Args&);
};

const std::vector<Command>& commands();

}  // namespace nova::cli
