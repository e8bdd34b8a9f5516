// Shared helper for chat tests: parse + render in one call.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"

namespace nova::chat::testing {

inline std::string render(const std::string& source, const nlohmann::ordered_json& context = nlohmann::ordered_json::object(),
                          const RenderLimits& limits = {}) {
  return Template::parse(source, "test").render(context, limits);
}

// The nova::Error message of rendering `source`, or "" if it rendered.
inline std::string render_error(const std::string& source,
                                const nlohmann::ordered_json& context = nlohmann::ordered_json::object(),
                                const RenderLimits& limits = {}) {
  try {
    render(source, context, limits);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace nova::chat::testing
