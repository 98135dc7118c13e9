// Errors as values.
//
// An Error carries everything a caller at any layer needs to act on a failure: the
// exit code a tool should end with, whether retrying may help, the SMTP reply and
// enhanced status a server should send, and a message for the log. Result<T> holds a
// T or an Error (std::expected is C++23; this is the subset Postern uses).
//
//   Result<std::string> read_key(const std::string& path) {
//     if (path.empty()) return Error::usage("no key file given");
//     ...
//     return contents;
//   }
//   auto key = read_key(p);
//   if (!key) return key.error();        // propagate
//   use(*key);
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

#include "base/exit_code.h"

namespace postern::base {

class Error {
 public:
  Error(ExitCode code, std::string message);
  // Overrides the table's SMTP pairing (for example 452 4.2.2 for "over quota").
  Error(ExitCode code, int smtp_code, std::string enhanced, std::string message);

  static Error usage(std::string m) { return {ExitCode::kUsage, std::move(m)}; }
  static Error bad_data(std::string m) { return {ExitCode::kDataErr, std::move(m)}; }
  static Error no_user(std::string m) { return {ExitCode::kNoUser, std::move(m)}; }
  static Error unavailable(std::string m) { return {ExitCode::kUnavailable, std::move(m)}; }
  static Error internal(std::string m) { return {ExitCode::kSoftware, std::move(m)}; }
  static Error temporary(std::string m) { return {ExitCode::kTempFail, std::move(m)}; }
  static Error permission(std::string m) { return {ExitCode::kNoPerm, std::move(m)}; }
  static Error config(std::string m) { return {ExitCode::kConfig, std::move(m)}; }
  // An OS error: message plus strerror(err); EINTR/EAGAIN/ENOSPC/EIO... are temporary.
  static Error from_errno(int err, std::string what);

  ExitCode code() const { return code_; }
  bool temporary() const { return temporary_; }
  int smtp_code() const { return smtp_code_; }
  const std::string& enhanced() const { return enhanced_; }
  const std::string& message() const { return message_; }

  // "451 4.3.0 message" — what an SMTP server would reply.
  std::string smtp_reply() const;
  // Prefixes context: "reading foo: " + message.
  Error with_context(const std::string& context) const;

 private:
  ExitCode code_;
  bool temporary_;
  int smtp_code_;
  std::string enhanced_;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T value_or(T other) const { return ok() ? std::get<0>(v_) : std::move(other); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), has_error_(true) {}  // NOLINT

  bool ok() const { return !has_error_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { assert(has_error_); return err_; }

 private:
  Error err_{ExitCode::kOk, ""};
  bool has_error_ = false;
};

using Status = Result<void>;

}  // namespace postern::base
