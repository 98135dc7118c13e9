#include "mail/html.h"

#include <algorithm>
#include <cstdint>
#include <cctype>
#include <cstring>

#include "mail/charset.h"

namespace postern::mail {
namespace {

struct Entity {
  const char* name;
  uint32_t code;
};

// HTML5 named references that occur in mail (the full table has 2,231).
constexpr Entity kEntities[] = {
    {"AElig", 198}, {"Aacute", 193}, {"Acirc", 194},  {"Agrave", 192}, {"Aring", 197},
    {"Atilde", 195}, {"Auml", 196},  {"Ccedil", 199}, {"Eacute", 201}, {"Ecirc", 202},
    {"Egrave", 200}, {"Euml", 203},  {"Iacute", 205}, {"Icirc", 206},  {"Igrave", 204},
    {"Iuml", 207},   {"Ntilde", 209}, {"Oacute", 211}, {"Ocirc", 212}, {"Ograve", 210},
    {"Oslash", 216}, {"Otilde", 213}, {"Ouml", 214},  {"Uacute", 218}, {"Ucirc", 219},
    {"Ugrave", 217}, {"Uuml", 220},  {"Yacute", 221}, {"aacute", 225}, {"acirc", 226},
    {"acute", 180},  {"aelig", 230}, {"agrave", 224}, {"amp", 38},     {"apos", 39},
    {"aring", 229},  {"atilde", 227}, {"auml", 228},  {"bdquo", 8222}, {"brvbar", 166},
    {"bull", 8226},  {"ccedil", 231}, {"cedil", 184}, {"cent", 162},   {"copy", 169},
    {"curren", 164}, {"dagger", 8224}, {"deg", 176},  {"divide", 247}, {"eacute", 233},
    {"ecirc", 234},  {"egrave", 232}, {"emsp", 8195}, {"ensp", 8194},  {"eth", 240},
    {"euml", 235},   {"euro", 8364}, {"frac12", 189}, {"frac14", 188}, {"frac34", 190},
    {"gt", 62},      {"hellip", 8230}, {"iacute", 237}, {"icirc", 238}, {"iexcl", 161},
    {"igrave", 236}, {"iquest", 191}, {"iuml", 239},  {"laquo", 171},  {"ldquo", 8220},
    {"lsaquo", 8249}, {"lsquo", 8216}, {"lt", 60},    {"macr", 175},   {"mdash", 8212},
    {"micro", 181},  {"middot", 183}, {"nbsp", 160},  {"ndash", 8211}, {"not", 172},
    {"ntilde", 241}, {"oacute", 243}, {"ocirc", 244}, {"oelig", 339},  {"ograve", 242},
    {"ordf", 170},   {"ordm", 186},  {"oslash", 248}, {"otilde", 245}, {"ouml", 246},
    {"para", 182},   {"permil", 8240}, {"plusmn", 177}, {"pound", 163}, {"quot", 34},
    {"raquo", 187},  {"rdquo", 8221}, {"reg", 174},   {"rsaquo", 8250}, {"rsquo", 8217},
    {"sbquo", 8218}, {"scaron", 353}, {"sect", 167},  {"shy", 173},    {"sup1", 185},
    {"sup2", 178},   {"sup3", 179},  {"szlig", 223},  {"thinsp", 8201}, {"thorn", 254},
    {"times", 215},  {"trade", 8482}, {"uacute", 250}, {"ucirc", 251}, {"ugrave", 249},
    {"uml", 168},    {"uuml", 252},  {"yacute", 253}, {"yen", 165},    {"yuml", 255},
    {"zwj", 8205},   {"zwnj", 8204},
};

void put_utf8(std::string& out, uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  append_utf8(out, cp);
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// Elements whose content is not text.
bool is_skipped(std::string_view tag) {
  return tag == "script" || tag == "style" || tag == "head" || tag == "title" ||
         tag == "template" || tag == "noscript" || tag == "svg";
}

bool is_block(std::string_view tag) {
  static constexpr const char* kBlocks[] = {
      "address", "article", "aside",  "blockquote", "center", "dd",     "div",    "dl",
      "dt",      "fieldset", "figure", "footer",    "form",   "h1",     "h2",     "h3",
      "h4",      "h5",       "h6",     "header",    "hr",     "li",     "main",   "nav",
      "ol",      "p",        "pre",    "section",   "table",  "tbody",  "tfoot",  "thead",
      "tr",      "ul",       "body",   "html"};
  for (const char* b : kBlocks) {
    if (tag == b) return true;
  }
  return false;
}

class Converter {
 public:
  std::string run(std::string_view in) {
    size_t i = 0, n = in.size();
    while (i < n) {
      char c = in[i];
      if (c == '<') {
        i = tag(in, i);
      } else if (c == '&') {
        i = entity(in, i);
      } else {
        text_char(c);
        ++i;
      }
    }
    // Trim trailing blank lines, end with one newline when there is text.
    while (!out_.empty() && (out_.back() == '\n' || out_.back() == ' ')) out_.pop_back();
    if (!out_.empty()) out_ += '\n';
    return std::move(out_);
  }

 private:
  void text_char(char c) {
    if (skip_depth_ > 0) return;
    if (pre_ > 0) {
      if (c == '\r') return;
      out_ += c;
      pending_space_ = false;
      return;
    }
    if (is_space(c)) {
      pending_space_ = true;
      return;
    }
    emit_pending();
    out_ += c;
  }

  void text(std::string_view s) {
    for (char c : s) {
      if (skip_depth_ > 0) return;
      if (pre_ > 0 || !is_space(c)) {
        emit_pending();
        out_ += c;
      } else {
        pending_space_ = true;
      }
    }
  }

  void emit_pending() {
    if (pending_space_ && !out_.empty() && out_.back() != '\n' && out_.back() != ' ') {
      out_ += ' ';
    }
    pending_space_ = false;
  }

  void newline(int want = 1) {
    if (skip_depth_ > 0) return;
    pending_space_ = false;
    while (!out_.empty() && out_.back() == ' ') out_.pop_back();
    if (out_.empty()) return;
    int have = 0;
    for (size_t k = out_.size(); k > 0 && out_[k - 1] == '\n' && have < want; --k) ++have;
    for (; have < want; ++have) out_ += '\n';
  }

  size_t tag(std::string_view in, size_t i) {
    size_t n = in.size();
    if (in.compare(i, 4, "<!--") == 0) {
      size_t e = in.find("-->", i + 4);
      return e == std::string_view::npos ? n : e + 3;
    }
    if (i + 1 < n && (in[i + 1] == '!' || in[i + 1] == '?')) {
      size_t e = in.find('>', i + 1);
      return e == std::string_view::npos ? n : e + 1;
    }
    size_t j = i + 1;
    bool closing = false;
    if (j < n && in[j] == '/') {
      closing = true;
      ++j;
    }
    if (j >= n || !std::isalpha(static_cast<unsigned char>(in[j]))) {
      text_char('<');  // a lone '<' is text
      return i + 1;
    }
    std::string name;
    while (j < n && (std::isalnum(static_cast<unsigned char>(in[j])) || in[j] == '-' ||
                     in[j] == ':')) {
      name += lower(in[j]);
      ++j;
    }
    // Find the end of the tag, skipping quoted attribute values.
    size_t attrs = j;
    char quote = 0;
    while (j < n) {
      char c = in[j];
      if (quote) {
        if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '>') {
        break;
      }
      ++j;
    }
    std::string_view attr_text = in.substr(attrs, j - attrs);
    size_t after = j < n ? j + 1 : n;
    bool self_closing = !attr_text.empty() && attr_text.back() == '/';
    handle(name, closing, self_closing, attr_text);
    if (!closing && !self_closing && is_skipped(name)) {
      // Raw text: skip to the matching close tag.
      std::string close = "</" + name;
      size_t k = after;
      while (k < n) {
        size_t e = in.find("</", k);
        if (e == std::string_view::npos) return n;
        bool match = e + close.size() <= n;
        for (size_t q = 0; match && q < close.size(); ++q) {
          if (lower(in[e + q]) != close[q]) match = false;
        }
        if (match) {
          size_t gt = in.find('>', e);
          return gt == std::string_view::npos ? n : gt + 1;
        }
        k = e + 2;
      }
      return n;
    }
    return after;
  }

  void handle(const std::string& name, bool closing, bool self_closing,
              std::string_view attrs) {
    if (name == "br") {
      if (skip_depth_ == 0) {
        pending_space_ = false;
        while (!out_.empty() && out_.back() == ' ') out_.pop_back();
        out_ += '\n';
      }
      return;
    }
    if (name == "pre") {
      newline();
      if (closing) {
        pre_ = std::max(0, pre_ - 1);
      } else if (!self_closing) {
        ++pre_;
      }
      return;
    }
    if (name == "ul" || name == "ol") {
      if (closing) {
        list_depth_ = std::max(0, list_depth_ - 1);
      } else {
        ++list_depth_;
      }
      newline();
      return;
    }
    if (name == "li" && !closing) {
      newline();
      if (skip_depth_ == 0) {
        for (int d = 1; d < list_depth_; ++d) out_ += "  ";
        out_ += "- ";
      }
      return;
    }
    if (name == "p" || (name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6')) {
      newline(2);
      return;
    }
    if (name == "td" || name == "th") {
      if (closing && skip_depth_ == 0) pending_space_ = true;
      return;
    }
    if (name == "img" && skip_depth_ == 0) {
      (void)attrs;
      return;
    }
    if (is_block(name)) newline();
  }

  size_t entity(std::string_view in, size_t i) {
    size_t n = in.size();
    size_t j = i + 1;
    while (j < n && j - i <= 32 && (std::isalnum(static_cast<unsigned char>(in[j])) ||
                                    in[j] == '#')) {
      ++j;
    }
    std::string_view name = in.substr(i + 1, j - i - 1);
    std::string decoded = name.empty() ? std::string() : decode_html_entity(name);
    if (decoded.empty()) {
      text_char('&');
      return i + 1;
    }
    if (j < n && in[j] == ';') ++j;
    if (decoded == "\xC2\xA0") {
      // A no-break space is a space that does not collapse.
      if (skip_depth_ == 0) {
        emit_pending();
        out_ += ' ';
      }
    } else {
      text(decoded);
    }
    return j;
  }

  std::string out_;
  bool pending_space_ = false;
  int pre_ = 0;
  int list_depth_ = 0;
  int skip_depth_ = 0;
};

}  // namespace

std::string decode_html_entity(std::string_view name) {
  std::string out;
  if (name.size() >= 2 && name[0] == '#') {
    uint64_t cp = 0;
    bool hex = name[1] == 'x' || name[1] == 'X';
    size_t k = hex ? 2 : 1;
    if (k >= name.size()) return {};
    for (; k < name.size(); ++k) {
      char c = name[k];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (hex && c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (hex && c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return {};
      }
      cp = cp * (hex ? 16 : 10) + static_cast<uint64_t>(d);
      if (cp > 0x10FFFF) cp = 0x110000;  // saturate: becomes U+FFFD
    }
    // HTML5: C1 controls 0x80-0x9F mean their Windows-1252 characters.
    static constexpr uint16_t kC1[32] = {
        0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
    if (cp >= 0x80 && cp <= 0x9F) cp = kC1[cp - 0x80];
    put_utf8(out, static_cast<uint32_t>(cp));
    return out;
  }
  for (const Entity& e : kEntities) {
    if (name == e.name) {
      put_utf8(out, e.code);
      return out;
    }
  }
  return {};
}

std::string html_to_text(std::string_view html) { return Converter().run(html); }

}  // namespace postern::mail
