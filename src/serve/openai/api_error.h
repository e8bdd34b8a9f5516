// A request the server refuses, in OpenAI's terms: HTTP status, a message, the offending
// parameter ("messages[1].content", "temperature") and a short code. Handlers turn it into
// ResponseWriter::send_error(status(), message(), code(), param()).
//
// Status policy: every problem with a request body — malformed JSON, invalid UTF-8, wrong JSON
// types, out-of-range or contradictory values, unsupported features — is 400
// invalid_request_error, as OpenAI answers; 422 is never used. A body over the size limit is 413.
#pragma once

#include <string>

#include "core/error.h"

namespace nova::serve::openai {

class InvalidRequest : public Error {
 public:
  // `param` is "" when the problem is not one field's (e.g. the body is not JSON).
  InvalidRequest(std::string param, std::string message, std::string code = "invalid_value", int status = 400)
      : Error(param, message), status_(status), code_(std::move(code)) {}

  int status() const { return status_; }
  const std::string& param() const { return where(); }
  const std::string& message() const { return problem(); }
  const std::string& code() const { return code_; }

 private:
  int status_;
  std::string code_;
};

}  // namespace nova::serve::openai
