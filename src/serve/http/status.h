// HTTP status reason phrases and the OpenAI-shaped JSON error bodies every error response uses:
// {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nova::serve::http {

std::string_view status_reason(int status);

// "invalid_request_error" for 4xx, "server_error" for 5xx (OpenAI's two transport-level types).
std::string_view error_type_for_status(int status);

std::string openai_error_json(std::string_view message, std::string_view type,
                              std::optional<std::string_view> param = std::nullopt,
                              std::optional<std::string_view> code = std::nullopt);

}  // namespace nova::serve::http
