#include "chat/parser.h"

#include "chat/parser_state.h"

namespace nova::chat {

Program parse_template(const std::string& source, const std::string& where) {
  return detail::Parser(tokenize(source, where), where).run();
}

}  // namespace nova::chat
