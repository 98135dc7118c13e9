#include "spam/homograph.h"

#include <unicode/uidna.h>
#include <unicode/uscript.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include <cstdint>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "auth/psl.h"
#include "mail/header.h"

namespace postern::spam {
namespace {

// IDNA errors that do not make a name undecodable: hyphen placement ("r3---sn-x" host
// names are real), an empty label, DNS length limits.
constexpr uint32_t kHyphenErrors =
    UIDNA_ERROR_LEADING_HYPHEN | UIDNA_ERROR_TRAILING_HYPHEN | UIDNA_ERROR_HYPHEN_3_4;
constexpr uint32_t kTolerated = kHyphenErrors | UIDNA_ERROR_EMPTY_LABEL |
                                UIDNA_ERROR_LABEL_TOO_LONG | UIDNA_ERROR_DOMAIN_NAME_TOO_LONG;

// One UTS #46 processor for the process (immutable once opened, thread-safe). CONTEXTJ:
// a zero-width joiner or non-joiner is valid only where a script needs it (RFC 5892
// Appendix A.1, A.2), never hidden inside a Latin word. The bidi rule (RFC 5893) is not
// applied: it judges rendering order, not look-alikes, and rejects real names.
const UIDNA* idna() {
  static const UIDNA* const kIdna = [] {
    UErrorCode err = U_ZERO_ERROR;
    UIDNA* u = uidna_openUTS46(
        UIDNA_NONTRANSITIONAL_TO_ASCII | UIDNA_NONTRANSITIONAL_TO_UNICODE | UIDNA_CHECK_CONTEXTJ,
        &err);
    return U_FAILURE(err) ? nullptr : u;
  }();
  return kIdna;
}

struct Converted {
  bool ok = false;      // ICU ran (no U_FAILURE)
  uint32_t errors = 0;  // UIDNA_ERROR_* bits
  std::string out;
};

enum class Op { kNameToAscii, kNameToUnicode, kLabelToAscii, kLabelToUnicode };

Converted convert(std::string_view in, Op op) {
  Converted c;
  const UIDNA* u = idna();
  if (u == nullptr || in.size() > 4096) return c;
  c.out.assign(in.size() * 4 + 64, '\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode err = U_ZERO_ERROR;
    UIDNAInfo info = UIDNA_INFO_INITIALIZER;
    const auto len = static_cast<int32_t>(in.size());
    const auto cap = static_cast<int32_t>(c.out.size());
    int32_t n = 0;
    switch (op) {
      case Op::kNameToAscii:
        n = uidna_nameToASCII_UTF8(u, in.data(), len, c.out.data(), cap, &info, &err);
        break;
      case Op::kNameToUnicode:
        n = uidna_nameToUnicodeUTF8(u, in.data(), len, c.out.data(), cap, &info, &err);
        break;
      case Op::kLabelToAscii:
        n = uidna_labelToASCII_UTF8(u, in.data(), len, c.out.data(), cap, &info, &err);
        break;
      case Op::kLabelToUnicode:
        n = uidna_labelToUnicodeUTF8(u, in.data(), len, c.out.data(), cap, &info, &err);
        break;
    }
    if (err == U_BUFFER_OVERFLOW_ERROR) {
      c.out.assign(static_cast<size_t>(n) + 1, '\0');
      continue;
    }
    if (U_FAILURE(err)) return c;
    c.ok = true;
    c.errors = info.errors;
    c.out.resize(static_cast<size_t>(n));
    return c;
  }
  return c;
}

std::string_view strip_dot(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  return s;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

bool starts_with_ace(std::string_view label) {
  return label.size() >= 4 && mail::to_lower(label.substr(0, 4)) == "xn--";
}

std::vector<std::string_view> split_labels(std::string_view name) {
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    labels.push_back(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return labels;
}

// `s` with every ill-formed UTF-8 sequence replaced by U+FFFD: safe to print.
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  const auto len = static_cast<int32_t>(s.size());
  for (int32_t i = 0; i < len;) {
    int32_t start = i;
    UChar32 c;
    U8_NEXT(p, i, len, c);
    if (c < 0) {
      out += "\xEF\xBF\xBD";
    } else {
      out.append(s.substr(static_cast<size_t>(start), static_cast<size_t>(i - start)));
    }
  }
  return out;
}

// The scripts of `label`'s characters in order of first use, Common and Inherited left out.
std::vector<UScriptCode> scripts_of(std::string_view label) {
  std::vector<UScriptCode> scripts;
  const auto* p = reinterpret_cast<const uint8_t*>(label.data());
  const auto len = static_cast<int32_t>(label.size());
  for (int32_t i = 0; i < len;) {
    UChar32 c;
    U8_NEXT(p, i, len, c);
    if (c < 0) continue;
    UErrorCode err = U_ZERO_ERROR;
    UScriptCode sc = uscript_getScript(c, &err);
    if (U_FAILURE(err) || sc == USCRIPT_COMMON || sc == USCRIPT_INHERITED) continue;
    bool seen = false;
    for (UScriptCode s : scripts) seen = seen || s == sc;
    if (!seen) scripts.push_back(sc);
  }
  return scripts;
}

std::string script_names(const std::vector<UScriptCode>& scripts) {
  std::string out;
  for (UScriptCode s : scripts) {
    if (!out.empty()) out += '+';
    const char* name = uscript_getName(s);
    out += name != nullptr ? name : "Unknown";
  }
  return out;
}

bool plain_ascii_label(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

struct SpoofCloser {
  void operator()(USpoofChecker* sc) const { uspoof_close(sc); }
};

}  // namespace

struct HomographChecker::Impl {
  struct Protected {
    std::string name;         // as configured, Unicode lower-case
    std::string registrable;  // its registrable domain (the name itself when it has none)
    std::string label;        // first label of `registrable`
  };

  std::unique_ptr<USpoofChecker, SpoofCloser> spoof;
  const auth::PublicSuffixList* psl = nullptr;
  std::vector<Protected> protected_domains;
  std::unordered_set<std::string> exempt_names;                    // protected names
  std::unordered_set<std::string> exempt_registrables;             // and their registrable domains
  std::unordered_multimap<std::string, size_t> by_skeleton;        // skeleton(registrable)
  std::unordered_multimap<std::string, size_t> by_label_skeleton;  // skeleton(label)

  // UTS #39 4 skeleton(X), then ASCII lower-case (see the header).
  std::string skeleton(std::string_view s) const {
    std::string out(s.size() * 3 + 16, '\0');
    for (int attempt = 0; attempt < 2; ++attempt) {
      UErrorCode err = U_ZERO_ERROR;
      int32_t n = uspoof_getSkeletonUTF8(spoof.get(), 0, s.data(), static_cast<int32_t>(s.size()),
                                         out.data(), static_cast<int32_t>(out.size()), &err);
      if (err == U_BUFFER_OVERFLOW_ERROR) {
        out.assign(static_cast<size_t>(n) + 1, '\0');
        continue;
      }
      if (U_FAILURE(err)) return std::string(s);
      out.resize(static_cast<size_t>(n));
      return mail::to_lower(out);
    }
    return std::string(s);
  }

  std::string registrable_of(const std::string& unicode) const {
    auto r = psl->organizational_domain(unicode);
    return r ? *r : std::string();
  }

  bool exempt(std::string_view unicode, const std::string& registrable) const {
    if (!registrable.empty() && exempt_registrables.count(registrable) != 0) return true;
    for (std::string_view s = unicode;;) {  // the name and each parent
      if (exempt_names.count(std::string(s)) != 0) return true;
      size_t dot = s.find('.');
      if (dot == std::string_view::npos) return false;
      s.remove_prefix(dot + 1);
    }
  }

  void check_label(std::string_view label, std::string_view tld, std::vector<HomographFinding>& out,
                   const HomographFinding& base) const {
    UErrorCode err = U_ZERO_ERROR;
    int32_t failed = uspoof_check2UTF8(spoof.get(), label.data(),
                                       static_cast<int32_t>(label.size()), nullptr, &err);
    if (U_FAILURE(err)) return;
    const std::string quoted = "label '" + std::string(label) + "'";
    std::vector<UScriptCode> scripts = scripts_of(label);
    std::string detail;
    auto add = [&detail](const std::string& s) { detail += (detail.empty() ? "" : "; ") + s; };
    if (failed & USPOOF_RESTRICTION_LEVEL) add(script_names(scripts) + " in " + quoted);
    if (failed & USPOOF_MIXED_NUMBERS) add("digits of several numbering systems in " + quoted);
    if (failed & (USPOOF_INVISIBLE | USPOOF_HIDDEN_OVERLAY)) {
      add("hidden or repeated combining mark in " + quoted);
    }
    if (!detail.empty()) {
      HomographFinding f = base;
      f.kind = "mixed_script";
      f.detail = std::move(detail);
      out.push_back(std::move(f));
      return;
    }
    // UTS #39 4's whole-script confusable, for the one alternative that matters in a
    // Latin-reading mail client: does the label, all in one other script, read as ASCII?
    if (scripts.size() != 1 || scripts[0] == USCRIPT_LATIN) return;
    for (UScriptCode s : scripts_of(tld)) {
      if (s == scripts[0]) return;
    }
    std::string skel = skeleton(label);
    if (!plain_ascii_label(skel)) return;
    HomographFinding f = base;
    f.kind = "whole_script_confusable";
    f.detail = "all-" + script_names(scripts) + " " + quoted + " reads as Latin '" + skel + "'";
    out.push_back(std::move(f));
  }

  void check_protected(const std::string& registrable, std::vector<HomographFinding>& out,
                       const HomographFinding& base) const {
    const std::string label = registrable.substr(0, registrable.find('.'));
    std::vector<bool> reported(protected_domains.size(), false);
    auto report = [&](size_t i, std::string detail) {
      if (reported[i]) return;
      reported[i] = true;
      HomographFinding f = base;
      f.kind = "confusable_protected";
      f.protected_domain = protected_domains[i].name;
      f.detail = std::move(detail);
      out.push_back(std::move(f));
    };
    auto [b, e] = by_skeleton.equal_range(skeleton(registrable));
    for (auto it = b; it != e; ++it) {
      const Protected& p = protected_domains[it->second];
      report(it->second,
             "'" + registrable + "' is confusable with protected '" + p.registrable + "'");
    }
    const std::string label_skel = skeleton(label);
    auto [lb, le] = by_label_skeleton.equal_range(label_skel);
    for (auto it = lb; it != le; ++it) {
      const Protected& p = protected_domains[it->second];
      if (p.label == label) continue;  // same name under another suffix: not a look-alike
      report(it->second, "label '" + label + "' of '" + registrable + "' is confusable with '" +
                             p.label + "' of protected '" + p.registrable + "' (both read '" +
                             label_skel + "')");
    }
  }

  std::vector<HomographFinding> check(std::string_view given) const {
    std::vector<HomographFinding> out;
    std::string_view name = strip_dot(given);
    if (name.empty()) return out;
    HomographFinding base;
    base.domain = std::string(given);

    Converted uni = convert(name, Op::kNameToUnicode);
    if (!uni.ok || (uni.errors & ~kTolerated) != 0) {
      base.kind = "idna_invalid";
      base.display = printable(name);
      for (std::string_view label : split_labels(name)) {
        bool ace = starts_with_ace(label);
        if (!ace && is_ascii(label)) continue;
        Converted c = convert(label, ace ? Op::kLabelToUnicode : Op::kLabelToAscii);
        if (c.ok && (c.errors & ~kTolerated) == 0) continue;
        HomographFinding f = base;
        const std::string quoted = "label '" + printable(label) + "'";
        if (!ace) {
          f.detail = quoted + " is not allowed by IDNA (UTS #46)";
        } else if (c.errors & (UIDNA_ERROR_PUNYCODE | UIDNA_ERROR_INVALID_ACE_LABEL)) {
          f.detail = quoted + " is not valid punycode";
        } else {
          f.detail = quoted + " does not decode to a valid IDNA label";
        }
        out.push_back(std::move(f));
      }
      if (out.empty()) {
        base.detail = "'" + base.display + "' is not a valid IDNA name (UTS #46)";
        out.push_back(std::move(base));
      }
      return out;
    }

    const std::string& unicode = uni.out;  // lower-case, NFC, dots mapped
    base.display = unicode;
    const std::string registrable = registrable_of(unicode);
    if (exempt(unicode, registrable)) return out;

    if (!is_ascii(unicode)) {
      std::vector<std::string_view> labels = split_labels(unicode);
      for (std::string_view label : labels) {
        if (!is_ascii(label)) check_label(label, labels.back(), out, base);
      }
    }
    if (!registrable.empty() && !protected_domains.empty()) {
      check_protected(registrable, out, base);
    }
    return out;
  }
};

base::Result<HomographChecker> HomographChecker::create(std::vector<std::string> protected_domains,
                                                        const auth::PublicSuffixList* psl) {
  auto impl = std::make_unique<Impl>();
  if (psl == nullptr) {
    auto shared = auth::PublicSuffixList::shared();
    if (!shared) return shared.error().with_context("homograph checks");
    psl = *shared;
  }
  impl->psl = psl;
  if (idna() == nullptr) return base::Error::internal("homograph checks: ICU IDNA unavailable");

  UErrorCode err = U_ZERO_ERROR;
  impl->spoof.reset(uspoof_open(&err));
  if (U_FAILURE(err)) {
    return base::Error::internal(std::string("homograph checks: uspoof_open: ") + u_errorName(err));
  }
  // UTS #39 5.2: Moderately Restrictive (see the header for why not Highly).
  uspoof_setChecks(
      impl->spoof.get(),
      USPOOF_RESTRICTION_LEVEL | USPOOF_MIXED_NUMBERS | USPOOF_INVISIBLE | USPOOF_HIDDEN_OVERLAY,
      &err);
  uspoof_setRestrictionLevel(impl->spoof.get(), USPOOF_MODERATELY_RESTRICTIVE);
  if (U_FAILURE(err)) {
    return base::Error::internal(std::string("homograph checks: uspoof_setChecks: ") +
                                 u_errorName(err));
  }

  for (const std::string& given : protected_domains) {
    std::string_view name = strip_dot(given);
    if (name.empty()) continue;
    Converted uni = convert(name, Op::kNameToUnicode);
    if (!uni.ok || (uni.errors & ~kTolerated) != 0) {
      return base::Error::config("protected domain '" + printable(given) +
                                 "' is not a valid domain name (IDNA)");
    }
    Impl::Protected p;
    p.name = uni.out;
    p.registrable = impl->registrable_of(p.name);
    if (p.registrable.empty()) p.registrable = p.name;
    p.label = p.registrable.substr(0, p.registrable.find('.'));
    if (!impl->exempt_registrables.insert(p.registrable).second) {
      impl->exempt_names.insert(p.name);
      continue;  // another name of an organisation already protected
    }
    impl->exempt_names.insert(p.name);
    const size_t i = impl->protected_domains.size();
    impl->by_skeleton.emplace(impl->skeleton(p.registrable), i);
    impl->by_label_skeleton.emplace(impl->skeleton(p.label), i);
    impl->protected_domains.push_back(std::move(p));
  }
  return HomographChecker(std::move(impl));
}

HomographChecker::HomographChecker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HomographChecker::HomographChecker(HomographChecker&&) noexcept = default;
HomographChecker& HomographChecker::operator=(HomographChecker&&) noexcept = default;
HomographChecker::~HomographChecker() = default;

std::vector<HomographFinding> HomographChecker::check(std::string_view domain) const {
  return impl_->check(domain);
}

std::string HomographChecker::to_unicode(std::string_view domain) {
  std::string_view name = strip_dot(domain);
  if (name.empty()) return std::string(domain);
  Converted c = convert(name, Op::kNameToUnicode);
  if (!c.ok || (c.errors & ~kTolerated) != 0) return std::string(domain);
  return c.out;
}

std::string HomographChecker::to_ascii(std::string_view domain) {
  std::string_view name = strip_dot(domain);
  if (name.empty()) return "";
  Converted c = convert(name, Op::kNameToAscii);
  if (!c.ok || (c.errors & ~kHyphenErrors) != 0) return "";
  return c.out;
}

}  // namespace postern::spam
