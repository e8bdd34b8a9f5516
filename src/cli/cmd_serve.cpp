// nova serve: the OpenAI-compatible HTTP server over one model directory.
#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "serve/app/serve_app.h"
#include "serve/http/http_server.h"

namespace nova::cli {

int cmd_serve(const Args& args) {
  Flags flags("serve",
              "Serves a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, "
              "/v1/models, /invocations, /health, /metrics). SIGTERM/SIGINT drain gracefully.",
              {
                  {"model", "DIR", "Hugging Face model directory", "", true},
                  {"host", "ADDR", "address to listen on (0.0.0.0 exposes the server to the network)", "127.0.0.1"},
                  {"port", "N", "TCP port (0: any free port)", "8000"},
                  {"max-batch", "N", "sequences running at once", "64"},
                  {"max-waiting", "N", "queued requests before answering 429", "256"},
                  {"kv-blocks", "N", "KV cache blocks (0: enough for max-batch full-context sequences)", "0"},
                  {"block-size", "N", "tokens per KV cache block", "16"},
                  {"workers", "N", "HTTP handler threads", "4"},
              });
  if (!flags.parse(args)) return 0;
  auto positive = [&](const char* name, int64_t lo) {
    const int64_t v = flags.integer(name);
    if (v < lo) throw UsageError{std::string("--") + name + " must be at least " + std::to_string(lo)};
    return v;
  };
  const int64_t port = flags.integer("port");
  if (port < 0 || port > 65535) throw UsageError{"--port must be in [0, 65535]"};

  serve::app::ServeAppOptions opts;
  opts.model_dir = flags.str("model");
  opts.engine.max_running = static_cast<int>(positive("max-batch", 1));
  opts.engine.max_waiting = static_cast<int>(positive("max-waiting", 1));
  opts.engine.num_blocks = positive("kv-blocks", 0);
  opts.engine.block_size = positive("block-size", 1);
  opts.server.worker_threads = static_cast<int>(positive("workers", 1));

  serve::app::ServeApp app(opts);
  app.start(flags.str("host"), static_cast<uint16_t>(port));
  serve::http::install_drain_signals(app.server());
  std::cout << "nova serve: model '" << app.model().name << "' at http://" << flags.str("host") << ":" << app.port()
            << "/v1 (Ctrl-C to stop)" << std::endl;
  app.server().wait();  // returns once a signal's drain is over
  serve::http::uninstall_drain_signals();
  app.stop();
  std::cout << "nova serve: stopped" << std::endl;
  return 0;
}

}  // namespace nova::cli
