// The message content of an SMTP transaction: the DATA reader (RFC 5321 4.5.2
// transparency, end of data) and the content policy that defends against SMTP smuggling.
// Pure code over byte strings, fed as the bytes arrive.
//
// Policy (smtp-listen(8), "LINE ENDINGS"):
//   - DATA ends only at <CRLF>.<CRLF>: the line before the dot must end in CRLF too.
//     "\n.\n", "\n.\r\n", "\r.\r", "\r\n.\r" and anything else are content.
//   - A bare LF (not after CR) ends a line: with BareLf::kNormalize (the default) the
//     line is stored with CRLF, with BareLf::kReject the message is refused (550 5.6.0).
//   - A bare CR (not before LF) refuses the message (550 5.6.0): no mail needs one, and
//     next hops disagree on what it means.
//   - A NUL byte refuses the message (550 5.6.0) unless the body is BINARYMIME.
//   - A leading dot is removed from every line (RFC 5321 4.5.2), whatever ends the line.
// So what is queued has CRLF line ends only, no line is a lone "." that a next hop could
// read as the end, and it is sent on with dot-stuffing: one message in, one message out.
// BDAT chunks (RFC 3030) are not dot-stuffed; check_content() applies the same line-end
// policy to the whole message after the LAST chunk.
//
//   DotReader r({.max_size = 35 << 20});
//   size_t used = r.feed(buffer);               // stops right after the end of data
//   if (r.done()) { if (auto e = r.problem()) reply(*e); else queue(r.take()); }
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::smtp {

enum class BareLf { kNormalize, kReject };

struct ContentPolicy {
  BareLf bare_lf = BareLf::kNormalize;
  bool binary = false;    // BODY=BINARYMIME: NUL, bare CR and bare LF are data
  uint64_t max_size = 0;  // 0: unlimited; beyond it the rest is read and discarded
};

class DotReader {
 public:
  explicit DotReader(ContentPolicy policy) : policy_(policy) {}
  // Consumes bytes up to and including the end-of-data line; returns how many it used
  // (less than in.size() only when done() became true).
  size_t feed(std::string_view in);
  bool done() const { return done_; }
  // Why the message must be refused (set once done()): too big, bare CR/LF, NUL.
  std::optional<base::Error> problem() const;
  // Bytes of content seen (after unstuffing), also those discarded beyond max_size.
  uint64_t size() const { return size_; }
  std::string take() { return std::move(out_); }

 private:
  void put(char c);
  ContentPolicy policy_;
  std::string out_;
  uint64_t size_ = 0;
  bool line_start_ = true;   // the previous byte ended a line (DATA's CRLF counts)
  bool after_crlf_ = true;   // ... and that line ended in CRLF, not a bare LF
  bool dot_line_ = false;    // this line began with a (removed) dot
  bool dot_after_crlf_ = false;  // ... and the line before it ended in CRLF
  bool line_empty_ = true;   // nothing but that dot on this line yet
  bool pending_cr_ = false;
  bool done_ = false;
  bool bare_cr_ = false;
  bool bare_lf_ = false;
  bool nul_ = false;
};

// The policy above over a whole message (BDAT): normalizes bare LF in place, or returns the
// error that refuses it. Size is checked by the caller.
std::optional<base::Error> check_content(std::string& message, const ContentPolicy& policy);

// The error for a message over max_size: 552 5.3.4.
base::Error too_big(uint64_t max_size);

}  // namespace postern::smtp
