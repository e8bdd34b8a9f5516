#include "data/brown.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <system_error>

#include "core/error.h"

namespace nova::data {

namespace {


bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::vector<std::string_view> split_whitespace(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_space(line[i])) ++i;
    size_t j = i;
    while (j < line.size() && !is_space(line[j])) ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// A headline tag carries an "-hl" part (`nn-hl`, `.-hl`, `vbn-hl` ...).
bool is_headline_tag(std::string_view tag) {
  size_t pos = 0;
  while ((pos = tag.find("-hl", pos)) != std::string_view::npos) {
    const size_t end = pos + 3;
    if (end == tag.size() || tag[end] == '-') return true;
    pos = end;
  }
  return false;
}

enum class Attach { none, opening, closing };

std::string render_paragraph(const std::vector<std::string_view>& words) {
  std::string out;
  bool glue_next = true;  // no space before the first word or after an opening bracket/quote
  bool single_quote_open = false;
  for (std::string_view w : words) {
    std::string_view text = w;
    Attach kind = Attach::none;
    if (w == "``") {
      text = "\"";
      kind = Attach::opening;
    } else if (w == "''") {
      text = "\"";
      kind = Attach::closing;
    } else if (w == "'") {
      kind = single_quote_open ? Attach::closing : Attach::opening;
      single_quote_open = !single_quote_open;
    } else if (w == "," || w == "." || w == ";" || w == ":" || w == "!" || w == "?" || w == ")" || w == "]" ||
               w == "}") {
      kind = Attach::closing;
    } else if (w == "(" || w == "[" || w == "{") {
      kind = Attach::opening;
    }
    // The corpus ends a sentence cut at a semicolon with ";/. ;/.", and an abbreviation at the end of a
    // sentence is followed by its own "./." ("Jr./np ./."): one mark is enough.
    if ((w == "." || w == ";") && !out.empty() && out.back() == w[0]) continue;
    if (!glue_next && kind != Attach::closing) out += ' ';
    out += text;
    glue_next = kind == Attach::opening;
  }
  return out;
}

}  // namespace

std::string brown_to_text(std::string_view tagged) {
  std::vector<std::vector<std::string_view>> paragraphs;
  bool after_blank = true;
  bool last_was_headline = false;
  size_t start = 0;
  while (start <= tagged.size()) {
    size_t end = tagged.find('\n', start);
    if (end == std::string_view::npos) end = tagged.size();
    const std::string_view line = tagged.substr(start, end - start);
    start = end + 1;
    const std::vector<std::string_view> tokens = split_whitespace(line);
    if (tokens.empty()) {
      after_blank = true;
      continue;
    }
    std::vector<std::string_view> words;
    bool headline = true;
    for (std::string_view tok : tokens) {
      const size_t slash = tok.rfind('/');
      std::string_view word = tok;
      if (slash != std::string_view::npos) {
        word = tok.substr(0, slash);
        if (!is_headline_tag(tok.substr(slash + 1))) headline = false;
      } else {
        headline = false;  // an untagged token: keep it as it is
      }
      if (!word.empty()) words.push_back(word);
    }
    if (words.empty()) continue;
    const bool indented = line[0] == '\t' || line[0] == ' ';
    if (paragraphs.empty() || after_blank || indented || headline || last_was_headline) paragraphs.emplace_back();
    paragraphs.back().insert(paragraphs.back().end(), words.begin(), words.end());
    after_blank = false;
    last_was_headline = headline;
  }
  std::string out;
  for (const auto& p : paragraphs) {
    if (!out.empty()) out += "\n\n";
    out += render_paragraph(p);
  }
  return out;
}

std::vector<std::string> brown_corpus_files(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) fail(dir, "cannot list the Brown corpus directory: " + ec.message());
  std::vector<std::string> files;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.size() == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'r' && std::isdigit((unsigned char)name[2]) &&
        std::isdigit((unsigned char)name[3]) && entry.is_regular_file())
      files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace nova::data
