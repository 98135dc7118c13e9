// DATA transparency and the line-ending policy (see data.h).
#include "smtp/data.h"

#include <cstring>

#include "mail/writer.h"

namespace postern::smtp {
namespace {

base::Error bare_cr_error() {
  // RFC 5321 2.3.8: CR and LF must only occur together as CRLF.
  return base::Error(base::ExitCode::kDataErr, 550, "5.5.2",
                     "message refused: bare CR in content (RFC 5321 2.3.8)");
}
base::Error bare_lf_error() {
  return base::Error(base::ExitCode::kDataErr, 550, "5.5.2",
                     "message refused: bare LF in content (RFC 5321 2.3.8)");
}
base::Error nul_error() {
  return base::Error(base::ExitCode::kDataErr, 550, "5.6.0",
                     "message refused: NUL byte in content (only BODY=BINARYMIME allows it)");
}

}  // namespace

base::Error too_big(uint64_t max_size) {
  return base::Error(base::ExitCode::kUnavailable, 552, "5.3.4",
                     "message too big (limit " + std::to_string(max_size) + " bytes)");
}

void DotReader::put(char c) {
  ++size_;
  if (policy_.max_size == 0 || size_ <= policy_.max_size) out_.push_back(c);
}

size_t DotReader::feed(std::string_view in) {
  size_t i = 0;
  const size_t n = in.size();
  while (i < n && !done_) {
    char c = in[i];
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') {
        ++i;
        // RFC 5321 4.5.2: a line holding a single "." (before unstuffing) ends the data,
        // when the line before it ended in CRLF as well.
        if (dot_line_ && line_empty_ && dot_after_crlf_) {
          done_ = true;
          break;
        }
        put('\r');
        put('\n');
        line_start_ = true;
        after_crlf_ = true;
        dot_line_ = false;
        line_empty_ = true;
        continue;
      }
      bare_cr_ = true;  // a CR without LF: kept, and the message is refused
      put('\r');
      line_empty_ = false;
      // `c` is processed below like any byte after the CR.
    }
    if (c == '\r') {
      pending_cr_ = true;
      ++i;
      continue;
    }
    if (c == '\n') {
      // A bare LF ends the line but never the data.
      bare_lf_ = true;
      put('\r');
      put('\n');
      line_start_ = true;
      after_crlf_ = false;
      dot_line_ = false;
      line_empty_ = true;
      ++i;
      continue;
    }
    if (line_start_) {
      line_start_ = false;
      if (c == '.') {  // transparency: the first dot of a line is removed
        dot_line_ = true;
        dot_after_crlf_ = after_crlf_;
        line_empty_ = true;
        ++i;
        continue;
      }
    }
    // A run of ordinary bytes up to the next CR or LF.
    size_t end = i;
    while (end < n && in[end] != '\r' && in[end] != '\n') ++end;
    std::string_view run = in.substr(i, end - i);
    if (!nul_ && std::memchr(run.data(), 0, run.size()) != nullptr) nul_ = true;
    size_ += run.size();
    if (policy_.max_size == 0) {
      out_.append(run);
    } else if (out_.size() < policy_.max_size) {
      out_.append(run.substr(0, std::min<uint64_t>(run.size(), policy_.max_size - out_.size())));
    }
    line_empty_ = false;
    i = end;
  }
  return i;
}

std::optional<base::Error> DotReader::problem() const {
  if (policy_.max_size != 0 && size_ > policy_.max_size) return too_big(policy_.max_size);
  if (bare_cr_) return bare_cr_error();
  if (bare_lf_ && policy_.bare_lf == BareLf::kReject) return bare_lf_error();
  if (nul_) return nul_error();
  return std::nullopt;
}

std::optional<base::Error> check_content(std::string& message, const ContentPolicy& policy) {
  if (policy.binary) return std::nullopt;
  if (std::memchr(message.data(), 0, message.size()) != nullptr) return nul_error();
  for (size_t p = message.find('\r'); p != std::string::npos; p = message.find('\r', p + 1)) {
    if (p + 1 >= message.size() || message[p + 1] != '\n') return bare_cr_error();
  }
  if (mail::find_bare_lf(message) != std::string::npos) {
    if (policy.bare_lf == BareLf::kReject) return bare_lf_error();
    message = mail::lf_to_crlf(message);
  }
  return std::nullopt;
}

}  // namespace postern::smtp
