// RAII for file descriptors, temporary files and directories.
//
//   UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
//   if (!fd) return Error::from_errno(errno, path);
//   auto data = read_all(fd.get());
//
//   TempDir dir("postern-test");        // removed recursively on destruction
//   TempFile tmp(dir.path(), "msg");    // unlinked on destruction unless keep()
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace postern::base {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A pipe whose both ends close on exec.
struct Pipe {
  UniqueFd read;
  UniqueFd write;
  static Result<Pipe> create();
};

// Reads until EOF (retrying EINTR).
Result<std::string> read_all(int fd);
// Writes every byte (retrying EINTR and short writes).
Status write_all(int fd, std::string_view data);
// Reads a whole file by path; "-" means standard input.
Result<std::string> read_file(const std::string& path);

class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "postern");
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class TempFile {
 public:
  // Creates a unique file in `dir` (mkstemp); the fd is open for read/write.
  TempFile(const std::string& dir, std::string_view prefix);
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile();
  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  void keep() { keep_ = true; }

 private:
  std::string path_;
  UniqueFd fd_;
  bool keep_ = false;
};

}  // namespace postern::base
