// Date-time values (RFC 5322 3.3) with the obsolete syntax of 4.3 (2- and 3-digit years,
// alphabetic zones, comments anywhere) and what mailers really send: missing weekday or
// seconds, numeric months, asctime order ("Fri Feb 07 10:18:12 2003"), fractional
// seconds, a Received-style "...; date" prefix.
#include <cstdio>
#include <string>
#include <vector>

#include "mail/header.h"
#include "mail/header_internal.h"

namespace postern::mail {
namespace {

using detail::ascii_lower;
using detail::is_alpha;
using detail::is_digit;

struct Tok {
  enum Kind { kNum, kWord, kSigned, kColon, kDot } kind;
  std::string_view text;
  long value = 0;  // kNum/kSigned: digits value (clamped), sign applied for kSigned
  int digits = 0;
};

std::vector<Tok> tokenize(std::string_view s) {
  std::vector<Tok> toks;
  for (size_t i = 0; i < s.size() && toks.size() < 64;) {
    const char c = s[i];
    if (is_digit(c) || ((c == '+' || c == '-') && i + 1 < s.size() && is_digit(s[i + 1]))) {
      const bool signed_tok = !is_digit(c);
      size_t j = signed_tok ? i + 1 : i;
      long v = 0;
      int n = 0;
      while (j < s.size() && is_digit(s[j])) {
        if (n < 9) v = v * 10 + (s[j] - '0');
        ++n;
        ++j;
      }
      Tok t{signed_tok ? Tok::kSigned : Tok::kNum, s.substr(i, j - i), v, n};
      if (signed_tok && c == '-') t.value = -v;
      toks.push_back(t);
      i = j;
    } else if (is_alpha(c)) {
      size_t j = i;
      while (j < s.size() && is_alpha(s[j])) ++j;
      toks.push_back({Tok::kWord, s.substr(i, j - i)});
      i = j;
    } else if (c == ':') {
      toks.push_back({Tok::kColon, s.substr(i, 1)});
      ++i;
    } else if (c == '.') {
      toks.push_back({Tok::kDot, s.substr(i, 1)});
      ++i;
    } else {
      ++i;  // whitespace, ',', and stray punctuation separate tokens
    }
  }
  return toks;
}

bool word_is(std::string_view w, std::string_view name, size_t min_len = 3) {
  if (w.size() < min_len || w.size() > name.size()) return false;
  for (size_t i = 0; i < w.size(); ++i)
    if (ascii_lower(w[i]) != name[i]) return false;
  return true;
}

int month_of(std::string_view w) {
  static constexpr std::string_view kMonths[] = {"january", "february", "march", "april",
                                                 "may", "june", "july", "august",
                                                 "september", "october", "november",
                                                 "december"};
  for (int m = 0; m < 12; ++m)
    if (word_is(w, kMonths[m])) return m + 1;
  return 0;
}

bool is_weekday(std::string_view w) {
  static constexpr std::string_view kDays[] = {"monday", "tuesday", "wednesday", "thursday",
                                               "friday", "saturday", "sunday"};
  for (auto d : kDays)
    if (word_is(w, d)) return true;
  return false;
}

// RFC 5322 4.3 obs-zone plus a few zone names in wide use. Minutes east of UTC.
bool zone_of(std::string_view w, int* minutes) {
  struct Zone {
    std::string_view name;
    int minutes;
  };
  static constexpr Zone kZones[] = {
      {"ut", 0},         {"utc", 0},        {"gmt", 0},        {"z", 0},
      {"est", -5 * 60},  {"edt", -4 * 60},  {"cst", -6 * 60},  {"cdt", -5 * 60},
      {"mst", -7 * 60},  {"mdt", -6 * 60},  {"pst", -8 * 60},  {"pdt", -7 * 60},
      {"akst", -9 * 60}, {"akdt", -8 * 60}, {"hst", -10 * 60}, {"ast", -4 * 60},
      {"adt", -3 * 60},  {"nst", -210},     {"ndt", -150},     {"bst", 60},
      {"wet", 0},        {"west", 60},      {"cet", 60},       {"cest", 120},
      {"met", 60},       {"mest", 120},     {"eet", 120},      {"eest", 180},
      {"msk", 180},      {"jst", 9 * 60},   {"kst", 9 * 60},   {"hkt", 8 * 60},
      {"sgt", 8 * 60},   {"aest", 600},     {"aedt", 660},     {"nzst", 720},
      {"nzdt", 780},
  };
  // "EST5EDT" tokenizes as "EST" 5 "EDT": the leading name decides.
  for (const auto& z : kZones) {
    if (detail::iequals(w, z.name)) {
      *minutes = z.minutes;
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<DateTime> parse_date(std::string_view raw) {
  const std::string folded = detail::strip_line_breaks(detail::field_body(raw));
  // Drop comments (RFC 5322 3.2.2 CFWS); an unterminated one swallows the rest.
  std::string s;
  for (size_t i = 0; i < folded.size();) {
    if (folded[i] == '(') {
      std::string ignored;
      i = detail::read_comment(folded, i, &ignored);
      s.push_back(' ');
    } else {
      s.push_back(folded[i++]);
    }
  }
  // A Received-style value: the date follows the last ';' (RFC 5321 4.4).
  if (auto semi = s.rfind(';'); semi != std::string::npos) s.erase(0, semi + 1);

  const std::vector<Tok> t = tokenize(s);
  size_t p = 0;
  auto at = [&](size_t k, Tok::Kind kind) { return k < t.size() && t[k].kind == kind; };

  DateTime dt;
  long year = -1;
  int year_digits = 0;
  if (at(p, Tok::kWord) && is_weekday(t[p].text)) ++p;

  auto read_time = [&]() -> bool {
    // hour ":" minute [":" second]; colons may be missing ("16 23 42").
    if (!at(p, Tok::kNum)) return false;
    dt.hour = static_cast<int>(t[p++].value);
    bool colon = false;
    if (at(p, Tok::kColon)) {
      ++p;
      colon = true;
    }
    if (!at(p, Tok::kNum)) return false;
    dt.minute = static_cast<int>(t[p++].value);
    if (at(p, Tok::kColon) && at(p + 1, Tok::kNum)) {
      dt.second = static_cast<int>(t[p + 1].value);
      p += 2;
    } else if (!colon && at(p, Tok::kNum) && t[p].digits <= 2) {
      dt.second = static_cast<int>(t[p++].value);
    }
    if (at(p, Tok::kDot) && at(p + 1, Tok::kNum)) p += 2;  // fractional seconds
    return true;
  };

  if (at(p, Tok::kWord)) {
    // asctime: month day time [zone] year [zone]
    dt.month = month_of(t[p].text);
    if (!dt.month) return std::nullopt;
    ++p;
    if (!at(p, Tok::kNum)) return std::nullopt;
    dt.day = static_cast<int>(t[p++].value);
    if (!read_time()) return std::nullopt;
    size_t zone_at = t.size();
    if (at(p, Tok::kWord) || at(p, Tok::kSigned)) zone_at = p++;
    if (!at(p, Tok::kNum)) return std::nullopt;
    year = t[p].value;
    year_digits = t[p++].digits;
    if (zone_at == t.size() && p < t.size()) zone_at = p;
    p = zone_at;
  } else {
    // RFC 5322 3.3: day month year time zone
    if (!at(p, Tok::kNum)) return std::nullopt;
    dt.day = static_cast<int>(t[p++].value);
    if (at(p, Tok::kWord)) {
      dt.month = month_of(t[p].text);
    } else if (at(p, Tok::kNum) && t[p].digits <= 2) {
      dt.month = static_cast<int>(t[p].value);
    }
    if (dt.month < 1 || dt.month > 12) return std::nullopt;
    ++p;
    if (!at(p, Tok::kNum)) return std::nullopt;
    year = t[p].value;
    year_digits = t[p++].digits;
    if (!read_time()) return std::nullopt;
  }

  // Zone: RFC 5322 3.3 "+hhmm"/"-hhmm"; obs-zone names (4.3); none or unknown → "-0000".
  int offset = 0;
  bool known = false;
  if (at(p, Tok::kSigned) || at(p, Tok::kNum)) {
    const Tok& z = t[p];
    long v = z.value < 0 ? -z.value : z.value;
    if (z.kind == Tok::kSigned && z.digits <= 2) v *= 100;  // "+02"
    const int h = static_cast<int>(v / 100 % 100), m = static_cast<int>(v % 100);
    const bool negative = z.kind == Tok::kSigned && z.text[0] == '-';
    if (m < 60) {
      offset = negative ? -(h * 60 + m) : h * 60 + m;
      known = true;
    }
  } else if (at(p, Tok::kWord)) {
    known = zone_of(t[p].text, &offset);
  }
  // A zero offset is never "before GMT": "-0000" (3.3, unknown local zone), no zone at all
  // and unknown zone names (4.3: "SHOULD be considered equivalent to -0000") all denote
  // the same UTC instant, which is what the offset fields can express.
  if (!known) offset = 0;
  dt.tz_before_gmt = offset < 0;
  const int abs_off = offset < 0 ? -offset : offset;
  dt.tz_hour = abs_off / 60;
  dt.tz_minute = abs_off % 60;

  // RFC 5322 4.3: two-digit years 00-49 are 20xx, 50-99 19xx; three digits add 1900.
  if (year_digits <= 2) {
    year += year < 50 ? 2000 : 1900;
  } else if (year_digits == 3) {
    year += 1900;
  } else if (year_digits > 4) {
    return std::nullopt;
  }
  dt.year = static_cast<int>(year);
  if (dt.day < 1 || dt.day > 31 || dt.hour > 23 || dt.minute > 59 || dt.second > 60 ||
      dt.year < 1)
    return std::nullopt;
  return dt;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's civil algorithm).
int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

int64_t DateTime::to_unix() const {
  const int64_t days = days_from_civil(year, month < 1 ? 1 : (month > 12 ? 12 : month), day);
  const int64_t offset = (static_cast<int64_t>(tz_hour) * 60 + tz_minute) * 60;
  const int64_t local = days * 86400 + hour * 3600 + minute * 60 + second;
  return tz_before_gmt ? local + offset : local - offset;
}

std::string DateTime::to_rfc3339() const {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", year, month, day,
                hour, minute, second, tz_before_gmt ? '-' : '+', tz_hour, tz_minute);
  return buf;
}

}  // namespace postern::mail
