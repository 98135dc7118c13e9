// Delivery status notifications (RFC 3464, in a multipart/report of RFC 6522): the bounce,
// delay warning or success report that the queue sends back to a message's sender.
//
// build() returns a complete message with CRLF line ends: a human-readable text/plain part,
// the machine-readable message/delivery-status part (per-message fields, then one block
// per recipient), and the original — whole as message/rfc822 when the sender asked for it
// (RET=FULL, RFC 3461 4.3) and it is not larger than `max_original`, otherwise its header
// as text/rfc822-headers. The original's bytes are copied as they are (only line ends
// become CRLF), never re-encoded, so the sender's own software can match the bounce.
//
// 8-bit and internationalized originals (RFC 6533): an original whose header holds 8-bit
// bytes (an SMTPUTF8 message, RFC 6532), or a report whose addresses or replies are not
// ASCII, gets the internationalized types: multipart/report; report-type=
// global-delivery-status, message/global-delivery-status (addresses of type "utf-8"), and
// message/global or message/global-headers. An original with an ASCII header and an 8-bit
// body stays message/rfc822, with Content-Transfer-Encoding 8bit on that part and on the
// report. So the report is 7-bit whenever the part of the original it returns is; it needs
// 8BITMIME (or SMTPUTF8) exactly when that part did. The human-readable part is always 7-bit
// (quoted-printable UTF-8 when needed).
//
//   dsn::Report r{.reporting_mta = "mx.example.org", .sender = "ann@example.org",
//                 .arrival = queued_at, .queue_id = "Q1234"};
//   r.recipients.push_back({.final_recipient = "bob@example.net", .action =
//                           dsn::Action::kFailed, .status = "5.1.1", .remote_mta =
//                           "mx.example.net", .diagnostic = "550 5.1.1 no such user"});
//   std::string bounce = dsn::build(r, original_bytes, now);  // queue it with sender "<>"
//   if (dsn::is_dsn(message)) ...                              // never answer a bounce
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postern::mail::dsn {

enum class Action { kFailed, kDelayed, kDelivered, kRelayed, kExpanded };  // RFC 3464 2.3.3

struct RecipientReport {
  std::string final_recipient;     // address as we tried it
  std::string original_recipient;  // ORCPT ("rfc822;x@y", decoded) or ""
  Action action = Action::kFailed;
  std::string status;              // "5.1.1", "4.4.1"
  std::string remote_mta;          // "mx.example.net" or "" (Remote-MTA: dns; ...)
  std::string diagnostic;          // the remote reply, one line ("550 5.1.1 no such user") or ""
  int64_t last_attempt = 0;        // Unix seconds, 0 none
  int64_t will_retry_until = 0;    // for delayed
};

struct Report {
  std::string reporting_mta;     // our host name
  std::string envid;             // ENVID (decoded) or ""
  std::string sender;            // where the DSN goes (never "" — caller checks)
  int64_t arrival = 0;           // when we queued the original
  std::string queue_id;          // X-Postern-Queue-ID: in the status part, and in the text
  bool full_message = false;     // RET=FULL: whole message; else headers only (RFC 3461 4.3)
  std::vector<RecipientReport> recipients;
  // Who to ask for help, named in the text part: a local part (at reporting_mta) or a whole
  // address. The From: of the report itself is always MAILER-DAEMON@reporting_mta.
  std::string postmaster = "postmaster";
};

// A complete RFC 5322 message, CRLF: From: "Mail Delivery System"
// <MAILER-DAEMON@reporting_mta>, To: sender, Subject by the gravest action
// ("Undelivered Mail Returned to Sender" when any recipient failed, else "Delayed Mail
// (still being retried)" when any is delayed, else "Successful Mail Delivery Report"),
// Date (UTC), Message-ID, Auto-Submitted: auto-replied (RFC 3834 5), MIME-Version and the
// multipart/report. The boundary never occurs in the content. The original is returned
// whole only when r.full_message and original.size() <= max_original and it has no NUL
// and no line over 998 octets (RFC 5322 2.1.1); otherwise its header alone, or nothing
// when even the header is over max_original; the text part says which.
std::string build(const Report& r, std::string_view original, int64_t now,
                  size_t max_original = 10 << 20);

// Is this message itself a delivery report (a multipart/report whose report-type is
// delivery-status or global-delivery-status)? A DSN must never be answered with another
// one (RFC 3464 1); the null sender is the caller's check, this one catches reports that
// came with a sender anyway.
bool is_dsn(std::string_view message);

// The RFC 3464 2.3.3 action word: "failed", "delayed", "delivered", "relayed", "expanded".
std::string_view action_name(Action a);

}  // namespace postern::mail::dsn
