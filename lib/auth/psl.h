// The Public Suffix List (https://publicsuffix.org/list/): which names are public
// suffixes ("com", "co.uk", "*.ck" but not "www.ck"), and so which domain is the
// registrable one — RFC 7489 3.2's Organizational Domain, what DMARC aligns on.
//
// The list is Debian's /usr/share/publicsuffix/public_suffix_list.dat (package
// `publicsuffix`), loaded once per process and path (shared()). Rules are held in hash
// sets, normalized to lower-case A-labels, so a lookup costs one hash probe per label.
// Names may be given as U-labels or A-labels (IDNA2008/UTS #46 through ICU's uidna); the
// answer comes back in the form the name was given in, lower-cased.
//
//   auto psl = auth::PublicSuffixList::shared();          // Result<const PublicSuffixList*>
//   (*psl)->organizational_domain("www.Example.co.uk")     // "example.co.uk"
//   (*psl)->organizational_domain("co.uk")                 // nullopt: a public suffix
//   (*psl)->public_suffix("a.b.example.ck")                // "example.ck" (rule *.ck)
//
// The algorithm is the list's own (https://github.com/publicsuffix/list/wiki/Format):
// the prevailing rule is an exception rule ("!x") when one matches, else the matching
// rule with the most labels, else the implicit rule "*". Names with an empty label
// (a leading dot, "a..b") have no public suffix; one trailing dot (the root) is ignored.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "base/result.h"

namespace postern::auth {

inline constexpr std::string_view kDefaultPslPath =
    "/usr/share/publicsuffix/public_suffix_list.dat";

// A domain name in the form rules are compared in: lower-case A-labels, no trailing dot.
// Non-ASCII labels go through UTS #46 ToASCII (nontransitional); nullopt when that fails.
std::optional<std::string> to_ascii_domain(std::string_view name);

class PublicSuffixList {
 public:
  // Reads the list's file format: one rule a line, "//" comments, the rule ends at the
  // first white space; ICANN and private sections alike.
  static base::Result<PublicSuffixList> parse(std::string_view text);
  static base::Result<PublicSuffixList> load(const std::string& path);
  // The list at `path`, loaded on first use and kept for the life of the process
  // (thread-safe). Errors are not cached: a later call tries again.
  static base::Result<const PublicSuffixList*> shared(
      const std::string& path = std::string(kDefaultPslPath));

  // The public suffix of `name`, in the form `name` was given in (lower-case); nullopt
  // for an empty or invalid name.
  std::optional<std::string> public_suffix(std::string_view name) const;
  // The registrable domain: the public suffix plus one label (RFC 7489 3.2); nullopt
  // when `name` is itself a public suffix or invalid.
  std::optional<std::string> organizational_domain(std::string_view name) const;

  size_t size() const { return rules_.size() + wildcards_.size() + exceptions_.size(); }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Set = std::unordered_set<std::string, Hash, std::equal_to<>>;

  // How many labels of the normalized `ascii` name form its public suffix (≥ 1).
  size_t suffix_labels(std::string_view ascii) const;

  Set rules_;       // "co.uk"
  Set wildcards_;   // "ck" for "*.ck"
  Set exceptions_;  // "www.ck" for "!www.ck"
};

}  // namespace postern::auth
