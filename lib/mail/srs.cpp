// The Sender Rewriting Scheme in the SRS0/SRS1 form of libsrs2 and postsrsd (the format
// is the interoperable part; the code is our own).
#include "mail/srs.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <optional>

#include "mail/header.h"
#include "mail/writer.h"

namespace postern::mail::srs {
namespace {

using base::Error;

constexpr int64_t kDay = 86400;
constexpr int kSlots = 1024;  // two base32 characters of 5 bits each
constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr size_t kHashLength = 4;

bool is_separator(char c) { return c == '=' || c == '+' || c == '-'; }

int today(int64_t now) {
  int64_t days = now / kDay;
  if (now < 0 && now % kDay != 0) --days;
  return static_cast<int>(((days % kSlots) + kSlots) % kSlots);
}

std::string timestamp(int64_t now) {
  const int t = today(now);
  return {kBase32[(t >> 5) & 31], kBase32[t & 31]};
}

std::optional<int> parse_timestamp(std::string_view tt) {
  if (tt.size() != 2) return std::nullopt;
  int v = 0;
  for (char c : tt) {
    const char u = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    const size_t k = kBase32.find(u);
    if (k == std::string_view::npos) return std::nullopt;
    v = v << 5 | static_cast<int>(k);
  }
  return v;
}

// Base64 of HMAC-SHA1(secret, lower-cased parts concatenated), first kHashLength characters.
std::string hash(std::string_view secret, std::initializer_list<std::string_view> parts) {
  std::string data;
  for (std::string_view p : parts) data += to_lower(p);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  const std::string b64 =
      encode_base64_lines(std::string_view(reinterpret_cast<const char*>(mac), len));
  return b64.substr(0, kHashLength);
}

bool hash_matches(std::string_view given, const Options& o,
                  std::initializer_list<std::string_view> parts) {
  if (given.size() != kHashLength) return false;
  for (const std::string& secret : o.secrets) {
    if (iequals(given, hash(secret, parts))) return true;  // case-insensitive, as libsrs2
  }
  return false;
}

// The fields after "SRS0<sep>": hash, timestamp, host, user (the user may hold '=').
struct Srs0 {
  std::string_view hash, stamp, host, user;
};
std::optional<Srs0> parse_srs0(std::string_view local) {
  std::string_view rest = local.substr(5);
  std::string_view f[3];
  for (auto& field : f) {
    const size_t eq = rest.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    field = rest.substr(0, eq);
    rest.remove_prefix(eq + 1);
  }
  if (rest.empty()) return std::nullopt;
  return Srs0{f[0], f[1], f[2], rest};
}

// The fields after "SRS1<sep>": hash, the first forwarder's host, and the rest of its SRS0
// local part (starting with that address's separator).
struct Srs1 {
  std::string_view hash, host, rest;
};
std::optional<Srs1> parse_srs1(std::string_view local) {
  std::string_view s = local.substr(5);
  const size_t a = s.find('=');
  if (a == std::string_view::npos || a == 0) return std::nullopt;
  const size_t b = s.find('=', a + 1);
  if (b == std::string_view::npos || b == a + 1) return std::nullopt;
  Srs1 r{s.substr(0, a), s.substr(a + 1, b - a - 1), s.substr(b + 1)};
  if (r.rest.size() < 2 || !is_separator(r.rest.front())) return std::nullopt;
  return r;
}

bool has_prefix(std::string_view local, char digit) {
  return local.size() > 5 && iequals(local.substr(0, 3), "SRS") && local[3] == digit &&
         is_separator(local[4]);
}

base::Status check_options(const Options& o) {
  if (o.secrets.empty() || o.secrets.front().empty()) return Error::config("SRS: no secret");
  if (o.domain.empty()) return Error::config("SRS: no rewriting domain");
  return {};
}

}  // namespace

bool is_srs(std::string_view local_part) {
  return has_prefix(local_part, '0') || has_prefix(local_part, '1');
}

base::Result<std::string> forward(std::string_view sender, const Options& o, int64_t now) {
  if (sender.empty()) return std::string();
  if (auto s = check_options(o); !s) return s.error();
  const size_t at = sender.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == sender.size()) {
    return Error::bad_data("SRS: sender has no domain: " + std::string(sender));
  }
  const std::string_view local = sender.substr(0, at);
  const std::string_view domain = sender.substr(at + 1);
  if (iequals(domain, o.domain)) return std::string(sender);  // ours already
  const std::string& secret = o.secrets.front();
  if (has_prefix(local, '0')) {
    // Re-forwarding an SRS0 address: point at the forwarder that made it.
    const std::string_view rest = local.substr(4);
    return "SRS1=" + hash(secret, {domain, rest}) + "=" + std::string(domain) + "=" +
           std::string(rest) + "@" + o.domain;
  }
  if (has_prefix(local, '1')) {
    if (auto p = parse_srs1(local)) {  // keep the first forwarder, sign it anew
      return "SRS1=" + hash(secret, {p->host, p->rest}) + "=" + std::string(p->host) + "=" +
             std::string(p->rest) + "@" + o.domain;
    }
  }
  const std::string tt = timestamp(now);
  return "SRS0=" + hash(secret, {tt, domain, local}) + "=" + tt + "=" + std::string(domain) +
         "=" + std::string(local) + "@" + o.domain;
}

base::Result<std::string> reverse(std::string_view address, const Options& o, int64_t now) {
  if (o.secrets.empty()) return Error::config("SRS: no secret");
  const size_t at = address.rfind('@');
  const std::string_view local = at == std::string_view::npos ? address : address.substr(0, at);
  if (has_prefix(local, '0')) {
    const auto p = parse_srs0(local);
    if (!p) return Error::bad_data("SRS: malformed SRS0 address");
    const auto then = parse_timestamp(p->stamp);
    if (!then) return Error::bad_data("SRS: bad timestamp");
    if (!hash_matches(p->hash, o, {p->stamp, p->host, p->user})) {
      return Error::bad_data("SRS: hash does not match");
    }
    int t = *then;
    const int d = today(now);
    if (t > d) t -= kSlots;  // the day counter wrapped since it was made
    if (d - t > o.max_age_days) return Error::bad_data("SRS: address has expired");
    return std::string(p->user) + "@" + std::string(p->host);
  }
  if (has_prefix(local, '1')) {
    const auto p = parse_srs1(local);
    if (!p) return Error::bad_data("SRS: malformed SRS1 address");
    if (!hash_matches(p->hash, o, {p->host, p->rest})) {
      return Error::bad_data("SRS: hash does not match");
    }
    return "SRS0" + std::string(p->rest) + "@" + std::string(p->host);
  }
  return Error::bad_data("SRS: not an SRS address: " + std::string(address));
}

}  // namespace postern::mail::srs
