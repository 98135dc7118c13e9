// ARC (RFC 8617): parsing the sets, validating the chain (5.2) and sealing (5.1), on top
// of the DKIM module's tag lists, canonicalization, keys and crypto.
#include "auth/arc.h"
#include "mail/header.h"

#include <algorithm>
#include <chrono>

#include "auth/dkim_internal.h"
#include "auth/results.h"

namespace postern::auth::arc {

namespace {

using dkim::Algorithm;
using dkim::Canon;
using dkim::RawField;
using dkim::SplitMessage;
using dkim::TagList;

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_fws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_fws(s.back())) s.remove_suffix(1);
  return s;
}

int64_t now_or(int64_t t) {
  if (t != 0) return t;
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RFC 8617 4.2.1: instance = 1*2DIGIT, 1..50.
int parse_instance(std::string_view v) {
  if (v.empty() || v.size() > 2) return -1;
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return -1;
    n = n * 10 + (c - '0');
  }
  return n >= 1 && n <= kMaxInstances ? n : -1;
}

bool all_digits(std::string_view v) {
  return !v.empty() && v.size() <= 12 &&
         std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// RFC 6376 3.5 d= (a domain-name, RFC 5321): labels of letters, digits and hyphens.
bool is_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == d.npos ? d.npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
      if (!ok) return false;
    }
    if (dot == d.npos) return true;
    start = dot + 1;
  }
}

// RFC 8617 4.1.2/4.1.3 + RFC 8301: the tag value is case-sensitive; sha1 is not allowed.
std::optional<Algorithm> arc_algorithm(std::string_view a, bool legacy) {
  if (a == "rsa-sha256") return Algorithm::kRsaSha256;
  if (a == "ed25519-sha256") return Algorithm::kEd25519Sha256;
  if (legacy && a == "rsa-sha1") return Algorithm::kRsaSha1;
  return std::nullopt;
}

enum class Kind { kAar, kAms, kAs };

struct Field {
  Kind kind;
  int instance = -1;
  RawField raw;
  TagList tags;  // AMS and AS
};

struct Set {
  const Field* aar = nullptr;
  const Field* ams = nullptr;
  const Field* as = nullptr;
};

std::string_view value_of(std::string_view raw) {
  size_t colon = raw.find(':');
  return colon == raw.npos ? std::string_view() : raw.substr(colon + 1);
}

// The AAR (RFC 8617 4.1.1): "i=" instance ";" authres-payload; the i= tag comes first.
int aar_instance(std::string_view value) {
  size_t semi = value.find(';');
  if (semi == value.npos) return -1;
  std::string_view spec = trim(value.substr(0, semi));
  size_t eq = spec.find('=');
  if (eq == spec.npos || trim(spec.substr(0, eq)) != "i") return -1;
  return parse_instance(trim(spec.substr(eq + 1)));
}

// Collects the ARC fields; an error message when one is malformed.
std::string collect(const SplitMessage& m, std::vector<Field>& out) {
  for (const auto& f : m.fields) {
    Field field;
    field.raw = f;
    if (mail::iequals(f.name, "ARC-Authentication-Results")) {
      field.kind = Kind::kAar;
      field.instance = aar_instance(value_of(f.raw));
      if (field.instance < 0) return "ARC-Authentication-Results without a valid leading i=";
    } else if (mail::iequals(f.name, "ARC-Message-Signature") || mail::iequals(f.name, "ARC-Seal")) {
      field.kind = mail::iequals(f.name, "ARC-Seal") ? Kind::kAs : Kind::kAms;
      const char* what = field.kind == Kind::kAs ? "ARC-Seal" : "ARC-Message-Signature";
      auto tags = dkim::parse_tag_list(value_of(f.raw));
      if (!tags) return std::string(what) + ": " + tags.error().message();
      field.tags = std::move(*tags);
      const std::string* i = dkim::find_tag(field.tags, "i");
      field.instance = i == nullptr ? -1 : parse_instance(*i);
      if (field.instance < 0) return std::string(what) + " without a valid i=";
    } else {
      continue;
    }
    out.push_back(std::move(field));
  }
  return {};
}

// RFC 8617 5.2 step 1: every instance 1..N exactly once per field kind.
std::string structure(const std::vector<Field>& fields, std::vector<Set>& sets) {
  int n = 0;
  for (const auto& f : fields) n = std::max(n, f.instance);
  sets.assign(static_cast<size_t>(n) + 1, Set{});
  for (const auto& f : fields) {
    Set& s = sets[static_cast<size_t>(f.instance)];
    const Field** slot = f.kind == Kind::kAar ? &s.aar : f.kind == Kind::kAms ? &s.ams : &s.as;
    if (*slot != nullptr) return "duplicate ARC field for i=" + std::to_string(f.instance);
    *slot = &f;
  }
  for (int i = 1; i <= n; ++i) {
    const Set& s = sets[static_cast<size_t>(i)];
    if (s.aar == nullptr || s.ams == nullptr || s.as == nullptr)
      return "incomplete ARC set i=" + std::to_string(i);
  }
  return {};
}

// What an AMS or AS signature needs, checked for syntax (RFC 8617 4.1.2, 4.1.3).
struct Sig {
  Algorithm algorithm = Algorithm::kRsaSha256;
  std::string domain, selector;
  std::string signature;                                             // b=, decoded
  std::string body_hash;                                             // bh= (AMS)
  Canon header_canon = Canon::kSimple, body_canon = Canon::kSimple;  // RFC 6376 3.5 default
  bool c_given = false;
  std::vector<std::string> headers;  // h= (AMS)
  std::optional<int64_t> expiration;
  ChainStatus cv = ChainStatus::kNone;  // AS
};

std::string parse_sig(const Field& f, bool legacy, Sig& s) {
  auto tag = [&](const char* n) { return dkim::find_tag(f.tags, n); };
  const char* what = f.kind == Kind::kAs ? "ARC-Seal" : "ARC-Message-Signature";
  auto bad = [&](const std::string& m) { return std::string(what) + ": " + m; };
  const std::string* a = tag("a");
  if (a == nullptr) return bad("no a=");
  auto alg = arc_algorithm(*a, legacy);
  if (!alg) return bad("algorithm a=" + *a + " not allowed");
  s.algorithm = *alg;
  const std::string* d = tag("d");
  if (d == nullptr || !is_domain(*d)) return bad("missing or invalid d=");
  s.domain = *d;
  const std::string* sel = tag("s");
  if (sel == nullptr || sel->empty()) return bad("missing s=");
  s.selector = *sel;
  const std::string* b = tag("b");
  auto bv = b == nullptr ? std::nullopt : dkim::base64_decode(*b);
  if (!bv || bv->empty()) return bad("missing or invalid b=");
  s.signature = std::move(*bv);
  if (const std::string* t = tag("t"); t != nullptr && !all_digits(*t)) return bad("invalid t=");
  if (f.kind == Kind::kAs) {
    // 4.1.3: the seal covers the sets, not chosen header fields.
    if (tag("h") != nullptr) return bad("h= is not allowed in an ARC-Seal");
    const std::string* cv = tag("cv");
    auto st = cv == nullptr ? std::nullopt : parse_status(*cv);
    if (!st) return bad("missing or invalid cv=");
    s.cv = *st;
    return {};
  }
  const std::string* bh = tag("bh");
  auto bhv = bh == nullptr ? std::nullopt : dkim::base64_decode(*bh);
  if (!bhv || bhv->empty()) return bad("missing or invalid bh=");
  s.body_hash = std::move(*bhv);
  if (const std::string* c = tag("c")) {
    s.c_given = true;
    auto one = [](std::string_view v, Canon& out) {
      if (v == "simple")
        out = Canon::kSimple;
      else if (v == "relaxed")
        out = Canon::kRelaxed;
      else
        return false;
      return true;
    };
    size_t slash = c->find('/');
    if (!one(c->substr(0, slash), s.header_canon)) return bad("invalid c=");
    if (slash != std::string::npos && !one(c->substr(slash + 1), s.body_canon))
      return bad("invalid c=");
  }
  const std::string* h = tag("h");
  if (h == nullptr) return bad("no h=");
  std::string_view hv = *h;
  while (true) {
    size_t colon = hv.find(':');
    std::string name(trim(hv.substr(0, colon)));
    // 4.1.2: the AMS must not sign ARC-Seal fields.
    if (mail::iequals(name, "ARC-Seal")) return bad("h= includes ARC-Seal");
    s.headers.push_back(std::move(name));
    if (colon == hv.npos) break;
    hv.remove_prefix(colon + 1);
  }
  if (const std::string* x = tag("x")) {
    if (!all_digits(*x)) return bad("invalid x=");
    s.expiration = std::stoll(*x);
  }
  return {};
}

std::string key_text(const dns::Answer& a) {
  std::string txt;
  for (const auto& s : a.records.front().strings) txt += s;
  if (a.records.front().strings.empty()) txt = a.records.front().text;
  return txt;
}

struct KeyCheck {
  std::string error;
  bool temp = false;
  dkim::KeyRecord key;
};

// RFC 6376 6.1.2 applied to an ARC signature, with the RFC 8301 key size floor.
base::Task<KeyCheck> fetch_key(dns::Resolver& resolver, const Sig& s, bool legacy) {
  KeyCheck out;
  dns::Answer a = co_await dkim::lookup_key(resolver, s.selector, s.domain);
  if (!a.definite()) {
    out.temp = true;
    out.error = "key lookup: " + std::string(dns::status_name(a.status));
    co_return out;
  }
  if (a.status != dns::Status::kOk || a.records.empty()) {
    out.error = "no key at " + s.selector + "._domainkey." + s.domain;
    co_return out;
  }
  dkim::ParsedKey pk = dkim::parse_key_record(key_text(a));
  if (!pk.key) {
    out.error = "key record: " + pk.error.message;
    co_return out;
  }
  const dkim::KeyRecord& k = *pk.key;
  bool ed = s.algorithm == Algorithm::kEd25519Sha256;
  if ((k.key_type == "ed25519") != ed) out.error = "key type does not match a=";
  if (out.error.empty() && !k.hashes.empty()) {
    std::string_view want = s.algorithm == Algorithm::kRsaSha1 ? "sha1" : "sha256";
    if (std::none_of(k.hashes.begin(), k.hashes.end(),
                     [&](const std::string& h) { return mail::iequals(h, want); }))
      out.error = "key h= excludes the hash";
  }
  if (out.error.empty() && k.public_key.empty()) out.error = "key revoked";
  if (out.error.empty()) {
    dkim::PublicKeyInfo info = dkim::inspect_public_key(k.key_type, k.public_key);
    if (!info.ok) {
      out.error = info.error;
    } else if (!ed && info.bits < 1024 && !legacy) {
      out.error = "RSA key of " + std::to_string(info.bits) + " bits too short (RFC 8301 3.2)";
    }
  }
  out.key = k;
  co_return out;
}

// The AS signature input (RFC 8617 5.1.1): the sets 1..i in order, AAR, AMS, AS each
// relaxed-canonicalized; the last AS with b= emptied and without its final CRLF.
std::string seal_input(const std::vector<std::string_view>& aar,
                       const std::vector<std::string_view>& ams,
                       const std::vector<std::string_view>& as) {
  std::string out;
  for (size_t k = 0; k < aar.size(); ++k) {
    out += dkim::canon_header(aar[k], Canon::kRelaxed);
    out += dkim::canon_header(ams[k], Canon::kRelaxed);
    if (k + 1 < aar.size()) {
      out += dkim::canon_header(as[k], Canon::kRelaxed);
    } else {
      std::string last = dkim::canon_header(dkim::strip_b_value(as[k]), Canon::kRelaxed);
      while (!last.empty() && (last.back() == '\n' || last.back() == '\r')) last.pop_back();
      out += last;
    }
  }
  return out;
}

// The header fields the AMS of instance i saw: without that AMS and the later sets' AMS/AS.
SplitMessage view_for(const SplitMessage& m, const std::vector<Field>& fields, int instance) {
  SplitMessage v{m.owner, m.bytes, {}, m.body};
  for (const auto& f : m.fields) {
    bool hide = false;
    for (const auto& af : fields) {
      if (af.raw.raw.data() == f.raw.data() && af.kind != Kind::kAar && af.instance >= instance)
        hide = true;
    }
    if (!hide) v.fields.push_back(f);
  }
  return v;
}

// Verifies one AMS (RFC 8617 5.2 step 3: like a DKIM signature, 6.1 of RFC 6376).
base::Task<std::string> verify_ams(const SplitMessage& m, const std::vector<Field>& fields,
                                   const Field& f, dns::Resolver& resolver, ValidateOptions o,
                                   bool* temp) {
  Sig s;
  std::string err = parse_sig(f, o.legacy, s);
  if (!err.empty()) co_return err;
  if (s.expiration && *s.expiration < now_or(o.now)) co_return "ARC-Message-Signature expired";
  KeyCheck key = co_await fetch_key(resolver, s, o.legacy);
  if (!key.error.empty()) {
    *temp = *temp || key.temp;
    co_return "ARC-Message-Signature: " + key.error;
  }
  // Without c= RFC 6376 3.5 means simple/simple; ARC signers (dkimpy, and the ValiMail
  // suite made with it) default to relaxed, so that is tried second. Either is a
  // canonicalization the signer could have named, so nothing is accepted that it did not sign.
  std::vector<Canon> canons = {s.header_canon};
  if (!s.c_given) canons.push_back(Canon::kRelaxed);
  bool body_ok = false;
  for (Canon c : s.c_given ? std::vector<Canon>{s.body_canon} : canons) {
    body_ok = body_ok || dkim::body_hash(m.body, c, s.algorithm) == s.body_hash;
  }
  if (!body_ok)
    co_return "ARC-Message-Signature i=" + std::to_string(f.instance) + ": body hash mismatch";
  SplitMessage v = view_for(m, fields, f.instance);
  for (Canon c : canons) {
    std::string data = dkim::header_hash_input(v, s.headers, c, f.raw.raw);
    if (dkim::verify_data(key.key.key_type, key.key.public_key, s.algorithm, data, s.signature))
      co_return std::string();
  }
  co_return "ARC-Message-Signature i=" + std::to_string(f.instance) + ": signature mismatch";
}

// Splits an Authentication-Results value at ';' outside comments and quoted strings.
std::vector<std::string> split_resinfo(std::string_view v) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quoted) {
      if (c == '\\' && i + 1 < v.size())
        cur += v[i++];
      else if (c == '"')
        quoted = false;
    } else if (c == '"') {
      quoted = depth == 0;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && depth > 0) {
      --depth;
    } else if (c == ';' && depth == 0) {
      out.emplace_back(trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.emplace_back(trim(cur));
  return out;
}

// White space runs (folding included) to one space.
std::string collapse(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : trim(s)) {
    if (is_fws(c)) {
      space = true;
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? std::string(sep) : "") + v[i];
  return out;
}

}  // namespace

std::string_view status_name(ChainStatus s) {
  switch (s) {
    case ChainStatus::kNone:
      return "none";
    case ChainStatus::kPass:
      return "pass";
    case ChainStatus::kFail:
      return "fail";
  }
  return "fail";
}

std::optional<ChainStatus> parse_status(std::string_view s) {
  if (s == "none") return ChainStatus::kNone;
  if (s == "pass") return ChainStatus::kPass;
  if (s == "fail") return ChainStatus::kFail;
  return std::nullopt;
}

base::Task<ChainResult> validate(std::string message, dns::Resolver& resolver,
                                 ValidateOptions options) {
  ChainResult r;
  auto m = dkim::split_message(message);
  if (!m) co_return r;  // not a message: no chain to speak of
  auto fail = [&](std::string why) {
    r.cv = ChainStatus::kFail;
    r.reason = std::move(why);
    r.oldest_pass = 0;
    return r;
  };
  std::vector<Field> fields;
  std::string err = collect(*m, fields);
  if (!err.empty()) co_return fail(err);
  if (fields.empty()) co_return r;  // 5.2 step 1: no sets, cv=none
  std::vector<Set> sets;
  err = structure(fields, sets);
  int n = static_cast<int>(sets.size()) - 1;
  r.instances = n;
  if (!err.empty()) co_return fail(err);
  // Step 2: the newest seal's cv=fail ends it; then every cv must fit its instance.
  std::vector<Sig> seals(static_cast<size_t>(n) + 1);
  for (int i = n; i >= 1; --i) {
    err =
        parse_sig(*sets[static_cast<size_t>(i)].as, options.legacy, seals[static_cast<size_t>(i)]);
    if (!err.empty()) co_return fail(err);
  }
  r.as_domain = seals[static_cast<size_t>(n)].domain;
  if (seals[static_cast<size_t>(n)].cv == ChainStatus::kFail)
    co_return fail("ARC-Seal i=" + std::to_string(n) + " says cv=fail");
  for (int i = 1; i <= n; ++i) {
    ChainStatus want = i == 1 ? ChainStatus::kNone : ChainStatus::kPass;
    if (seals[static_cast<size_t>(i)].cv != want) {
      co_return fail("ARC-Seal i=" + std::to_string(i) +
                     " has cv=" + std::string(status_name(seals[static_cast<size_t>(i)].cv)) +
                     ", expected " + std::string(status_name(want)));
    }
  }
  // Step 3: the newest AMS.
  bool temp = false;
  {
    Sig s;
    if (parse_sig(*sets[static_cast<size_t>(n)].ams, options.legacy, s).empty())
      r.ams_domain = s.domain;
  }
  err =
      co_await verify_ams(*m, fields, *sets[static_cast<size_t>(n)].ams, resolver, options, &temp);
  if (!err.empty()) {
    r.temperror = temp;
    co_return fail(err);
  }
  // Step 5 (optional): the oldest AMS that still passes, walking down.
  r.oldest_pass = n;
  for (int i = n - 1; i >= 1; --i) {
    bool ignored = false;
    std::string e = co_await verify_ams(*m, fields, *sets[static_cast<size_t>(i)].ams, resolver,
                                        options, &ignored);
    if (!e.empty()) break;
    r.oldest_pass = i;
  }
  if (r.oldest_pass == 1) r.oldest_pass = 0;  // every AMS validates
  // Step 6: every seal, newest first.
  std::vector<std::string_view> aar, ams, as;
  for (int i = 1; i <= n; ++i) {
    aar.push_back(sets[static_cast<size_t>(i)].aar->raw.raw);
    ams.push_back(sets[static_cast<size_t>(i)].ams->raw.raw);
    as.push_back(sets[static_cast<size_t>(i)].as->raw.raw);
  }
  for (int i = n; i >= 1; --i) {
    const Sig& s = seals[static_cast<size_t>(i)];
    KeyCheck key = co_await fetch_key(resolver, s, options.legacy);
    if (!key.error.empty()) {
      r.temperror = key.temp;
      co_return fail("ARC-Seal i=" + std::to_string(i) + ": " + key.error);
    }
    auto k = static_cast<size_t>(i);
    std::string data = seal_input({aar.begin(), aar.begin() + k}, {ams.begin(), ams.begin() + k},
                                  {as.begin(), as.begin() + k});
    if (!dkim::verify_data(key.key.key_type, key.key.public_key, s.algorithm, data, s.signature))
      co_return fail("ARC-Seal i=" + std::to_string(i) + ": signature mismatch");
  }
  r.cv = ChainStatus::kPass;
  co_return r;
}

int highest_instance(std::string_view message) {
  auto m = dkim::split_message(message);
  if (!m) return 0;
  std::vector<Field> fields;
  if (!collect(*m, fields).empty()) return -1;
  int n = 0;
  for (const auto& f : fields) n = std::max(n, f.instance);
  return n;
}

std::vector<std::string> collect_results(std::string_view message, std::string_view authserv_id) {
  std::vector<std::string> out;
  auto m = dkim::split_message(message);
  if (!m) return out;
  for (const auto& f : m->fields) {
    if (!mail::iequals(f.name, "Authentication-Results")) continue;
    std::string_view v = value_of(f.raw);
    if (!mail::iequals(authserv_id_of(v), authserv_id)) continue;
    std::vector<std::string> parts = split_resinfo(v);
    for (size_t i = 1; i < parts.size(); ++i) {  // parts[0]: authserv-id [version]
      std::string p = collapse(parts[i]);
      if (!p.empty() && p != "none") out.push_back(std::move(p));
    }
  }
  return out;
}

base::Result<std::string> seal(std::string_view message, const SealOptions& o) {
  if (o.key == nullptr) return base::Error::usage("no signing key");
  if (o.domain.empty() || o.selector.empty() || o.authserv_id.empty())
    return base::Error::usage("domain, selector and authserv-id needed");
  auto m = dkim::split_message(message);
  if (!m) return m.error();
  std::vector<Field> fields;
  std::string err = collect(*m, fields);
  if (!err.empty()) return base::Error::bad_data("cannot extend a malformed chain: " + err);
  std::vector<Set> sets;
  int n = 0;
  if (!fields.empty()) {
    err = structure(fields, sets);
    if (!err.empty()) return base::Error::bad_data("cannot extend a malformed chain: " + err);
    n = static_cast<int>(sets.size()) - 1;
    Sig last;
    if (parse_sig(*sets[static_cast<size_t>(n)].as, true, last).empty() &&
        last.cv == ChainStatus::kFail) {
      return base::Error::usage("the chain already failed (cv=fail at i=" + std::to_string(n) +
                                "); RFC 8617 5.1.2: no further sets");
    }
  }
  if (n >= kMaxInstances) return base::Error::usage("the chain already has 50 sets");
  int i = n + 1;
  ChainStatus cv = o.cv;
  if (i == 1)
    cv = ChainStatus::kNone;  // 5.1.1: cv=none for the first set
  else if (cv == ChainStatus::kNone)
    return base::Error::usage("cv=none only for i=1");
  std::string is = std::to_string(i);
  int64_t t = now_or(o.timestamp);
  Algorithm alg = o.key->is_ed25519() ? Algorithm::kEd25519Sha256 : Algorithm::kRsaSha256;
  std::string a = "a=" + std::string(dkim::algorithm_name(alg));

  // 4.1.1: the AAR, the resinfo one a line.
  std::vector<std::string> lines = {"i=" + is + "; " + o.authserv_id};
  if (o.results.empty()) lines.push_back("none");
  for (const auto& res : o.results) lines.push_back(res);
  std::string aar = "ARC-Authentication-Results: " + join(lines, ";\r\n  ") + "\r\n";

  // 4.1.2 / 5.1.1: the AMS, a DKIM signature over the message with the new AAR on top.
  auto m2 = dkim::split_message(aar + std::string(m->bytes));
  if (!m2) return m2.error();
  std::vector<std::string> h = o.headers;
  if (h.empty()) {
    for (const auto& name : dkim::default_signed_headers()) {
      for (const auto& f : m2->fields) {
        if (mail::iequals(f.name, name)) h.push_back(name);
      }
    }
    h.erase(std::unique(h.begin(), h.end()), h.end());
  }
  auto canon_name = [](Canon c) { return c == Canon::kSimple ? "simple" : "relaxed"; };
  std::string bh = dkim::base64_encode(dkim::body_hash(m2->body, o.body_canon, alg));
  // Tags in alphabetical order, as the ValiMail suite's canonical signer writes them.
  std::vector<std::string> ams_tags = {
      a,
      "b=",
      "bh=" + bh,
      std::string("c=") + canon_name(o.header_canon) + "/" + canon_name(o.body_canon),
      "d=" + o.domain,
      "h=" + join(h, ":"),
      "i=" + is,
      "s=" + o.selector,
      "t=" + std::to_string(t)};
  auto fold = [](std::string_view name, const std::vector<std::string>& tags) {
    // dkim::fold_field() breaks b= inside its value; the seal covers the AMS as written,
    // so b= is kept whole here and only the gaps between tags are folded.
    const std::vector<std::string>& order = tags;
    std::string out = std::string(name) + ": ";
    size_t col = out.size();
    for (size_t k = 0; k < order.size(); ++k) {
      std::string tag = order[k] + (k + 1 < order.size() ? ";" : "");
      if (k > 0) {
        if (col + 1 + tag.size() > 78) {
          out += "\r\n        ";
          col = 8;
        } else {
          out += ' ';
          ++col;
        }
      }
      // b= stays on one line: the seal covers the AMS with its b= as written, and
      // the ValiMail suite's expected seals were made over an unfolded b=.
      out += tag;
      col += tag.size();
    }
    return out + "\r\n";
  };
  std::string ams_unsigned = fold("ARC-Message-Signature", ams_tags);
  std::string data = dkim::header_hash_input(*m2, h, o.header_canon, ams_unsigned);
  auto ams_sig = dkim::sign_data(*o.key, alg, data);
  if (!ams_sig) return ams_sig.error();
  ams_tags[1] = "b=" + dkim::base64_encode(*ams_sig);
  std::string ams = fold("ARC-Message-Signature", ams_tags);

  // 4.1.3 / 5.1.1: the AS over every set, this one last.
  std::vector<std::string> as_tags = {a,
                                      "b=",
                                      "cv=" + std::string(status_name(cv)),
                                      "d=" + o.domain,
                                      "i=" + is,
                                      "s=" + o.selector,
                                      "t=" + std::to_string(t)};
  std::string as_unsigned = fold("ARC-Seal", as_tags);
  std::vector<std::string_view> aars, amss, ass;
  for (int k = 1; k <= n; ++k) {
    aars.push_back(sets[static_cast<size_t>(k)].aar->raw.raw);
    amss.push_back(sets[static_cast<size_t>(k)].ams->raw.raw);
    ass.push_back(sets[static_cast<size_t>(k)].as->raw.raw);
  }
  if (cv == ChainStatus::kFail) {
    // 5.1.1 (as the ValiMail suite and dkimpy seal): a failed chain's seal covers only
    // the new set, since the earlier ones cannot be trusted.
    aars.clear();
    amss.clear();
    ass.clear();
  }
  aars.push_back(aar);
  amss.push_back(ams);
  ass.push_back(as_unsigned);
  auto as_sig = dkim::sign_data(*o.key, alg, seal_input(aars, amss, ass));
  if (!as_sig) return as_sig.error();
  as_tags[1] = "b=" + dkim::base64_encode(*as_sig);
  return fold("ARC-Seal", as_tags) + ams + aar;
}

}  // namespace postern::auth::arc
