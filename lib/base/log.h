// Logging: one event per line on stderr (or a file reopened on SIGUSR1).
//
// Formats: `text` for people at a terminal ("msg-parse: error: x.eml: empty input"),
// `logfmt` (ts=… level=info prog=smtp-listen event=accept queue_id=…) and `json`.
// Every event names what happened; sessions and queue ids go in as fields.
//
//   log_configure({.format = LogFormat::kLogfmt, .program = "queue-run"});
//   log_info("delivered", {{"queue_id", id}, {"to", rcpt}});
//   log_error(err);   // an Error, with its exit code and SMTP status as fields
#pragma once

#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace postern::base {

enum class LogFormat { kText, kLogfmt, kJson };
enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

struct LogOptions {
  LogFormat format = LogFormat::kText;
  LogLevel level = LogLevel::kInfo;
  std::string program = "postern";
  std::string file;  // empty: stderr
};

// Parses "text", "logfmt", "json".
std::optional<LogFormat> parse_log_format(std::string_view s);

using LogField = std::pair<std::string_view, std::string_view>;

void log_configure(LogOptions options);
const LogOptions& log_options();
// Sends the log to the file `path` (appended to; created with mode 0640), or back to
// stderr when `path` is empty. When the file cannot be opened the log stays where it was.
Status log_to_file(const std::string& path);
// Reopens the log file (after rotation: logrotate moved it away, the next line goes to a
// new file at the same path); no-op on stderr. The descriptor changes: see log_fd().
Status log_reopen();
// Where log lines go now: STDERR_FILENO, or the open log file.
int log_fd();

void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields);
inline void log_debug(std::string_view e, std::initializer_list<LogField> f = {}) {
  log_event(LogLevel::kDebug, e, f);
}
inline void log_info(std::string_view e, std::initializer_list<LogField> f = {}) {
  log_event(LogLevel::kInfo, e, f);
}
inline void log_warn(std::string_view e, std::initializer_list<LogField> f = {}) {
  log_event(LogLevel::kWarn, e, f);
}
void log_error(const Error& error, std::initializer_list<LogField> fields = {});

// Formatting, exposed for tests.
std::string format_log_line(const LogOptions& o, std::string_view ts, LogLevel level,
                            std::string_view event, std::span<const LogField> fields);
// JSON string escaping (RFC 8259), without quotes.
std::string json_escape(std::string_view s);

}  // namespace postern::base
