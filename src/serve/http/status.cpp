#include "serve/http/status.h"

#include <nlohmann/json.hpp>

namespace nova::serve::http {

std::string_view status_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 200 ? "Informational" : status < 300 ? "Success" : status < 400 ? "Redirect"
                    : status < 500 ? "Client Error" : "Server Error";
  }
}

std::string_view error_type_for_status(int status) {
  return status >= 500 ? "server_error" : "invalid_request_error";
}

std::string openai_error_json(std::string_view message, std::string_view type,
                              std::optional<std::string_view> param, std::optional<std::string_view> code) {
  nlohmann::json err = {
      {"message", std::string(message)},
      {"type", std::string(type)},
      {"param", param ? nlohmann::json(std::string(*param)) : nlohmann::json(nullptr)},
      {"code", code ? nlohmann::json(std::string(*code)) : nlohmann::json(nullptr)},
  };
  // `replace`: a message quoting a hostile request must not make dump() throw on bad UTF-8.
  return nlohmann::json{{"error", std::move(err)}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace nova::serve::http
