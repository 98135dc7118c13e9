// Header and MIME writing (RFC 5322 2.1.1/2.2.3/3.3/3.4, RFC 2047, RFC 2045 6.7/6.8,
// RFC 2046 5.1, RFC 2183, RFC 2231).
#include "mail/writer.h"

#include <cstring>
#include <cstdint>

#include <algorithm>
#include <cstdio>
#include <random>

#include "mail/charset.h"
#include "mail/header_internal.h"

namespace postern::mail {
namespace {

constexpr size_t kMaxLine = 78;   // RFC 5322 2.1.1 SHOULD
constexpr size_t kMaxWord = 75;   // RFC 2047 2 encoded-word length

bool is_printable_ascii(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x7F || (u < 0x20 && c != ' ' && c != '\t')) return false;
  }
  return true;
}

// Length of the UTF-8 sequence starting with lead byte `b` (1 for invalid leads).
size_t utf8_len(unsigned char b) {
  if (b >= 0xF0 && b <= 0xF4) return 4;
  if (b >= 0xE0) return b <= 0xEF ? 3 : 1;
  if (b >= 0xC2) return 2;
  return 1;
}

// RFC 2047 5(3): characters that may stand for themselves in a "Q" word anywhere
// (phrases included).
bool q_literal(char c) {
  return detail::is_alpha(c) || detail::is_digit(c) || c == '!' || c == '*' || c == '+' ||
         c == '-' || c == '/';
}

std::string q_char(char c) {
  if (c == ' ') return "_";
  if (q_literal(c)) return std::string(1, c);
  char buf[4];
  std::snprintf(buf, sizeof buf, "=%02X", static_cast<unsigned char>(c));
  return buf;
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < data.size()) {
    uint32_t v = static_cast<unsigned char>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<unsigned char>(data[i + 1]) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += i + 1 < data.size() ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Splits UTF-8 text into RFC 2047 encoded words of at most 75 characters each, never
// cutting a character in two (RFC 2047 5: each word holds whole characters).
std::vector<std::string> encoded_words(std::string_view utf8, size_t first_col = 0) {
  const std::string text = sanitize_utf8(utf8);
  size_t escapes = 0;
  for (char c : text)
    if (!q_literal(c) && c != ' ') ++escapes;
  const bool use_q = escapes * 3 <= text.size();
  const std::string prefix = use_q ? "=?UTF-8?Q?" : "=?UTF-8?B?";
  const size_t overhead = prefix.size() + 2;
  const size_t room = kMaxWord - overhead;
  // The first word shares its line with "Name: " (RFC 5322 2.1.1: 78 columns); leave it
  // room for at least one character of any length.
  const long avail =
      static_cast<long>(std::min(kMaxWord, first_col < kMaxLine ? kMaxLine - first_col : 0)) -
      static_cast<long>(overhead);
  const size_t first_room = static_cast<size_t>(std::max<long>(12, avail));
  std::vector<std::string> words;
  std::string chunk;  // raw bytes of the current word
  std::string encoded;
  auto flush = [&] {
    if (chunk.empty()) return;
    words.push_back(prefix + (use_q ? encoded : base64(chunk)) + "?=");
    chunk.clear();
    encoded.clear();
  };
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::min(utf8_len(static_cast<unsigned char>(text[i])), text.size() - i);
    const std::string_view ch = std::string_view(text).substr(i, n);
    std::string enc;
    for (char c : ch) enc += q_char(c);
    const size_t would = use_q ? encoded.size() + enc.size() : (chunk.size() + n + 2) / 3 * 4;
    if (would > (words.empty() ? std::min(room, first_room) : room)) flush();
    chunk += ch;
    encoded += enc;
    i += n;
  }
  flush();
  return words;
}

// Appends words separated by single spaces, folding before a word that would pass
// column 78 (RFC 5322 2.2.3); `col` is the current column.
void fold_words(std::string& out, const std::vector<std::string_view>& words,
                const std::vector<char>& seps, size_t col) {
  for (size_t k = 0; k < words.size(); ++k) {
    if (k > 0) {
      if (col + 1 + words[k].size() > kMaxLine) {
        out += "\r\n";
        col = 0;
      }
      out.push_back(seps[k]);
      ++col;
    }
    out += words[k];
    col += words[k].size();
  }
}

// Plain folding of one unfolded segment starting at column `col`: whitespace runs are
// kept, lines are broken before a word that would not fit.
void fold_segment(std::string& out, std::string_view seg, size_t col) {
  size_t i = 0;
  bool first = true;
  while (i < seg.size()) {
    size_t ws = i;
    while (i < seg.size() && detail::is_wsp(seg[i])) ++i;
    const std::string_view space = seg.substr(ws, i - ws);
    size_t w = i;
    while (i < seg.size() && !detail::is_wsp(seg[i])) ++i;
    const std::string_view word = seg.substr(w, i - w);
    if (!first && !space.empty() && !word.empty() && col + space.size() + word.size() > kMaxLine) {
      out += "\r\n";
      col = 0;
    }
    out += space;
    out += word;
    col += space.size() + word.size();
    first = false;
  }
}

bool looks_encoded(std::string_view s) {
  const size_t a = s.find("=?");
  return a != std::string_view::npos && s.find("?=", a + 2) != std::string_view::npos;
}

// RFC 5322 3.2.3 atext plus the space between atoms.
bool is_atom_phrase(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ') return false;
  for (char c : s) {
    if (detail::is_alpha(c) || detail::is_digit(c) || c == ' ') continue;
    if (std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) == std::string_view::npos) return false;
  }
  return s.find("  ") == std::string_view::npos;
}

void civil_from_days(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

std::string random_boundary() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[40];
  std::snprintf(buf, sizeof buf, "=_postern_%016llx%08llx",
                static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng() & 0xFFFFFFFFu));
  return buf;
}

std::string normalize_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
      out += "\r\n";
    } else if (text[i] == '\n') {
      out += "\r\n";
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// RFC 2045 5.1 token characters; parameter values with others are quoted.
std::string param_value(std::string_view v) {
  bool token = !v.empty();
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos)
      token = false;
  }
  if (token) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

std::string encode_header_value(std::string_view utf8, size_t name_len) {
  std::string out;
  const size_t col = name_len + 2;  // "Name: "
  if (is_printable_ascii(utf8) && !looks_encoded(utf8)) {
    fold_segment(out, utf8, col);
    return out;
  }
  // Encode the whole value: words split at character boundaries, joined by folding
  // white space that RFC 2047 6.2 tells readers to drop between encoded words.
  std::string flat;
  for (char c : utf8) flat.push_back(c == '\r' || c == '\n' ? ' ' : c);
  const auto words = encoded_words(flat, col);
  std::vector<std::string_view> views(words.begin(), words.end());
  std::vector<char> seps(words.size(), ' ');
  fold_words(out, views, seps, col);
  return out;
}

std::string fold_header(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ": ";
  // Keep the caller's folds (CRLF + WSP); any other line break becomes a space.
  size_t col = name.size() + 2;
  size_t i = 0;
  std::string seg;
  auto flush = [&] {
    fold_segment(out, seg, col);
    seg.clear();
  };
  const std::string_view v = detail::trim(value);
  while (i < v.size()) {
    const char c = v[i];
    if (c == '\r' || c == '\n') {
      size_t j = i;
      while (j < v.size() && (v[j] == '\r' || v[j] == '\n')) ++j;
      if (j < v.size() && detail::is_wsp(v[j])) {
        flush();
        out += "\r\n";
        col = 0;
      } else {
        seg.push_back(' ');
      }
      i = j;
      continue;
    }
    seg.push_back(c);
    ++i;
  }
  flush();
  out += "\r\n";
  return out;
}

std::string format_address(const Address& a) {
  std::string name = a.name ? std::string(detail::trim(*a.name)) : std::string();
  for (char& c : name)
    if (c == '\r' || c == '\n') c = ' ';
  const std::string addr = a.address ? *a.address : std::string();
  std::string phrase;
  if (!name.empty()) {
    if (!is_printable_ascii(name) || looks_encoded(name)) {
      // RFC 2047 5(3): encoded words as the phrase, separated by spaces.
      for (const auto& w : encoded_words(name)) {
        if (!phrase.empty()) phrase.push_back(' ');
        phrase += w;
      }
    } else if (is_atom_phrase(name)) {
      phrase = name;
    } else {
      phrase = "\"";  // RFC 5322 3.2.4 quoted-string
      for (char c : name) {
        if (c == '"' || c == '\\') phrase.push_back('\\');
        phrase.push_back(c);
      }
      phrase.push_back('"');
    }
  }
  if (addr.empty()) return phrase;
  if (phrase.empty()) return addr;
  return phrase + " <" + addr + ">";
}

std::string format_address_list(const std::vector<Address>& addresses) {
  std::string out;
  for (const auto& a : addresses) {
    if (!out.empty()) out += ", ";
    out += format_address(a);
  }
  return out;
}

std::string format_date(int64_t unix, int tz_offset_minutes) {
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (tz_offset_minutes < -(99 * 60 + 59) || tz_offset_minutes > 99 * 60 + 59) tz_offset_minutes = 0;
  const int64_t local = unix + static_cast<int64_t>(tz_offset_minutes) * 60;
  int64_t days = local / 86400;
  int64_t secs = local % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  int64_t y;
  int m, d;
  civil_from_days(days, &y, &m, &d);
  const int wd = static_cast<int>(((days % 7) + 7) % 7);
  const int off = tz_offset_minutes < 0 ? -tz_offset_minutes : tz_offset_minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04lld %02d:%02d:%02d %c%02d%02d", kDays[wd], d,
                kMonths[m - 1], static_cast<long long>(y), static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60),
                tz_offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
  return buf;
}

std::string encode_base64_lines(std::string_view data) {
  const std::string b = base64(data);
  std::string out;
  out.reserve(b.size() + b.size() / 76 * 2 + 2);
  for (size_t i = 0; i < b.size(); i += 76) {
    out.append(b, i, 76);
    out += "\r\n";
  }
  return out;
}

// RFC 2045 6.7: rules 1-5, soft line breaks keep encoded lines within 76 characters.
std::string encode_quoted_printable(std::string_view text) {
  std::string out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    const bool last = end == std::string_view::npos;
    if (last) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t col = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      const auto u = static_cast<unsigned char>(line[i]);
      const bool trailing_ws = (u == ' ' || u == '\t') && i + 1 == line.size();
      std::string piece;
      if ((u >= 33 && u <= 126 && u != '=') || ((u == ' ' || u == '\t') && !trailing_ws)) {
        piece.assign(1, line[i]);
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "=%02X", u);
        piece = buf;
      }
      if (col + piece.size() > 75) {  // leave room for the soft break's '='
        out += "=\r\n";
        col = 0;
      }
      out += piece;
      col += piece.size();
    }
    if (last) {
      if (!line.empty()) out += "\r\n";
      break;
    }
    out += "\r\n";
    start = end + 1;
  }
  return out;
}

MimeBuilder::MimeBuilder(std::string subtype) : subtype_(std::move(subtype)) {}

MimeBuilder& MimeBuilder::header(std::string_view name, std::string_view value) {
  headers_ += fold_header(name, value);
  return *this;
}

MimeBuilder& MimeBuilder::text(std::string_view utf8, std::string_view subtype) {
  const std::string text = sanitize_utf8(utf8);
  bool plain = true;
  size_t line = 0;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      line = 0;
      continue;
    }
    if (u >= 0x80 || (u < 0x20 && c != '\t' && c != '\r') || ++line > 76) plain = false;
  }
  Part p;
  p.headers = fold_header("Content-Type", "text/" + std::string(subtype) + "; charset=utf-8");
  if (plain) {
    p.headers += fold_header("Content-Transfer-Encoding", "7bit");
    p.body = normalize_crlf(text);
    if (!p.body.empty() && p.body.compare(p.body.size() - 2, 2, "\r\n") != 0) p.body += "\r\n";
  } else {
    p.headers += fold_header("Content-Transfer-Encoding", "quoted-printable");
    p.body = encode_quoted_printable(text);
  }
  parts_.push_back(std::move(p));
  return *this;
}

MimeBuilder& MimeBuilder::attachment(std::string_view data, std::string_view content_type,
                                     std::string_view filename) {
  Part p;
  std::string ct(content_type.empty() ? "application/octet-stream" : content_type);
  std::string disposition = filename.empty() ? "inline" : "attachment";
  if (!filename.empty()) {
    const std::string name = sanitize_utf8(filename);
    if (is_printable_ascii(name)) {
      ct += "; name=" + param_value(name);
      disposition += "; filename=" + param_value(name);
    } else {
      // RFC 2231 4: filename*=utf-8''percent-encoded
      std::string enc = "utf-8''";
      for (char c : name) {
        const auto u = static_cast<unsigned char>(c);
        if (detail::is_alpha(c) || detail::is_digit(c) || c == '.' || c == '-' || c == '_') {
          enc.push_back(c);
        } else {
          char buf[4];
          std::snprintf(buf, sizeof buf, "%%%02X", u);
          enc += buf;
        }
      }
      disposition += "; filename*=" + enc;
    }
  }
  p.headers = fold_header("Content-Type", ct);
  p.headers += fold_header("Content-Transfer-Encoding", "base64");
  p.headers += fold_header("Content-Disposition", disposition);
  p.body = encode_base64_lines(data);
  parts_.push_back(std::move(p));
  return *this;
}

std::string MimeBuilder::build() const {
  std::string boundary;
  for (;;) {
    boundary = random_boundary();
    bool clash = false;
    for (const auto& p : parts_)
      if (p.body.find(boundary) != std::string::npos || p.headers.find(boundary) != std::string::npos)
        clash = true;
    if (!clash) break;
  }
  std::string out = "MIME-Version: 1.0\r\n";
  out += headers_;
  out += fold_header("Content-Type",
                     "multipart/" + subtype_ + "; boundary=\"" + boundary + "\"");
  out += "\r\n";
  for (const auto& p : parts_) {
    out += "--" + boundary + "\r\n";
    out += p.headers;
    out += "\r\n";
    out += p.body;
  }
  out += "--" + boundary + "--\r\n";
  return out;
}

std::string match_line_ending(std::string fields, std::string_view message) {
  size_t nl = message.find('\n');
  if (nl == std::string_view::npos || (nl > 0 && message[nl - 1] == '\r')) return fields;
  std::string lf;
  lf.reserve(fields.size());
  for (char c : fields) {
    if (c != '\r') lf += c;
  }
  return lf;
}

std::string to_crlf(std::string message) {
  // memchr runs (a message is mostly long stretches without line ends): first whether
  // there is any bare CR or LF at all, then the copy line by line.
  const char* p = message.data();
  const size_t n = message.size();
  bool bare = false;
  for (const char* c = p; !bare && (c = static_cast<const char*>(std::memchr(c, '\n', p + n - c)));
       ++c) {
    bare = c == p || c[-1] != '\r';
  }
  for (const char* c = p; !bare && (c = static_cast<const char*>(std::memchr(c, '\r', p + n - c)));
       ++c) {
    bare = c + 1 == p + n || c[1] != '\n';
  }
  if (!bare) return message;
  std::string out;
  out.reserve(n + n / 32 + 16);
  size_t i = 0;
  while (i < n) {
    const char* lf = static_cast<const char*>(std::memchr(p + i, '\n', n - i));
    size_t end = lf ? static_cast<size_t>(lf - p) : n;  // the line is [i, end)
    // A CR right before the LF belongs to it; any other CR ends a line of its own.
    size_t text_end = lf && end > i && p[end - 1] == '\r' ? end - 1 : end;
    while (i < text_end) {
      const char* cr = static_cast<const char*>(std::memchr(p + i, '\r', text_end - i));
      size_t stop = cr ? static_cast<size_t>(cr - p) : text_end;
      out.append(p + i, stop - i);
      if (!cr) {
        i = text_end;
        break;
      }
      out += "\r\n";
      i = stop + 1;
    }
    if (lf) out += "\r\n";
    i = end + 1;
  }
  return out;
}

// Sixteen bytes at a time (as find_untidy in lib/auth): a CRLF message has an LF on every
// line, and a memchr call per line costs more than this scan.
size_t find_bare_lf(std::string_view s, size_t from) {
  using Bytes16 = unsigned char __attribute__((vector_size(16)));
  const char* p = s.data();
  size_t i = from;
  if (i == 0 && !s.empty()) {
    if (p[0] == '\n') return 0;
    i = 1;
  }
  for (; i + 16 <= s.size(); i += 16) {  // lane k: byte i + k and the byte before it
    Bytes16 here, prev;
    std::memcpy(&here, p + i, sizeof here);
    std::memcpy(&prev, p + i - 1, sizeof prev);
    auto bare = (here == '\n') & (prev != '\r');
    uint64_t lanes[2];
    std::memcpy(lanes, &bare, sizeof lanes);
    if ((lanes[0] | lanes[1]) != 0) break;  // the byte loop below finds which one
  }
  for (; i < s.size(); ++i) {
    if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r')) return i;
  }
  return std::string_view::npos;
}

std::string lf_to_crlf(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 32);
  // Copy runs between bare LFs in one append each; a CRLF message is a single copy.
  size_t start = 0;
  for (size_t nl = find_bare_lf(message, 0); nl != std::string_view::npos;
       nl = find_bare_lf(message, nl + 1)) {
    out.append(message.data() + start, nl - start);
    out += "\r\n";
    start = nl + 1;
  }
  out.append(message.data() + start, message.size() - start);
  return out;
}

}  // namespace postern::mail
