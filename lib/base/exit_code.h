// The exit-code table shared by every Postern program.
//
// Each code is a sysexits(3) value paired with the SMTP reply and enhanced status
// (RFC 3463) a server gives when that outcome happens inside a session, and with
// whether the condition is temporary. One table, so a filter run by an MTA and the
// same stage run in-process inside smtp-listen answer the same way.
//
//   const ExitInfo& info = exit_info(ExitCode::kTempFail);
//   // info.smtp_code == 451, info.enhanced == "4.3.0", info.temporary == true
#pragma once

#include <span>
#include <string_view>

namespace postern::base {

enum class ExitCode : int {
  kOk = 0,
  kNo = 1,            // "checked and the answer is no" (only under --check-style flags)
  kUsage = 64,        // EX_USAGE
  kDataErr = 65,      // EX_DATAERR
  kNoUser = 67,       // EX_NOUSER
  kUnavailable = 69,  // EX_UNAVAILABLE
  kSoftware = 70,     // EX_SOFTWARE
  kTempFail = 75,     // EX_TEMPFAIL
  kNoPerm = 77,       // EX_NOPERM
  kConfig = 78,       // EX_CONFIG
};

struct ExitInfo {
  ExitCode code;
  std::string_view name;      // sysexits name, e.g. "EX_TEMPFAIL"
  int smtp_code;              // RFC 5321 reply code
  std::string_view enhanced;  // RFC 3463 enhanced status code
  bool temporary;             // a client may retry later
  std::string_view meaning;   // one line for man pages and logs
};

// The whole table, in ascending code order (man pages print it from here).
std::span<const ExitInfo> exit_table();

// The entry for `code`; every ExitCode value has one.
const ExitInfo& exit_info(ExitCode code);

inline int to_int(ExitCode c) { return static_cast<int>(c); }

}  // namespace postern::base
