#include <iostream>
#include <iterator>

#include "cli/commands.h"
#include "cli/flags.h"
#include "engine/model_files.h"
#include "tokenizer/tokenizer.h"

namespace nova::cli {

int cmd_tokenize(const Args& args) {
  Flags flags("tokenize", "Reads text from stdin and prints its token ids as a JSON array on one line.",
              {{"tokenizer", "PATH", "tokenizer.json, or a model directory holding one", "", true},
               {"add-special", "", "add the special tokens the tokenizer's post-processor defines (BOS/EOS)"}});
  if (!flags.parse(args)) return 0;
  const auto tok = tokenizer::Tokenizer::from_file(engine::find_tokenizer_json(flags.str("tokenizer")));
  const std::string text(std::istreambuf_iterator<char>(std::cin), {});
  const auto ids = tok.encode(text, flags.flag("add-special"));
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  std::cout << out << "]\n";
  return 0;
}

}  // namespace nova::cli
