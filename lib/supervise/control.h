// The supervisor's control socket: a Unix stream socket (mode 0600), one request line
// in, one JSON line out, then the supervisor closes the connection.
//
//   request   answer
//   status    {"ok":true,"pid":41,"ready":true,"services":[{"name":"smtp-listen",
//              "state":"ready","pid":42,"uptime":120,"restarts":0,"crash_loop":false,
//              "last_exit":null,"reason":""}, ...]}
//   reload    {"ok":true}            (as SIGHUP)
//   stop      {"ok":true}            (as SIGTERM; answered before stopping)
//   other     {"ok":false,"error":"unknown request ..."}
//
// last_exit is null before the first exit, else {"code":N} or {"signal":N}.
//
//   auto answer = control_request("/var/lib/postern/postern.sock", "status");
//   if (!answer) return answer.error();          // unavailable: no supervisor
//   auto st = decode_status(*answer);
//   std::cout << format_status_table(*st);
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::supervise {

enum class Request { kStatus, kReload, kStop };

// The request of one line ("status", "reload", "stop"; surrounding blanks and CR ignored).
std::optional<Request> parse_request(std::string_view line);

struct ServiceStatus {
  std::string name;
  std::string state;  // starting|ready|backoff|failed|stopping|stopped
  int64_t pid = 0;
  int64_t uptime = 0;  // seconds
  int64_t restarts = 0;
  bool crash_loop = false;
  std::optional<int> exit_code;    // last exit: code...
  std::optional<int> exit_signal;  // ... or signal
  std::string reason;              // why failed ("bad configuration")
};

struct SupervisorStatus {
  int64_t pid = 0;
  bool ready = false;  // every service ready
  std::vector<ServiceStatus> services;
};

// One JSON line each, ending in "\n".
std::string encode_status(const SupervisorStatus& s);
std::string encode_ok();
std::string encode_error(std::string_view message);

// Parses a status answer (Error::bad_data when it is not one; the supervisor's own error
// answer becomes Error::unavailable with its message).
base::Result<SupervisorStatus> decode_status(std::string_view json);
// Checks a reload/stop answer: {"ok":true}, or the error it carries.
base::Status decode_ok(std::string_view json);

// A table for people: NAME STATE PID UPTIME RESTARTS LAST-EXIT, one service a line.
std::string format_status_table(const SupervisorStatus& s);
// "exit 1", "signal 9", or "-".
std::string last_exit_text(const ServiceStatus& s);

// Sends `request` to the socket at `path` and returns the answer line. Error::unavailable
// when nothing listens there (missing socket, connection refused), Error::permission when
// it may not be opened, Error::temporary on a timeout.
base::Result<std::string> control_request(
    const std::string& path, std::string_view request,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace postern::supervise
