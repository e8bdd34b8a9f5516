#include <iostream>

#include "cli/commands.h"
#include "cli/device_flag.h"
#include "cli/flags.h"
#include "engine/model_files.h"
#include "cli/sampling_flags.h"
#include "engine/beam_search.h"
#include "engine/generate.h"
#include "engine/tokenizer_detokenizer.h"
#include "model/transformer.h"
#include "tokenizer/tokenizer.h"

namespace nova::cli {

namespace {
void print_ids(const std::vector<int32_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  std::cout << line << "\n";
}
}  // namespace

int cmd_generate(const Args& args) {
  std::vector<FlagSpec> specs = {
      {"model", "DIR", "Hugging Face model directory", "", true},
      {"prompt", "TEXT", "prompt text (needs the model's tokenizer.json)"},
      {"ids", "1,2,3", "prompt as comma-separated token ids (instead of --prompt)"},
      {"tokenizer", "PATH", "tokenizer.json or directory (default: the model directory)"},
      {"max-tokens", "N", "generate at most N tokens", "128"},
      {"stop", "TEXT", "stop when this text is generated (not included in the output)"},
      {"ignore-eos", "", "do not stop at the model's end-of-sequence tokens"},
      {"no-special", "", "do not add BOS/EOS when encoding --prompt"},
      {"print-ids", "", "print the generated token ids, space-separated, on one line"},
      {"num-beams", "N", "beam search with N beams (deterministic; sampling flags are ignored)", "1"},
      {"length-penalty", "X", "beam search: score = logprob / length^X", "1"},
      device_flag_spec(),
  };
  for (auto& s : sampling_flag_specs()) specs.push_back(s);
  Flags flags("generate", "Continues a prompt with a model and prints the new text (or ids).", std::move(specs));
  if (!flags.parse(args)) return 0;
  if (flags.has("prompt") == flags.has("ids")) throw UsageError{"give exactly one of --prompt and --ids"};

  const std::string model_dir = flags.str("model");
  const bool needs_tokenizer = flags.has("prompt") || flags.has("stop") || !flags.flag("print-ids");
  std::optional<tokenizer::Tokenizer> tok;
  if (needs_tokenizer)
    tok = tokenizer::Tokenizer::from_file(engine::find_tokenizer_json(flags.has("tokenizer") ? flags.str("tokenizer") : model_dir));

  select_device(flags.str("device"));
  const auto model = model::Transformer::load(model_dir);
  const engine::GenerationDefaults defaults = engine::load_generation_defaults(model_dir);
  std::vector<int32_t> prompt = flags.has("ids") ? parse_id_list(flags.str("ids"), "ids")
                                                 : tok->encode(flags.str("prompt"), !flags.flag("no-special"));
  std::vector<int32_t> eos;
  if (!flags.flag("ignore-eos")) {
    for (int id : defaults.eos_token_ids) eos.push_back(id);
    if (eos.empty())
      for (int id : model->config().eos_token_ids) eos.push_back(id);
  }
  const int max_tokens = static_cast<int>(flags.integer("max-tokens"));
  auto session = model->new_session();

  if (flags.integer("num-beams") > 1) {
    engine::BeamSearchRequest req;
    req.prompt = prompt;
    req.max_tokens = max_tokens;
    req.num_beams = static_cast<int>(flags.integer("num-beams"));
    req.length_penalty = static_cast<float>(flags.number("length-penalty"));
    req.eos_token_ids = eos;
    const auto result = engine::beam_search(*session, req);
    const auto& best = result.sequences.at(0).tokens;
    if (flags.flag("print-ids")) print_ids(best);
    else std::cout << tok->decode(best, /*skip_special_tokens=*/true) << "\n";
    return 0;
  }

  engine::GenerationRequest req;
  req.prompt = prompt;
  req.max_tokens = max_tokens;
  req.sampling = sampling_from_flags(flags, defaults);
  req.stop_token_ids = eos;
  if (flags.has("stop")) req.stop_strings.push_back(flags.str("stop"));
  std::optional<engine::TokenizerDetokenizer> detok;
  if (tok) detok.emplace(*tok);

  const bool stream_text = !flags.flag("print-ids");
  const auto result = engine::generate(*session, detok ? &*detok : nullptr, req, [&](const engine::TokenEvent& ev) {
    if (stream_text) std::cout << ev.text << std::flush;
    return true;
  });
  if (flags.flag("print-ids")) print_ids(result.tokens);
  else std::cout << "\n";
  return 0;
}

}  // namespace nova::cli
