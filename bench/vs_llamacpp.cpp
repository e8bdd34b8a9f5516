// bench_vs_llamacpp: batch-1 prefill and decode of NovaLM and llama.cpp on identical weights, in
// one run, with the machine's read bandwidth (measured in the same run) as the physical limit.
//
// The weights come from ../shared/peers/make_model.py, which writes one random-weight model twice
// from the same arrays: a Hugging Face folder (bf16 model.safetensors) and GGUF files. llama.cpp
// runs through ../shared/peers/llamacpp (npm's prebuilt node-llama-cpp) as a subprocess. The two
// engines alternate for --rounds rounds so that load from other processes hits both alike; each
// figure is the best round.
//
// Usage: bench_vs_llamacpp --model HF_DIR --gguf FILE.gguf [--peer PATH/llamacpp] [--prompt 512]
//                          [--decode 128] [--rounds 2] [--threads N]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "core/thread_pool.h"
#include "model/transformer.h"

namespace {

struct Options {
  std::string model_dir, gguf, peer = "../shared/peers/llamacpp";
  int64_t prompt = 512, decode = 128;
  int rounds = 2;
};

struct Speed {
  double prefill_tok_s = 0, decode_tok_s = 0;
};

// Prefill `prompt` tokens, then greedy-decode `decode` tokens one at a time (argmax included, as
// llama.cpp's loop samples too).
Speed time_nova(nova::model::Transformer& model, const Options& o) {
  const int vocab = model.config().vocab_size;
  const std::vector<int32_t> prompt = nova::bench::prompt_ids(o.prompt, vocab);
  std::vector<float> logits;
  auto session = model.new_session(o.prompt + o.decode + 8);
  double t0 = nova::bench::now_seconds();
  session->forward(prompt, logits);
  Speed s;
  s.prefill_tok_s = double(o.prompt) / (nova::bench::now_seconds() - t0);
  auto last_argmax = [&] { return nova::bench::argmax(logits.data() + logits.size() - vocab, vocab); };
  int32_t next = last_argmax();
  t0 = nova::bench::now_seconds();
  for (int64_t i = 0; i < o.decode; ++i) {
    session->forward(std::span<const int32_t>(&next, 1), logits);
    next = last_argmax();
  }
  s.decode_tok_s = double(o.decode) / (nova::bench::now_seconds() - t0);
  return s;
}

Speed time_llamacpp(const Options& o, int threads) {
  const std::string cmd = o.peer + " '" + o.gguf + "' " + std::to_string(o.prompt) + " " + std::to_string(o.decode) +
                          " " + std::to_string(threads) + " false 2>/dev/null";
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot start " + o.peer);
  std::string out;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  if (pclose(pipe) != 0) throw std::runtime_error("llama.cpp run failed: " + cmd + "\n" + out);
  const auto j = nlohmann::json::parse(out.substr(out.rfind('{')));
  return {j.at("prefill_tok_s").get<double>(), j.at("decode_tok_s").get<double>()};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  auto set = [&](const std::string& a, const std::string& v) {
    if (a == "--model") o.model_dir = v;
    else if (a == "--gguf") o.gguf = std::filesystem::absolute(v).string();  // the peer script cd's
    else if (a == "--peer") o.peer = v;
    else if (a == "--prompt") o.prompt = std::atoll(v.c_str());
    else if (a == "--decode") o.decode = std::atoll(v.c_str());
    else if (a == "--rounds") o.rounds = std::max(1, std::atoi(v.c_str()));
    else return false;
    return true;
  };
  if (!nova::bench::parse_flags(argc, argv, "bench/vs_llamacpp.cpp", set)) return 2;
  if (o.model_dir.empty() || o.gguf.empty()) {
    std::fprintf(stderr, "usage: bench_vs_llamacpp --model HF_DIR --gguf FILE.gguf [--peer PATH] ...\n");
    return 2;
  }
  try {
    const int threads = static_cast<int>(nova::ThreadPool::global().size());
    const nova::bench::MachineBaseline base = nova::bench::measure_baseline(nova::active_isa());
    nova::bench::print_baseline(base, nova::active_isa());
    auto model = nova::model::Transformer::load(o.model_dir);
    const auto& c = model->config();
    const double weight_bytes = double(std::filesystem::file_size(o.model_dir + "/model.safetensors"));
    // Decode reads every weight once per token (tied embeddings: the output layer is the
    // embedding) plus the float32 KV cache of the positions so far: take the mean position.
    const double kv_bytes = 2.0 * c.num_layers * c.num_kv_heads * c.head_dim * 4.0 * (o.prompt + o.decode / 2.0);
    const double roofline = base.read_gbs * 1e9 / (weight_bytes + kv_bytes);
    std::printf("model: %s (%s) | %.0f MB weights + %.1f MB KV/token | threads %d | prompt %lld, decode %lld\n",
                o.model_dir.c_str(), c.model_type.c_str(), weight_bytes / 1e6, kv_bytes / 1e6, threads,
                (long long)o.prompt, (long long)o.decode);
    std::printf("decode roofline (read bandwidth / bytes per token): %.1f tok/s\n", roofline);
    Speed nova_best, peer_best;
    {  // warm-up: fault the mapped weights in
      std::vector<float> logits;
      std::vector<int32_t> ids(8, 1);
      model->new_session(16)->forward(ids, logits);
    }
    for (int r = 0; r < o.rounds; ++r) {
      const Speed n = time_nova(*model, o);
      const Speed p = time_llamacpp(o, threads);
      std::printf("round %d: nova prefill %.1f tok/s decode %.2f tok/s | llama.cpp prefill %.1f tok/s decode %.2f tok/s\n",
                  r + 1, n.prefill_tok_s, n.decode_tok_s, p.prefill_tok_s, p.decode_tok_s);
      std::fflush(stdout);
      nova_best = {std::max(nova_best.prefill_tok_s, n.prefill_tok_s), std::max(nova_best.decode_tok_s, n.decode_tok_s)};
      peer_best = {std::max(peer_best.prefill_tok_s, p.prefill_tok_s), std::max(peer_best.decode_tok_s, p.decode_tok_s)};
    }
    std::printf("best: nova prefill %.1f tok/s, decode %.2f tok/s (%.0f%% of roofline) | llama.cpp prefill %.1f "
                "tok/s, decode %.2f tok/s (%.0f%% of roofline) | nova/llama.cpp: prefill %.2fx, decode %.2fx\n",
                nova_best.prefill_tok_s, nova_best.decode_tok_s, 100 * nova_best.decode_tok_s / roofline,
                peer_best.prefill_tok_s, peer_best.decode_tok_s, 100 * peer_best.decode_tok_s / roofline,
                nova_best.prefill_tok_s / peer_best.prefill_tok_s, nova_best.decode_tok_s / peer_best.decode_tok_s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_vs_llamacpp: %s\n", e.what());
    return 1;
  }
  return 0;
}
