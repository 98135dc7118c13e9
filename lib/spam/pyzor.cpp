// Pyzor digest and protocol; see pyzor.h. The digest follows Pyzor 1.0's rules as its
// Python implementation applies them (Unicode white space, str.splitlines line breaks,
// html.parser's tokenising), because a digest that differs by one byte is useless.
#include "spam/pyzor.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>

#include "base/fd.h"
#include "mail/charset.h"
#include "mail/html.h"

namespace postern::spam::pyzor {

using base::Error;
using base::Result;

namespace {

// ---- Unicode helpers ----

std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string encode_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c >= 0xD800 && c <= 0xDFFF) continue;  // Python's encode("utf8", "ignore")
    mail::append_utf8(out, c);
  }
  return out;
}

// Python's str.isspace() (what \s matches in a str pattern).
bool is_space(char32_t c) {
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Python's str.splitlines() boundaries.
bool is_line_break(char32_t c) {
  return c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || c == 0x1C || c == 0x1D || c == 0x1E ||
         c == 0x85 || c == 0x2028 || c == 0x2029;
}

// [a-z] under re.IGNORECASE on str: ASCII letters and the four characters that fold to
// one of them.
bool is_url_letter(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == 0x130 || c == 0x131 ||
         c == 0x17F || c == 0x212A;
}

std::vector<std::u32string> split_lines(const std::u32string& s) {
  std::vector<std::u32string> lines;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!is_line_break(s[i])) continue;
    lines.emplace_back(s, start, i - start);
    if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < s.size()) lines.emplace_back(s, start);
  return lines;
}

std::u32string strip(std::u32string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::u32string(s.substr(b, e - b));
}

// The non-space runs of s: [begin, end) pairs.
std::vector<std::pair<size_t, size_t>> runs(const std::u32string& s) {
  std::vector<std::pair<size_t, size_t>> r;
  size_t i = 0;
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
      continue;
    }
    size_t b = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    r.emplace_back(b, i);
  }
  return r;
}

// Removes, from each non-space run, the part [cut(run), end) when cut returns a position.
template <typename Cut>
std::u32string remove_run_tails(const std::u32string& s, Cut cut) {
  std::u32string out;
  size_t last = 0;
  for (auto [b, e] : runs(s)) {
    std::optional<size_t> from = cut(s, b, e);
    if (!from) continue;
    out.append(s, last, *from - last);
    last = e;
  }
  out.append(s, last);
  return out;
}

std::u32string normalize(const std::u32string& line) {
  // \S{10,}: a maximal run of 10 or more goes.
  std::u32string s = remove_run_tails(line, [](const std::u32string&, size_t b, size_t e) {
    return e - b >= 10 ? std::optional<size_t>(b) : std::nullopt;
  });
  // \S+@\S+: a run with an '@' that has a character on each side goes whole.
  s = remove_run_tails(s, [](const std::u32string& t, size_t b, size_t e) {
    for (size_t i = b + 1; i + 1 < e; ++i)
      if (t[i] == '@') return std::optional<size_t>(b);
    return std::optional<size_t>();
  });
  // [a-z]+:\S+ (ignoring case): from the letters before the first such ':' to the run's end.
  s = remove_run_tails(s, [](const std::u32string& t, size_t b, size_t e) {
    for (size_t i = b + 1; i + 1 < e; ++i) {
      if (t[i] != ':' || !is_url_letter(t[i - 1])) continue;
      size_t from = i - 1;
      while (from > b && is_url_letter(t[from - 1])) --from;
      return std::optional<size_t>(from);
    }
    return std::optional<size_t>();
  });
  std::u32string out;
  for (char32_t c : s)
    if (!is_space(c)) out.push_back(c);
  return out;
}

// ---- Python's html.unescape ----

// HTML 4 Latin-1 entity names, U+00A0 to U+00FF in order: the names HTML5 also accepts
// without a trailing ';'.
constexpr std::string_view kLatin1Names[] = {
    "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",
    "copy",   "ordf",   "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn",
    "sup2",   "sup3",   "acute",  "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",
    "raquo",  "frac14", "frac12", "frac34", "iquest", "Agrave", "Aacute", "Acirc",  "Atilde",
    "Auml",   "Aring",  "AElig",  "Ccedil", "Egrave", "Eacute", "Ecirc",  "Euml",   "Igrave",
    "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde", "Ograve", "Oacute", "Ocirc",  "Otilde",
    "Ouml",   "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",  "Uuml",   "Yacute", "THORN",
    "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",  "aelig",  "ccedil",
    "egrave", "eacute", "ecirc",  "euml",   "igrave", "iacute", "icirc",  "iuml",   "eth",
    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave",
    "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};

std::optional<std::string> legacy_entity(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kOthers[] = {
      {"amp", "&"}, {"AMP", "&"},   {"lt", "<"},    {"LT", "<"},        {"gt", ">"},
      {"GT", ">"},  {"quot", "\""}, {"QUOT", "\""}, {"COPY", "\u00A9"}, {"REG", "\u00AE"}};
  for (auto& [n, v] : kOthers)
    if (n == name) return std::string(v);
  for (size_t i = 0; i < std::size(kLatin1Names); ++i) {
    if (kLatin1Names[i] != name) continue;
    std::string out;
    mail::append_utf8(out, static_cast<uint32_t>(0xA0 + i));
    return out;
  }
  return std::nullopt;
}

std::string numeric_reference(uint64_t num) {
  // Windows-1252 for 0x80-0x9F, as HTML5 (and Python) read them.
  static const uint16_t k1252[32] = {
      0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  std::string out;
  if (num == 0) {
    mail::append_utf8(out, 0xFFFD);
  } else if (num == 0x0D) {
    out = "\r";
  } else if (num >= 0x80 && num <= 0x9F) {
    mail::append_utf8(out, k1252[num - 0x80]);
  } else if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    mail::append_utf8(out, 0xFFFD);
  } else if ((num >= 0x1 && num <= 0x8) || (num >= 0xE && num <= 0x1F) ||
             (num >= 0x7F && num <= 0x9F) || (num >= 0xFDD0 && num <= 0xFDEF) || num == 0xB ||
             (num & 0xFFFE) == 0xFFFE) {
    // Python drops these.
  } else {
    mail::append_utf8(out, static_cast<uint32_t>(num));
  }
  return out;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string unescape(std::string_view s) {
  if (s.find('&') == std::string_view::npos) return std::string(s);
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i + 1;
    if (j < s.size() && s[j] == '#') {
      bool hex = j + 1 < s.size() && (s[j + 1] == 'x' || s[j + 1] == 'X');
      size_t d = j + (hex ? 2 : 1), e = d;
      while (e < s.size() && (hex ? is_hex(s[e]) : is_digit(s[e]))) ++e;
      if (e > d) {
        uint64_t num = 0;
        for (size_t k = d; k < e; ++k) {
          num = num * (hex ? 16 : 10) + static_cast<uint64_t>(mail::hex_digit(s[k]));
          if (num > 0x110000) num = 0x110000;
        }
        out += numeric_reference(num);
        i = e + (e < s.size() && s[e] == ';' ? 1 : 0);
        continue;
      }
      out.push_back('&');
      ++i;
      continue;
    }
    // [^\t\n\f <&#;]{1,32};?
    size_t e = j;
    while (e < s.size() && e - j < 32 &&
           std::string_view("\t\n\f <&#;").find(s[e]) == std::string_view::npos)
      ++e;
    if (e == j) {
      out.push_back('&');
      ++i;
      continue;
    }
    std::string_view name = s.substr(j, e - j);
    bool semi = e < s.size() && s[e] == ';';
    size_t end = e + (semi ? 1 : 0);
    if (semi) {
      std::string v = mail::decode_html_entity(name);
      if (!v.empty()) {
        out += v;
        i = end;
        continue;
      }
    } else if (auto v = legacy_entity(name)) {
      out += *v;
      i = end;
      continue;
    }
    // The longest legacy name that is a prefix (at least 2 characters, shorter than s).
    std::string_view whole = s.substr(j, end - j);
    bool done = false;
    for (size_t x = whole.size() - 1; x > 1; --x) {
      if (auto v = legacy_entity(whole.substr(0, x))) {
        out += *v;
        out += whole.substr(x);
        done = true;
        break;
      }
    }
    if (!done) {
      out.push_back('&');
      out += whole;
    }
    i = end;
  }
  return out;
}

// ---- html.parser, as HTMLStripper drives it ----

bool ascii_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// End of a start tag beginning at i ('<' + letter): one past '>', or npos when unfinished.
// Sets name and whether it ends "/>".
size_t parse_start_tag(std::string_view s, size_t i, std::string& name, bool& self_closing) {
  size_t k = i + 1;
  while (k < s.size() && std::string_view("\t\n\r\f />\0", 8).find(s[k]) == std::string_view::npos)
    ++k;
  name = lower(s.substr(i + 1, k - i - 1));
  while (k < s.size()) {
    char c = s[k];
    if (c == '>') {
      self_closing = s[k - 1] == '/';
      return k + 1;
    }
    if (c == '=') {
      ++k;
      while (k < s.size() && ascii_space(s[k])) ++k;
      if (k < s.size() && (s[k] == '"' || s[k] == '\'')) {
        size_t q = s.find(s[k], k + 1);
        if (q == std::string_view::npos) return std::string_view::npos;
        k = q + 1;
      }
      continue;
    }
    ++k;
  }
  return std::string_view::npos;
}

}  // namespace

std::string html_text(std::string_view s) {
  std::vector<std::string> pieces;
  bool collect = true;
  std::string cdata;  // the element whose raw content we are in ("script"/"style")
  auto data = [&](std::string_view raw, bool convert) {
    std::u32string t = strip(decode_utf8(convert ? unescape(raw) : std::string(raw)));
    if (!t.empty() && collect) pieces.push_back(encode_utf8(t));
  };
  auto set_collect = [&](const std::string& tag, bool on) {
    if (tag == "script" || tag == "style") collect = on;
  };
  size_t i = 0, n = s.size();
  while (i < n) {
    size_t j;
    if (cdata.empty()) {
      j = s.find('<', i);
      if (j == std::string_view::npos) {
        size_t from = std::max(i, n >= 34 ? n - 34 : 0);
        size_t amp = s.rfind('&');
        if (amp != std::string_view::npos && amp >= from &&
            s.find_first_of(" \t\n\r\f\v;", amp) == std::string_view::npos)
          break;  // Python waits for more input that never comes
        j = n;
      }
    } else {
      // </\s*cdata\s*> (ignoring case)
      j = std::string_view::npos;
      for (size_t p = s.find("</", i); p != std::string_view::npos; p = s.find("</", p + 1)) {
        size_t k = p + 2;
        while (k < n && ascii_space(s[k])) ++k;
        if (lower(s.substr(k, cdata.size())) != cdata) continue;
        k += cdata.size();
        while (k < n && ascii_space(s[k])) ++k;
        if (k < n && s[k] == '>') {
          j = p;
          break;
        }
      }
      if (j == std::string_view::npos) break;
    }
    if (i < j) data(s.substr(i, j - i), cdata.empty());
    i = j;
    if (i == n) break;
    size_t k = std::string_view::npos;
    if (i + 1 < n && ascii_alpha(s[i + 1])) {
      std::string name;
      bool self_closing = false;
      k = parse_start_tag(s, i, name, self_closing);
      if (k != std::string_view::npos) {
        set_collect(name, false);
        if (self_closing)
          set_collect(name, true);
        else if (name == "script" || name == "style")
          cdata = name;
      }
    } else if (s.substr(i, 2) == "</") {
      size_t gt = s.find('>', i + 1);
      if (gt != std::string_view::npos) {
        size_t e = i + 2;
        while (e < n && !ascii_space(s[e]) && s[e] != '/' && s[e] != '>') ++e;
        std::string name = lower(s.substr(i + 2, e - i - 2));
        if (!cdata.empty() && name != cdata) {
          data(s.substr(i, gt + 1 - i), false);
        } else {
          set_collect(name, true);
          cdata.clear();
        }
        k = gt + 1;
      }
    } else if (s.substr(i, 4) == "<!--") {
      for (size_t p = s.find("--", i + 4); p != std::string_view::npos; p = s.find("--", p + 1)) {
        size_t q = p + 2;
        while (q < n && ascii_space(s[q])) ++q;
        if (q < n && s[q] == '>') {
          k = q + 1;
          break;
        }
      }
    } else if (s.substr(i, 2) == "<?") {
      size_t gt = s.find('>', i + 2);
      if (gt != std::string_view::npos) k = gt + 1;
    } else if (s.substr(i, 3) == "<![") {
      std::string head = lower(s.substr(i + 3, 8));
      bool conditional =
          head.starts_with("if") || head.starts_with("else") || head.starts_with("endif");
      size_t e = s.find(conditional ? "]>" : "]]>", i + 3);
      if (e != std::string_view::npos) k = e + (conditional ? 2 : 3);
    } else if (s.substr(i, 2) == "<!") {
      size_t gt = s.find('>', i + 2);
      if (gt != std::string_view::npos) k = gt + 1;
    } else if (i + 1 < n) {
      data("<", false);
      k = i + 1;
    }
    if (k == std::string_view::npos) break;  // unfinished markup: the rest is never parsed
    i = k;
  }
  std::string out;
  for (const auto& p : pieces) {
    if (!out.empty()) out.push_back(' ');
    out += p;
  }
  return out;
}

std::string normalize_line(std::string_view line) {
  return encode_utf8(normalize(decode_utf8(line)));
}

namespace {

std::string remove_fffd(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.compare(i, 3, "\xEF\xBF\xBD") == 0) {
      i += 2;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string ascii_only(std::string_view s, bool replace) {
  std::string out;
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x80)
      out.push_back(c);
    else if (replace)
      out += "\xEF\xBF\xBD";
  }
  return out;
}

// Python's bytes.decode(charset, "ignore"), falling back to ASCII when the charset is
// unknown.
std::string decode_ignoring(std::string_view bytes, const std::string* charset) {
  if (!charset || charset->empty()) return ascii_only(bytes, false);
  std::string cs = lower(*charset);
  if (cs == "ascii" || cs == "us-ascii") return ascii_only(bytes, false);
  auto u = mail::to_utf8(bytes, cs);
  if (!u) return ascii_only(bytes, false);
  return remove_fffd(std::move(*u));
}

std::string sha1_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

std::string sha1_raw(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha1(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

}  // namespace

namespace {

// ---- The MIME walk of Python's email package (compat32 feedparser, then walk()) ----
//
// Pyzor digests what Python's parser sees, including its readings of malformed input (the
// first of repeated fields wins, a boundary parameter needs a ';', a Content-Transfer-
// Encoding with trailing blanks is not decoded), so this walk follows that parser rather
// than lib/mail's, which reads such messages the way mail clients show them.

struct Leaf {
  std::string maintype, subtype;
  std::optional<std::string> charset;  // the raw parameter value
  std::string cte;                     // lower-cased, as Python compares it
  std::string payload;                 // raw bytes
};

bool py_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1C && c <= 0x1F); }

std::string_view py_strip(std::string_view s) {
  while (!s.empty() && py_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && py_space(s.back())) s.remove_suffix(1);
  return s;
}

size_t eol_length(std::string_view line) {
  if (line.ends_with("\r\n")) return 2;
  if (line.ends_with("\n") || line.ends_with("\r")) return 1;
  return 0;
}

// (--boundary)(--)?[ \t]*(\r\n|\r|\n)?$ at the start of a line.
bool boundary_match(std::string_view line, std::string_view sep, bool* close) {
  if (!line.starts_with(sep)) return false;
  std::string_view rest = line.substr(sep.size());
  bool end = rest.starts_with("--");
  if (end) rest.remove_prefix(2);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  if (rest != "" && rest != "\n" && rest != "\r" && rest != "\r\n") return false;
  if (close) *close = end;
  return true;
}

// Python's _parseparam + decode_params + get_param(name): the first parameter of that
// name, unquoted.
std::optional<std::string> py_param(std::string_view value, std::string_view want) {
  std::string s = ";" + std::string(value);
  std::string_view v = s;
  bool first = true;
  while (v.starts_with(";")) {
    v.remove_prefix(1);
    size_t end = v.find(';');
    auto quotes = [&](size_t e) {
      size_t q = 0, esc = 0;
      for (size_t i = 0; i < e; ++i) {
        if (v[i] == '"') ++q;
        if (v.substr(i, 2) == "\\\"") ++esc;
      }
      return (q - esc) % 2 == 1;
    };
    while (end != std::string_view::npos && end > 0 && quotes(end)) end = v.find(';', end + 1);
    if (end == std::string_view::npos) end = v.size();
    std::string_view f = v.substr(0, end);
    v = v.substr(end);
    if (first) {
      first = false;
      continue;
    }
    size_t eq = f.find('=');
    std::string name = lower(py_strip(eq == std::string_view::npos ? f : f.substr(0, eq)));
    if (name != want) continue;
    if (eq == std::string_view::npos) return std::string();
    std::string val(py_strip(f.substr(eq + 1)));
    if (val.size() > 1 && val.front() == '"' && val.back() == '"') {
      std::string u;
      std::string_view in = std::string_view(val).substr(1, val.size() - 2);
      for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\\' && i + 1 < in.size() && (in[i + 1] == '\\' || in[i + 1] == '"')) ++i;
        u.push_back(in[i]);
      }
      return u;
    }
    if (val.size() > 1 && val.front() == '<' && val.back() == '>')
      return val.substr(1, val.size() - 2);
    return val;
  }
  return std::nullopt;
}

class FeedParser {
 public:
  explicit FeedParser(std::string_view raw) {
    size_t i = 0;
    while (i < raw.size()) {
      size_t e = raw.find_first_of("\r\n", i);
      if (e == std::string_view::npos) {
        lines_.push_back(raw.substr(i));
        break;
      }
      e += (raw[e] == '\r' && e + 1 < raw.size() && raw[e + 1] == '\n') ? 2 : 1;
      lines_.push_back(raw.substr(i, e - i));
      i = e;
    }
  }

  void parse(std::vector<Leaf>& out) { parsegen("text/plain", out); }

 private:
  // The next line, or nullopt at the end of input or at a line an enclosing boundary
  // claims (left unread).
  std::optional<std::string_view> readline() {
    if (pos_ >= lines_.size()) return std::nullopt;
    std::string_view line = lines_[pos_];
    for (auto it = eof_.rbegin(); it != eof_.rend(); ++it) {
      bool hit = it->empty() ? eol_length(line) == line.size() && !line.empty()
                             : boundary_match(line, *it, nullptr);
      if (hit) return std::nullopt;
    }
    ++pos_;
    return line;
  }
  void unread() { --pos_; }

  std::string rest() {
    std::string s;
    while (auto l = readline()) s += *l;
    return s;
  }

  static bool header_line(std::string_view line) {
    if (line.starts_with("From ") || line.starts_with(" ") || line.starts_with("\t")) return true;
    for (char c : line) {
      if (c == ':') return true;
      if (c < 0x21 || c > 0x7E) return false;
    }
    return false;
  }

  void parsegen(std::string_view default_type, std::vector<Leaf>& out) {
    std::vector<std::string_view> header_lines;
    while (auto line = readline()) {
      if (!header_line(*line)) {
        if (eol_length(*line) != line->size()) unread();  // no blank line: body starts
        break;
      }
      header_lines.push_back(*line);
    }
    // _parse_headers: name/value pairs, continuation lines appended.
    std::vector<std::pair<std::string, std::string>> fields;
    for (size_t n = 0; n < header_lines.size(); ++n) {
      std::string_view line = header_lines[n];
      if (line[0] == ' ' || line[0] == '\t') {
        if (!fields.empty()) fields.back().second += line;
        continue;
      }
      if (line.starts_with("From ")) {
        if (n + 1 == header_lines.size() && n > 0) unread();
        continue;
      }
      size_t colon = line.find(':');
      if (colon == 0 || colon == std::string_view::npos) continue;
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      fields.emplace_back(lower(line.substr(0, colon)), std::string(value));
    }
    auto get = [&](std::string_view name) -> const std::string* {
      for (auto& f : fields) {
        if (f.first != name) continue;
        while (!f.second.empty() && (f.second.back() == '\r' || f.second.back() == '\n'))
          f.second.pop_back();
        return &f.second;
      }
      return nullptr;
    };
    const std::string* ct = get("content-type");
    std::string ctype(default_type);
    if (ct) {
      std::string_view v = *ct;
      ctype = lower(py_strip(v.substr(0, v.find(';'))));
      if (std::count(ctype.begin(), ctype.end(), '/') != 1) ctype = "text/plain";
    }
    size_t slash = ctype.find('/');
    Leaf leaf;
    leaf.maintype = ctype.substr(0, slash);
    leaf.subtype = ctype.substr(slash + 1);
    if (ct) leaf.charset = py_param(*ct, "charset");
    if (const std::string* cte = get("content-transfer-encoding")) leaf.cte = lower(*cte);

    if (ctype == "message/delivery-status") {
      rest();  // blocks of fields, digested as empty text parts
      return;
    }
    if (leaf.maintype == "message") {
      parsegen("text/plain", out);
      return;
    }
    if (leaf.maintype == "multipart") {
      std::optional<std::string> boundary = ct ? py_param(*ct, "boundary") : std::nullopt;
      if (boundary)
        while (!boundary->empty() && py_space(boundary->back())) boundary->pop_back();
      if (!boundary) {
        leaf.payload = rest();
        out.push_back(std::move(leaf));
        return;
      }
      std::string sep = "--" + *boundary;
      std::string_view child_type = leaf.subtype == "digest" ? "message/rfc822" : "text/plain";
      bool preamble = true;
      std::string preamble_text;
      while (auto line = readline()) {
        bool close = false;
        if (!boundary_match(*line, sep, &close)) {
          preamble_text += *line;
          continue;
        }
        if (close) break;
        if (preamble) {
          preamble = false;
          unread();
        }
        while (auto l = readline()) {
          if (!boundary_match(*l, sep, nullptr)) {
            unread();
            break;
          }
        }
        eof_.push_back(sep);
        parsegen(child_type, out);
        eof_.pop_back();
      }
      if (preamble) {  // the start boundary never came: the whole body is one payload
        leaf.payload = preamble_text;
        out.push_back(std::move(leaf));
      }
      rest();  // the epilogue
      return;
    }
    leaf.payload = rest();
    out.push_back(std::move(leaf));
  }

  std::vector<std::string_view> lines_;
  size_t pos_ = 0;
  std::vector<std::string> eof_;  // separators of the enclosing multiparts
};

// binascii.a2b_qp, as quopri.decodestring calls it.
std::string py_decode_qp(std::string_view in) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    if (in[i] != '=') {
      out.push_back(in[i++]);
      continue;
    }
    ++i;
    if (i >= in.size()) break;
    if (in[i] == '\n' || in[i] == '\r') {
      if (in[i] != '\n')
        while (i < in.size() && in[i] != '\n') ++i;
      if (i < in.size()) ++i;
    } else if (in[i] == '=') {
      out.push_back('=');
      ++i;
    } else if (i + 1 < in.size() && is_hex(in[i]) && is_hex(in[i + 1])) {
      out.push_back(static_cast<char>(mail::hex_digit(in[i]) * 16 + mail::hex_digit(in[i + 1])));
      i += 2;
    } else {
      out.push_back('=');
    }
  }
  return out;
}

// binascii.a2b_base64; nullopt where Python raises binascii.Error.
std::optional<std::string> py_a2b_base64(std::string_view in, bool strict) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  int quad = 0, pads = 0;
  unsigned left = 0;
  bool padding = false;
  if (strict && !in.empty() && in[0] == '=') return std::nullopt;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '=') {
      padding = true;
      if (strict && quad == 0) return std::nullopt;
      if (quad >= 2 && quad + ++pads >= 4) {
        if (strict && i + 1 < in.size()) return std::nullopt;
        return out;
      }
      continue;
    }
    int v = value(c);
    if (v < 0) {
      if (strict) return std::nullopt;
      continue;
    }
    if (strict && padding) return std::nullopt;
    pads = 0;
    auto u = static_cast<unsigned>(v);
    switch (quad) {
      case 0:
        left = u;
        quad = 1;
        break;
      case 1:
        out.push_back(static_cast<char>((left << 2) | (u >> 4)));
        left = u & 0xF;
        quad = 2;
        break;
      case 2:
        out.push_back(static_cast<char>((left << 4) | (u >> 2)));
        left = u & 3;
        quad = 3;
        break;
      default:
        out.push_back(static_cast<char>((left << 6) | u));
        quad = 0;
        break;
    }
  }
  if (quad != 0) return std::nullopt;
  return out;
}

// email._encoded_words.decode_b over the body with its line breaks removed.
std::string py_decode_base64(std::string_view body) {
  std::string enc;
  for (char c : body)
    if (c != '\r' && c != '\n') enc.push_back(c);
  size_t pad = enc.size() % 4;
  std::string padded = enc + std::string("===").substr(0, pad ? 4 - pad : 0);
  if (auto r = py_a2b_base64(padded, true)) return *r;
  if (auto r = py_a2b_base64(enc, false)) return *r;
  if (auto r = py_a2b_base64(enc + "==", false)) return *r;
  return enc;
}

// Pyzor's digest_payloads: the text of one leaf.
std::string leaf_text(const Leaf& leaf) {
  if (leaf.maintype == "text") {
    std::string bytes = leaf.cte == "quoted-printable" ? py_decode_qp(leaf.payload)
                        : leaf.cte == "base64"         ? py_decode_base64(leaf.payload)
                                                       : leaf.payload;
    std::optional<std::string> cs;
    if (leaf.charset) cs = lower(*leaf.charset);
    std::string text = decode_ignoring(bytes, cs ? &*cs : nullptr);
    return leaf.subtype == "html" ? html_text(text) : text;
  }
  // Other leaves go in as they stand, transfer encoding and all; 8-bit bytes are read in
  // the declared charset (else ASCII), each bad one becoming U+FFFD.
  const std::string& raw = leaf.payload;
  bool ascii = std::all_of(raw.begin(), raw.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) return raw;
  if (leaf.charset) {
    std::string cs = lower(*leaf.charset);
    if (cs != "ascii" && cs != "us-ascii")
      if (auto u = mail::to_utf8(raw, cs)) return *u;
  }
  return ascii_only(raw, true);
}

}  // namespace

std::vector<std::string> digest_lines(std::string_view raw) {
  std::vector<Leaf> leaves;
  FeedParser(raw).parse(leaves);
  std::vector<std::string> out;
  for (const Leaf& leaf : leaves) {
    for (const std::u32string& line : split_lines(decode_utf8(leaf_text(leaf)))) {
      std::u32string norm = normalize(line);
      if (norm.size() >= 8) out.push_back(encode_utf8(norm));
    }
  }
  return out;
}

std::vector<std::string> digest_lines(const mail::Message& msg) { return digest_lines(msg.raw()); }

std::vector<size_t> sampled_indexes(size_t n) {
  std::vector<size_t> out;
  if (n <= 4) {
    for (size_t i = 0; i < n; ++i) out.push_back(i);
    return out;
  }
  for (size_t offset : {20, 60})
    for (size_t i = 0; i < 3; ++i)
      if (size_t k = offset * n / 100 + i; k < n) out.push_back(k);
  return out;
}

std::string digest_of_lines(const std::vector<std::string>& lines) {
  std::string fed;
  for (size_t i : sampled_indexes(lines.size())) fed += lines[i];
  return sha1_hex(fed);
}

std::string digest(const mail::Message& msg) { return digest_of_lines(digest_lines(msg)); }

std::string digest(std::string_view raw) { return digest_of_lines(digest_lines(raw)); }

// ---- Accounts and signatures ----

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && ascii_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && (ascii_space(s.back()) || s.back() == '\v')) s.remove_suffix(1);
  return s;
}
}  // namespace

Result<std::vector<AccountEntry>> parse_accounts(std::string_view text) {
  std::vector<AccountEntry> out;
  size_t lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++lineno;
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string_view> f;
    std::string bracketed;  // "[v6] : port : ...": an extension; Pyzor's format has no IPv6
    std::string owned(line);
    if (line.starts_with("[")) {
      size_t close = line.find(']');
      if (close != std::string_view::npos) {
        bracketed = std::string(line.substr(1, close - 1));
        owned = "-" + std::string(line.substr(close + 1));  // placeholder host field
      }
    }
    line = owned;
    for (size_t p = 0;;) {
      size_t c = line.find(':', p);
      f.push_back(trim(line.substr(p, c - p)));
      if (c == std::string_view::npos) break;
      p = c + 1;
    }
    auto bad = [&](const std::string& why) {
      return Error::bad_data("accounts line " + std::to_string(lineno) + ": " + why);
    };
    if (f.size() != 4) return bad("want host : port : username : salt,key");
    AccountEntry e;
    e.host = bracketed.empty() ? std::string(f[0]) : bracketed;
    int port = 0;
    for (char c : f[1]) {
      if (!is_digit(c) || port > 65535) return bad("bad port");
      port = port * 10 + (c - '0');
    }
    if (f[1].empty() || port == 0 || port > 65535) return bad("bad port");
    e.port = static_cast<uint16_t>(port);
    e.account.user = f[2];
    size_t comma = f[3].find(',');
    if (comma == std::string_view::npos || f[3].find(',', comma + 1) != std::string_view::npos)
      return bad("key must be salt,key");
    e.account.key = f[3].substr(comma + 1);
    if (e.account.user.empty() || (comma == 0 && e.account.key.empty()))
      return bad("user and key are required");
    out.push_back(std::move(e));
  }
  return out;
}

Account account_for(const std::vector<AccountEntry>& accounts, std::string_view host,
                    uint16_t port) {
  for (const auto& a : accounts)
    if (a.host == host && a.port == port) return a.account;
  return Account{};
}

std::string hash_key(std::string_view user, std::string_view key) {
  return sha1_hex(std::string(user) + ":" + lower(key));
}

std::string sign(std::string_view text, int64_t time, std::string_view hashed_key) {
  return sha1_hex(sha1_raw(trim(text)) + ":" + std::to_string(time) + ":" +
                  std::string(hashed_key));
}

// ---- Requests and responses ----

std::string_view op_name(Op op) {
  switch (op) {
    case Op::kPing:
      return "ping";
    case Op::kPong:
      return "pong";
    case Op::kCheck:
      return "check";
    case Op::kReport:
      return "report";
    case Op::kWhitelist:
      return "whitelist";
    case Op::kInfo:
      return "info";
  }
  return "ping";
}

std::string encode_request(Request& req) {
  if (req.thread == 0) {
    std::random_device rd;
    req.thread = static_cast<uint16_t>(std::uniform_int_distribution<int>(1024, 65535)(rd));
  }
  if (req.time == 0)
    req.time = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  std::string t = "Op: " + std::string(op_name(req.op)) + "\n";
  if (req.op != Op::kPing) t += "Op-Digest: " + req.digest + "\n";
  // The digest spec the server records with reports (Pyzor's 20%/60%, 3 lines each).
  if (req.op == Op::kReport || req.op == Op::kWhitelist) t += "Op-Spec: 20,3,60,3\n";
  t += "Thread: " + std::to_string(req.thread) + "\n";
  t += "PV: " + std::string(kProtocolVersion) + "\n";
  t += "User: " + req.account.user + "\n";
  t += "Time: " + std::to_string(req.time) + "\n";
  std::string sig = sign(t, req.time, hash_key(req.account.user, req.account.key));
  return t + "Sig: " + sig + "\n\n";
}

Result<std::map<std::string, std::string>> parse_fields(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return Error::bad_data("pyzor: malformed line in answer: " + std::string(line.substr(0, 80)));
    out.emplace(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return out;
}

namespace {
std::optional<int64_t> to_int(const std::string& s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    if (!is_digit(s[i])) return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return s[0] == '-' ? -v : v;
}
}  // namespace

Result<Response> parse_response(std::string_view datagram, uint16_t expected_thread) {
  auto f = parse_fields(datagram);
  if (!f) return f.error();
  auto get = [&](const char* k) -> const std::string* {
    auto it = f->find(k);
    return it == f->end() ? nullptr : &it->second;
  };
  Response r;
  const std::string* code = get("code");
  const std::string* diag = get("diag");
  const std::string* thread = get("thread");
  if (!code || !diag || !thread) return Error::bad_data("pyzor: answer lacks Code, Diag or Thread");
  auto c = to_int(*code);
  auto t = to_int(*thread);
  if (!c || *c < 100 || *c > 999) return Error::bad_data("pyzor: bad Code: " + *code);
  if (!t || *t < 0 || *t > 65535) return Error::bad_data("pyzor: bad Thread: " + *thread);
  r.code = static_cast<int>(*c);
  r.diag = *diag;
  r.thread = static_cast<uint16_t>(*t);
  if (r.thread != expected_thread)
    return Error::bad_data("pyzor: answer for thread " + *thread + ", expected " +
                           std::to_string(expected_thread));
  if (const std::string* pv = get("pv")) r.protocol_version = *pv;
  for (auto [name, slot] : {std::pair{"count", &r.count}, std::pair{"wl-count", &r.wl_count}}) {
    const std::string* v = get(name);
    if (!v) continue;
    auto n = to_int(*v);
    if (!n) return Error::bad_data(std::string("pyzor: bad ") + name + ": " + *v);
    *slot = *n;
  }
  return r;
}

// ---- Client ----

std::string Server::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<Server> parse_server(std::string_view text) {
  Server s;
  std::string_view port;
  if (text.starts_with("[")) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return Error::usage("bad server: " + std::string(text));
    s.host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Error::usage("bad server: " + std::string(text));
      port = rest.substr(1);
    }
  } else {
    size_t colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon)
      return Error::usage("bad server (write IPv6 addresses as [addr]:port): " + std::string(text));
    s.host = text.substr(0, colon);
    if (colon != std::string_view::npos)
      port = text.substr(colon + 1);
    else
      port = "24441";
  }
  auto p = to_int(std::string(port));
  if (s.host.empty() || !p || *p < 1 || *p > 65535)
    return Error::usage("bad server: " + std::string(text));
  s.port = static_cast<uint16_t>(*p);
  return s;
}

Result<Response> exchange(const Server& server, Request req, const ClientOptions& options) {
  std::string datagram = encode_request(req);
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_protocol = IPPROTO_UDP;
  addrinfo* res = nullptr;
  std::string port = std::to_string(server.port);
  int rc = getaddrinfo(server.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0)
    return Error::temporary("pyzor: cannot resolve " + server.host + ": " + gai_strerror(rc));
  base::UniqueFd fd;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    base::UniqueFd s(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!s) continue;
    if (::connect(s.get(), ai->ai_addr, ai->ai_addrlen) != 0) continue;
    fd = std::move(s);
    break;
  }
  freeaddrinfo(res);
  if (!fd) return Error::temporary("pyzor: cannot reach " + server.to_string());
  std::string what = "pyzor: " + server.to_string() + ": ";
  for (int attempt = 0; attempt <= options.retries; ++attempt) {
    if (::send(fd.get(), datagram.data(), datagram.size(), 0) < 0)
      return Error::from_errno(errno, what + "send");
    auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options.timeout_ms);
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) break;
      pollfd p{fd.get(), POLLIN, 0};
      int pr = ::poll(&p, 1, static_cast<int>(left));
      if (pr < 0 && errno == EINTR) continue;
      if (pr < 0) return Error::from_errno(errno, what + "poll");
      if (pr == 0) break;
      char buf[8192];
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ECONNREFUSED) return Error::temporary(what + "connection refused");
        return Error::from_errno(errno, what + "recv");
      }
      std::string_view answer(buf, static_cast<size_t>(n));
      auto fields = parse_fields(answer);
      if (fields) {
        auto t = fields->find("thread");
        if (t != fields->end() && t->second != std::to_string(req.thread)) continue;  // stray
      }
      return parse_response(answer, req.thread);
    }
  }
  return Error::temporary(what + "no answer (timed out)");
}

}  // namespace postern::spam::pyzor
