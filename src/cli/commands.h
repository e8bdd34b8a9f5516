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
int cmd_train(const Args& args);
int cmd_data(const Args& args);       // nova data prepare
int cmd_tokenizer(const Args& args);  // nova tokenizer train
int cmd_eval(const Args& args);       // nova eval perplexity
int cmd_serve(const Args& args);      // nova serve: OpenAI-compatible HTTP server
int cmd_keys(const Args& args);       // nova keys create|list|revoke: API keys for nova serve

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const Args&);
};

const std::vector<Command>& commands();

// `nova COMMAND SUBCOMMAND ...`: runs the subcommand named by args[0] with the rest; with no
// subcommand or --help lists them. Throws UsageError for an unknown one.
int dispatch_subcommand(const std::string& command, const Args& args, const std::vector<Command>& subcommands);

}  // namespace nova::cli
