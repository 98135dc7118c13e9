#include "base/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <vector>

#include "base/clock.h"
#include "base/fd.h"

namespace postern::base {
namespace {

struct LogState {
  std::mutex mu;
  LogOptions options;
  int fd = STDERR_FILENO;
};

LogState& state() {
  static LogState s;
  return s;
}

std::string_view level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

void append_logfmt_value(std::string& out, std::string_view v) {
  if (!needs_quotes(v)) {
    out += v;
    return;
  }
  out += '"';
  out += json_escape(v);
  out += '"';
}

Status open_log(LogState& s) {
  if (s.options.file.empty()) {
    if (s.fd != STDERR_FILENO) ::close(s.fd);
    s.fd = STDERR_FILENO;
    return {};
  }
  int fd = ::open(s.options.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return Error::from_errno(errno, "open log " + s.options.file);
  if (s.fd != STDERR_FILENO) ::close(s.fd);
  s.fd = fd;
  return {};
}

}  // namespace

std::optional<LogFormat> parse_log_format(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "logfmt") return LogFormat::kLogfmt;
  if (s == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void log_configure(LogOptions options) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.options = std::move(options);
  (void)open_log(s);
}

const LogOptions& log_options() { return state().options; }

Status log_to_file(const std::string& path) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  std::string previous = std::move(s.options.file);
  s.options.file = path;
  Status st = open_log(s);
  if (!st) s.options.file = std::move(previous);
  return st;
}

Status log_reopen() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  return open_log(s);
}

int log_fd() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  return s.fd;
}

std::string format_log_line(const LogOptions& o, std::string_view ts, LogLevel level,
                            std::string_view event, std::span<const LogField> fields) {
  std::string line;
  switch (o.format) {
    case LogFormat::kText:
      line += o.program;
      line += ": ";
      if (level != LogLevel::kInfo) {
        line += level_name(level);
        line += ": ";
      }
      line += event;
      for (const auto& [k, v] : fields) {
        line += ' ';
        line += k;
        line += '=';
        append_logfmt_value(line, v);
      }
      break;
    case LogFormat::kLogfmt:
      line += "ts=";
      line += ts;
      line += " level=";
      line += level_name(level);
      line += " prog=";
      append_logfmt_value(line, o.program);
      line += " event=";
      append_logfmt_value(line, event);
      for (const auto& [k, v] : fields) {
        line += ' ';
        line += k;
        line += '=';
        append_logfmt_value(line, v);
      }
      break;
    case LogFormat::kJson:
      line += "{\"ts\":\"";
      line += ts;
      line += "\",\"level\":\"";
      line += level_name(level);
      line += "\",\"prog\":\"";
      line += json_escape(o.program);
      line += "\",\"event\":\"";
      line += json_escape(event);
      line += '"';
      for (const auto& [k, v] : fields) {
        line += ",\"";
        line += json_escape(k);
        line += "\":\"";
        line += json_escape(v);
        line += '"';
      }
      line += '}';
      break;
  }
  line += '\n';
  return line;
}

namespace {

void emit(LogLevel level, std::string_view event, std::span<const LogField> fields) {
  auto& s = state();
  if (level < s.options.level) return;
  std::string line =
      format_log_line(s.options, rfc3339(system_clock().now()), level, event, fields);
  std::lock_guard lock(s.mu);
  (void)write_all(s.fd, line);  // one write per event keeps lines whole between processes
}

}  // namespace

void log_event(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  emit(level, event, std::span<const LogField>(fields.begin(), fields.size()));
}

void log_error(const Error& error, std::initializer_list<LogField> fields) {
  std::vector<LogField> all(fields.begin(), fields.end());
  if (state().options.format == LogFormat::kText) {
    emit(LogLevel::kError, error.message(), all);
    return;
  }
  std::string code = std::to_string(to_int(error.code()));
  std::string smtp = std::to_string(error.smtp_code()) + " " + error.enhanced();
  all.insert(all.begin(), {{"msg", error.message()},
                           {"exit", code},
                           {"smtp", smtp},
                           {"temporary", error.temporary() ? "yes" : "no"}});
  emit(LogLevel::kError, "error", all);
}

}  // namespace postern::base
