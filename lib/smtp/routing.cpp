// queue-run's routing, retry and DSN decisions (routing.h).
#include "smtp/routing.h"

#include <algorithm>
#include <charconv>

#include "mail/header.h"

namespace postern::smtp::routing {

using base::Error;
using store::queue::Envelope;
using store::queue::Notify;
using store::queue::Recipient;
using store::queue::RecipientStatus;

namespace {

constexpr std::pair<TlsRequirement, std::string_view> kTlsNames[] = {
    {TlsRequirement::kNone, "none"},
    {TlsRequirement::kOpportunistic, "opportunistic"},
    {TlsRequirement::kRequired, "required"},
    {TlsRequirement::kVerify, "verify"},
    {TlsRequirement::kImplicit, "implicit"},
};

bool ends_with_label(std::string_view domain, std::string_view suffix) {
  // ".example.net" matches "a.example.net" and "b.a.example.net", not "example.net".
  return domain.size() > suffix.size() && domain.ends_with(suffix);
}

}  // namespace

std::string_view tls_name(TlsRequirement t) {
  for (auto [v, n] : kTlsNames) {
    if (v == t) return n;
  }
  return "opportunistic";
}

std::optional<TlsRequirement> parse_tls(std::string_view s) {
  for (auto [v, n] : kTlsNames) {
    if (n == s) return v;
  }
  return std::nullopt;
}

std::string Route::key() const {
  switch (kind) {
    case kLocal:
      return "local";
    case kMx:
      return "mx:" + domain;
    case kHost:
      break;
  }
  return std::string(lmtp ? "lmtp:" : "smtp:") + (mx_lookup ? "" : "[") + host +
         (mx_lookup ? "" : "]") + ":" + std::to_string(port);
}

base::Result<Route> parse_via(std::string_view via) {
  Route r;
  if (via == "mx") return r;
  std::string_view rest;
  if (via.starts_with("smtp:")) {
    rest = via.substr(5);
  } else if (via.starts_with("lmtp:")) {
    rest = via.substr(5);
    r.lmtp = true;
  } else {
    return Error::config("transport \"" + std::string(via) +
                         "\": expected mx, smtp:[host]:port, smtp:host:port or lmtp:[host]:port");
  }
  r.kind = Route::kHost;
  r.port = r.lmtp ? 24 : 25;
  std::string_view host = rest;
  if (rest.starts_with("[")) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      return Error::config("transport \"" + std::string(via) + "\": unbalanced [");
    }
    host = rest.substr(1, close - 1);
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') {
      return Error::config("transport \"" + std::string(via) + "\": expected :port after ]");
    }
  } else {
    r.mx_lookup = true;
    size_t colon = rest.rfind(':');
    host = colon == std::string_view::npos ? rest : rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon);
  }
  if (!rest.empty()) {
    std::string_view p = rest.substr(1);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc() || end != p.data() + p.size() || v == 0 || v > 65535) {
      return Error::config("transport \"" + std::string(via) + "\": bad port");
    }
    r.port = static_cast<uint16_t>(v);
  }
  if (host.empty()) return Error::config("transport \"" + std::string(via) + "\": no host");
  if (r.lmtp && r.mx_lookup) {
    return Error::config("transport \"" + std::string(via) + "\": lmtp needs [host]:port");
  }
  r.host = mail::to_lower(host);
  return r;
}

Route route_for(std::string_view domain, const std::vector<TransportRule>& rules, bool local) {
  Route r;
  r.domain = mail::to_lower(domain);
  if (local) {
    r.kind = Route::kLocal;
    return r;
  }
  const TransportRule* best = nullptr;
  size_t best_len = 0;
  for (const TransportRule& t : rules) {
    std::string d = mail::to_lower(t.domain);
    if (d == r.domain) {
      best = &t;
      break;
    }
    if (d.starts_with(".") && ends_with_label(r.domain, d) && d.size() > best_len) {
      best = &t;
      best_len = d.size();
    } else if (d == "*" && !best) {
      best = &t;
    }
  }
  if (!best) return r;
  auto parsed = parse_via(best->via);
  if (!parsed) return r;
  Route out = std::move(*parsed);
  out.domain = r.domain;
  out.tls = best->tls;
  out.auth_user = best->auth_user;
  out.auth_password = best->auth_password;
  out.transport = true;
  return out;
}

std::string domain_of(std::string_view address) {
  size_t at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  return mail::to_lower(address.substr(at + 1));
}

int64_t next_attempt(const RetryPolicy& p, int attempts, int64_t now) {
  if (p.schedule.empty()) return now + 300;
  size_t i = attempts <= 1 ? 0 : std::min<size_t>(static_cast<size_t>(attempts - 1), p.schedule.size() - 1);
  return now + p.schedule[i].count();
}

bool expired(const RetryPolicy& p, int64_t created_at, int64_t now) {
  return now - created_at >= p.max_lifetime.count();
}

bool delay_due(const RetryPolicy& p, int64_t created_at, int64_t now) {
  return p.delay_warning.count() > 0 && now - created_at >= p.delay_warning.count();
}

RecipientStatus status_for_code(int code) {
  if (code >= 200 && code < 300) return RecipientStatus::kDelivered;
  if (code >= 500 && code < 600) return RecipientStatus::kFailed;
  return RecipientStatus::kPending;
}

bool wants_failure_dsn(const Envelope& e, const Recipient& r) {
  if (e.sender.empty()) return false;  // never a bounce to the null sender (RFC 5321 6.1)
  if (r.notify == 0) return true;
  return (r.notify & Notify::kNotifyFailure) != 0;
}

bool wants_delay_dsn(const Envelope& e, const Recipient& r) {
  if (e.sender.empty()) return false;
  if (r.notify == 0) return true;
  return (r.notify & Notify::kNotifyDelay) != 0;
}

bool wants_success_dsn(const Envelope& e, const Recipient& r) {
  return !e.sender.empty() && (r.notify & Notify::kNotifySuccess) != 0;
}

int hop_count(std::string_view message) {
  int n = 0;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    std::string_view line = message.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.empty() || line == "\r") break;  // end of the header
    if (line.size() >= 9 && mail::iequals(line.substr(0, 9), "received:")) ++n;
    if (eol == std::string_view::npos) break;
    pos = eol + 1;
  }
  return n;
}

}  // namespace postern::smtp::routing
