// bench_serve_load: `nova serve` under N concurrent streaming clients, against the same prompts
// generated in-process in the same run.
//
// For each N of the sweep, `repeats` times and interleaved: (1) the serving engine in-process
// (LlmEngine, N requests in flight, no HTTP) and (2) the server (N keep-alive connections
// streaming /v1/completions). Reports requests/s, output tokens/s, time to first token,
// inter-token latency and end-to-end latency percentiles, CPU time per output token, and the
// server's throughput against the in-process engine at the same N and against single-sequence
// generation (engine::generate, what `nova generate` runs) over the same prompts. Every request
// is greedy with the same max_tokens, and every answer is checked to be exactly what
// engine::generate produces for its prompt, so both sides did the same work.
//
// Requests ask for `logprobs: 0` so the server sends one SSE event per token (it otherwise holds
// back text that is not yet valid UTF-8, and the random demo model emits mostly such bytes):
// inter-token latency is then measured per token, not per text chunk.
//
// Usage: bench_serve_load --model DIR [--url http://HOST:PORT] [--nova PATH] [--clients 1,4,16,64]
//                         [--rounds 4] [--max-tokens 64] [--repeats 3] [--no-baseline]
//                         [--random-model HIDDEN:LAYERS] [--no-logprobs]
//   --model   model directory: spawned as `nova serve` (unless --url) and loaded in-process
//   --url     an already running server (then the in-process side still needs --model)
//   --random-model  serve instead a random-weight Qwen3 model of that size, written to a
//             temporary directory with --model's tokenizer (a model costlier per token than
//             the demo, to see how the server's per-token overhead compares with real work)
//   --no-logprobs  plain text streaming: the server then sends a chunk only when text becomes
//             valid UTF-8, so TTFT / ITL are per chunk and tokens are counted from the usage
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "core/cpu_features.h"
#include "engine/generate.h"
#include "engine/llm_engine.h"
#include "engine/model_files.h"
#include "engine/tokenizer_detokenizer.h"
#include "model/transformer.h"
#include "random_model.h"
#include "serve/openai/responses.h"
#include "serve/openai/stream_chunks.h"
#include "serve_process.h"
#include "sse_load_client.h"
#include "tokenizer/tokenizer.h"

namespace {

using nlohmann::json;
using nova::bench::now_seconds;

// The fixed prompt set: plain English of different lengths (16 to ~130 bytes).
const std::vector<std::string> kPrompts = {
    "The quick brown fox",
    "Once upon a time, in a small village by the sea,",
    "List three reasons why the sky appears blue during the day.",
    "def fibonacci(n):",
    "Translate to French: The library opens at nine in the morning.",
    "In 1969, the first humans landed on the Moon. Describe what they",
    "Dear committee, I am writing to apply for",
    "The recipe calls for two cups of flour, one egg, and a pinch of salt. First,",
    "Q: What is the capital of Australia?\nA:",
    "Summarize the following paragraph in one sentence: Rivers carve valleys over millions of years as water erodes rock.",
    "A haiku about autumn leaves:",
    "SELECT name, age FROM users WHERE",
    "The meeting has been moved to Thursday because",
    "Write a short story about a robot who learns to paint. It begins on a rainy afternoon when the robot",
    "Hello",
    "Photosynthesis converts light energy into chemical energy; the main products are",
};

struct Options {
  std::string model_dir, url, nova;
  std::vector<int> clients = {1, 4, 16, 64};
  int rounds = 4, max_tokens = 64, repeats = 3;
  bool baseline = true;
  bool logprobs = true;  // ask for logprobs: one SSE event per token
  std::optional<nova::bench::RandomModelShape> random_model;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "bench_serve_load: %s\nusage: bench_serve_load --model DIR [--url http://HOST:PORT] [--nova PATH] "
               "[--clients 1,4,16,64] [--rounds 4] [--max-tokens 64] [--repeats 3] [--no-baseline]\n",
               why.c_str());
  std::exit(2);
}

int positive(const std::string& flag, const std::string& v) {
  char* end = nullptr;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || x < 1 || x > 1'000'000) usage(flag + " needs a positive integer, got '" + v + "'");
  return static_cast<int>(x);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--no-baseline" || a == "--no-logprobs") {
      (a == "--no-baseline" ? o.baseline : o.logprobs) = false;
      continue;
    }
    if (i + 1 >= argc) usage("missing value for " + a);
    const std::string v = argv[++i];
    if (a == "--model") o.model_dir = v;
    else if (a == "--url") o.url = v;
    else if (a == "--nova") o.nova = v;
    else if (a == "--rounds") o.rounds = positive(a, v);
    else if (a == "--max-tokens") o.max_tokens = positive(a, v);
    else if (a == "--repeats") o.repeats = positive(a, v);
    else if (a == "--random-model") {
      const size_t colon = v.find(':');
      if (colon == std::string::npos) usage("--random-model needs HIDDEN:LAYERS, e.g. 512:4");
      nova::bench::RandomModelShape shape;
      shape.hidden = positive(a, v.substr(0, colon));
      shape.layers = positive(a, v.substr(colon + 1));
      shape.heads = std::max<int64_t>(1, shape.hidden / 64);
      shape.kv_heads = std::max<int64_t>(1, shape.heads / 2);
      if (shape.hidden % 64 != 0) usage("--random-model: HIDDEN must be a multiple of 64");
      o.random_model = shape;
    }
    else if (a == "--clients") {
      o.clients.clear();
      for (size_t s = 0; s <= v.size();) {
        const size_t comma = std::min(v.find(',', s), v.size());
        o.clients.push_back(positive(a, v.substr(s, comma - s)));
        s = comma + 1;
      }
    } else usage("unknown flag " + a);
  }
  if (o.model_dir.empty()) usage("--model DIR is required (the in-process side loads it)");
  if (o.nova.empty()) o.nova = (std::filesystem::canonical("/proc/self/exe").parent_path() / "nova").string();
  return o;
}

double cpu_seconds_self() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * double(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// One measured pass of N concurrent requests.
struct Pass {
  double wall = 0;
  int64_t tokens = 0;
  int requests = 0, errors = 0, mismatches = 0;
  double cpu = 0, client_cpu = 0;
  double steps = 0;  // engine step-loop iterations during the pass
  std::vector<double> ttft, itl, e2e;
  std::string first_error;
  std::map<long, nova::bench::ServeProcess::ThreadCpu> server_threads;  // CPU seconds used per thread id
};

// What a side (engine or server) did over the repeats of one N.
struct Side {
  std::vector<Pass> passes;
  std::vector<double> tps() const {
    std::vector<double> v;
    for (const auto& p : passes) v.push_back(double(p.tokens) / p.wall);
    std::sort(v.begin(), v.end());
    return v;
  }
  double best_tps() const { return tps().back(); }
  // Over every pass: total tokens / total wall time, and CPU seconds per token.
  double mean_tps() const {
    double tokens = 0, wall = 0;
    for (const auto& p : passes) tokens += double(p.tokens), wall += p.wall;
    return tokens / wall;
  }
  double cpu_per_token() const {
    double tokens = 0, cpu = 0;
    for (const auto& p : passes) tokens += double(p.tokens), cpu += p.cpu;
    return cpu / tokens;
  }
  double median_tps() const { return tps()[tps().size() / 2]; }
  std::vector<double> pooled(std::vector<double> Pass::*f) const {
    std::vector<double> v;
    for (const auto& p : passes) v.insert(v.end(), (p.*f).begin(), (p.*f).end());
    return v;
  }
};

struct Workload {
  std::shared_ptr<nova::model::Transformer> model;
  std::optional<nova::tokenizer::Tokenizer> tok;
  std::unique_ptr<nova::engine::TokenizerDetokenizer> detok;
  std::vector<std::vector<int32_t>> prompt_ids;
  std::vector<int32_t> eos;
  std::vector<std::string> reference_text;  // engine::generate's greedy output per prompt
  int max_tokens = 0;
};

// Single-sequence generation (`nova generate`'s path), each prompt once; tokens/s.
double run_generate_pass(Workload& w, bool keep_reference) {
  int64_t tokens = 0;
  const double t0 = now_seconds();
  for (size_t p = 0; p < w.prompt_ids.size(); ++p) {
    nova::engine::GenerationRequest req;
    req.prompt = w.prompt_ids[p];
    req.max_tokens = w.max_tokens;
    req.sampling.temperature = 0;
    req.stop_token_ids = w.eos;
    auto session = w.model->new_session();
    const auto r = nova::engine::generate(*session, w.detok.get(), req);
    tokens += static_cast<int64_t>(r.tokens.size());
    if (keep_reference) w.reference_text.push_back(r.text);
  }
  return double(tokens) / (now_seconds() - t0);
}

// The serving engine in-process: `n` threads, each submitting its share of `total` requests one
// after another (the same closed loop as the HTTP clients).
Pass run_engine_pass(Workload& w, nova::engine::LlmEngine& engine, int n, int total) {
  struct Record {
    double t_submit = 0;
    std::vector<double> token_times;
    nova::engine::GenerationResult result;
    size_t prompt = 0;
  };
  std::vector<Record> records(static_cast<size_t>(total));
  const double cpu0 = cpu_seconds_self(), t0 = now_seconds();
  const int64_t steps0 = engine.stats().steps;
  std::vector<std::thread> threads;
  for (int c = 0; c < n; ++c)
    threads.emplace_back([&, c] {
      for (int i = c; i < total; i += n) {
        Record& rec = records[static_cast<size_t>(i)];
        rec.prompt = static_cast<size_t>(i) % w.prompt_ids.size();
        nova::engine::EngineRequest req;
        req.prompt = w.prompt_ids[rec.prompt];
        req.max_tokens = w.max_tokens;
        req.sampling.temperature = 0;
        req.stop_token_ids = w.eos;
        req.on_token = [&rec](const nova::engine::TokenEvent& ev) {
          if (ev.token >= 0) rec.token_times.push_back(now_seconds());
          return true;
        };
        rec.t_submit = now_seconds();
        auto sub = engine.submit(std::move(req));
        if (sub.status != nova::engine::EngineStatus::Ok) continue;
        rec.result = sub.handle->wait();
      }
    });
  for (auto& t : threads) t.join();
  Pass p;
  p.wall = now_seconds() - t0;
  p.cpu = cpu_seconds_self() - cpu0;
  p.steps = double(engine.stats().steps - steps0);
  for (const auto& rec : records) {
    ++p.requests;
    if (rec.token_times.empty()) {
      ++p.errors;
      continue;
    }
    p.tokens += static_cast<int64_t>(rec.result.tokens.size());
    if (rec.result.text != w.reference_text[rec.prompt]) ++p.mismatches;
    p.ttft.push_back(rec.token_times.front() - rec.t_submit);
    for (size_t k = 1; k < rec.token_times.size(); ++k) p.itl.push_back(rec.token_times[k] - rec.token_times[k - 1]);
    p.e2e.push_back(rec.token_times.back() - rec.t_submit);
  }
  return p;
}

std::string completion_body(const std::string& model_name, const std::string& prompt, int max_tokens, bool logprobs) {
  json j = {{"model", model_name}, {"prompt", prompt},  {"max_tokens", max_tokens},
            {"temperature", 0},    {"stream", true},    {"stream_options", {{"include_usage", true}}}};
  if (logprobs) j["logprobs"] = 0;
  return j.dump();
}

double thread_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

double server_steps(int port) {
  return nova::bench::prometheus_value(nova::bench::http_get(port, "/metrics").body, "nova_engine_steps_total");
}

// The server: `n` keep-alive connections streaming `total` requests; answers parsed afterwards.
Pass run_server_pass(const Workload& w, nova::bench::SseLoadClient& client, const nova::bench::ServeProcess* server,
                     const std::string& model_name, int n, int total, bool logprobs) {
  const double steps0 = server ? server_steps(server->port()) : NAN;
  std::vector<std::string> bodies;
  for (int i = 0; i < total; ++i)
    bodies.push_back(
        completion_body(model_name, kPrompts[static_cast<size_t>(i) % kPrompts.size()], w.max_tokens, logprobs));
  const double server_cpu0 = server ? server->cpu_seconds() : 0, client_cpu0 = thread_cpu_seconds();
  const auto threads0 = server ? server->thread_cpu() : decltype(server->thread_cpu()){};
  const double t0 = now_seconds();
  const auto responses = client.run("/v1/completions", bodies, n, 600);
  Pass p;
  p.wall = now_seconds() - t0;
  p.client_cpu = thread_cpu_seconds() - client_cpu0;
  p.cpu = server ? server->cpu_seconds() - server_cpu0 : NAN;
  p.steps = server ? server_steps(server->port()) - steps0 : NAN;
  if (server)
    for (const auto& [tid, t] : server->thread_cpu()) {
      const auto before = threads0.count(tid) ? threads0.at(tid) : nova::bench::ServeProcess::ThreadCpu{};
      p.server_threads[tid] = {t.user - before.user, t.sys - before.sys};
    }
  for (size_t i = 0; i < responses.size(); ++i) {
    const auto& r = responses[i];
    ++p.requests;
    std::string text;
    std::vector<double> token_times;
    int64_t usage_tokens = -1;
    bool done = false;
    std::string error = r.ok() ? "" : r.error;
    for (const auto& ev : r.events) {
      if (ev.data == "[DONE]") {
        done = true;
        continue;
      }
      const json j = json::parse(ev.data, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object()) {
        error = "an event is not JSON: " + ev.data.substr(0, 80);
        break;
      }
      if (j.contains("usage") && j["usage"].is_object()) usage_tokens = j["usage"].value("completion_tokens", -1);
      if (!j.contains("choices") || j["choices"].empty()) continue;
      const json& c = j["choices"][0];
      if (c.contains("text") && c["text"].is_string()) text += c["text"].get<std::string>();
      const bool token_event = logprobs ? c.contains("logprobs") && c["logprobs"].is_object() &&
                                              !c["logprobs"]["tokens"].empty()
                                        : c.contains("text") && c["text"].is_string() && !c["text"].get<std::string>().empty();
      if (token_event) token_times.push_back(ev.t);
    }
    if (error.empty() && !done) error = "stream ended without [DONE]";
    if (error.empty() && logprobs && usage_tokens != static_cast<int64_t>(token_times.size()))
      error = "usage.completion_tokens " + std::to_string(usage_tokens) + " but " +
              std::to_string(token_times.size()) + " token events";
    if (error.empty() && usage_tokens <= 0) error = "no usage / no tokens";
    if (!error.empty()) {
      ++p.errors;
      if (p.first_error.empty()) p.first_error = error;
      continue;
    }
    p.tokens += usage_tokens;
    if (text != w.reference_text[i % kPrompts.size()]) ++p.mismatches;
    p.e2e.push_back(r.t_done - r.t_sent);
    if (token_times.empty()) continue;  // text streaming: a reply may be all held-back bytes
    p.ttft.push_back(token_times.front() - r.t_sent);
    for (size_t k = 1; k < token_times.size(); ++k) p.itl.push_back(token_times[k] - token_times[k - 1]);
  }
  return p;
}

void print_side(int n, const char* name, const Side& s) {
  const auto ms = [](double x) { return 1e3 * x; };
  int64_t tokens = 0;
  int requests = 0, errors = 0, mismatches = 0;
  double wall = 0, cpu = 0, client_cpu = 0, steps = 0;
  for (const auto& p : s.passes) {
    tokens += p.tokens, requests += p.requests, errors += p.errors, mismatches += p.mismatches;
    wall += p.wall, cpu += p.cpu, client_cpu += p.client_cpu, steps += p.steps;
  }
  const auto ttft = s.pooled(&Pass::ttft), itl = s.pooled(&Pass::itl), e2e = s.pooled(&Pass::e2e);
  std::printf("%4d %-7s %7.1f %9.0f %9.0f %7.1f %7.1f %7.1f %6.2f %6.2f %6.2f %7.0f %7.1f %6.1f %6.1f %6.3f %4d %4d\n",
              n, name,
              double(requests) / wall, s.best_tps(), s.median_tps(), ms(percentile(ttft, 50)),
              ms(percentile(ttft, 95)), ms(percentile(ttft, 99)), ms(percentile(itl, 50)), ms(percentile(itl, 95)),
              ms(percentile(itl, 99)), ms(percentile(e2e, 95)), 1e6 * cpu / double(tokens),
              1e6 * client_cpu / double(tokens), double(tokens) / steps, 1e3 * wall / steps, errors, mismatches);
  for (const auto& p : s.passes)
    if (!p.first_error.empty()) {
      std::printf("     %s error: %s\n", name, p.first_error.c_str());
      break;
    }
}

// What the server adds per streamed token, timed here with the server's own functions: on the
// engine's step thread, the token's text and the eventfd write that wakes the event loop (the
// queue push itself is a vector append); on the event loop, the text_completion SSE chunk with
// its logprobs rendered by StreamChunkWriter. Best of 3 runs of `reps` each; microseconds per token.
void print_per_token_costs(const Workload& w) {
  namespace oa = nova::serve::openai;
  const std::vector<int32_t>& ids = w.prompt_ids[13];  // the longest prompt: varied tokens
  const int reps = 20000;
  const oa::ResponseMeta meta{oa::make_id("cmpl-"), oa::unix_now(), "demo", ""};
  const oa::StreamChunkWriter writer(meta, oa::StreamChunkWriter::Kind::kText, /*include_usage=*/true);
  size_t sink = 0;
  std::string out;
  auto per_token_us = [&](auto&& fn) {
    const double t = nova::bench::time_repeats([&] { for (int i = 0; i < reps; ++i) fn(ids[size_t(i) % ids.size()]); }, 3)
                         .best;
    return 1e6 * t / reps;
  };
  const double text_us = per_token_us([&](int32_t id) {
    const int32_t one[1] = {id};
    sink += w.tok->decode(one, false).size();
  });
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const double wake_us = per_token_us([&](int32_t) {
    uint64_t one = 1;
    sink += static_cast<size_t>(::write(efd, &one, sizeof one));
    if ((sink & 1023) == 0) sink += static_cast<size_t>(::read(efd, &one, sizeof one));  // keep the counter small
  });
  ::close(efd);
  const double chunk_us = per_token_us([&](int32_t id) {
    const int32_t one[1] = {id};
    const oa::TokenLogprob t{w.tok->decode(one, false), -1.25, {}};
    out.clear();
    writer.delta(out, 0, t.token, &t);
    sink += out.size();
  });
  std::printf("\nper-token server work, timed in-process with the server's code (us/token, best of 3 x %d):\n"
              "  step thread: token text %.2f, eventfd wake %.2f | event loop: SSE chunk with logprobs %.2f "
              "(includes its token text)%s\n",
              reps, text_us, wake_us, chunk_us, sink == 0 ? " " : "");
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_options(argc, argv);
  std::string scratch;  // the --random-model directory, removed at the end
  if (opt.random_model) {
    scratch = (std::filesystem::temp_directory_path() / ("nova-bench-serve-" + std::to_string(::getpid()))).string();
    nova::bench::write_random_qwen3(scratch, opt.model_dir, *opt.random_model);
    std::printf("random-weight qwen3: hidden %lld, intermediate %lld, %lld layers, %lld/%lld heads, tokenizer of %s\n",
                static_cast<long long>(opt.random_model->hidden), static_cast<long long>(opt.random_model->intermediate()),
                static_cast<long long>(opt.random_model->layers), static_cast<long long>(opt.random_model->heads),
                static_cast<long long>(opt.random_model->kv_heads), opt.model_dir.c_str());
    opt.model_dir = scratch;
  }
  const nova::IsaTier isa = nova::active_isa();
  if (opt.baseline) nova::bench::print_baseline(nova::bench::measure_baseline(isa), isa);
  else
    std::printf("cpu: %s | threads: %d | features: %s\n", nova::bench::cpu_model_name().c_str(),
                nova::ThreadPool::global().size(), nova::cpu_features().summary().c_str());

  Workload w;
  w.max_tokens = opt.max_tokens;
  w.model = nova::model::Transformer::load(opt.model_dir);
  w.tok = nova::tokenizer::Tokenizer::from_file(nova::engine::find_tokenizer_json(opt.model_dir));
  w.detok = std::make_unique<nova::engine::TokenizerDetokenizer>(*w.tok);
  // The stop ids `nova generate` and the server use: generation_config.json, else config.json.
  for (int id : nova::engine::load_generation_defaults(opt.model_dir).eos_token_ids) w.eos.push_back(id);
  if (w.eos.empty())
    for (int id : w.model->config().eos_token_ids) w.eos.push_back(id);
  for (const auto& p : kPrompts) w.prompt_ids.push_back(w.tok->encode(p, /*add_special_tokens=*/true));
  // The server's model id: the directory's last component.
  std::filesystem::path dir = std::filesystem::path(opt.model_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  const std::string model_name = dir.filename().string();

  std::vector<double> gen_tps = {run_generate_pass(w, /*keep_reference=*/true)};
  int64_t ref_tokens = 0;
  for (const auto& ids : w.prompt_ids) ref_tokens += static_cast<int64_t>(ids.size());
  std::printf("model: %s | %zu prompts (%lld prompt tokens) | greedy, max_tokens %d, stop ids from the model | "
              "%d request(s) per client per pass, %d passes | server streams %s\n",
              opt.model_dir.c_str(), kPrompts.size(), static_cast<long long>(ref_tokens), opt.max_tokens, opt.rounds,
              opt.repeats, opt.logprobs ? "one event per token (logprobs: 0)" : "text chunks (no logprobs)");

  std::unique_ptr<nova::bench::ServeProcess> server;
  std::string host = "127.0.0.1";
  int port = 0;
  if (opt.url.empty()) {
    server = std::make_unique<nova::bench::ServeProcess>(opt.nova, opt.model_dir, std::vector<std::string>{});
    port = server->port();
    std::printf("server: %s serve --model %s (pid %d, port %d)\n", opt.nova.c_str(), opt.model_dir.c_str(),
                static_cast<int>(server->pid()), port);
  } else {
    const std::string rest = opt.url.substr(opt.url.find("//") == std::string::npos ? 0 : opt.url.find("//") + 2);
    const size_t colon = rest.rfind(':');
    if (colon == std::string::npos) usage("--url must be http://HOST:PORT");
    host = rest.substr(0, colon);
    port = positive("--url port", rest.substr(colon + 1, rest.find('/', colon) - colon - 1));
    std::printf("server: %s (not spawned: no server CPU figures)\n", opt.url.c_str());
  }
  nova::bench::SseLoadClient client(host, port);
  nova::engine::LlmEngine engine(w.model, w.detok.get(), nova::engine::EngineConfig{});

  // Warm-up: every prompt once on each side (page faults, prefix cache, allocator).
  run_engine_pass(w, engine, 4, static_cast<int>(kPrompts.size()));
  run_server_pass(w, client, server.get(), model_name, 4, static_cast<int>(kPrompts.size()), opt.logprobs);

  std::map<int, std::pair<Side, Side>> sweep;
  for (int n : opt.clients) {
    auto& [eng, srv] = sweep[n];
    for (int r = 0; r < opt.repeats; ++r) {
      eng.passes.push_back(run_engine_pass(w, engine, n, n * opt.rounds));
      srv.passes.push_back(run_server_pass(w, client, server.get(), model_name, n, n * opt.rounds, opt.logprobs));
    }
    gen_tps.push_back(run_generate_pass(w, false));
  }
  std::sort(gen_tps.begin(), gen_tps.end());

  std::printf("\nsingle-sequence engine::generate (nova generate's path), %zu prompts one after another: "
              "best %.0f tok/s, median %.0f tok/s (%zu passes)\n\n",
              kPrompts.size(), gen_tps.back(), gen_tps[gen_tps.size() / 2], gen_tps.size());
  std::printf("   N side      req/s  tok/s    tok/s    TTFT ms                 ITL ms             E2E ms  CPU us/tok    "
              "tok/   ms/    err  mis\n");
  std::printf("                      best     median   p50     p95     p99     p50    p95    p99    p95     side  client "
              "step   step\n");
  for (const auto& [n, sides] : sweep) {
    print_side(n, "engine", sides.first);
    print_side(n, "server", sides.second);
  }
  // Three views of the overhead: the best pass of each side (what the code can do when the
  // machine lets it), all passes together (what it did), and CPU time per token (least
  // sensitive to other load on a shared machine: the server's own extra work per token).
  std::printf("\nserver against in-process (overhead = 1 - server/engine throughput; CPU: server/engine per token):\n");
  for (const auto& [n, sides] : sweep) {
    const Side &e = sides.first, &s = sides.second;
    std::printf("  N=%-3d best pass %.3f (overhead %+.1f%%) | all passes %.3f (overhead %+.1f%%) | CPU/token %.3f"
                " | server/generate (best) %.3f\n",
                n, s.best_tps() / e.best_tps(), 100.0 * (1.0 - s.best_tps() / e.best_tps()), s.mean_tps() / e.mean_tps(),
                100.0 * (1.0 - s.mean_tps() / e.mean_tps()), s.cpu_per_token() / e.cpu_per_token(),
                s.best_tps() / gen_tps.back());
  }
  print_per_token_costs(w);
  if (server) {
    // Where the server's CPU goes, per thread (from /proc/PID/task/*/stat: no profiler needed).
    std::printf("\nserver CPU per output token by thread, us user+sys (threads in creation order):\n");
    for (const auto& [n, sides] : sweep) {
      std::map<long, nova::bench::ServeProcess::ThreadCpu> sum;
      int64_t tokens = 0;
      for (const auto& p : sides.second.passes) {
        tokens += p.tokens;
        for (const auto& [tid, t] : p.server_threads) sum[tid].user += t.user, sum[tid].sys += t.sys;
      }
      std::printf("  N=%-3d", n);
      int index = 0;
      for (const auto& [tid, t] : sum) {
        const double us = 1e6 * (t.user + t.sys) / double(tokens);
        if (us >= 0.05) std::printf(" | #%d %.1f+%.1f", index, 1e6 * t.user / double(tokens), 1e6 * t.sys / double(tokens));
        ++index;
      }
      std::printf("\n");
    }
    const int status = server->stop();
    std::printf("server exit status after SIGTERM: %d\n", status);
  }
  if (!scratch.empty()) std::filesystem::remove_all(scratch);
  return 0;
}
