// Forwarding a child's log: its stderr arrives in pieces; whole lines come out, each
// marked with the service it came from, in the format the whole stack logs in.
//
//   logfmt  ts=… level=info prog=smtp-listen service=smtp-listen event=accept …
//   json    {"ts":"…","level":"info","prog":"queue-run","service":"queue-run",…}
//   text    queue-run: delivered …     (prefixed with "NAME: " unless it starts so)
//
// A line that is not in the expected shape (a crash message from the C++ runtime, say) is
// wrapped into an event of its own (event=output line="…"), so a collector still gets one
// well-formed record per line. Lines longer than the limit are cut and marked truncated.
//
//   LineSplitter split;
//   split.feed(bytes, [&](std::string_view line, bool truncated) {
//     out.push(decorate_line(line, "smtp-listen", LogFormat::kLogfmt, ts, truncated));
//   });
//   split.finish(emit);   // at EOF: a last line without newline
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "base/log.h"

namespace postern::supervise {

// `line` (without its newline) with the service added; ends with "\n". `ts` stamps lines
// that have to be wrapped.
std::string decorate_line(std::string_view line, std::string_view service, base::LogFormat format,
                          std::string_view ts, bool truncated = false);

class LineSplitter {
 public:
  using Emit = std::function<void(std::string_view line, bool truncated)>;
  static constexpr size_t kDefaultMaxLine = 16 * 1024;

  explicit LineSplitter(size_t max_line = kDefaultMaxLine) : max_line_(max_line) {}
  // Emits every line completed by `data`. A line longer than max_line is emitted cut to
  // max_line bytes (truncated = true); the rest of it, up to its newline, is skipped.
  void feed(std::string_view data, const Emit& emit);
  // Emits what is left without a newline (at EOF).
  void finish(const Emit& emit);

 private:
  size_t max_line_;
  std::string buf_;
  bool skipping_ = false;
};

// An output queue that never blocks the event loop: lines are written to `fd` only as
// far as it takes them without waiting (a pipe is polled for room, a socket written with
// MSG_DONTWAIT; files and terminals are written directly). Beyond `max_bytes` waiting,
// whole lines are dropped and counted; once the queue has drained, a note saying how
// many were lost is written (made by `note`, which gets the count).
class LogSink {
 public:
  using Note = std::function<std::string(uint64_t dropped)>;
  explicit LogSink(int fd, size_t max_bytes = 1 << 20, Note note = {});

  void push(std::string line);
  // Writes to `fd` from now on (the log file was reopened); lines waiting go there too.
  void set_fd(int fd);
  // Writes what it can now; true when nothing is left waiting.
  bool flush();
  // Writes everything, waiting as needed (at most `timeout_ms` in all; for shutdown).
  void drain(int timeout_ms);

  size_t pending_bytes() const { return pending_; }
  uint64_t dropped() const { return dropped_total_; }

 private:
  // Bytes written without blocking, or -1 when it would block / failed.
  ssize_t write_some(std::string_view data);

  int fd_;
  size_t max_bytes_;
  Note note_;
  int kind_;  // 0 other, 1 pipe, 2 socket
  std::deque<std::string> queue_;
  size_t offset_ = 0;     // written part of queue_.front()
  size_t pending_ = 0;    // bytes waiting, including the front's written part
  uint64_t dropped_ = 0;  // since the last note
  uint64_t dropped_total_ = 0;
  bool broken_ = false;  // the reader has gone (EPIPE): everything is dropped
};

}  // namespace postern::supervise
