#include "base/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <set>

#include "base/clock.h"
#include "base/fd.h"

namespace postern::base {

std::string parent_dir(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

namespace {

class PosixFile final : public WritableFile {
 public:
  PosixFile(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Status append(std::string_view data) override {
    auto st = write_all(fd_.get(), data);
    return st ? st : st.error().with_context(path_);
  }
  Status sync() override {
    if (::fsync(fd_.get()) != 0) return Error::from_errno(errno, "fsync " + path_);
    return {};
  }
  Status close() override {
    int fd = fd_.release();
    if (fd >= 0 && ::close(fd) != 0) return Error::from_errno(errno, "close " + path_);
    return {};
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

class PosixFileSystem final : public FileSystem {
 public:
  Result<std::unique_ptr<WritableFile>> create(const std::string& path, bool exclusive) override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC);
    UniqueFd fd(::open(path.c_str(), flags, 0640));
    if (!fd) return Error::from_errno(errno, "create " + path);
    return std::unique_ptr<WritableFile>(new PosixFile(std::move(fd), path));
  }
  Result<std::string> read(const std::string& path) override { return read_file(path); }
  Status rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Error::from_errno(errno, "rename " + from + " to " + to);
    }
    return {};
  }
  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Error::from_errno(errno, "unlink " + path);
    return {};
  }
  Status make_dir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
      return Error::from_errno(errno, "mkdir " + path);
    }
    return {};
  }
  Status sync_dir(const std::string& path) override {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Error::from_errno(errno, "open " + path);
    if (::fsync(fd.get()) != 0) return Error::from_errno(errno, "fsync " + path);
    return {};
  }
  bool exists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }
  Result<std::vector<std::string>> list(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return Error::from_errno(errno, "opendir " + dir);
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  Result<int64_t> mtime(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Error::from_errno(errno, "stat " + path);
    return static_cast<int64_t>(st.st_mtime);
  }
};

}  // namespace

FileSystem& real_fs() {
  static PosixFileSystem fs;
  return fs;
}

Status write_file_atomic(FileSystem& fs, const std::string& path, std::string_view data) {
  static std::atomic<unsigned> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(counter.fetch_add(1));
  auto file = fs.create(tmp, true);
  if (!file) return file.error();
  auto fail = [&](const Error& e) -> Status {
    (void)(*file)->close();
    (void)fs.remove(tmp);
    return e;
  };
  if (auto st = (*file)->append(data); !st) return fail(st.error());
  if (auto st = (*file)->sync(); !st) return fail(st.error());
  if (auto st = (*file)->close(); !st) {
    (void)fs.remove(tmp);
    return st;
  }
  if (auto st = fs.rename(tmp, path); !st) {
    (void)fs.remove(tmp);
    return st;
  }
  return fs.sync_dir(parent_dir(path));
}

// ---- MemoryFileSystem ----

struct MemoryFileSystem::State {
  struct Fault {
    FsOp op;
    int err;
    int times;
    std::string path_part;
  };
  // name -> inode; `durable` is the namespace as of the last sync_dir of each directory.
  std::map<std::string, std::shared_ptr<Inode>> live;
  std::map<std::string, std::shared_ptr<Inode>> durable;
  std::set<std::string> dirs{"/", "."};
  std::vector<Fault> faults;
};

namespace {

int64_t wall_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             system_clock().now().time_since_epoch())
      .count();
}

class MemoryFile final : public WritableFile {
 public:
  MemoryFile(MemoryFileSystem* fs, std::shared_ptr<MemoryFileSystem::Inode> inode,
             std::string path)
      : fs_(fs), inode_(std::move(inode)), path_(std::move(path)) {}
  Status append(std::string_view data) override {
    if (closed_) return Error::internal("write after close: " + path_);
    if (auto st = fs_->check(FsOp::kWrite, path_); !st) return st;
    inode_->data.append(data);
    inode_->mtime = wall_seconds();
    return {};
  }
  Status sync() override {
    if (auto st = fs_->check(FsOp::kSync, path_); !st) return st;
    inode_->synced = inode_->data;
    return {};
  }
  Status close() override {
    closed_ = true;
    return fs_->check(FsOp::kClose, path_);
  }

 private:
  MemoryFileSystem* fs_;
  std::shared_ptr<MemoryFileSystem::Inode> inode_;
  std::string path_;
  bool closed_ = false;
};

}  // namespace

MemoryFileSystem::MemoryFileSystem() : state_(std::make_shared<State>()) {}

void MemoryFileSystem::fail(FsOp op, int err, int times, std::string path_part) {
  state_->faults.push_back({op, err, times, std::move(path_part)});
}

Status MemoryFileSystem::check(FsOp op, const std::string& path) {
  for (auto it = state_->faults.begin(); it != state_->faults.end(); ++it) {
    if (it->op == op && path.find(it->path_part) != std::string::npos) {
      int err = it->err;
      if (--it->times <= 0) state_->faults.erase(it);
      return Error::from_errno(err, "injected fault on " + path);
    }
  }
  return {};
}

void MemoryFileSystem::crash() {
  state_->live = state_->durable;
  for (auto& [name, inode] : state_->live) inode->data = inode->synced;
  state_->faults.clear();
}

std::vector<std::string> MemoryFileSystem::paths() const {
  std::vector<std::string> out;
  for (const auto& [name, inode] : state_->live) out.push_back(name);
  return out;
}

Result<std::unique_ptr<WritableFile>> MemoryFileSystem::create(const std::string& path,
                                                               bool exclusive) {
  if (auto st = check(FsOp::kCreate, path); !st) return st.error();
  if (!state_->dirs.count(parent_dir(path))) return Error::from_errno(ENOENT, "create " + path);
  auto& slot = state_->live[path];
  if (slot && exclusive) return Error::from_errno(EEXIST, "create " + path);
  if (slot) {
    slot->data.clear();
  } else {
    slot = std::make_shared<Inode>();
  }
  slot->mtime = wall_seconds();
  return std::unique_ptr<WritableFile>(new MemoryFile(this, slot, path));
}

Result<std::string> MemoryFileSystem::read(const std::string& path) {
  if (auto st = check(FsOp::kRead, path); !st) return st.error();
  auto it = state_->live.find(path);
  if (it == state_->live.end()) return Error::from_errno(ENOENT, path);
  return it->second->data;
}

Status MemoryFileSystem::rename(const std::string& from, const std::string& to) {
  if (auto st = check(FsOp::kRename, from); !st) return st;
  auto it = state_->live.find(from);
  if (it == state_->live.end()) return Error::from_errno(ENOENT, "rename " + from);
  if (!state_->dirs.count(parent_dir(to))) return Error::from_errno(ENOENT, "rename " + to);
  auto inode = it->second;
  state_->live.erase(it);
  state_->live[to] = inode;
  return {};
}

Status MemoryFileSystem::remove(const std::string& path) {
  if (auto st = check(FsOp::kRemove, path); !st) return st;
  if (state_->live.erase(path) == 0) return Error::from_errno(ENOENT, "unlink " + path);
  return {};
}

Status MemoryFileSystem::make_dir(const std::string& path) {
  if (auto st = check(FsOp::kMakeDir, path); !st) return st;
  state_->dirs.insert(path);  // directories themselves are treated as durable
  return {};
}

Status MemoryFileSystem::sync_dir(const std::string& path) {
  if (auto st = check(FsOp::kSyncDir, path); !st) return st;
  // Make this directory's entries durable: drop durable names under it, copy live ones.
  auto in_dir = [&](const std::string& name) { return parent_dir(name) == path; };
  for (auto it = state_->durable.begin(); it != state_->durable.end();) {
    it = in_dir(it->first) ? state_->durable.erase(it) : std::next(it);
  }
  for (const auto& [name, inode] : state_->live) {
    if (in_dir(name)) state_->durable[name] = inode;
  }
  return {};
}

bool MemoryFileSystem::exists(const std::string& path) {
  return state_->live.count(path) > 0 || state_->dirs.count(path) > 0;
}

Result<std::vector<std::string>> MemoryFileSystem::list(const std::string& dir) {
  if (!state_->dirs.count(dir)) return Error::from_errno(ENOENT, "opendir " + dir);
  std::vector<std::string> names;
  for (const auto& [name, inode] : state_->live) {
    if (parent_dir(name) == dir) names.push_back(name.substr(name.find_last_of('/') + 1));
  }
  // Subdirectories too, as readdir() shows them.
  for (const auto& d : state_->dirs) {
    if (d != dir && parent_dir(d) == dir) names.push_back(d.substr(d.find_last_of('/') + 1));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Result<int64_t> MemoryFileSystem::mtime(const std::string& path) {
  auto it = state_->live.find(path);
  if (it == state_->live.end()) return Error::from_errno(ENOENT, "stat " + path);
  return it->second->mtime;
}

void MemoryFileSystem::set_mtime(const std::string& path, int64_t unix_seconds) {
  auto it = state_->live.find(path);
  if (it != state_->live.end()) it->second->mtime = unix_seconds;
}

}  // namespace postern::base
