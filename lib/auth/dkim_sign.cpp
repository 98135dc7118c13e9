// DKIM signing (RFC 6376 5): header selection with oversigning, body hash, the folded
// DKIM-Signature field with b= last.
#include <algorithm>

#include "auth/dkim.h"
#include "mail/header.h"
#include "auth/dkim_internal.h"

namespace postern::auth::dkim {

const std::vector<std::string>& default_signed_headers() {
  // RFC 6376 5.4.1's recommended list, plus the List-* fields (RFC 2369, RFC 2919) and
  // the MIME fields that change how the body is shown.
  static const std::vector<std::string> kList = {"from",
                                                 "sender",
                                                 "reply-to",
                                                 "subject",
                                                 "date",
                                                 "message-id",
                                                 "to",
                                                 "cc",
                                                 "mime-version",
                                                 "content-type",
                                                 "content-transfer-encoding",
                                                 "content-id",
                                                 "content-description",
                                                 "resent-date",
                                                 "resent-from",
                                                 "resent-sender",
                                                 "resent-to",
                                                 "resent-cc",
                                                 "resent-message-id",
                                                 "in-reply-to",
                                                 "references",
                                                 "list-id",
                                                 "list-help",
                                                 "list-unsubscribe",
                                                 "list-unsubscribe-post",
                                                 "list-subscribe",
                                                 "list-post",
                                                 "list-owner",
                                                 "list-archive",
                                                 "autocrypt",
                                                 "openpgp"};
  return kList;
}

const std::vector<std::string>& default_oversigned_headers() {
  // RFC 6376 8.15: listed once more than present, so no instance can be added later.
  static const std::vector<std::string> kList = {"from",
                                                 "reply-to",
                                                 "subject",
                                                 "date",
                                                 "message-id",
                                                 "to",
                                                 "cc",
                                                 "mime-version",
                                                 "content-type",
                                                 "content-transfer-encoding",
                                                 "in-reply-to",
                                                 "references",
                                                 "list-id",
                                                 "list-unsubscribe",
                                                 "list-unsubscribe-post"};
  return kList;
}

namespace {

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::any_of(v.begin(), v.end(), [&](const std::string& x) { return mail::iequals(x, s); });
}

std::vector<std::string> choose_headers(const SplitMessage& m, const SignOptions& o) {
  if (!o.headers.empty()) return o.headers;
  std::vector<std::string> out;
  for (const auto& name : default_signed_headers()) {
    size_t n = 0;
    for (const auto& f : m.fields) {
      if (mail::iequals(f.name, name)) ++n;
    }
    if (contains(default_oversigned_headers(), name)) ++n;
    for (size_t i = 0; i < n; ++i) out.push_back(name);
  }
  return out;
}

}  // namespace

std::string fold_field(std::string_view name, const std::vector<std::string>& tags, size_t width) {
  std::string out(name);
  out += ':';
  size_t col = out.size();
  for (size_t t = 0; t < tags.size(); ++t) {
    std::string tag = tags[t] + (t + 1 < tags.size() ? ";" : "");
    bool is_b = tag.rfind("b=", 0) == 0;
    bool breakable = is_b || tag.rfind("bh=", 0) == 0 || tag.rfind("h=", 0) == 0;
    // b= always starts its own line, so the field signed (b= empty) and the field
    // written (b= filled) fold identically up to the value.
    if (!is_b && col + 1 + tag.size() <= width) {
      out += ' ';
      out += tag;
      col += 1 + tag.size();
      continue;
    }
    if (!breakable || 1 + tag.size() <= width) {
      if (col > 1 + name.size()) {
        out += "\r\n";
        col = 0;
      }
      out += ' ';
      out += tag;
      col += 1 + tag.size();
      continue;
    }
    // Long tag: break inside the value (h= after a colon, base64 anywhere: FWS allowed).
    if (col > 1 + name.size()) {
      out += "\r\n";
      col = 0;
    }
    out += ' ';
    col += 1;
    bool colons = tag.rfind("h=", 0) == 0;
    size_t pos = 0;
    while (pos < tag.size()) {
      size_t room = width > col ? width - col : 1;
      size_t take = std::min(room, tag.size() - pos);
      if (colons && pos + take < tag.size()) {
        size_t cut = tag.rfind(':', pos + take - 1);
        if (cut != std::string::npos && cut > pos) take = cut + 1 - pos;
      }
      out.append(tag, pos, take);
      col += take;
      pos += take;
      if (pos < tag.size()) {
        out += "\r\n ";
        col = 1;
      }
    }
  }
  return out;
}

base::Result<std::string> sign(std::string_view message, const SignOptions& o) {
  if (o.key == nullptr) return base::Error::usage("no signing key");
  if (o.domain.empty() || o.selector.empty())
    return base::Error::usage("domain and selector needed");
  auto m = split_message(message);
  if (!m) return m.error();
  Algorithm alg = o.key->is_ed25519() ? Algorithm::kEd25519Sha256 : Algorithm::kRsaSha256;
  std::vector<std::string> h = choose_headers(*m, o);
  if (!contains(h, "from"))
    return base::Error::usage("the From field must be signed (RFC 6376 5.4)");
  uint64_t total = 0;
  std::optional<uint64_t> limit;
  if (o.body_length && *o.body_length > 0) limit = o.body_length;
  std::string bh = body_hash(m->body, o.body_canon, alg, limit, &total);
  auto canon_name = [](Canon c) { return c == Canon::kSimple ? "simple" : "relaxed"; };

  std::vector<std::string> tags = {
      "v=1", "a=" + std::string(algorithm_name(alg)),
      std::string("c=") + canon_name(o.header_canon) + "/" + canon_name(o.body_canon),
      "d=" + o.domain, "s=" + o.selector};
  if (!o.identity.empty()) tags.push_back("i=" + o.identity);
  if (limit) {
    tags.push_back("l=" + std::to_string(std::min(*limit, total)));
  } else if (o.write_body_length) {
    tags.push_back("l=" + std::to_string(total));
  }
  if (o.timestamp > 0) {
    tags.push_back("t=" + std::to_string(o.timestamp));
    if (o.expire_after > 0) tags.push_back("x=" + std::to_string(o.timestamp + o.expire_after));
  }
  std::string hv;
  for (const auto& name : h) hv += (hv.empty() ? "" : ":") + name;
  tags.push_back("h=" + hv);
  tags.push_back("bh=" + base64_encode(bh));
  tags.push_back("b=");
  std::string unsigned_field = fold_field("DKIM-Signature", tags) + "\r\n";
  std::string data = header_hash_input(*m, h, o.header_canon, unsigned_field);
  auto sig = sign_data(*o.key, alg, data);
  if (!sig) return sig.error();
  tags.back() = "b=" + base64_encode(*sig);
  return fold_field("DKIM-Signature", tags) + "\r\n";
}

base::Result<std::string> sign_prepared(std::string_view message, std::string_view field,
                                        const PrivateKey& key) {
  auto m = split_message(message);
  if (!m) return m.error();
  size_t colon = field.find(':');
  if (colon == std::string_view::npos) return base::Error::usage("not a header field");
  std::string value = strip_b_value(field).substr(colon + 1);
  auto tags = parse_tag_list(value);
  if (!tags) return tags.error();
  const std::string* a = find_tag(*tags, "a");
  const std::string* h = find_tag(*tags, "h");
  if (a == nullptr || h == nullptr) return base::Error::usage("a= and h= needed");
  auto alg = parse_algorithm(*a);
  if (!alg) return base::Error::usage("unknown a=" + *a);
  Canon hc = Canon::kSimple;
  if (const std::string* c = find_tag(*tags, "c")) {
    if (c->rfind("relaxed", 0) == 0) hc = Canon::kRelaxed;
  }
  std::vector<std::string> names;
  std::string_view hv = *h;
  while (true) {
    size_t c = hv.find(':');
    std::string_view n = hv.substr(0, c);
    while (!n.empty() &&
           (n.front() == ' ' || n.front() == '\t' || n.front() == '\r' || n.front() == '\n'))
      n.remove_prefix(1);
    while (!n.empty() &&
           (n.back() == ' ' || n.back() == '\t' || n.back() == '\r' || n.back() == '\n'))
      n.remove_suffix(1);
    names.emplace_back(n);
    if (c == std::string_view::npos) break;
    hv.remove_prefix(c + 1);
  }
  std::string data = header_hash_input(*m, names, hc, field);
  auto sig = sign_data(key, *alg, data);
  if (!sig) return sig.error();
  return base64_encode(*sig);
}

}  // namespace postern::auth::dkim
