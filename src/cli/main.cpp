// nova: the NovaLM command-line tool. `nova <command> --help` for each command.
#include <cstring>
#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "core/error.h"

namespace nova::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"chat", "interactive chat with a model, using its chat template (streams the reply)", cmd_chat},
      {"generate", "continue a prompt (text or token ids)", cmd_generate},
      {"info", "describe a model directory: architecture, shapes, parameters, weight bytes", cmd_info},
      {"tokenize", "text on stdin -> token ids as a JSON array", cmd_tokenize},
      {"logits", "write float32 logits [n_ids, vocab] for a list of token ids", cmd_logits},
      {"template", "render a chat template for a list of messages", cmd_template},
      {"train", "train a model from a YAML run config (checkpoints, metrics, loss plot, --resume)", cmd_train},
      {"data", "prepare training data: `nova data prepare` tokenizes text into shards", cmd_data},
      {"tokenizer", "`nova tokenizer train`: learn a byte-level BPE tokenizer from text", cmd_tokenizer},
      {"eval", "`nova eval perplexity`: held-out loss and perplexity of a model", cmd_eval},
      {"serve", "OpenAI-compatible HTTP server for a model (chat/completions, streaming, /metrics)", cmd_serve},
      {"keys", "`nova keys create|list|revoke`: API keys for `nova serve --api-keys`", cmd_keys},
  };
  return table;
}

namespace {
void print_overview() {
  std::cout << "usage: nova <command> [flags]\n\ncommands:\n";
  for (const auto& c : commands()) {
    std::string n = c.name;
    n.resize(12, ' ');
    std::cout << "  " << n << c.summary << "\n";
  }
  std::cout << "\n`nova <command> --help` describes a command's flags.\n";
}
}  // namespace

}  // namespace nova::cli

int main(int argc, char** argv) {
  using namespace nova::cli;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    print_overview();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  Args args(argv + 2, argv + argc);
  for (const auto& c : commands()) {
    if (name != c.name) continue;
    try {
      return c.run(args);
    } catch (const UsageError& e) {
      std::cerr << "nova " << name << ": " << e.message << "\n(see `nova " << name << " --help`)\n";
      return 2;
    } catch (const nova::Error& e) {
      std::cerr << "nova " << name << ": error: " << e.what() << "\n";
      return 2;
    } catch (const std::exception& e) {
      std::cerr << "nova " << name << ": internal error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "nova: unknown command '" << name << "'\n";
  print_overview();
  return 2;
}
