// Local delivery: what store-deliver, LMTP (smtp-listen) and queue-run do with a message
// for a local address — one code path, in-process everywhere.
//
// For each account the recipient resolves to (Store::resolve: +detail, aliases,
// catch-all) the message is stored with CRLF line endings, with Return-Path (when the
// envelope sender is known) and Delivered-To prepended, into the first of:
//   1. Junk, when the message is junk for that account: its own verdict
//      (DeliveryOptions::judge) when it has one, else DeliveryOptions::junk or an
//      "X-Spam-Flag: YES" field ABOVE the first Received: field — i.e. written by our
//      own spam stage after the message arrived (it removes incoming X-Spam-* first); a
//      sender cannot file its own mail, because a field it wrote sits below the receiving
//      MTA's Received:
//   2. DeliveryOptions::mailbox, when it exists (or is created with create_mailbox)
//   3. the mailbox named by the +detail, when it exists (case-insensitive)
//   4. Inbox
// Outside addresses an alias forwards to are not sent from here; they come back in
// LocalDelivery::forward for the queue.
//
// Errors (as base::Error, exit code and SMTP reply together):
//   no such user               67, 550 5.1.1
//   Delivered-To loop          69, 554 5.4.6
//   over quota                 69, 552 5.2.2 — or 75, 452 4.2.2 with quota_tempfail
//   empty / not a message      65, 554 5.6.0
//   store busy, I/O, anything  75, 451 4.3.0 (temporary)
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/store.h"

namespace postern::store {

struct DeliveryOptions {
  std::string sender;   // envelope MAIL FROM; "" = unknown (no Return-Path), "<>" = null
  std::string mailbox;  // deliver here instead of Inbox (Dovecot's -m)
  bool create_mailbox = false;
  bool junk = false;    // the spam verdict, when the caller has it
  // An account's own spam verdict, when it has one (spam::RecipientVerdicts: a classifier
  // model of its own): true junk, false not; nullopt leaves it to `junk` and
  // X-Spam-Flag. Kept as the email's $junk or $notjunk keyword, never in its bytes.
  std::function<std::optional<bool>(Id account, std::string_view message)> judge;
  bool quota_tempfail = false;
  std::optional<int64_t> received_at;
};

struct LocalDelivery {
  struct Stored {
    std::string account;  // address
    std::string mailbox;  // path
    Delivered where;
  };
  std::vector<Stored> stored;
  std::vector<std::string> forward;
};

base::Result<LocalDelivery> deliver_local(Store& store, std::string_view recipient,
                                          std::string_view message,
                                          const DeliveryOptions& options = {});

// Whether the message's header marks it as junk the way rule 1 above describes.
bool trusted_spam_flag(std::string_view message);
// The unfolded value of the first field `name` above the first Received: field (one our
// own stages wrote), or nullopt.
std::optional<std::string> trusted_field(std::string_view message, std::string_view name);

}  // namespace postern::store
