// HTML to plain text, for text extraction (search, previews, spam checks, `msg-parse --text`).
//
// Not a renderer: tags are dropped, script/style/head content is skipped, character
// references are decoded (HTML5 named ones in common use, and numeric ones), block elements
// and <br> become line breaks, list items get "- ", and white space collapses as a browser
// would outside <pre>. Input is UTF-8 (convert first); output is UTF-8.
//
//   html_to_text("<p>Caf&eacute; &amp; <b>bar</b></p><ul><li>one<li>two</ul>")
//   // "Café & bar\n\n- one\n- two\n"
#pragma once

#include <string>
#include <string_view>

namespace postern::mail {

std::string html_to_text(std::string_view html);

// Decodes one character reference body ("amp", "#233", "#x1F600"); empty when unknown.
std::string decode_html_entity(std::string_view name);

}  // namespace postern::mail
