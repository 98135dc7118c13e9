// mboxo/mboxrd reading and mboxrd writing. See mbox.h for the rules.
#include "mail/mbox.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

#include "mail/header.h"

namespace postern::mail::mbox {

namespace {

constexpr std::array<std::string_view, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 7> kMetadata = {
    "status", "x-status", "x-keywords", "x-uid", "x-imap", "x-imapbase", "content-length"};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

int index_of(std::string_view tok, auto const& names) {
  if (tok.size() >= 3 && tok.size() <= 4) {
    std::string_view t = tok.substr(0, 3);
    if (tok.size() == 4 && tok[3] != ',') return -1;
    for (size_t i = 0; i < names.size(); ++i) {
      if (iequals(t, names[i])) return static_cast<int>(i);
    }
  }
  return -1;
}

// A line of `s` starting at `pos`: [pos, end) without its line end; `next` after it.
struct Line {
  std::string_view text;  // without "\n" (a trailing "\r" is kept)
  size_t next;
};
Line line_at(std::string_view s, size_t pos) {
  size_t nl = s.find('\n', pos);
  if (nl == std::string_view::npos) return {s.substr(pos), s.size()};
  return {s.substr(pos, nl - pos), nl + 1};
}

bool is_empty_line(std::string_view text) { return text.empty() || text == "\r"; }

bool is_from_quoted(std::string_view line, size_t min_gt) {
  size_t i = 0;
  while (i < line.size() && line[i] == '>') ++i;
  return i >= min_gt && line.substr(i).starts_with("From ");
}

std::string unfold(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\r' || c == '\n') continue;
    out += c == '\t' ? ' ' : c;
  }
  return out;
}

}  // namespace

std::optional<int64_t> parse_from_line_date(std::string_view line) {
  if (!line.starts_with("From ")) return std::nullopt;
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  auto t = tokens(line.substr(5));
  // Token 0 is the sender; find "Day Mon" after it.
  for (size_t i = 1; i + 3 < t.size(); ++i) {
    if (index_of(t[i], kDays) < 0) continue;
    int month = index_of(t[i + 1], kMonths);
    if (month < 0 || !is_digits(t[i + 2]) || t[i + 2].size() > 2) continue;
    int day = std::stoi(std::string(t[i + 2]));
    std::string_view hms = t[i + 3];
    int h = 0, m = 0, sec = 0;
    if (hms.size() == 8 && hms[2] == ':' && hms[5] == ':' && is_digits(hms.substr(0, 2)) &&
        is_digits(hms.substr(3, 2)) && is_digits(hms.substr(6, 2))) {
      sec = std::stoi(std::string(hms.substr(6, 2)));
    } else if (!(hms.size() == 5 && hms[2] == ':' && is_digits(hms.substr(0, 2)) &&
                 is_digits(hms.substr(3, 2)))) {
      continue;
    }
    h = std::stoi(std::string(hms.substr(0, 2)));
    m = std::stoi(std::string(hms.substr(3, 2)));
    std::optional<int> year;
    int offset = 0;  // minutes east of UTC
    for (size_t k = i + 4; k < t.size() && k < i + 7; ++k) {
      std::string_view tok = t[k];
      if (is_digits(tok) && tok.size() == 4) {
        year = std::stoi(std::string(tok));
      } else if (is_digits(tok) && tok.size() == 2 && !year) {
        int y = std::stoi(std::string(tok));
        year = y < 70 ? 2000 + y : 1900 + y;
      } else if (tok.size() == 5 && (tok[0] == '+' || tok[0] == '-') && is_digits(tok.substr(1))) {
        int v = std::stoi(std::string(tok.substr(1)));
        offset = (v / 100) * 60 + v % 100;
        if (tok[0] == '-') offset = -offset;
      } else if (year) {
        break;  // "remote from ..." and the like
      }
    }
    if (!year || day < 1 || day > 31 || h > 23 || m > 59 || sec > 60) continue;
    int64_t days = days_from_civil(*year, static_cast<unsigned>(month + 1), static_cast<unsigned>(day));
    return days * 86400 + h * 3600 + m * 60 + sec - offset * 60;
  }
  return std::nullopt;
}

bool looks_like_mbox(std::string_view file) { return file.starts_with("From "); }

std::string quote(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 16);
  for (size_t pos = 0; pos < bytes.size();) {
    Line l = line_at(bytes, pos);
    if (is_from_quoted(l.text, 0)) out += '>';
    out.append(bytes.substr(pos, l.next - pos));
    pos = l.next;
  }
  return out;
}

std::string unquote(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t pos = 0; pos < bytes.size();) {
    Line l = line_at(bytes, pos);
    size_t skip = is_from_quoted(l.text, 1) ? 1 : 0;
    out.append(bytes.substr(pos + skip, l.next - pos - skip));
    pos = l.next;
  }
  return out;
}

std::vector<std::string> keywords_from_status(std::optional<std::string_view> status,
                                              std::optional<std::string_view> x_status,
                                              std::optional<std::string_view> x_keywords) {
  std::vector<std::string> out;
  if (status && status->find('R') != std::string_view::npos) out.emplace_back("$seen");
  if (x_status) {
    for (char c : *x_status) {
      switch (c) {
        case 'A': out.emplace_back("$answered"); break;
        case 'F': out.emplace_back("$flagged"); break;
        case 'T': out.emplace_back("$draft"); break;
        case 'D': out.emplace_back("$deleted"); break;
        default: break;
      }
    }
  }
  if (x_keywords) {
    std::string word;
    for (char c : std::string(*x_keywords) + " ") {
      if (c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '\n') {
        if (!word.empty()) out.push_back(to_lower(word));
        word.clear();
      } else {
        word += c;
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> strip_metadata(std::string& bytes) {
  std::optional<std::string> found[3];  // status, x-status, x-keywords
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    Line l = line_at(bytes, pos);
    if (is_empty_line(l.text)) break;  // end of the header section
    // One field: this line and its continuation lines.
    size_t end = l.next;
    while (end < bytes.size() && (bytes[end] == ' ' || bytes[end] == '\t')) end = line_at(bytes, end).next;
    std::string_view field(bytes.data() + pos, end - pos);
    size_t colon = field.find(':');
    std::string name = colon == std::string_view::npos ? "" : to_lower(field.substr(0, colon));
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    auto it = std::find(kMetadata.begin(), kMetadata.end(), name);
    if (it == kMetadata.end()) {
      out.append(field);
    } else if (size_t k = static_cast<size_t>(it - kMetadata.begin()); k < 3 && !found[k]) {
      found[k] = unfold(field.substr(colon + 1));
    }
    pos = end;
  }
  out.append(bytes, pos, std::string::npos);
  bytes = std::move(out);
  auto view = [](const std::optional<std::string>& s) -> std::optional<std::string_view> {
    if (!s) return std::nullopt;
    return std::string_view(*s);
  };
  return keywords_from_status(view(found[0]), view(found[1]), view(found[2]));
}

std::vector<Message> split(std::string_view file) {
  std::vector<Message> out;
  size_t line_no = 0;
  bool prev_empty = true;
  std::optional<size_t> body_start;  // of the current message
  std::string_view from;
  size_t from_line_no = 0;
  auto close = [&](size_t end) {
    if (!body_start) return;
    std::string_view raw = file.substr(*body_start, end - *body_start);
    // Drop the empty separator line (before the next From_ line, or at the end).
    if (raw.ends_with("\r\n\r\n")) {
      raw.remove_suffix(2);
    } else if (raw.ends_with("\n\n")) {
      raw.remove_suffix(1);
    }
    Message m;
    auto tok = tokens(from.substr(5));
    m.sender = tok.empty() ? "MAILER-DAEMON" : std::string(tok[0]);
    m.received_at = parse_from_line_date(from).value_or(0);
    m.bytes = unquote(raw);
    m.keywords = strip_metadata(m.bytes);
    m.line = from_line_no;
    out.push_back(std::move(m));
  };
  for (size_t pos = 0; pos < file.size();) {
    Line l = line_at(file, pos);
    ++line_no;
    bool separator = l.text.starts_with("From ") &&
                     (pos == 0 || (prev_empty && parse_from_line_date(l.text).has_value()));
    if (separator) {
      close(pos);
      from = l.text;
      from_line_no = line_no;
      body_start = l.next;
    }
    prev_empty = is_empty_line(l.text);
    pos = l.next;
  }
  close(file.size());
  return out;
}

std::string from_line(std::string_view sender, int64_t t) {
  std::string s(sender.empty() ? "MAILER-DAEMON" : sender);
  for (char& c : s) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') c = '_';
  }
  int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  int64_t secs = t - days * 86400;
  // civil_from_days
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2);
  int wday = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %s %2u %02d:%02d:%02d %lld", kDays[wday].data(),
                kMonths[m - 1].data(), d, static_cast<int>(secs / 3600),
                static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60),
                static_cast<long long>(y));
  return "From " + s + " " + buf + "\n";
}

std::string format_message(std::string_view sender, int64_t received_at,
                           const std::vector<std::string>& keywords, std::string_view bytes) {
  std::string out = from_line(sender, received_at);
  bool seen = false;
  std::string x_status, x_keywords;
  for (const auto& k : keywords) {
    std::string kw = to_lower(k);
    if (kw == "$seen") seen = true;
    else if (kw == "$answered") x_status += 'A';
    else if (kw == "$flagged") x_status += 'F';
    else if (kw == "$draft") x_status += 'T';
    else if (kw == "$deleted") x_status += 'D';
    else x_keywords += (x_keywords.empty() ? "" : " ") + (kw == "$forwarded" ? "$Forwarded" : kw);
  }
  out += seen ? "Status: RO\n" : "Status: O\n";
  if (!x_status.empty()) out += "X-Status: " + x_status + "\n";
  if (!x_keywords.empty()) out += "X-Keywords: " + x_keywords + "\n";
  out += quote(bytes);
  if (!bytes.empty() && bytes.back() != '\n') out += '\n';
  out += '\n';
  return out;
}

}  // namespace postern::mail::mbox
