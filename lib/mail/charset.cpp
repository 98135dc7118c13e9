// Charset conversion to UTF-8 (RFC 2045 5.1 / RFC 2046 4.1.2 charset parameter, RFC 2047
// encoded-word charsets, RFC 2231 4 extended parameter charsets) on top of ICU ucnv.
#include "mail/charset.h"

#include <unicode/ucnv.h>
#include <unicode/ucnv_cb.h>
#include <unicode/ucnv_err.h>
#include <unicode/utypes.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

namespace postern::mail {
namespace {

// Windows-1252 bytes 0x80..0x9F; the five holes map to the C1 control of the same value,
// as WHATWG's encoding standard does, so every byte decodes to something.
constexpr std::array<char16_t, 32> kCp1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008D, 0x017D, 0x008F,
    0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};


constexpr uint32_t kReplacement = 0xFFFD;

// Length of the valid UTF-8 sequence at s[i] (RFC 3629 4, no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 when the bytes there are not a valid sequence.
size_t utf8_sequence_length(std::string_view s, size_t i, uint32_t* cp_out) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    if (cp_out) *cp_out = b0;
    return 1;
  }
  size_t len;
  uint32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp_out) *cp_out = cp;
  return len;
}

// Length of the maximal prefix of an invalid sequence at s[i] that could have started a
// valid one (Unicode 3.9 "maximal subpart"); at least 1.
size_t invalid_subpart_length(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 1;
  }
  size_t k = 1;
  for (; k < need && i + k < s.size(); ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
  }
  return k;
}

std::string cp1252_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x80) {
      out.push_back(c);
    } else if (b < 0xA0) {
      append_utf8(out, kCp1252High[b - 0x80]);
    } else {
      append_utf8(out, b);
    }
  }
  return out;
}

std::string normalize_charset(std::string_view charset) {
  std::string name;
  name.reserve(charset.size());
  for (char c : charset) {
    if (c == '"' || c == '\'' || c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    name.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  // RFC 2231 5: "charset*language" in encoded words.
  if (auto star = name.find('*'); star != std::string::npos) name.resize(star);
  return name;
}

enum class Builtin { kNone, kUtf8, kCp1252 };

struct Alias {
  std::string_view from;
  std::string_view to;  // ICU converter name
};

// MIME names and common mislabels that ICU's own alias table does not resolve the way
// mail clients do. Supersets are used where senders routinely mislabel (WHATWG).
constexpr Alias kAliases[] = {
    {"gb2312", "GBK"},           {"gb_2312-80", "GBK"},     {"x-gbk", "GBK"},
    {"cp936", "GBK"},            {"csgb2312", "GBK"},       {"chinese", "GBK"},
    {"euc-cn", "GBK"},           {"x-euc-cn", "GBK"},       {"gbk", "GBK"},
    {"gb18030", "gb18030"},      {"ks_c_5601-1987", "windows-949"},
    {"ks_c_5601", "windows-949"}, {"ks_c_5601-1989", "windows-949"},
    {"ksc5601", "windows-949"},  {"ksc_5601", "windows-949"}, {"euc-kr", "windows-949"},
    {"cseuckr", "windows-949"},  {"korean", "windows-949"}, {"x-windows-949", "windows-949"},
    {"cp949", "windows-949"},    {"big5", "windows-950"},   {"x-x-big5", "windows-950"},
    {"cn-big5", "windows-950"},  {"csbig5", "windows-950"}, {"big5-hkscs", "Big5-HKSCS"},
    {"shift_jis", "windows-31j"}, {"shift-jis", "windows-31j"}, {"sjis", "windows-31j"},
    {"x-sjis", "windows-31j"},   {"ms_kanji", "windows-31j"}, {"cp932", "windows-31j"},
    {"windows-31j", "windows-31j"}, {"csshiftjis", "windows-31j"},
    {"utf-7", "UTF-7"},          {"utf7", "UTF-7"},         {"unicode-1-1-utf-7", "UTF-7"},
    {"x-unicode-2-0-utf-7", "UTF-7"}, {"csunicode11utf7", "UTF-7"},
    {"tis-620", "windows-874"},  {"iso-8859-11", "windows-874"},
    {"iso-8859-9", "windows-1254"}, {"latin5", "windows-1254"},
    {"iso8859-9", "windows-1254"}, {"iso_8859-9", "windows-1254"},
    {"utf-16", "UTF-16"},        {"utf-16le", "UTF-16LE"},  {"utf-16be", "UTF-16BE"},
    {"ucs-2", "UTF-16BE"},       {"koi8-r", "KOI8-R"},      {"koi8-u", "KOI8-U"},
};

// Names that mean "ASCII/Latin-1": 8-bit bytes under them are read as Windows-1252, the
// way every mainstream client does (WHATWG "windows-1252" labels).
constexpr std::string_view kCp1252Names[] = {
    "us-ascii", "ascii", "ansi_x3.4-1968", "ansi_x3.4-1986", "iso646-us", "us", "ibm367",
    "cp367", "csascii", "iso-ir-6", "iso-8859-1", "iso8859-1", "iso_8859-1", "iso88591",
    "iso_8859-1:1987", "latin1", "latin-1", "l1", "cp819", "ibm819", "csisolatin1",
    "iso-ir-100", "windows-1252", "cp1252", "x-cp1252", "cp-1252", "win-1252", "8859-1",
    "iso-8859-1-windows-3.1-latin-1", "x-user-defined", "unknown-8bit", "x-unknown",
    "default", "8bit",
};

constexpr std::string_view kUtf8Names[] = {"utf-8", "utf8", "unicode-1-1-utf-8",
                                           "x-unicode20utf8", "unicode20utf8", "utf_8"};

Builtin builtin_for(const std::string& name) {
  for (auto n : kUtf8Names)
    if (name == n) return Builtin::kUtf8;
  for (auto n : kCp1252Names)
    if (name == n) return Builtin::kCp1252;
  return Builtin::kNone;
}

std::string icu_name_for(const std::string& name) {
  for (const auto& a : kAliases)
    if (name == a.from) return std::string(a.to);
  // ICU matches names ignoring case, "-", "_" and " ", so "iso8859_2" needs no entry.
  return name;
}

// ICU to-Unicode callback writing U+FFFD for every illegal, irregular or unassigned
// sequence (the default substitutes U+001A for some single-byte converters).
void to_u_replacement(const void*, UConverterToUnicodeArgs* args, const char*, int32_t,
                      UConverterCallbackReason reason, UErrorCode* err) {
  if (reason > UCNV_IRREGULAR) return;  // reset/close/clone: nothing to do
  static const UChar kFffd[1] = {0xFFFD};
  *err = U_ZERO_ERROR;
  ucnv_cbToUWriteUChars(args, kFffd, 1, 0, err);
}

struct ConverterCloser {
  void operator()(UConverter* c) const { ucnv_close(c); }
};

std::optional<std::string> icu_to_utf8(std::string_view bytes, const std::string& icu_name) {
  UErrorCode err = U_ZERO_ERROR;
  std::unique_ptr<UConverter, ConverterCloser> conv(ucnv_open(icu_name.c_str(), &err));
  if (U_FAILURE(err) || !conv) return std::nullopt;
  ucnv_setToUCallBack(conv.get(), to_u_replacement, nullptr, nullptr, nullptr, &err);
  if (U_FAILURE(err)) return std::nullopt;

  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2);
  const char* src = bytes.data();
  const char* src_end = bytes.data() + bytes.size();
  UChar buf[1024];
  uint32_t pending_high = 0;  // high surrogate waiting for its low half
  for (;;) {
    UChar* target = buf;
    err = U_ZERO_ERROR;
    ucnv_toUnicode(conv.get(), &target, buf + std::size(buf), &src, src_end, nullptr,
                   /*flush=*/true, &err);
    for (UChar* p = buf; p < target; ++p) {
      const uint32_t u = *p;
      if (u >= 0xD800 && u <= 0xDBFF) {
        if (pending_high) append_utf8(out, kReplacement);
        pending_high = u;
      } else if (u >= 0xDC00 && u <= 0xDFFF) {
        if (pending_high) {
          append_utf8(out, 0x10000 + ((pending_high - 0xD800) << 10) + (u - 0xDC00));
          pending_high = 0;
        } else {
          append_utf8(out, kReplacement);
        }
      } else {
        if (pending_high) {
          append_utf8(out, kReplacement);
          pending_high = 0;
        }
        append_utf8(out, u);
      }
    }
    if (err == U_BUFFER_OVERFLOW_ERROR) continue;
    break;
  }
  if (pending_high) append_utf8(out, kReplacement);
  return out;
}

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::optional<std::string> to_utf8(std::string_view bytes, std::string_view charset) {
  const std::string name = normalize_charset(charset);
  if (name.empty()) return std::nullopt;
  switch (builtin_for(name)) {
    case Builtin::kUtf8:
      return sanitize_utf8(bytes);
    case Builtin::kCp1252:
      return cp1252_to_utf8(bytes);
    case Builtin::kNone:
      break;
  }
  if (name.size() > 64) return std::nullopt;
  return icu_to_utf8(bytes, icu_name_for(name));
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i, nullptr);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string sanitize_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence_length(s, i, nullptr);
    if (n) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      append_utf8(out, kReplacement);
      i += invalid_subpart_length(s, i);
    }
  }
  return out;
}

std::string utf8_or_latin1(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  return cp1252_to_utf8(s);
}

}  // namespace postern::mail
