// Recipient acceptance, send-as rules, submission fix-ups and the Received: field
// (see policy.h).
#include "smtp/policy.h"

#include <openssl/rand.h>

#include <ctime>
#include <functional>

#include "mail/header.h"
#include "mail/message.h"
#include "mail/writer.h"

namespace postern::smtp {
namespace {

std::string domain_of(std::string_view address) {
  size_t at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : mail::to_lower(address.substr(at + 1));
}

std::string protocol_word(const Trace& t) {
  std::string p = t.lmtp ? "LMTP" : t.smtputf8 ? "UTF8SMTP" : t.esmtp ? "ESMTP" : "SMTP";
  if (!t.tls.empty()) p += "S";  // RFC 3848
  if (t.authenticated) p += "A";
  return p;
}

}  // namespace

RecipientCheck check_recipient(store::Store& store, const Settings& settings, const Client& client,
                               std::string_view address) {
  std::string a = mail::to_lower(address);
  if (a == "postmaster") a += "@" + mail::to_lower(settings.hostname);  // RFC 5321 4.5.1
  const std::string quoted = "<" + std::string(address) + ">: ";
  std::string domain = domain_of(a);
  if (!client.lmtp && !settings.srs.domain.empty() && domain == mail::to_lower(settings.srs.domain) &&
      mail::srs::is_srs(std::string_view(a).substr(0, a.rfind('@')))) {
    // Signed and dated by us: a valid one relays to the address inside (never an open
    // relay: only what we forwarded verifies); a forged or expired one is refused here,
    // not bounced later.
    int64_t now = client.now ? client.now : static_cast<int64_t>(std::time(nullptr));
    auto back = mail::srs::reverse(address, settings.srs, now);
    if (!back) return {"550 5.1.1 " + quoted + "invalid or expired SRS address", "srs"};
    return {.rewritten = *back};
  }
  auto local = store.is_local_domain(domain);
  if (!local) return {"451 4.3.0 temporary failure looking up the recipient", "lookup"};
  if (*local) {
    auto r = store.resolve(a);
    if (!r) return {"451 4.3.0 temporary failure looking up the recipient", "lookup"};
    if (!r->found()) {
      return {"550 5.1.1 " + quoted + "recipient address rejected: no such user here",
              "unknown_user"};
    }
    return {};
  }
  if (client.lmtp) return {"550 5.1.1 " + quoted + "not a local address", "unknown_user"};
  if (client.authenticated) return {};
  for (const auto& d : settings.relay_domains) {
    if (mail::to_lower(d) == domain) return {};
  }
  return {"554 5.7.1 " + quoted + "relay access denied", "relay"};
}

base::Result<bool> may_send_as(store::Store& store, const Settings& settings,
                               std::string_view login, std::string_view address) {
  std::string me = mail::to_lower(login);
  std::string a = mail::to_lower(address);
  if (a == me) return true;
  std::string domain = domain_of(a);
  for (const auto& entry : settings.send_as) {
    if (mail::to_lower(entry.login) != me) continue;
    for (const auto& allowed : entry.addresses) {
      std::string al = mail::to_lower(allowed);
      if (al == a || (al.starts_with("@") && al.substr(1) == domain)) return true;
    }
  }
  auto aliases = store.aliases(domain);
  if (!aliases) return aliases.error();
  for (const auto& alias : *aliases) {
    if (alias.source == a && mail::to_lower(alias.target) == me) return true;
  }
  return false;
}

namespace {

// The From: check and the Date:/Message-ID: additions shared by submission and local
// listeners; `owns` is null when any From: is allowed.
std::string fixups(const Settings& settings, std::string& message, int64_t now,
                   const std::function<base::Result<bool>(std::string_view)>& owns,
                   std::string_view who) {
  auto m = mail::Message::parse(message);
  if (!m) return "554 5.6.0 message refused: " + m.error().message();
  const mail::Part& root = m->root();
  auto from = m->header(root, "From");
  if (!from) return "550 5.6.0 message refused: no From: field (RFC 5322 3.6)";
  if (owns) {
    for (const auto& a : mail::parse_address_list(*from).flatten()) {
      if (!a.address) continue;
      auto ok = owns(*a.address);
      if (!ok) return "451 4.3.0 temporary failure checking the From: address";
      if (!*ok) {
        return "553 5.7.1 <" + *a.address + ">: From: address not owned by " + std::string(who);
      }
    }
  }
  std::string add;
  if (!m->header(root, "Date")) add += "Date: " + mail::format_date(now, 0) + "\r\n";
  if (!m->header(root, "Message-ID")) {
    unsigned char raw[12];
    RAND_bytes(raw, sizeof raw);
    std::string id;
    for (unsigned char c : raw) {
      id += "0123456789abcdef"[c >> 4];
      id += "0123456789abcdef"[c & 15];
    }
    add += "Message-ID: <" + id + "@" + settings.hostname + ">\r\n";
  }
  message.insert(0, add);
  return {};
}

// A login name as it may appear in a trace field (passwd names are tame, but the field
// must never be broken by one that is not).
std::string trace_safe(std::string_view s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '$';
    out += ok ? c : '?';
  }
  return out.empty() ? "?" : out;
}

}  // namespace

std::string submission_fixups(store::Store& store, const Settings& settings,
                              std::string_view login, std::string& message, int64_t now) {
  return fixups(settings, message, now,
                [&](std::string_view address) {
                  return may_send_as(store, settings, login, address);
                },
                login);
}

bool local_trusted(const Settings& settings, const LocalPeer& peer) {
  if (peer.uid == 0) return true;
  if (peer.user.empty()) return false;
  for (const auto& u : settings.local_trusted_users) {
    if (u == peer.user) return true;  // login names are case-sensitive
  }
  return false;
}

bool local_may_send_as(const Settings& settings, const LocalPeer& peer, std::string_view address) {
  if (local_trusted(settings, peer)) return true;
  if (address.empty() || peer.user.empty()) return false;
  std::string a = mail::to_lower(address);
  if (a == mail::to_lower(peer.user + "@" + settings.hostname)) return true;
  std::string domain = domain_of(a);
  for (const auto& entry : settings.local_senders) {
    if (entry.login != peer.user) continue;
    for (const auto& allowed : entry.addresses) {
      std::string al = mail::to_lower(allowed);
      if (al == a || (al.starts_with("@") && al.substr(1) == domain)) return true;
    }
  }
  return false;
}

std::string local_fixups(const Settings& settings, const LocalPeer& peer, std::string& message,
                         int64_t now) {
  std::function<base::Result<bool>(std::string_view)> owns;
  if (!local_trusted(settings, peer)) {
    owns = [&](std::string_view address) -> base::Result<bool> {
      return local_may_send_as(settings, peer, address);
    };
  }
  std::string who = peer.user.empty() ? "uid " + std::to_string(peer.uid) : peer.user;
  return fixups(settings, message, now, owns, who);
}

std::string received_field(const Trace& t) {
  std::string f = "Received: from ";
  if (t.local) {  // no client host to name: the local user instead (as Postfix's pickup)
    f += "local (uid " + std::to_string(t.local->uid) + ", user " + trace_safe(t.local->user) +
         ")\r\n";
  } else {
    f += t.helo.empty() ? "unknown" : t.helo;
    f += " ([" + t.ip + "])\r\n";
  }
  if (!t.tls.empty()) f += "\t(using " + t.tls + ")\r\n";  // as Postfix writes it
  f += "\tby " + t.hostname + " (Postern) with " + protocol_word(t);
  f += " id " + t.queue_id;
  if (!t.recipient.empty()) f += "\r\n\tfor <" + t.recipient + ">";
  f += ";\r\n\t" + mail::format_date(t.time, 0) + "\r\n";
  return f;
}

}  // namespace postern::smtp
