// DKIM verification (RFC 6376 6), with the RFC 8301 policy and Ed25519 (RFC 8463).
#include <chrono>
#include <map>
#include <tuple>

#include "auth/dkim.h"
#include "mail/header.h"
#include "auth/dkim_internal.h"

namespace postern::auth::dkim {

std::string_view result_for(Reason r) {
  switch (r) {
    case Reason::kNone:
      return "pass";
    case Reason::kBodyHashMismatch:
    case Reason::kSignatureMismatch:
    case Reason::kKeyRevoked:
      return "fail";
    case Reason::kKeyTooShort:
    case Reason::kAlgorithmNotAllowed:
      return "policy";  // RFC 8601 2.7.1
    case Reason::kUnsupported:
      return "neutral";
    case Reason::kDnsTempError:
      return "temperror";
    default:
      return "permerror";
  }
}

namespace {

struct Context {
  const SplitMessage& m;
  const VerifyOptions& options;
  // Body hashes by (canonicalization, algorithm, l=): several signatures share one.
  std::map<std::tuple<int, int, int64_t>, std::pair<std::string, uint64_t>> body_hashes;
};

void set(SignatureResult& r, Reason reason, std::string detail) {
  r.reason = reason;
  r.result = std::string(result_for(reason));
  r.detail = std::move(detail);
}

int64_t now_of(const VerifyOptions& o) {
  if (o.now != 0) return o.now;
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// RFC 4871 3.6.1 g=: "*" matches any run of characters (one wildcard at most).
bool granularity_matches(std::string_view pattern, std::string_view local) {
  if (pattern.empty()) return false;  // "an empty g= value never matches"
  size_t star = pattern.find('*');
  if (star == std::string_view::npos) return pattern == local;
  std::string_view pre = pattern.substr(0, star), post = pattern.substr(star + 1);
  return local.size() >= pre.size() + post.size() && local.substr(0, pre.size()) == pre &&
         local.substr(local.size() - post.size()) == post;
}

// Checks made before any DNS lookup: RFC 8301 algorithm, x= and t= (RFC 6376 3.5, 6.1.1).
bool precheck(SignatureResult& r, const Signature& s, const VerifyOptions& o) {
  if (s.algorithm == Algorithm::kRsaSha1 && !o.legacy) {
    set(r, Reason::kAlgorithmNotAllowed, "rsa-sha1 not allowed (RFC 8301 3.1)");
    return false;
  }
  int64_t now = now_of(o);
  if (s.expiration && *s.expiration < now) {
    set(r, Reason::kExpired, "signature expired");
    return false;
  }
  if (o.clock_skew >= 0 && s.timestamp && *s.timestamp > now + o.clock_skew) {
    set(r, Reason::kFutureTimestamp, "signature timestamp in the future");
    return false;
  }
  return true;
}

// RFC 6376 6.1.2 (key checks) and 6.1.3 (hashes).
void finish(Context& ctx, SignatureResult& r, const RawField& field, const Signature& s,
            std::string_view key_txt) {
  ParsedKey pk = parse_key_record(key_txt);
  if (!pk.key) {
    set(r, pk.error.reason, pk.error.message);
    return;
  }
  const KeyRecord& k = *pk.key;
  r.testing = k.testing;
  bool ed = s.algorithm == Algorithm::kEd25519Sha256;
  if ((k.key_type == "ed25519") != ed) {
    set(r, Reason::kKeyUnsuitable, "key type k=" + k.key_type + " does not match a=");
    return;
  }
  if (!k.hashes.empty()) {
    std::string_view want = s.algorithm == Algorithm::kRsaSha1 ? "sha1" : "sha256";
    bool ok = false;
    for (const auto& h : k.hashes) ok = ok || mail::iequals(h, want);
    if (!ok) {
      set(r, Reason::kKeyUnsuitable, "key h= does not allow " + std::string(want));
      return;
    }
  }
  if (!k.services.empty()) {
    bool ok = false;
    for (const auto& sv : k.services) ok = ok || sv == "*" || mail::iequals(sv, "email");
    if (!ok) {
      set(r, Reason::kKeyUnsuitable, "key s= excludes email");
      return;
    }
  }
  size_t at = s.identity.rfind('@');
  std::string_view local = std::string_view(s.identity).substr(0, at);
  std::string_view idomain = std::string_view(s.identity).substr(at + 1);
  if (k.strict_identity && !mail::iequals(idomain, s.domain)) {
    set(r, Reason::kKeyUnsuitable, "key t=s: i= domain must equal d=");
    return;
  }
  if (ctx.options.legacy && k.granularity && !granularity_matches(*k.granularity, local)) {
    set(r, Reason::kKeyUnsuitable, "key g= does not match i=");
    return;
  }
  if (k.public_key.empty()) {
    set(r, Reason::kKeyRevoked, "key revoked");
    return;
  }
  PublicKeyInfo info = inspect_public_key(k.key_type, k.public_key);
  if (!info.ok) {
    set(r, Reason::kKeySyntax, info.error);
    return;
  }
  r.key_bits = info.bits;
  if (!ed && info.bits < 1024 && !ctx.options.legacy) {
    set(r, Reason::kKeyTooShort,
        "RSA key of " + std::to_string(info.bits) + " bits too short (RFC 8301 3.2)");
    return;
  }
  auto cache_key = std::make_tuple(static_cast<int>(s.body_canon), static_cast<int>(s.algorithm),
                                   s.length ? static_cast<int64_t>(*s.length) : -1);
  auto it = ctx.body_hashes.find(cache_key);
  if (it == ctx.body_hashes.end()) {
    uint64_t total = 0;
    std::string bh = body_hash(ctx.m.body, s.body_canon, s.algorithm, s.length, &total);
    it = ctx.body_hashes.emplace(cache_key, std::make_pair(std::move(bh), total)).first;
  }
  if (s.length && *s.length > it->second.second) {
    set(r, Reason::kSyntax, "l= exceeds the body length");
    return;
  }
  if (it->second.first != s.body_hash) {
    set(r, Reason::kBodyHashMismatch, "body hash mismatch");
    return;
  }
  std::string data = header_hash_input(ctx.m, s.signed_headers, s.header_canon, field.raw);
  if (!verify_data(k.key_type, k.public_key, s.algorithm, data, s.signature)) {
    set(r, Reason::kSignatureMismatch, "signature mismatch");
    return;
  }
  set(r, Reason::kNone, "");
}

std::vector<RawField> signature_fields(const SplitMessage& m) {
  std::vector<RawField> out;
  for (const auto& f : m.fields) {
    if (mail::iequals(f.name, "DKIM-Signature")) out.push_back(f);
  }
  return out;
}

// Fills what is known before evaluation; returns the parsed signature.
ParsedSignature start(SignatureResult& r, const RawField& f, size_t index, bool legacy) {
  r.field_index = index;
  size_t colon = f.raw.find(':');
  ParsedSignature ps = parse_signature(f.raw.substr(colon + 1), legacy);
  auto tag = [&](const char* n) {
    const std::string* v = find_tag(ps.tags, n);
    std::string out;
    if (v != nullptr) {
      for (char c : *v) {
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') out += c;
      }
    }
    return out;
  };
  r.domain = tag("d");
  r.selector = tag("s");
  r.b = tag("b");
  r.algorithm = tag("a");
  if (ps.sig) {
    r.identity = ps.sig->identity;
  } else {
    r.identity = tag("i");
    set(r, ps.error.reason, ps.error.message);
  }
  return ps;
}

std::string key_text(const dns::Answer& a) {
  // RFC 6376 3.6.2.2: the strings of one TXT record are concatenated.
  std::string txt;
  for (const auto& s : a.records.front().strings) txt += s;
  if (a.records.front().strings.empty()) txt = a.records.front().text;
  return txt;
}

}  // namespace

base::Task<dns::Answer> lookup_key(dns::Resolver& resolver, std::string selector,
                                   std::string domain) {
  dns::Answer a = co_await resolver.lookup(selector + "._domainkey." + domain, dns::RrType::kTxt);
  co_return a;
}

base::Task<std::vector<SignatureResult>> verify(std::string message, dns::Resolver& resolver,
                                                VerifyOptions options) {
  std::vector<SignatureResult> results;
  auto m = split_message(std::move(message));
  if (!m) co_return results;
  Context ctx{*m, options, {}};
  std::vector<RawField> fields = signature_fields(*m);
  for (size_t i = 0; i < fields.size(); ++i) {
    SignatureResult r;
    ParsedSignature ps = start(r, fields[i], i, options.legacy);
    if (ps.sig && i >= options.max_signatures) {
      set(r, Reason::kSyntax, "too many signatures");
    } else if (ps.sig && precheck(r, *ps.sig, options)) {
      dns::Answer a = co_await lookup_key(resolver, ps.sig->selector, ps.sig->domain);
      if (!a.definite()) {
        set(r, Reason::kDnsTempError, "key lookup: " + std::string(dns::status_name(a.status)));
      } else if (a.status != dns::Status::kOk || a.records.empty()) {
        set(r, Reason::kKeyNotFound, "no key for signature");
      } else {
        finish(ctx, r, fields[i], *ps.sig, key_text(a));
      }
    }
    results.push_back(std::move(r));
  }
  co_return results;
}

SignatureResult verify_with_key(std::string_view message, size_t field_index,
                                std::string_view key_txt, const VerifyOptions& options) {
  SignatureResult r;
  auto m = split_message(message);
  if (!m) {
    set(r, Reason::kSyntax, m.error().message());
    return r;
  }
  std::vector<RawField> fields = signature_fields(*m);
  if (field_index >= fields.size()) {
    set(r, Reason::kSyntax, "no such DKIM-Signature field");
    return r;
  }
  Context ctx{*m, options, {}};
  ParsedSignature ps = start(r, fields[field_index], field_index, options.legacy);
  if (ps.sig && precheck(r, *ps.sig, options))
    finish(ctx, r, fields[field_index], *ps.sig, key_txt);
  return r;
}

}  // namespace postern::auth::dkim
