// Method + path routing: exact paths first, then the longest matching prefix. A path that
// exists under other methods answers 405 with Allow; anything else 404 (both in the OpenAI
// error shape, written by the server).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "serve/http/http_request.h"

namespace nova::serve::http {

class ResponseWriter;
using ResponseWriterPtr = std::shared_ptr<ResponseWriter>;

// A handler may answer before returning or keep the writer and answer later from any thread.
using Handler = std::function<void(const HttpRequest&, ResponseWriterPtr)>;

// kInline runs on the event-loop thread: only for handlers that never block (health, models).
enum class Dispatch { kWorker, kInline };

struct Route {
  std::string method;
  std::string path;  // exact path, or prefix when `prefix`
  bool prefix = false;
  Handler handler;
  Dispatch dispatch = Dispatch::kWorker;
};

class Router {
 public:
  Router& add(std::string method, std::string path, Handler handler, Dispatch dispatch = Dispatch::kWorker);
  Router& add_prefix(std::string method, std::string prefix, Handler handler,
                     Dispatch dispatch = Dispatch::kWorker);

  struct Match {
    const Route* route = nullptr;  // set when status == 200
    int status = 404;              // 200, 404 or 405
    std::string allow;             // for 405: "GET, POST"
  };
  // HEAD falls back to the GET route (the writer then drops the body).
  Match match(std::string_view method, std::string_view path) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace nova::serve::http
