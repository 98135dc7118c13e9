// The file-system seam.
//
// Everything that must survive a crash (blobs, queue files, certificates) writes through
// a FileSystem, so tests can substitute MemoryFileSystem, which fails chosen operations
// and, on crash(), forgets every byte and directory entry that was never synced — the
// way a power cut treats a real disk (compare LevelDB's fault_injection_test).
//
//   FileSystem& fs = real_fs();
//   if (auto st = write_file_atomic(fs, dir + "/msg", bytes); !st) return st.error();
//
//   MemoryFileSystem mem;
//   mem.fail(FsOp::kSync, EIO);          // the next fsync fails
//   ...; mem.crash();                    // unsynced data is gone
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::base {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status append(std::string_view data) = 0;
  virtual Status sync() = 0;  // fsync: data and size durable
  virtual Status close() = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;
  // Creates (truncating) a file for writing; `exclusive` fails if it exists.
  virtual Result<std::unique_ptr<WritableFile>> create(const std::string& path,
                                                       bool exclusive) = 0;
  virtual Result<std::string> read(const std::string& path) = 0;
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  virtual Status make_dir(const std::string& path) = 0;  // ok if it exists
  virtual Status sync_dir(const std::string& path) = 0;  // fsync a directory: entries durable
  virtual bool exists(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;  // names, sorted
  // Last modification time of a file, Unix seconds (for ages: sweeps, store-check).
  virtual Result<int64_t> mtime(const std::string& path) = 0;
};

// The process-wide real file system (POSIX calls).
FileSystem& real_fs();

// Parent directory of a path ("." when there is none).
std::string parent_dir(const std::string& path);

// Writes `data` to `path` so that after a crash the file holds either its old contents or
// all of `data`: write to a unique temp name in the same directory, fsync, rename over,
// fsync the directory.
Status write_file_atomic(FileSystem& fs, const std::string& path, std::string_view data);

enum class FsOp { kCreate, kWrite, kSync, kClose, kRename, kRemove, kMakeDir, kSyncDir, kRead };

// An in-memory file system for crash and fault tests.
class MemoryFileSystem final : public FileSystem {
 public:
  MemoryFileSystem();
  // The next `times` calls of `op` (on any path containing `path_part`) fail with `err`.
  void fail(FsOp op, int err, int times = 1, std::string path_part = "");
  // Simulates power loss: files revert to their last synced contents; directory entries
  // created, renamed or removed since their directory's last sync_dir are undone.
  void crash();
  // Contents as a reader would see them now (not necessarily durable).
  std::vector<std::string> paths() const;

  Result<std::unique_ptr<WritableFile>> create(const std::string& path, bool exclusive) override;
  Result<std::string> read(const std::string& path) override;
  Status rename(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status make_dir(const std::string& path) override;
  Status sync_dir(const std::string& path) override;
  bool exists(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  // Files get the wall-clock time (system_clock()) when created and appended to.
  Result<int64_t> mtime(const std::string& path) override;
  // Sets a file's modification time (tests of age-based sweeps).
  void set_mtime(const std::string& path, int64_t unix_seconds);

  struct Inode {
    std::string data;    // what readers see
    std::string synced;  // what survives a crash
    int64_t mtime = 0;   // Unix seconds
  };
  struct State;

  // Used by the file handles; not part of the seam.
  Status check(FsOp op, const std::string& path);

 private:
  std::shared_ptr<State> state_;
};

}  // namespace postern::base
