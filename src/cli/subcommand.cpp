#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"

namespace nova::cli {

int dispatch_subcommand(const std::string& command, const Args& args, const std::vector<Command>& subcommands) {
  auto overview = [&](std::ostream& out) {
    out << "usage: nova " << command << " <subcommand> [flags]\n\nsubcommands:\n";
    for (const auto& s : subcommands) {
      std::string n = s.name;
      n.resize(12, ' ');
      out << "  " << n << s.summary << "\n";
    }
    out << "\n`nova " << command << " <subcommand> --help` describes a subcommand's flags.\n";
  };
  if (args.empty()) {
    overview(std::cerr);
    return 2;
  }
  if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    overview(std::cout);
    return 0;
  }
  for (const auto& s : subcommands)
    if (args[0] == s.name) return s.run(Args(args.begin() + 1, args.end()));
  std::string names;
  for (const auto& s : subcommands) names += std::string(names.empty() ? "" : ", ") + s.name;
  throw UsageError{"unknown subcommand '" + args[0] + "' (one of: " + names + ")"};
}

}  // namespace nova::cli
