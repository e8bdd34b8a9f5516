#include <fstream>

#include "cli/commands.h"
#include "cli/device_flag.h"
#include "cli/flags.h"
#include "core/error.h"
#include "model/transformer.h"

namespace nova::cli {

int cmd_logits(const Args& args) {
  Flags flags("logits", "Runs the model over token ids and writes float32 little-endian logits [n_ids, vocab].",
              {{"model", "DIR", "Hugging Face model directory (config.json + safetensors)", "", true},
               {"ids", "1,2,3", "comma-separated input token ids", "", true},
               {"out", "FILE", "output file", "", true},
               device_flag_spec()});
  if (!flags.parse(args)) return 0;
  const auto ids = parse_id_list(flags.str("ids"), "ids");
  select_device(flags.str("device"));
  const auto model = model::Transformer::load(flags.str("model"));
  auto session = model->new_session(static_cast<int64_t>(ids.size()));
  std::vector<float> logits;
  session->forward(ids, logits, /*all_logits=*/true);

  const std::string out = flags.str("out");
  const std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail(out, "cannot open for writing");
    f.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * sizeof(float)));
    if (!f) fail(out, "write failed");
  }
  if (std::rename(tmp.c_str(), out.c_str()) != 0) fail(out, "cannot rename temporary file into place");
  return 0;
}

}  // namespace nova::cli
