// DKIM tag lists (RFC 6376 3.2), the DKIM-Signature field (3.5) and the key record
// (3.6.1, RFC 8463 4), plus the small encodings they use (base64, dkim-quoted-printable).
#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

#include "auth/dkim.h"
#include "mail/header.h"
#include "auth/dkim_internal.h"
#include "mail/transfer.h"

namespace postern::auth::dkim {

namespace {

bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim_fws(std::string_view s) {
  while (!s.empty() && is_fws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_fws(s.back())) s.remove_suffix(1);
  return s;
}

std::string strip_fws(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (!is_fws(c)) out += c;
  }
  return out;
}

// Colon-separated list, items trimmed of FWS (RFC 6376 3.5 h=, 3.6.1 h= s= t=).
std::vector<std::string> split_colons(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t c = s.find(':', start);
    out.emplace_back(trim_fws(s.substr(start, c == std::string_view::npos ? s.npos : c - start)));
    if (c == std::string_view::npos) break;
    start = c + 1;
  }
  return out;
}

std::optional<uint64_t> parse_digits(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

// RFC 6376 3.2: tag-list = tag-spec *( ";" tag-spec ) [ ";" ]
base::Result<TagList> parse_tag_list(std::string_view text) {
  TagList tags;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t semi = text.find(';', pos);
    std::string_view spec = text.substr(pos, semi == text.npos ? text.npos : semi - pos);
    bool last = semi == text.npos;
    std::string_view t = trim_fws(spec);
    if (t.empty()) {
      // Only allowed as the (optional) part after a trailing ';' or an empty list.
      if (!last) return base::Error::bad_data("empty tag-spec");
      break;
    }
    size_t eq = t.find('=');
    if (eq == t.npos) return base::Error::bad_data("tag without '=': " + std::string(t));
    std::string_view name = trim_fws(t.substr(0, eq));
    std::string_view value = trim_fws(t.substr(eq + 1));
    // tag-name = ALPHA *ALNUMPUNC
    if (name.empty() || !std::isalpha(static_cast<unsigned char>(name[0]))) {
      return base::Error::bad_data("bad tag name");
    }
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
        return base::Error::bad_data("bad tag name: " + std::string(name));
      }
    }
    // tag-value: VALCHARs (%x21-3A / %x3C-7E) separated by FWS; 8-bit bytes tolerated.
    for (char c : value) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 && !is_fws(c)) return base::Error::bad_data("control byte in tag value");
      if (u == 0x7f) return base::Error::bad_data("control byte in tag value");
    }
    for (const auto& tag : tags) {
      if (tag.name == name) {
        return base::Error::bad_data("duplicate tag " + std::string(name));  // 3.2
      }
    }
    tags.push_back({std::string(name), std::string(value)});
    if (last) break;
    pos = semi + 1;
  }
  return tags;
}

const std::string* find_tag(const TagList& tags, std::string_view name) {
  for (const auto& t : tags) {
    if (t.name == name) return &t.value;
  }
  return nullptr;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  // Each byte's value: 0-63 for the alphabet, kFws, kPad, or kBad.
  enum : uint8_t { kFws = 64, kPad, kBad };
  static constexpr auto kValue = [] {
    std::array<uint8_t, 256> t{};
    t.fill(kBad);
    for (int i = 0; i < 26; ++i) t['A' + i] = static_cast<uint8_t>(i);
    for (int i = 0; i < 26; ++i) t['a' + i] = static_cast<uint8_t>(26 + i);
    for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<uint8_t>(52 + i);
    t['+'] = 62;
    t['/'] = 63;
    t['='] = kPad;
    for (char c : {' ', '\t', '\r', '\n'}) t[static_cast<uint8_t>(c)] = kFws;
    return t;
  }();
  std::string out;
  out.reserve(text.size() / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  int pad = 0;
  size_t symbols = 0;
  for (char c : text) {
    uint8_t v = kValue[static_cast<uint8_t>(c)];
    if (v == kFws) continue;
    if (v == kBad) return std::nullopt;
    if (v == kPad) {
      ++pad;
      ++symbols;
      continue;
    }
    if (pad > 0) return std::nullopt;  // data after padding
    ++symbols;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (pad > 2 || symbols % 4 != 0) return std::nullopt;
  return out;
}

// RFC 6376 2.11: "=" followed by two upper-case hex digits; FWS is ignored.
std::optional<std::string> decode_dkim_qp(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (is_fws(c)) continue;
    if (c == '=') {
      auto hex = mail::hex_digit;  // lower case tolerated
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::kRsaSha1:
      return "rsa-sha1";
    case Algorithm::kRsaSha256:
      return "rsa-sha256";
    case Algorithm::kEd25519Sha256:
      return "ed25519-sha256";
  }
  return "?";
}

std::optional<Algorithm> parse_algorithm(std::string_view s) {
  if (mail::iequals(s, "rsa-sha256")) return Algorithm::kRsaSha256;
  if (mail::iequals(s, "rsa-sha1")) return Algorithm::kRsaSha1;
  if (mail::iequals(s, "ed25519-sha256")) return Algorithm::kEd25519Sha256;
  return std::nullopt;
}

namespace {

// True when `sub` is `domain` or a subdomain of it (case-insensitive), RFC 6376 3.5 i=.
bool within_domain(std::string_view sub, std::string_view domain) {
  if (mail::iequals(sub, domain)) return true;
  if (sub.size() <= domain.size() + 1) return false;
  return sub[sub.size() - domain.size() - 1] == '.' &&
         mail::iequals(sub.substr(sub.size() - domain.size()), domain);
}

// The message is built before `p` is moved from (it may point into p.tags).
ParsedSignature fail_sig(ParsedSignature& p, Reason r, std::string m) {
  p.error = {r, std::move(m)};
  return std::move(p);
}

}  // namespace

// RFC 6376 3.5 (tags) and 6.1.1 (validation).
ParsedSignature parse_signature(std::string_view value, bool drafts) {
  ParsedSignature p;
  auto tags = parse_tag_list(value);
  if (!tags) return fail_sig(p, Reason::kSyntax, tags.error().message());
  p.tags = *tags;
  const TagList& t = p.tags;
  for (const char* required : {"v", "a", "b", "bh", "d", "h", "s"}) {
    if (drafts && required[0] == 'v') continue;
    if (find_tag(t, required) == nullptr) {
      return fail_sig(p, Reason::kSyntax, std::string("missing ") + required + "= tag");
    }
  }
  Signature s;
  s.tags = t;
  const std::string* v = find_tag(t, "v");
  bool draft_version = drafts && (v == nullptr || *v == "0.5");
  if (!draft_version && *v != "1") {
    return fail_sig(p, Reason::kUnsupported, "unsupported version v=" + *v);
  }
  auto alg = parse_algorithm(strip_fws(*find_tag(t, "a")));
  if (!alg) {
    return fail_sig(p, Reason::kUnsupported, "unsupported algorithm a=" + *find_tag(t, "a"));
  }
  s.algorithm = *alg;
  if (const auto* c = find_tag(t, "c")) {
    std::string cv = mail::to_lower(strip_fws(*c));
    size_t slash = cv.find('/');
    std::string h = cv.substr(0, slash);
    std::string b = slash == cv.npos ? "simple" : cv.substr(slash + 1);
    auto canon = [](const std::string& x) -> std::optional<Canon> {
      if (x == "simple") return Canon::kSimple;
      if (x == "relaxed") return Canon::kRelaxed;
      return std::nullopt;
    };
    auto hc = canon(h), bc = canon(b);
    if (!hc || !bc) return fail_sig(p, Reason::kUnsupported, "unsupported c=" + *c);
    s.header_canon = *hc;
    s.body_canon = *bc;
  }
  if (const auto* q = find_tag(t, "q")) {
    bool ok = false;
    for (const auto& m : split_colons(*q)) {
      if (mail::iequals(m, "dns/txt") || mail::iequals(m, "dns")) ok = true;
    }
    if (!ok) return fail_sig(p, Reason::kUnsupported, "unsupported q=" + *q);
  }
  s.domain = strip_fws(*find_tag(t, "d"));
  s.selector = strip_fws(*find_tag(t, "s"));
  if (s.domain.empty() || s.selector.empty()) {
    return fail_sig(p, Reason::kSyntax, "empty d= or s=");
  }
  bool has_from = false;
  for (auto& h : split_colons(*find_tag(t, "h"))) {
    if (h.empty()) return fail_sig(p, Reason::kSyntax, "empty name in h=");
    for (char c : h) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7f || c == ':') {
        return fail_sig(p, Reason::kSyntax, "bad header name in h=");
      }
    }
    if (mail::iequals(h, "from")) has_from = true;
    s.signed_headers.push_back(h);
  }
  if (!has_from) {  // RFC 6376 5.4, 6.1.1
    return fail_sig(p, Reason::kSyntax, "From field not signed");
  }
  auto bh = base64_decode(*find_tag(t, "bh"));
  auto b = base64_decode(*find_tag(t, "b"));
  if (!bh || bh->empty()) return fail_sig(p, Reason::kSyntax, "bad bh= value");
  if (!b || b->empty()) return fail_sig(p, Reason::kSyntax, "bad b= value");
  s.body_hash = *bh;
  s.signature = *b;
  s.b_text = strip_fws(*find_tag(t, "b"));
  if (const auto* i = find_tag(t, "i")) {
    auto decoded = decode_dkim_qp(*i);
    if (!decoded) return fail_sig(p, Reason::kSyntax, "bad i= value");
    size_t at = decoded->rfind('@');
    if (at == std::string::npos) return fail_sig(p, Reason::kSyntax, "i= without @");
    if (!within_domain(decoded->substr(at + 1), s.domain)) {  // 6.1.1
      return fail_sig(p, Reason::kSyntax, "i= domain not within d=");
    }
    s.identity = *decoded;
  } else {
    s.identity = "@" + s.domain;
  }
  if (const auto* l = find_tag(t, "l")) {
    auto v = parse_digits(strip_fws(*l), 76);
    if (!v) return fail_sig(p, Reason::kSyntax, "bad l= value");
    s.length = *v;
  }
  if (const auto* ts = find_tag(t, "t")) {
    auto v = parse_digits(strip_fws(*ts), 12);
    if (!v) return fail_sig(p, Reason::kSyntax, "bad t= value");
    s.timestamp = static_cast<int64_t>(*v);
  }
  if (const auto* x = find_tag(t, "x")) {
    auto v = parse_digits(strip_fws(*x), 12);
    if (!v) return fail_sig(p, Reason::kSyntax, "bad x= value");
    s.expiration = static_cast<int64_t>(*v);
    if (s.timestamp && *s.expiration < *s.timestamp) {  // 3.5: x MUST be greater than t
      return fail_sig(p, Reason::kSyntax, "x= before t=");
    }
  }
  p.sig = std::move(s);
  return p;
}

// RFC 6376 3.6.1; RFC 8463 4 (k=ed25519, p= the raw 32-byte key).
ParsedKey parse_key_record(std::string_view txt) {
  ParsedKey p;
  auto tags = parse_tag_list(txt);
  if (!tags) {
    p.error = {Reason::kKeySyntax, "key record: " + tags.error().message()};
    return p;
  }
  const TagList& t = *tags;
  KeyRecord k;
  if (const auto* v = find_tag(t, "v")) {
    if (*v != "DKIM1") {
      p.error = {Reason::kKeySyntax, "key record: unsupported v=" + *v};
      return p;
    }
  }
  if (const auto* h = find_tag(t, "h")) k.hashes = split_colons(*h);
  if (const auto* kt = find_tag(t, "k")) {
    k.key_type = mail::to_lower(strip_fws(*kt));
    if (k.key_type != "rsa" && k.key_type != "ed25519") {
      p.error = {Reason::kUnsupported, "key record: unsupported k=" + *kt};
      return p;
    }
  }
  if (const auto* s = find_tag(t, "s")) k.services = split_colons(*s);
  if (const auto* fl = find_tag(t, "t")) {
    for (const auto& f : split_colons(*fl)) {
      if (f == "y") k.testing = true;
      if (f == "s") k.strict_identity = true;
    }
  }
  if (const auto* g = find_tag(t, "g")) k.granularity = *g;
  const auto* pk = find_tag(t, "p");
  if (pk == nullptr) {
    p.error = {Reason::kKeySyntax, "key record: no p= tag"};
    return p;
  }
  auto decoded = base64_decode(*pk);
  if (!decoded) {
    p.error = {Reason::kKeySyntax, "key record: bad base64 in p="};
    return p;
  }
  k.public_key = *decoded;
  p.key = std::move(k);
  return p;
}

}  // namespace postern::auth::dkim
