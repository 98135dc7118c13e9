#include "base/exit_code.h"

#include <array>

namespace postern::base {
namespace {

// Pairings follow what Postfix's sys_exits.c reports for the same sysexits, except that
// internal errors (70) and configuration errors (78) are temporary for SMTP clients: a
// server bug must make the sender retry, never lose or bounce the message.
constexpr std::array<ExitInfo, 10> kTable{{
    {ExitCode::kOk, "EX_OK", 250, "2.0.0", false, "success"},
    {ExitCode::kNo, "EX_NO", 550, "5.7.1", false, "checked, and the answer is no"},
    {ExitCode::kUsage, "EX_USAGE", 501, "5.5.4", false, "command line usage error"},
    {ExitCode::kDataErr, "EX_DATAERR", 554, "5.6.0", false, "input data is malformed"},
    {ExitCode::kNoUser, "EX_NOUSER", 550, "5.1.1", false, "no such user"},
    {ExitCode::kUnavailable, "EX_UNAVAILABLE", 554, "5.3.0", false, "service unavailable"},
    {ExitCode::kSoftware, "EX_SOFTWARE", 451, "4.3.0", true, "internal software error"},
    {ExitCode::kTempFail, "EX_TEMPFAIL", 451, "4.3.0", true, "temporary failure; retry later"},
    {ExitCode::kNoPerm, "EX_NOPERM", 550, "5.7.1", false, "permission denied"},
    {ExitCode::kConfig, "EX_CONFIG", 451, "4.3.5", true, "configuration error"},
}};

}  // namespace

std::span<const ExitInfo> exit_table() { return kTable; }

const ExitInfo& exit_info(ExitCode code) {
  for (const auto& e : kTable) {
    if (e.code == code) return e;
  }
  return kTable[6];  // unreachable for valid enum values; treat as internal error
}

}  // namespace postern::base
