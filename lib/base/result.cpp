#include "base/result.h"

#include <cerrno>
#include <cstring>

namespace postern::base {

Error::Error(ExitCode code, std::string message)
    : code_(code),
      temporary_(exit_info(code).temporary),
      smtp_code_(exit_info(code).smtp_code),
      enhanced_(exit_info(code).enhanced),
      message_(std::move(message)) {}

Error::Error(ExitCode code, int smtp_code, std::string enhanced, std::string message)
    : code_(code),
      temporary_(smtp_code >= 400 && smtp_code < 500),
      smtp_code_(smtp_code),
      enhanced_(std::move(enhanced)),
      message_(std::move(message)) {}

Error Error::from_errno(int err, std::string what) {
  std::string msg = std::move(what) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
      return Error(ExitCode::kUnavailable, std::move(msg));
    case EACCES:
    case EPERM:
    case EROFS:
      return Error(ExitCode::kNoPerm, std::move(msg));
    default:  // EIO, ENOSPC, EDQUOT, EINTR, EAGAIN, EMFILE, ...: retrying may help
      return Error(ExitCode::kTempFail, std::move(msg));
  }
}

std::string Error::smtp_reply() const {
  return std::to_string(smtp_code_) + " " + enhanced_ + " " + message_;
}

Error Error::with_context(const std::string& context) const {
  Error e = *this;
  e.message_ = context + ": " + message_;
  return e;
}

}  // namespace postern::base
