#include "auth/psl.h"
#include "mail/header.h"

#include <unicode/uidna.h>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "base/fd.h"

namespace postern::auth {
namespace {

bool is_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// One UTS #46 processor for the process (ICU's UIDNA is immutable and thread-safe).
const UIDNA* idna() {
  static const UIDNA* const kIdna = [] {
    UErrorCode err = U_ZERO_ERROR;
    UIDNA* u =
        uidna_openUTS46(UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE, &err);
    return U_FAILURE(err) ? nullptr : u;
  }();
  return kIdna;
}

enum class Direction { kToAscii, kToUnicode };

std::optional<std::string> convert(std::string_view name, Direction d) {
  const UIDNA* u = idna();
  if (u == nullptr) return std::nullopt;
  std::string out(name.size() * 4 + 64, '\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode err = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    int32_t n =
        d == Direction::kToAscii
            ? uidna_nameToASCII_UTF8(u, name.data(), static_cast<int32_t>(name.size()), out.data(),
                                     static_cast<int32_t>(out.size()), &info, &err)
            : uidna_nameToUnicodeUTF8(u, name.data(), static_cast<int32_t>(name.size()), out.data(),
                                      static_cast<int32_t>(out.size()), &info, &err);
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      out.assign(static_cast<size_t>(n) + 1, '\0');
      continue;
    }
    // Hyphen placement is not the list's business ("xn--" rules exist); anything else is.
    uint32_t errors = info.errors & ~(UIDNA_ERROR_LEADING_HYPHEN | UIDNA_ERROR_TRAILING_HYPHEN |
                                      UIDNA_ERROR_HYPHEN_3_4 | UIDNA_ERROR_EMPTY_LABEL);
    if (U_FAILURE(err) || errors != 0) return std::nullopt;
    out.resize(static_cast<size_t>(n));
    return out;
  }
  return std::nullopt;
}

size_t count_labels(std::string_view s) {
  size_t n = 1;
  for (char c : s) n += c == '.';
  return n;
}

// The last `k` labels of `s` (all of it when it has no more).
std::string_view last_labels(std::string_view s, size_t k) {
  size_t pos = s.size();
  for (size_t i = 0; i < k; ++i) {
    size_t dot = pos == 0 ? std::string_view::npos : s.rfind('.', pos - 1);
    if (dot == std::string_view::npos) return s;
    pos = dot;
  }
  return s.substr(pos + 1);
}

// Strips one trailing dot; nullopt for "", ".", a leading dot or an empty label.
std::optional<std::string_view> well_formed(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.front() == '.' || name.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  return name;
}

}  // namespace

std::optional<std::string> to_ascii_domain(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (is_ascii(name)) return mail::to_lower(name);
  auto ascii = convert(name, Direction::kToAscii);
  if (!ascii) return std::nullopt;
  return mail::to_lower(*ascii);
}

base::Result<PublicSuffixList> PublicSuffixList::parse(std::string_view text) {
  PublicSuffixList psl;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) continue;
    line.remove_prefix(b);
    if (line.starts_with("//")) continue;
    std::string_view rule = line.substr(0, line.find_first_of(" \t\r"));
    Set* set = &psl.rules_;
    if (rule.starts_with("!")) {
      set = &psl.exceptions_;
      rule.remove_prefix(1);
    } else if (rule.starts_with("*.")) {
      set = &psl.wildcards_;
      rule.remove_prefix(2);
    }
    auto ascii = to_ascii_domain(rule);
    if (!ascii || ascii->empty() || ascii->find('*') != std::string::npos) {
      return base::Error::config("public suffix list line " + std::to_string(line_no) +
                                 ": unusable rule: " + std::string(line));
    }
    set->insert(std::move(*ascii));
  }
  if (psl.size() == 0) return base::Error::config("public suffix list: no rules");
  return psl;
}

base::Result<PublicSuffixList> PublicSuffixList::load(const std::string& path) {
  auto text = base::read_file(path);
  if (!text) return text.error().with_context("public suffix list " + path);
  auto psl = parse(*text);
  if (!psl) return psl.error().with_context(path);
  return psl;
}

base::Result<const PublicSuffixList*> PublicSuffixList::shared(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<PublicSuffixList>> loaded;
  std::lock_guard<std::mutex> lock(mu);
  auto it = loaded.find(path);
  if (it != loaded.end()) return it->second.get();
  auto psl = load(path);
  if (!psl) return psl.error();
  auto [pos, _] = loaded.emplace(path, std::make_unique<PublicSuffixList>(std::move(*psl)));
  return pos->second.get();
}

size_t PublicSuffixList::suffix_labels(std::string_view ascii) const {
  std::vector<size_t> starts = {0};
  for (size_t i = 0; i < ascii.size(); ++i) {
    if (ascii[i] == '.') starts.push_back(i + 1);
  }
  const size_t n = starts.size();
  auto suffix = [&](size_t i) { return ascii.substr(starts[i]); };
  // An exception rule prevails over every other (the list's algorithm, step 2); it
  // makes the suffix one label shorter than itself.
  for (size_t i = 0; i + 1 < n; ++i) {
    if (exceptions_.find(suffix(i)) != exceptions_.end()) return n - i - 1;
  }
  // Otherwise the longest matching rule; wildcards match one more label.
  for (size_t i = 0; i < n; ++i) {
    if (rules_.find(suffix(i)) != rules_.end()) return n - i;
    if (i + 1 < n && wildcards_.find(suffix(i + 1)) != wildcards_.end()) return n - i;
  }
  return 1;  // the implicit rule "*"
}

std::optional<std::string> PublicSuffixList::public_suffix(std::string_view name) const {
  auto given = well_formed(name);
  if (!given) return std::nullopt;
  auto ascii = to_ascii_domain(*given);
  if (!ascii) return std::nullopt;
  size_t k = suffix_labels(*ascii);
  if (is_ascii(*given)) return std::string(last_labels(*ascii, k));
  auto unicode = convert(*ascii, Direction::kToUnicode);
  if (!unicode || count_labels(*unicode) != count_labels(*ascii)) {
    return std::string(last_labels(*ascii, k));
  }
  return std::string(last_labels(*unicode, k));
}

std::optional<std::string> PublicSuffixList::organizational_domain(std::string_view name) const {
  auto given = well_formed(name);
  if (!given) return std::nullopt;
  auto ascii = to_ascii_domain(*given);
  if (!ascii) return std::nullopt;
  size_t k = suffix_labels(*ascii);
  size_t n = count_labels(*ascii);
  if (n <= k) return std::nullopt;
  if (is_ascii(*given)) return std::string(last_labels(*ascii, k + 1));
  auto unicode = convert(*ascii, Direction::kToUnicode);
  if (!unicode || count_labels(*unicode) != n) return std::string(last_labels(*ascii, k + 1));
  return std::string(last_labels(*unicode, k + 1));
}

}  // namespace postern::auth
