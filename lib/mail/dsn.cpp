// Delivery status notifications: RFC 3464 (the delivery-status fields), RFC 6522 (the
// multipart/report container), RFC 3462 (text/rfc822-headers), RFC 3461 4.3 (RET),
// RFC 6533 (the internationalized forms), RFC 3834 5 (Auto-Submitted).
#include "mail/dsn.h"

#include <openssl/rand.h>

#include <cstdio>
#include <random>

#include "mail/header.h"
#include "mail/writer.h"

namespace postern::mail::dsn {
namespace {

constexpr size_t kMaxDiagnostic = 900;  // an SMTP reply line is at most 512 (RFC 5321 4.5.3.1.5)
constexpr size_t kMaxLine = 998;        // RFC 5322 2.1.1

bool is_ascii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

// One line of text for a field value: controls (CR and LF included) become spaces.
std::string one_line(std::string_view s, size_t max = kMaxDiagnostic) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7F ? ' ' : c);
  }
  const size_t b = out.find_first_not_of(' ');
  if (b == std::string::npos) return {};
  out.erase(0, b);
  out.erase(out.find_last_not_of(' ') + 1);
  if (out.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
    out.resize(cut);
  }
  return out;
}

std::string random_hex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    for (char& c : raw) c = static_cast<char>(rng());
  }
  std::string out;
  char buf[3];
  for (char c : raw) {
    std::snprintf(buf, sizeof buf, "%02x", static_cast<unsigned char>(c));
    out += buf;
  }
  return out;
}

// RFC 3463 2: class "." subject "." detail; anything else is replaced by the generic code
// of the action's class.
std::string status_code(const RecipientReport& r) {
  const std::string s = one_line(r.status, 16);
  size_t i = 0, dots = 0, digits = 0;
  bool ok = !s.empty() && (s[0] == '2' || s[0] == '4' || s[0] == '5');
  for (; ok && i < s.size(); ++i) {
    if (s[i] == '.') {
      ok = digits > 0 && ++dots <= 2;
      digits = 0;
    } else {
      ok = s[i] >= '0' && s[i] <= '9' && ++digits <= 3;
    }
  }
  if (ok && dots == 2 && digits > 0) return s;
  switch (r.action) {
    case Action::kFailed: return "5.0.0";
    case Action::kDelayed: return "4.0.0";
    default: return "2.0.0";
  }
}

// "rfc822;x@y" as given (RFC 3464 2.3.1); a bare address gets the type it needs.
std::string original_recipient(std::string_view orcpt) {
  const std::string v = one_line(orcpt);
  if (v.find(';') != std::string::npos) return v;
  return (is_ascii(v) ? "rfc822;" : "utf-8;") + v;
}

bool is_smtp_reply(std::string_view d) {
  return d.size() >= 3 && d[0] >= '2' && d[0] <= '5' && d[1] >= '0' && d[1] <= '9' &&
         d[2] >= '0' && d[2] <= '9' && (d.size() == 3 || d[3] == ' ' || d[3] == '-');
}

// The original, CRLF, split into its header block (fields with their line ends, no blank
// line) and the whole message.
struct Original {
  std::string message;
  size_t header_end = 0;
  std::string_view header() const { return std::string_view(message).substr(0, header_end); }
  bool header_8bit = false, body_8bit = false;
  bool sendable = true;  // no NUL, no line over 998 octets
};

Original split_original(std::string_view original) {
  Original o;
  o.message = to_crlf(std::string(original));
  const std::string_view m = o.message;
  size_t header_end;
  if (m.starts_with("\r\n")) {
    header_end = 0;
  } else if (size_t blank = m.find("\r\n\r\n"); blank != std::string_view::npos) {
    header_end = blank + 2;
  } else {
    if (!m.empty() && !m.ends_with("\r\n")) o.message += "\r\n";  // a header with no end
    header_end = o.message.size();
  }
  o.header_end = header_end;
  o.header_8bit = !is_ascii(o.header());
  o.body_8bit = !is_ascii(std::string_view(o.message).substr(header_end));
  size_t line = 0;
  for (char c : o.message) {
    if (c == '\0') o.sendable = false;
    if (c == '\n') {
      line = 0;
    } else if (++line > kMaxLine + 1) {  // + the CR of the line end
      o.sendable = false;
    }
  }
  return o;
}

// The human-readable part (RFC 6522 3: the first part of the report).
std::string human_text(const Report& r, const std::string& postmaster, bool any_failed,
                       bool any_delayed, bool any_success, std::string_view returned,
                       size_t original_size, size_t max_original) {
  std::string t = "This is the mail system at " + r.reporting_mta + ".\n\n";
  if (any_failed) {
    t += "Your message could not be delivered to one or more of its recipients,\n"
         "and the mail system has stopped trying. The reasons are given below.\n\n";
  }
  if (any_delayed) {
    t += "Your message has not been delivered yet to one or more of its\n"
         "recipients. The mail system keeps trying and will tell you if it gives\n"
         "up; you do not need to send the message again.\n\n";
  }
  if (any_success) {
    t += "As you asked, this report tells you that your message reached the\n"
         "recipients listed as delivered below.\n\n";
  }
  for (const auto& rc : r.recipients) {
    t += "<" + one_line(rc.final_recipient) + ">: ";
    switch (rc.action) {
      case Action::kFailed: t += "delivery failed"; break;
      case Action::kDelayed: t += "delivery delayed"; break;
      case Action::kDelivered: t += "delivered"; break;
      case Action::kRelayed:
        t += "relayed to a system that does not send delivery reports";
        break;
      case Action::kExpanded: t += "delivered, and forwarded on to further addresses"; break;
    }
    t += " (" + status_code(rc) + ")\n";
    const std::string diag = one_line(rc.diagnostic);
    const std::string mta = one_line(rc.remote_mta, 255);
    if (!diag.empty()) {
      t += mta.empty() ? "    The reason:\n        " + diag + "\n"
                       : "    The server " + mta + " replied:\n        " + diag + "\n";
    } else if (!mta.empty()) {
      t += "    Server: " + mta + "\n";
    }
    if (rc.last_attempt != 0) t += "    Last attempt: " + format_date(rc.last_attempt, 0) + "\n";
    if (rc.action == Action::kDelayed && rc.will_retry_until != 0) {
      t += "    Still trying until: " + format_date(rc.will_retry_until, 0) + "\n";
    }
  }
  t += "\n";
  if (!r.queue_id.empty()) t += "Queue ID: " + one_line(r.queue_id, 255) + "\n";
  if (r.arrival != 0) t += "Queued at: " + format_date(r.arrival, 0) + "\n";
  t += "If you need help, write to " + postmaster +
       (r.queue_id.empty() ? ".\n\n" : "\nand quote the queue ID.\n\n");
  if (returned == "full") {
    t += "Your message is attached below.\n";
  } else if (returned == "header") {
    if (r.full_message) {
      t += "Only the header of your message is attached: the whole message\n(" +
           std::to_string(original_size) + " bytes) " +
           (original_size > max_original
                ? "is larger than the " + std::to_string(max_original) +
                      " bytes returned in full.\n"
                : std::string("has a NUL byte or a line too long to send back.\n"));
    } else {
      t += "The header of your message is attached below.\n";
    }
  } else {
    t += "Your message is not attached: even its header is larger than\n" +
         std::to_string(max_original) + " bytes.\n";
  }
  return t;
}

// A field of the status part, folded (RFC 3464 2.1: the syntax of RFC 822 header fields).
void field(std::string& out, std::string_view name, std::string_view value) {
  out += fold_header(name, value);
}

}  // namespace

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kFailed: return "failed";
    case Action::kDelayed: return "delayed";
    case Action::kDelivered: return "delivered";
    case Action::kRelayed: return "relayed";
    case Action::kExpanded: return "expanded";
  }
  return "failed";
}

std::string build(const Report& r, std::string_view original, int64_t now,
                  size_t max_original) {
  const Original orig = split_original(original);
  const std::string mta = one_line(r.reporting_mta, 255);
  const std::string postmaster =
      r.postmaster.find('@') != std::string::npos
          ? one_line(r.postmaster, 255)
          : one_line(r.postmaster.empty() ? "postmaster" : r.postmaster, 64) + "@" + mta;

  bool any_failed = false, any_delayed = false, any_success = false;
  bool report_ascii = is_ascii(r.envid) && is_ascii(mta) && is_ascii(r.queue_id);
  for (const auto& rc : r.recipients) {
    any_failed |= rc.action == Action::kFailed;
    any_delayed |= rc.action == Action::kDelayed;
    any_success |= rc.action != Action::kFailed && rc.action != Action::kDelayed;
    report_ascii &= is_ascii(rc.final_recipient) && is_ascii(rc.original_recipient) &&
                    is_ascii(rc.remote_mta) && is_ascii(rc.diagnostic);
  }
  // RFC 6533: the internationalized report for an SMTPUTF8 original or non-ASCII fields.
  const bool global = orig.header_8bit || !report_ascii;

  // What of the original goes back (RFC 3461 4.3, RFC 3462).
  std::string_view returned = "none";
  std::string_view returned_bytes;
  if (r.full_message && orig.message.size() <= max_original && orig.sendable) {
    returned = "full";
    returned_bytes = orig.message;
  } else if (orig.header_end <= max_original) {
    returned = "header";
    returned_bytes = orig.header();
  }
  const bool returned_8bit = returned == "full" ? orig.header_8bit || orig.body_8bit
                             : returned == "header" ? orig.header_8bit
                                                    : false;

  // Part 1: the explanation for people, 7-bit.
  const std::string text = human_text(r, postmaster, any_failed, any_delayed, any_success,
                                      returned, orig.message.size(), max_original);
  std::string part1 = "Content-Type: text/plain; charset=utf-8\r\n"
                      "Content-Description: Notification\r\n";
  bool plain = is_ascii(text);
  for (size_t i = 0, col = 0; plain && i < text.size(); ++i) {
    col = text[i] == '\n' ? 0 : col + 1;
    plain = col <= 76;
  }
  if (plain) {
    part1 += "Content-Transfer-Encoding: 7bit\r\n\r\n" + to_crlf(text);
  } else {
    part1 += "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + encode_quoted_printable(text);
  }

  // Part 2: the delivery status (RFC 3464 2.1-2.3).
  std::string status;
  if (!r.envid.empty()) field(status, "Original-Envelope-Id", one_line(r.envid, 255));
  field(status, "Reporting-MTA", "dns; " + mta);
  if (!r.queue_id.empty()) field(status, "X-Postern-Queue-ID", one_line(r.queue_id, 255));
  if (r.arrival != 0) field(status, "Arrival-Date", format_date(r.arrival, 0));
  for (const auto& rc : r.recipients) {
    status += "\r\n";  // RFC 3464 2.1: a blank line before each recipient's fields
    if (!rc.original_recipient.empty()) {
      field(status, "Original-Recipient", original_recipient(rc.original_recipient));
    }
    const std::string rcpt = one_line(rc.final_recipient, 512);
    field(status, "Final-Recipient", (is_ascii(rcpt) ? "rfc822; " : "utf-8; ") + rcpt);
    field(status, "Action", action_name(rc.action));
    field(status, "Status", status_code(rc));
    if (const std::string m = one_line(rc.remote_mta, 255); !m.empty()) {
      field(status, "Remote-MTA", "dns; " + m);
    }
    if (const std::string d = one_line(rc.diagnostic); !d.empty()) {
      field(status, "Diagnostic-Code", (is_smtp_reply(d) ? "smtp; " : "x-postern; ") + d);
    }
    if (rc.last_attempt != 0) field(status, "Last-Attempt-Date", format_date(rc.last_attempt, 0));
    if (rc.action == Action::kDelayed && rc.will_retry_until != 0) {
      field(status, "Will-Retry-Until", format_date(rc.will_retry_until, 0));
    }
  }
  std::string part2 = std::string("Content-Type: message/") +
                      (global ? "global-delivery-status" : "delivery-status") +
                      "\r\nContent-Description: Delivery report\r\n";
  if (!is_ascii(status)) part2 += "Content-Transfer-Encoding: 8bit\r\n";
  part2 += "\r\n" + status;

  // Part 3: the original, bytes as they are.
  std::string part3_head;
  if (returned == "full") {
    part3_head = std::string("Content-Type: message/") + (global ? "global" : "rfc822") +
                 "\r\nContent-Description: Undelivered message\r\n";
  } else if (returned == "header") {
    part3_head = std::string("Content-Type: ") +
                 (global ? "message/global-headers" : "text/rfc822-headers") +
                 "\r\nContent-Description: Undelivered message header\r\n";
  }
  if (returned_8bit) part3_head += "Content-Transfer-Encoding: 8bit\r\n";

  // RFC 2046 5.1.1: the boundary must not occur in any part. "=_" cannot appear in
  // quoted-printable text; the original is checked, in the rare case it holds one.
  std::string boundary;
  do {
    boundary = "=_dsn_" + random_hex(12);
  } while (returned_bytes.find(boundary) != std::string_view::npos ||
           status.find(boundary) != std::string::npos);

  const bool eight_bit = returned_8bit || !is_ascii(status);
  std::string out;
  out.reserve(part1.size() + part2.size() + returned_bytes.size() + 1024);
  out += "From: \"Mail Delivery System\" <MAILER-DAEMON@" + mta + ">\r\n";
  out += fold_header("To", one_line(r.sender, 512));
  out += fold_header("Subject", any_failed    ? "Undelivered Mail Returned to Sender"
                                : any_delayed ? "Delayed Mail (still being retried)"
                                              : "Successful Mail Delivery Report");
  out += fold_header("Date", format_date(now, 0));
  out += "Message-ID: <" + random_hex(8) + "." + std::to_string(now) + "@" + mta + ">\r\n";
  out += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 5
  out += "MIME-Version: 1.0\r\n";
  out += std::string("Content-Type: multipart/report; report-type=") +
         (global ? "global-delivery-status" : "delivery-status") + ";\r\n\tboundary=\"" +
         boundary + "\"\r\n";
  if (eight_bit) out += "Content-Transfer-Encoding: 8bit\r\n";
  out += "\r\nThis is a MIME-formatted delivery status notification (RFC 3464).\r\n";
  out += "\r\n--" + boundary + "\r\n" + part1;
  out += "\r\n--" + boundary + "\r\n" + part2;
  if (returned != "none") {
    out += "\r\n--" + boundary + "\r\n" + part3_head + "\r\n";
    out += returned_bytes;
  }
  out += "\r\n--" + boundary + "--\r\n";
  return out;
}

bool is_dsn(std::string_view message) {
  // Walk the top-level header fields (RFC 5322 2.2) up to the blank line.
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) return false;  // end of the header
    size_t next = eol + 1;
    // The field's folded continuation lines.
    while (next < message.size() && (message[next] == ' ' || message[next] == '\t')) {
      size_t e = message.find('\n', next);
      next = e == std::string_view::npos ? message.size() : e + 1;
    }
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (iequals(name, "Content-Type")) {
        const size_t value = pos + colon + 1;
        const ContentType ct =
            parse_content_type(message.substr(value, std::min(next, message.size()) - value));
        if (!ct.is("multipart", "report")) return false;
        const std::string* type = ct.param("report-type");
        return type != nullptr &&
               (iequals(*type, "delivery-status") || iequals(*type, "global-delivery-status"));
      }
    }
    pos = next;
  }
  return false;
}

}  // namespace postern::mail::dsn
