// Direct JSON text writers for the hot path of streaming (one SSE chunk per token), where
// building an nlohmann DOM per token costs more than the model step. Each appends exactly the
// bytes nlohmann's dump(-1, ' ', false, error_handler_t::replace) writes for the same value, so
// chunks written either way are byte-identical (tests/serve/openai_json_text_test.cpp checks it).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace nova::serve::openai {

// `s` as a quoted JSON string: '"', '\\' and control characters escaped (\b \f \n \r \t, else
// \u00xx), everything else as raw UTF-8; each invalid UTF-8 sequence becomes U+FFFD the way
// nlohmann's replace handler does it (the offending byte is read again as a possible lead byte).
void append_json_string(std::string& out, std::string_view s);
void append_json_int(std::string& out, int64_t v);
// nlohmann's shortest round-trip form ("-1.25", "1e-05", "3.0"); non-finite values as null.
void append_json_double(std::string& out, double v);

}  // namespace nova::serve::openai
