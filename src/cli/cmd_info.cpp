#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/flags.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"

namespace nova::cli {

namespace {
const char* rope_name(formats::RopeType t) {
  switch (t) {
    case formats::RopeType::Default: return "default";
    case formats::RopeType::Linear: return "linear";
    case formats::RopeType::Dynamic: return "dynamic";
    case formats::RopeType::Llama3: return "llama3";
    case formats::RopeType::Yarn: return "yarn";
  }
  return "?";
}
}  // namespace

int cmd_info(const Args& args) {
  Flags flags("info", "Describes a Hugging Face model directory: architecture, shapes, parameters and weights.\n"
              "usage: nova info DIR   (or --model DIR)",
              {{"model", "DIR", "model directory"}});
  if (!flags.parse(args)) return 0;
  std::string dir = flags.str("model");
  if (dir.empty() && flags.positional().size() == 1) dir = flags.positional()[0];
  if (dir.empty() || flags.positional().size() > (flags.has("model") ? 0u : 1u))
    throw UsageError{"give one model directory"};

  const auto c = formats::load_hf_config(dir + "/config.json");
  const auto ckpt = formats::Checkpoint::open_dir(dir);
  int64_t params = 0;
  size_t bytes = 0;
  std::map<std::string, int64_t> by_dtype;
  for (const auto& name : ckpt.names()) {
    const Tensor& t = ckpt.get(name);
    params += t.numel();
    bytes += t.nbytes();
    by_dtype[std::string(dtype_name(t.dtype()))] += t.numel();
  }
  std::cout << "model        " << dir << "\n"
            << "architecture " << c.architecture << " (model_type " << c.model_type << ")\n"
            << "layers       " << c.num_layers << ", hidden " << c.hidden_size << ", ffn " << c.intermediate_size << "\n"
            << "attention    " << c.num_heads << " query heads, " << c.num_kv_heads << " kv heads, head_dim "
            << c.head_dim << (c.qkv_bias ? ", qkv bias" : "") << (c.qk_norm ? ", q/k norm" : "");
  if (c.sliding_window > 0) std::cout << ", sliding window " << c.sliding_window;
  std::cout << "\nrope         " << rope_name(c.rope.type) << ", theta " << c.rope.theta;
  if (c.rope.type != formats::RopeType::Default) std::cout << ", factor " << c.rope.factor;
  std::cout << "\n";
  if (c.num_experts > 0) {
    std::cout << "moe          " << c.num_experts << " experts, top-" << c.experts_per_token
              << (c.norm_topk_prob ? " (renormalised)" : "") << ", expert ffn " << c.moe_intermediate_size;
    if (c.shared_expert_intermediate_size > 0) std::cout << ", shared expert " << c.shared_expert_intermediate_size;
    std::cout << "\n";
  }
  std::cout << "vocab        " << c.vocab_size << (c.tie_word_embeddings ? " (tied embeddings)" : "") << "\n"
            << "context      " << c.max_position_embeddings << "\n"
            << "parameters   " << params << " in " << ckpt.names().size() << " tensors (";
  bool first = true;
  for (const auto& [dt, n] : by_dtype) {
    std::cout << (first ? "" : ", ") << dt << " " << n;
    first = false;
  }
  std::cout << ")\nweights      " << bytes << " bytes\n";
  return 0;
}

}  // namespace nova::cli
