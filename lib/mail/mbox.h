// mbox: reading mboxo/mboxrd files and writing mboxrd (the pure format code).
//
//   From ann@example.org Sat Nov 28 23:29:27 2026     <- From_ line: envelope sender, asctime
//   Status: RO                                          <- metadata (UW-IMAP/Dovecot/mutt)
//   X-Status: AF
//   X-Keywords: junk $label1
//   Subject: hi
//
//   >From here on, a body line that began with "From " (mboxrd: one more '>')
//                                                       <- blank line ends the message
//
//   for (auto& m : mbox::split(file_bytes)) { ... m.bytes, m.keywords, m.received_at ... }
//   out += mbox::format_message("ann@example.org", received_at, keywords, bytes);
//
// Reading. A message starts at a "From " line at the start of the file or after an empty
// line whose end carries an asctime date (so an unquoted "From the desk of" in a body,
// as mboxo writers leave them, does not split a message). The blank line before the next
// From_ line is the separator, not part of the message. Lines matching ^>+From  lose one
// '>' (mboxrd); a file written by an mboxo writer thereby also loses the '>' of body lines
// that were ">From " to begin with, which mboxo cannot tell apart.
//
// Metadata headers. Dovecot (and UW-IMAP, mutt, Thunderbird) keep flags in Status (R:
// seen, O: old), X-Status (A: answered, F: flagged, T: draft, D: deleted) and X-Keywords
// (space-separated), with X-UID, X-IMAP, X-IMAPbase and Content-Length for their own
// bookkeeping, and hide all of them from IMAP clients. The reader turns them into
// keywords and removes them from the message's header section, as Dovecot does; the
// writer adds Status/X-Status/X-Keywords right after the From_ line.
//
// Bytes. Messages are returned with the line ends of the file; format_message() writes
// the bytes it is given. Conversion between CRLF and LF is the caller's decision.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postern::mail::mbox {

struct Message {
  std::string sender;       // the From_ line's address ("MAILER-DAEMON" when missing)
  int64_t received_at = 0;  // the From_ line's date (UTC); 0 when it has none we can read
  std::string bytes;        // un-quoted, metadata headers removed
  std::vector<std::string> keywords;  // JMAP names, sorted
  size_t line = 0;          // 1-based line of the From_ line in the file
};

// Whether the file starts like an mbox ("From " then a From_ line).
bool looks_like_mbox(std::string_view file);

// Parses the date at the end of a From_ line ("From a@b Thu Nov 28 23:29:27 2026",
// also with seconds missing, a numeric zone or zone name before or after the year, as
// various writers produce). Returns Unix seconds; nullopt when there is no date.
std::optional<int64_t> parse_from_line_date(std::string_view line);

// The messages of an mbox file, in order. Text before the first From_ line is ignored.
std::vector<Message> split(std::string_view file);

// mboxrd quoting of a message body for writing, and its inverse.
std::string quote(std::string_view bytes);    // ^>*From  -> >^>*From
std::string unquote(std::string_view bytes);  // ^>+From  -> one '>' less

// Keywords from the metadata fields' values (nullopt: field absent).
std::vector<std::string> keywords_from_status(std::optional<std::string_view> status,
                                              std::optional<std::string_view> x_status,
                                              std::optional<std::string_view> x_keywords);

// Removes Status, X-Status, X-Keywords, X-UID, X-IMAP, X-IMAPbase and Content-Length from
// the header section (only there), returning the keywords found in them.
std::vector<std::string> strip_metadata(std::string& bytes);

// "From SENDER Sat Nov 28 23:29:27 2026\n" in UTC.
std::string from_line(std::string_view sender, int64_t unix_time);

// One mboxrd entry: From_ line, metadata fields for `keywords` (Status: R when $seen, O
// always; X-Status: A F T D; X-Keywords: the rest), the quoted message and the blank
// separator line. A message not ending in a newline gets one (the format needs it).
// The metadata fields use LF; `bytes` should use LF too.
std::string format_message(std::string_view sender, int64_t received_at,
                           const std::vector<std::string>& keywords, std::string_view bytes);

}  // namespace postern::mail::mbox
