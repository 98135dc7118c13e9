// A fault-injecting SQLite VFS for crash tests: SQLite's own file I/O, routed through a
// shim the way base::FileSystem routes ours.
//
// It wraps SQLite's default VFS. Every write is passed through, but the shim remembers,
// per file, the previous contents of every region written since that file's last xSync.
//
//   auto& vfs = SqliteFaultVfs::install();        // registers "postern-fault" once
//   DbOptions o; o.vfs = vfs.name();
//   vfs.fail_sync(1, "-wal");                    // the next fsync of the WAL fails (EIO)
//   ...
//   vfs.crash();   // power cut: every file reverts to what was synced; handles opened
//                  // before the crash drop all further writes, so closing them is safe
#pragma once

#include <string>

namespace postern::store {

class SqliteFaultVfs {
 public:
  static SqliteFaultVfs& install();
  const char* name() const;
  // The next `times` xSync calls on files whose path contains `path_part` fail with
  // SQLITE_IOERR_FSYNC (nothing is synced).
  void fail_sync(int times, std::string path_part = "");
  // Simulated power loss (see above). Files created since the crash are unaffected.
  void crash();
  // Forgets pending failures and the dead-handle state (between tests).
  void reset();

 private:
  SqliteFaultVfs() = default;
};

}  // namespace postern::store
