// SMTP commands and replies as text: parsing one command line, the MAIL FROM and RCPT TO
// arguments with their ESMTP parameters, mailbox syntax, xtext, and formatting replies.
// Pure functions, no I/O: the session (session.h) and tests use them.
//
//   auto c = parse_command("MAIL FROM:<ann@example.org> SIZE=1200 BODY=8BITMIME");
//   // c->verb == Verb::kMail, c->arg == "FROM:<ann@example.org> SIZE=1200 BODY=8BITMIME"
//   auto m = parse_mail(c->arg, {.size = true, .eightbitmime = true});
//   // m->sender == "ann@example.org", *m->size == 1200, m->body == Body::k8BitMime
//   std::string r = format_reply(250, "2.1.0", "ok");   // "250 2.1.0 ok\r\n"
//
// Errors are base::Error values that carry the reply to send (Error::smtp_reply()):
//   501 5.5.4  syntax error in parameters or arguments (RFC 5321 4.2.3)
//   555 5.5.4  MAIL/RCPT parameter not recognized or not implemented (RFC 5321 4.1.1.11)
//   553 5.1.3  / 501 5.1.7  bad recipient / sender address syntax (RFC 3463)
//   552 5.3.4  SIZE= larger than the limit (RFC 1870 6)
//   553 5.6.7  non-ASCII address without SMTPUTF8 (RFC 6531 3.5)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "store/queue.h"

namespace postern::smtp {

enum class Verb {
  kHelo, kEhlo, kLhlo, kMail, kRcpt, kData, kBdat, kRset, kNoop, kQuit,
  kVrfy, kExpn, kHelp, kStarttls, kAuth, kUnknown
};

struct Command {
  Verb verb = Verb::kUnknown;
  std::string name;  // the verb as sent, upper-cased ("MAIL"); the first word for kUnknown
  std::string arg;   // everything after the verb and the spaces that follow it
};

// Parses one command line without its CRLF. Verbs are case-insensitive. "MAIL FROM:" and
// "RCPT TO:" keep "FROM:..." / "TO:..." in arg. Never fails: unknown verbs give kUnknown.
Command parse_command(std::string_view line);

// Which parameters the server offers (what EHLO announced); a parameter that is not
// offered is refused with 555 5.5.4.
struct Offered {
  bool size = false;
  bool eightbitmime = false;
  bool binarymime = false;  // with CHUNKING (RFC 3030)
  bool smtputf8 = false;
  bool dsn = false;
  bool requiretls = false;  // only on TLS sessions (RFC 8689 4.1)
  bool auth = false;        // AUTH= on MAIL (RFC 4954 5)
  uint64_t max_size = 0;    // 0: no limit checked here
};

struct MailParams {
  std::string sender;  // "" for the null reverse-path <>
  std::optional<uint64_t> size;
  store::queue::Body body = store::queue::Body::k7Bit;
  bool smtputf8 = false;
  store::queue::Ret ret = store::queue::Ret::kDefault;
  std::string envid;  // xtext-decoded
  bool requiretls = false;
  std::optional<std::string> auth;  // AUTH= value, xtext-decoded ("<>" kept as "<>")
};

// Parses "FROM:<path> [params]" (RFC 5321 4.1.1.2; a space after the colon is tolerated,
// as most servers do; source routes "@a,@b:" are dropped per RFC 5321 C).
base::Result<MailParams> parse_mail(std::string_view arg, const Offered& offered);

struct RcptParams {
  std::string address;  // never empty; "postmaster" alone (RFC 5321 4.5.1) is kept as is
  std::string orcpt;    // "rfc822;addr" with the address xtext-decoded; "" if none
  unsigned notify = 0;  // store::queue::Notify bits; NEVER with anything else is 501
};

// Parses "TO:<path> [params]" (RFC 5321 4.1.1.3, RFC 3461 4.1/4.2).
base::Result<RcptParams> parse_rcpt(std::string_view arg, const Offered& offered);

// RFC 5321 4.1.2 Mailbox (Local-part "@" domain or address literal), dot-atom or quoted
// local part; with utf8, RFC 6531 3.3 UTF-8 in both parts (valid UTF-8 only).
// Lengths per RFC 5321 4.5.3.1: local part <= 64, domain <= 255 octets.
bool valid_mailbox(std::string_view address, bool utf8);
// Whether any byte is >= 0x80.
bool has_8bit(std::string_view s);

// RFC 3461 4: "+XX" hex escapes. decode: nullopt for malformed xtext.
std::optional<std::string> xtext_decode(std::string_view s);
std::string xtext_encode(std::string_view s);

// "250 2.1.0 text\r\n"; a text holding "\n" gives a multi-line reply ("250-..." lines,
// each with the enhanced code when one is given). An empty enhanced code is left out.
std::string format_reply(int code, std::string_view enhanced, std::string_view text);
// The reply an Error carries, as format_reply() would write it.
std::string format_reply(const base::Error& e);

}  // namespace postern::smtp
