// postern-sendmail's engine: the classic sendmail(8) interface for local programs (cron,
// PHP's mail(), mail(1)). It never touches the store: it prepares the message and hands
// it to smtp-listen's `local` listener over a Unix socket, where the server knows the
// caller by SO_PEERCRED and decides which senders it may use (smtp/policy.h).
//
//   sendmail::Options o{.recipients = {"ann@example.org"}};
//   auto p = sendmail::prepare(stdin_bytes, o);              // LF → CRLF, -i, -t, Bcc
//   if (!p) return fail(p.error());
//   auto fd = sendmail::connect_unix("/run/postern/submit.sock");  // temporary on failure
//   sendmail::Caller me = sendmail::caller();
//   base::Status st = sendmail::submit(fd->get(), o, *p, me, nullptr);
//   // ok: 250 after DATA; else an Error: 75 for 4xx or a lost connection, 67 for
//   // 5.1.1, 69 for other 5xx, with the server's reply in the message.
//
// Library code: it reads and writes only the descriptors it is given.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "base/result.h"

namespace postern::smtp::sendmail {

struct Options {
  std::string sender;  // -f / -r; "" or "<>" with sender_given: the null sender
  bool sender_given = false;
  std::string full_name;                // -F, for a From: that postern-sendmail adds
  bool extract_recipients = false;      // -t: To:, Cc:, Bcc: (or the Resent- ones) too
  bool ignore_dots = false;             // -i / -oi: a line holding only "." does not end input
  std::vector<std::string> recipients;  // arguments (each may be a comma-separated list)
  std::string notify;                   // -N: "never" or a list of success, failure, delay
  std::string ret;                      // -R: "full" or "hdrs"
  std::string envid;                    // -V
  std::string body;                     // -B: "7bit" or "8bitmime"; "" decides from the content
};

// The message ready to send: CRLF line ends, Bcc:/Resent-Bcc: removed, recipients from
// the arguments and (with -t) the header. From: is added later, by submit(), once the
// server has named its host.
struct Prepared {
  std::string header;  // fields, each CRLF-terminated (no blank line)
  std::string body;    // after the blank line
  bool has_from = false;
  std::vector<std::string> recipients;
  bool eight_bit = false;    // a byte >= 0x80 anywhere (BODY=8BITMIME)
  bool utf8_header = false;  // ... in the header (SMTPUTF8, RFC 6532)
};

// Reads the message as a program gave it: LF or CRLF (bare CR and LF become CRLF); without
// ignore_dots a line holding only "." ends it (the rest is ignored); a leading mbox
// "From " line is dropped. Error::usage when no recipient was found.
base::Result<Prepared> prepare(std::string_view input, const Options& options);

// Address lists as a command line gives them: "a@x", "a@x, Bob <b@y>".
std::vector<std::string> split_recipients(std::string_view arg);

// RFC 3461 4 xtext (ENVID=, ORCPT=).
std::string xtext(std::string_view s);

// Who runs us (getuid(), its login name and the first part of its GECOS field).
struct Caller {
  int64_t uid = -1;
  std::string login;      // "" when the uid has no name
  std::string full_name;  // GECOS, up to the first comma
};
Caller caller();

// Connects to the local listener; Error::temporary (75) when it cannot ("the message
// was NOT accepted").
base::Result<base::UniqueFd> connect_unix(const std::string& path);

// Seen by -v: ">>> " for what is sent, "<<< " for what the server answers.
using Trace = std::function<void(std::string_view direction, std::string_view line)>;

// One SMTP transaction on `fd`: greeting, EHLO, MAIL FROM (SMTPUTF8 and BODY=8BITMIME as
// the content needs, RET/ENVID/NOTIFY when given), RCPT for each recipient, DATA. The
// envelope sender defaults to <login>@<the host the server greets as>, unqualified
// addresses get that host too; a message without From: gets one ("full name
// <sender>"). All or nothing: a refused recipient aborts the transaction. On success
// *queue_id (when not null) gets the id from "queued as ID".
base::Status submit(int fd, const Options& options, Prepared& message, const Caller& who,
                    const Trace& trace, std::string* queue_id = nullptr);

// -bs: relays an SMTP session between in/out and the socket until the server closes it
// (bare LF from the input becomes CRLF, so a here-document or a terminal works).
base::Status relay(int in, int out, int sock);

}  // namespace postern::smtp::sendmail
