#include "supervise/logline.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <vector>

namespace postern::supervise {
namespace {

bool logfmt_needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

std::string logfmt_value(std::string_view v) {
  if (!logfmt_needs_quotes(v)) return std::string(v);
  return "\"" + base::json_escape(v) + "\"";
}

// End of a logfmt value starting at `pos` (quoted with backslash escapes, or up to a space).
size_t logfmt_value_end(std::string_view line, size_t pos) {
  if (pos < line.size() && line[pos] == '"') {
    for (size_t i = pos + 1; i < line.size(); ++i) {
      if (line[i] == '\\') {
        ++i;
      } else if (line[i] == '"') {
        return i + 1;
      }
    }
    return line.size();
  }
  size_t sp = line.find(' ', pos);
  return sp == std::string_view::npos ? line.size() : sp;
}

// Position of `key=` at the start of a logfmt token, or npos.
size_t logfmt_key(std::string_view line, std::string_view key) {
  std::string needle = std::string(key) + "=";
  if (line.substr(0, needle.size()) == needle) return 0;
  size_t at = line.find(" " + needle);
  return at == std::string_view::npos ? at : at + 1;
}

// The end of the JSON string starting at `pos` (which holds the opening quote).
size_t json_string_end(std::string_view line, size_t pos) {
  for (size_t i = pos + 1; i < line.size(); ++i) {
    if (line[i] == '\\') {
      ++i;
    } else if (line[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

std::string wrap(std::string_view line, std::string_view service, base::LogFormat format,
                 std::string_view ts, bool truncated) {
  base::LogOptions o{.format = format, .program = "postern"};
  std::vector<base::LogField> fields = {{"service", service}, {"line", line}};
  if (truncated) fields.push_back({"truncated", "true"});
  return base::format_log_line(o, ts, base::LogLevel::kWarn, "output", fields);
}

}  // namespace

std::string decorate_line(std::string_view line, std::string_view service, base::LogFormat format,
                          std::string_view ts, bool truncated) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  switch (format) {
    case base::LogFormat::kText: {
      // A service's own text lines already start with "NAME: ": not said twice.
      std::string prefix = std::string(service) + ": ";
      std::string out = line.starts_with(prefix) ? std::string(line) : prefix + std::string(line);
      if (truncated) out += " [truncated]";
      return out + "\n";
    }
    case base::LogFormat::kLogfmt: {
      if (truncated) break;
      size_t prog = logfmt_key(line, "prog");
      if (prog == std::string_view::npos) break;
      size_t end = logfmt_value_end(line, prog + 5);
      std::string out(line.substr(0, end));
      out += " service=" + logfmt_value(service);
      out += line.substr(end);
      return out + "\n";
    }
    case base::LogFormat::kJson: {
      if (truncated || line.size() < 2 || line.front() != '{' || line.back() != '}') break;
      std::string member = "\"service\":\"" + base::json_escape(service) + "\"";
      size_t prog = line.find("\"prog\":");
      if (prog != std::string_view::npos) {
        size_t v = prog + 7;
        while (v < line.size() && line[v] == ' ') ++v;
        size_t end =
            v < line.size() && line[v] == '"' ? json_string_end(line, v) : std::string_view::npos;
        if (end != std::string_view::npos) {
          return std::string(line.substr(0, end)) + "," + member + std::string(line.substr(end)) +
                 "\n";
        }
      }
      bool empty = line.find_first_not_of(" \t", 1) == line.size() - 1;
      return "{" + member + (empty ? "" : ",") + std::string(line.substr(1)) + "\n";
    }
  }
  return wrap(line, service, format, ts, truncated);
}

void LineSplitter::feed(std::string_view data, const Emit& emit) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view part = data.substr(0, nl);
    if (skipping_) {
      if (nl == std::string_view::npos) return;
      skipping_ = false;
      data.remove_prefix(nl + 1);
      continue;
    }
    if (buf_.size() + part.size() > max_line_) {
      size_t take = max_line_ - buf_.size();
      buf_.append(part.substr(0, take));
      emit(buf_, true);
      buf_.clear();
      if (nl == std::string_view::npos) {
        skipping_ = true;
        return;
      }
      data.remove_prefix(nl + 1);
      continue;
    }
    if (nl == std::string_view::npos) {
      buf_.append(part);
      return;
    }
    if (buf_.empty()) {
      emit(part, false);
    } else {
      buf_.append(part);
      emit(buf_, false);
      buf_.clear();
    }
    data.remove_prefix(nl + 1);
  }
}

void LineSplitter::finish(const Emit& emit) {
  if (!buf_.empty()) emit(buf_, false);
  buf_.clear();
  skipping_ = false;
}

LogSink::LogSink(int fd, size_t max_bytes, Note note)
    : fd_(fd), max_bytes_(max_bytes), note_(std::move(note)), kind_(0) {
  set_fd(fd);
}

void LogSink::set_fd(int fd) {
  fd_ = fd;
  kind_ = 0;
  broken_ = false;
  struct stat st {};
  if (::fstat(fd, &st) == 0) {
    if (S_ISFIFO(st.st_mode)) kind_ = 1;
    if (S_ISSOCK(st.st_mode)) kind_ = 2;
  }
}

void LogSink::push(std::string line) {
  if (broken_) {
    ++dropped_total_;
    return;
  }
  if (pending_ + line.size() > max_bytes_) {
    ++dropped_;
    ++dropped_total_;
    return;
  }
  pending_ += line.size();
  queue_.push_back(std::move(line));
  flush();
}

ssize_t LogSink::write_some(std::string_view data) {
  for (;;) {
    ssize_t n;
    if (kind_ == 2) {
      n = ::send(fd_, data.data(), data.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    } else if (kind_ == 1) {
      pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
      int r = ::poll(&p, 1, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return -1;
      if (p.revents & (POLLERR | POLLHUP)) {
        broken_ = true;
        return -1;
      }
      // Room for at least PIPE_BUF bytes: a write this size does not block.
      n = ::write(fd_, data.data(), std::min<size_t>(data.size(), PIPE_BUF));
    } else {
      n = ::write(fd_, data.data(), data.size());
    }
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) broken_ = true;  // EPIPE, EBADF...
    return -1;
  }
}

bool LogSink::flush() {
  while (!queue_.empty() && !broken_) {
    std::string_view front = queue_.front();
    ssize_t n = write_some(front.substr(offset_));
    if (n < 0) break;
    offset_ += static_cast<size_t>(n);
    if (offset_ == front.size()) {
      pending_ -= front.size();
      queue_.pop_front();
      offset_ = 0;
    }
  }
  if (broken_) {
    dropped_total_ += queue_.size();
    queue_.clear();
    pending_ = 0;
    offset_ = 0;
    return true;
  }
  if (queue_.empty() && dropped_ > 0 && note_) {
    std::string note = note_(dropped_);
    dropped_ = 0;
    pending_ += note.size();
    queue_.push_back(std::move(note));
    return flush();
  }
  return queue_.empty();
}

void LogSink::drain(int timeout_ms) {
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!flush()) {
    if (std::chrono::steady_clock::now() >= until) return;
    pollfd p{.fd = fd_, .events = POLLOUT, .revents = 0};
    ::poll(&p, 1, 20);
  }
}

}  // namespace postern::supervise
