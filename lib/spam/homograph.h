// Homographs: domain names that look like another name (UTS #39, Unicode Security
// Mechanisms, through ICU's spoof checker). The spam engine calls check() for every
// domain it finds in links, From, Reply-To and display names and turns the findings into
// rule hits; display carries the Unicode form (punycode decoded) for the explanation.
//
// Kinds of finding, per domain:
//   mixed_script             a label mixes scripts beyond UTS #39 5.2's Moderately
//                            Restrictive level (Latin+Cyrillic "pаypal", Latin+Greek
//                            "micrοsoft"), or mixes digits of several numbering systems,
//                            or hides a combining mark (repeated, or a dot over "ı").
//                            Latin with Han/Kana/Hangul, or with one other script that is
//                            not Cyrillic, Greek or Cherokee, is allowed: those scripts
//                            rarely pass for Latin, and brand names mix them.
//   whole_script_confusable  a label written entirely in one non-Latin script whose
//                            skeleton is plain ASCII (all-Cyrillic "аррӏе" reads as
//                            "appie"), unless the top-level label is in that same script
//                            (Cyrillic names under .рф are what a reader there expects).
//   confusable_protected     the registrable domain (Public Suffix List) is not a
//                            protected one, yet looks like one: either the skeletons of
//                            the whole registrable domains are equal ("paypa1.com",
//                            "rnicrosoft.com", "pаypal.com" vs paypal.com), or the
//                            skeletons of their first labels are equal while the labels
//                            themselves differ ("paypa1.net" vs paypal.com). The same
//                            label under another suffix ("paypal.net", "google.de") is
//                            not a look-alike and does not fire.
//   idna_invalid             an xn-- label that is not valid punycode, or a name that
//                            IDNA (UTS #46, nontransitional, CONTEXTJ) rejects: a
//                            zero-width joiner inside a Latin word, ill-formed UTF-8.
// A protected domain and every name under its registrable domain never fire.
//
// Skeletons are UTS #39 4's skeleton(X), lower-cased afterwards (ASCII) because domain
// names are case-insensitive while the confusables map digit zero to capital O: so
// "g00gle" ~ "google", "rn" ~ "m", "1" ~ "l".
//
//   auto checker = spam::HomographChecker::create({"paypal.com", "example.org"});
//   for (const auto& f : checker->check("xn--pypal-4ve.com"))
//     log(f.kind, f.display, f.detail);   // mixed_script, "pаypal.com", ...
//   spam::HomographChecker::to_unicode("xn--mnchen-3ya.de")   // "münchen.de"
//   spam::HomographChecker::to_ascii("München.de")            // "xn--mnchen-3ya.de"
//
// check() is const and thread-safe: one configured USpoofChecker and one UIDNA serve all
// threads (ICU documents both as safe for concurrent checks once configured).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::auth {
class PublicSuffixList;
}

namespace postern::spam {

struct HomographFinding {
  std::string kind;              // "mixed_script" | "whole_script_confusable" |
                                 // "confusable_protected" | "idna_invalid"
  std::string domain;            // as given
  std::string display;           // Unicode form, lower-case (as given when it does not decode)
  std::string protected_domain;  // confusable_protected: the protected domain imitated
  std::string detail;            // for the explanation: "Latin+Cyrillic in label 'pаypal'"
};

class HomographChecker {
 public:
  // `protected_domains`: the local domains and a configured list (U-labels or A-labels,
  // any case). `psl` defaults to auth::PublicSuffixList::shared() and must outlive the
  // checker. Errors: a protected name IDNA rejects (config), no list or no ICU data.
  static base::Result<HomographChecker> create(std::vector<std::string> protected_domains,
                                               const auth::PublicSuffixList* psl = nullptr);
  HomographChecker(HomographChecker&&) noexcept;
  HomographChecker& operator=(HomographChecker&&) noexcept;
  ~HomographChecker();

  // Findings for one domain name (ASCII/punycode or UTF-8; case and one trailing dot
  // ignored). Empty for ordinary names.
  std::vector<HomographFinding> check(std::string_view domain) const;

  // Punycode -> UTF-8 (UTS #46 nontransitional ToUnicode), lower-case; `domain`
  // unchanged when it does not decode.
  static std::string to_unicode(std::string_view domain);
  // UTF-8 -> A-labels (UTS #46 nontransitional ToASCII), lower-case; "" when invalid.
  static std::string to_ascii(std::string_view domain);

 private:
  struct Impl;
  explicit HomographChecker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace postern::spam
