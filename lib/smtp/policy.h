// What smtp-listen decides apart from the protocol itself: which recipients it accepts
// (no open relay), which addresses a submission login or a local user may use, what a
// submitted message must carry, and the Received: field it prepends. Plain functions over
// the store and the settings; the store lookups block, so the server calls them on worker
// threads.
//
//   auto c = check_recipient(store, settings, {.authenticated = false}, "ann@example.org");
//   if (!c.ok()) reply(c.reply);                 // "550 5.1.1 ...", "554 5.7.1 ...relay..."
//   std::string r = received_field({.helo = "mx.example.net", .ip = "192.0.2.1", ...});
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.h"
#include "smtp/server.h"
#include "store/store.h"

namespace postern::smtp {

struct RecipientCheck {
  std::string reply;   // empty: accepted
  std::string reason;  // for the reject counters: "unknown_user", "relay", "lookup", "srs"
  std::string rewritten;  // accepted as an SRS address: where it goes ("" otherwise)
  bool ok() const { return reply.empty(); }
};

struct Client {
  bool lmtp = false;           // LMTP accepts local recipients only
  bool authenticated = false;  // may relay to any domain
  int64_t now = 0;             // SRS dates are checked against it; 0: the clock
};

// RFC 5321 4.5.1 "postmaster" alone means postmaster at our host name's domain. Local
// domains: the address must resolve (accounts, aliases, catch-alls; 550 5.1.1 otherwise);
// other domains: only for authenticated clients or smtp.relay_domains (554 5.7.1);
// a store failure is 451 4.3.0. An SRS address at settings.srs.domain (not over LMTP) is
// reversed: accepted with `rewritten` set when it verifies, else 550 5.1.1 (reason "srs").
RecipientCheck check_recipient(store::Store& store, const Settings& settings, const Client& client,
                               std::string_view address);

// Whether the login (an account address) may use `address` as MAIL FROM or in From:: its
// own address, an alias whose target it is, or an smtp.send_as entry (an address or
// "@domain"). Case-insensitive.
base::Result<bool> may_send_as(store::Store& store, const Settings& settings,
                               std::string_view login, std::string_view address);

// Submission (RFC 6409 8): every From: address must pass may_send_as, else the reply that
// refuses the message; a missing Date: or Message-ID: is added at the top. Returns "" when
// the message may go on.
std::string submission_fixups(store::Store& store, const Settings& settings,
                              std::string_view login, std::string& message, int64_t now);

// Local listeners (postern-sendmail): whether the peer may use any sender — uid 0, a user
// in smtp.local_trusted_users (Postfix's "trusted users" for sendmail -f).
bool local_trusted(const Settings& settings, const LocalPeer& peer);

// Whether a local peer may use `address` in MAIL FROM and From:: anything when trusted;
// otherwise <user>@<hostname> and the user's smtp.local_senders entries (addresses or
// "@domain"), case-insensitive. Never the null sender, never for a uid without a name.
bool local_may_send_as(const Settings& settings, const LocalPeer& peer, std::string_view address);

// submission_fixups for a local peer: every From: address must pass local_may_send_as
// (not checked for trusted users); a missing From: is refused (postern-sendmail adds one);
// Date: and Message-ID: are added when missing. "" when the message may go on.
std::string local_fixups(const Settings& settings, const LocalPeer& peer, std::string& message,
                         int64_t now);

struct Trace {
  std::string helo;       // "" is written as "unknown"
  std::string ip;
  std::string tls;        // "TLSv1.3 with cipher ..." or "" without TLS
  std::string hostname;   // ours
  bool lmtp = false;
  bool esmtp = true;      // EHLO (false: HELO)
  bool smtputf8 = false;
  bool authenticated = false;
  std::string queue_id;
  std::string recipient;  // named in the field when the message has exactly one
  int64_t time = 0;       // Unix seconds
  const LocalPeer* local = nullptr;  // a local listener: "from local (uid N, user NAME)"
};

// RFC 5321 4.4 trace field, CRLF line ends, folded; the protocol word as RFC 3848 and
// RFC 6531 name it (SMTP, ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS, LMTP, ...).
std::string received_field(const Trace& trace);

}  // namespace postern::smtp
