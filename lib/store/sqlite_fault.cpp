// The fault-injecting SQLite VFS (sqlite_fault.h).
//
// Every file SQLite opens through "postern-fault" is a FaultFile: our header followed by
// the default VFS's own file object, to which every call is delegated. Per path we keep
// the file's size at its last sync and the pre-images of the byte ranges written since
// (each byte saved once: the first pre-image is the synced one). xSync forgets them,
// crash() writes them back through the real OS file and truncates to the synced size.
//
// A crash bumps a generation counter; a handle opened in an earlier generation is dead:
// its writes, truncates and syncs succeed without touching the disk, and it cannot take
// a RESERVED or stronger lock, so closing an old connection can neither checkpoint into
// the restored database nor delete its WAL. The -shm wal-index is not durable data: the
// default VFS manages it (the shim does not see it as a file) and crash() deletes it.
// Within one process SQLite shares the wal-index between connections to the same file,
// so close the connections opened before a crash before opening new ones.
#include "store/sqlite_fault.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <new>
#include <string>

namespace postern::store {
namespace {

constexpr const char* kVfsName = "postern-fault";

// What must be undone in one file on a crash.
struct FileState {
  bool size_saved = false;
  sqlite3_int64 synced_size = 0;
  // Non-overlapping ranges [offset, offset + bytes.size()) of pre-images, below synced_size.
  std::map<sqlite3_int64, std::string> preimages;
};

struct Shared {
  std::mutex mu;
  sqlite3_vfs* real = nullptr;
  sqlite3_vfs vfs{};
  std::map<std::string, FileState> files;  // by path, touched since their last sync
  uint64_t generation = 0;
  int fail_syncs = 0;
  std::string fail_part;
};

Shared& shared() {
  static Shared* s = new Shared;  // never destroyed: SQLite may call in during exit
  return *s;
}

struct FaultFile {
  sqlite3_file base;  // must be first: SQLite sees this
  sqlite3_file* real;
  std::string* path;  // nullptr for anonymous temp files (not tracked)
  uint64_t generation;
};

constexpr size_t kHeader = (sizeof(FaultFile) + 15) & ~size_t{15};

FaultFile* ff(sqlite3_file* f) { return reinterpret_cast<FaultFile*>(f); }

bool dead(const FaultFile* f) { return f->generation != shared().generation; }

// The file's current size through the real handle.
sqlite3_int64 real_size(FaultFile* f) {
  sqlite3_int64 size = 0;
  if (f->real->pMethods->xFileSize(f->real, &size) != SQLITE_OK) size = 0;
  return size;
}

// Saves the pre-image of [begin, end) where not saved yet since the last sync. Called
// with the mutex held, before the region changes.
void save_region(FaultFile* f, sqlite3_int64 begin, sqlite3_int64 end) {
  if (!f->path) return;
  FileState& st = shared().files[*f->path];
  if (!st.size_saved) {
    st.synced_size = real_size(f);
    st.size_saved = true;
  }
  // Bytes at or past the synced size vanish with the truncation on a crash.
  if (end > st.synced_size) end = st.synced_size;
  if (begin >= end) return;
  auto& pre = st.preimages;
  auto it = pre.upper_bound(begin);
  if (it != pre.begin()) {
    auto prev = std::prev(it);
    sqlite3_int64 prev_end = prev->first + static_cast<sqlite3_int64>(prev->second.size());
    if (prev_end > begin) begin = prev_end;
  }
  while (begin < end) {
    sqlite3_int64 gap_end = end;
    if (it != pre.end() && it->first < gap_end) gap_end = it->first;
    if (begin < gap_end) {
      std::string bytes(static_cast<size_t>(gap_end - begin), '\0');
      // Past the end of the file SQLite's read zero-fills (SQLITE_IOERR_SHORT_READ).
      f->real->pMethods->xRead(f->real, bytes.data(), static_cast<int>(bytes.size()), begin);
      pre.emplace(begin, std::move(bytes));
    }
    if (it == pre.end() || it->first >= end) break;
    begin = it->first + static_cast<sqlite3_int64>(it->second.size());
    ++it;
  }
}

// ---- io methods ----

int x_close(sqlite3_file* file) {
  FaultFile* f = ff(file);
  int rc = f->real->pMethods ? f->real->pMethods->xClose(f->real) : SQLITE_OK;
  delete f->path;
  f->path = nullptr;
  return rc;
}

int x_read(sqlite3_file* file, void* buf, int n, sqlite3_int64 off) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xRead(f->real, buf, n, off);
}

int x_write(sqlite3_file* file, const void* buf, int n, sqlite3_int64 off) {
  FaultFile* f = ff(file);
  std::lock_guard lock(shared().mu);
  if (dead(f)) return SQLITE_OK;
  save_region(f, off, off + n);
  return f->real->pMethods->xWrite(f->real, buf, n, off);
}

int x_truncate(sqlite3_file* file, sqlite3_int64 size) {
  FaultFile* f = ff(file);
  std::lock_guard lock(shared().mu);
  if (dead(f)) return SQLITE_OK;
  save_region(f, size, real_size(f));
  return f->real->pMethods->xTruncate(f->real, size);
}

int x_sync(sqlite3_file* file, int flags) {
  FaultFile* f = ff(file);
  Shared& s = shared();
  std::lock_guard lock(s.mu);
  if (dead(f)) return SQLITE_OK;
  if (s.fail_syncs > 0 && f->path && f->path->find(s.fail_part) != std::string::npos) {
    --s.fail_syncs;
    return SQLITE_IOERR_FSYNC;
  }
  int rc = f->real->pMethods->xSync(f->real, flags);
  if (rc == SQLITE_OK && f->path) s.files.erase(*f->path);
  return rc;
}

int x_file_size(sqlite3_file* file, sqlite3_int64* size) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xFileSize(f->real, size);
}

int x_lock(sqlite3_file* file, int level) {
  FaultFile* f = ff(file);
  {
    std::lock_guard lock(shared().mu);
    if (dead(f) && level >= SQLITE_LOCK_RESERVED) return SQLITE_BUSY;
  }
  return f->real->pMethods->xLock(f->real, level);
}

int x_unlock(sqlite3_file* file, int level) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xUnlock(f->real, level);
}

int x_check_reserved(sqlite3_file* file, int* out) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xCheckReservedLock(f->real, out);
}

int x_file_control(sqlite3_file* file, int op, void* arg) {
  FaultFile* f = ff(file);
  if (op == SQLITE_FCNTL_SIZE_HINT) {
    // The default VFS may grow the file for a size hint: a write like any other.
    std::lock_guard lock(shared().mu);
    if (dead(f)) return SQLITE_OK;
    save_region(f, 0, 0);
  }
  return f->real->pMethods->xFileControl(f->real, op, arg);
}

int x_sector_size(sqlite3_file* file) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xSectorSize(f->real);
}

int x_device_characteristics(sqlite3_file* file) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xDeviceCharacteristics(f->real);
}

int x_shm_map(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

int x_shm_lock(sqlite3_file* file, int offset, int n, int flags) {
  FaultFile* f = ff(file);
  return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

void x_shm_barrier(sqlite3_file* file) {
  FaultFile* f = ff(file);
  f->real->pMethods->xShmBarrier(f->real);
}

int x_shm_unmap(sqlite3_file* file, int delete_flag) {
  FaultFile* f = ff(file);
  {
    std::lock_guard lock(shared().mu);
    if (dead(f)) delete_flag = 0;
  }
  return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

// Version 2: WAL's shared memory, but no memory-mapped I/O (every write comes through
// xWrite, so none escapes the pre-image bookkeeping).
const sqlite3_io_methods kMethods = {
    2,
    x_close,
    x_read,
    x_write,
    x_truncate,
    x_sync,
    x_file_size,
    x_lock,
    x_unlock,
    x_check_reserved,
    x_file_control,
    x_sector_size,
    x_device_characteristics,
    x_shm_map,
    x_shm_lock,
    x_shm_barrier,
    x_shm_unmap,
    nullptr,
    nullptr,
};

// ---- vfs methods ----

int v_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  Shared& s = shared();
  FaultFile* f = ff(file);
  f->base.pMethods = nullptr;
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kHeader);
  f->real->pMethods = nullptr;
  f->path = nullptr;
  {
    std::lock_guard lock(s.mu);
    f->generation = s.generation;
  }
  int rc = s.real->xOpen(s.real, name, f->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    // SQLite calls xClose only when pMethods is set; the real file cleans up after itself
    // unless it set its own pMethods.
    if (f->real->pMethods) f->real->pMethods->xClose(f->real);
    return rc;
  }
  if (name && !(flags & SQLITE_OPEN_DELETEONCLOSE)) f->path = new std::string(name);
  f->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int v_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  Shared& s = shared();
  std::lock_guard lock(s.mu);
  int rc = s.real->xDelete(s.real, name, sync_dir);
  // A deleted file stays deleted (SQLite deletes a journal as a commit step and syncs
  // the directory; a WAL only after a complete checkpoint).
  if (rc == SQLITE_OK || rc == SQLITE_IOERR_DELETE_NOENT) s.files.erase(name);
  return rc;
}

int v_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return shared().real->xAccess(shared().real, name, flags, out);
}

int v_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return shared().real->xFullPathname(shared().real, name, n, out);
}

void* v_dl_open(sqlite3_vfs*, const char* name) {
  return shared().real->xDlOpen(shared().real, name);
}

void v_dl_error(sqlite3_vfs*, int n, char* msg) { shared().real->xDlError(shared().real, n, msg); }

void (*v_dl_sym(sqlite3_vfs*, void* handle, const char* sym))(void) {
  return shared().real->xDlSym(shared().real, handle, sym);
}

void v_dl_close(sqlite3_vfs*, void* handle) { shared().real->xDlClose(shared().real, handle); }

int v_randomness(sqlite3_vfs*, int n, char* out) {
  return shared().real->xRandomness(shared().real, n, out);
}

int v_sleep(sqlite3_vfs*, int us) { return shared().real->xSleep(shared().real, us); }

int v_current_time(sqlite3_vfs*, double* out) {
  return shared().real->xCurrentTime(shared().real, out);
}

int v_get_last_error(sqlite3_vfs*, int n, char* out) {
  return shared().real->xGetLastError ? shared().real->xGetLastError(shared().real, n, out) : 0;
}

int v_current_time_int64(sqlite3_vfs*, sqlite3_int64* out) {
  if (shared().real->iVersion >= 2 && shared().real->xCurrentTimeInt64) {
    return shared().real->xCurrentTimeInt64(shared().real, out);
  }
  double d = 0;
  int rc = shared().real->xCurrentTime(shared().real, &d);
  *out = static_cast<sqlite3_int64>(d * 86400000.0);
  return rc;
}

// Writes the synced state back into one file through the OS. Mutex held.
void restore(const std::string& path, const FileState& st) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return;  // gone: nothing to restore
  for (const auto& [off, bytes] : st.preimages) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t w = ::pwrite(fd, bytes.data() + done, bytes.size() - done,
                           static_cast<off_t>(off + static_cast<sqlite3_int64>(done)));
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
  }
  if (st.size_saved) {
    if (::ftruncate(fd, static_cast<off_t>(st.synced_size)) != 0) {
      // Nothing better to do in a test shim: the next open will see the longer file.
    }
  }
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

SqliteFaultVfs& SqliteFaultVfs::install() {
  static SqliteFaultVfs* instance = [] {
    sqlite3_initialize();
    Shared& s = shared();
    s.real = sqlite3_vfs_find(nullptr);
    sqlite3_vfs& v = s.vfs;
    v.iVersion = 2;
    v.szOsFile = static_cast<int>(kHeader) + s.real->szOsFile;
    v.mxPathname = s.real->mxPathname;
    v.zName = kVfsName;
    v.pAppData = nullptr;
    v.xOpen = v_open;
    v.xDelete = v_delete;
    v.xAccess = v_access;
    v.xFullPathname = v_full_pathname;
    v.xDlOpen = v_dl_open;
    v.xDlError = v_dl_error;
    v.xDlSym = v_dl_sym;
    v.xDlClose = v_dl_close;
    v.xRandomness = v_randomness;
    v.xSleep = v_sleep;
    v.xCurrentTime = v_current_time;
    v.xGetLastError = v_get_last_error;
    v.xCurrentTimeInt64 = v_current_time_int64;
    sqlite3_vfs_register(&v, 0);
    return new SqliteFaultVfs();
  }();
  return *instance;
}

const char* SqliteFaultVfs::name() const { return kVfsName; }

void SqliteFaultVfs::fail_sync(int times, std::string path_part) {
  Shared& s = shared();
  std::lock_guard lock(s.mu);
  s.fail_syncs = times;
  s.fail_part = std::move(path_part);
}

void SqliteFaultVfs::crash() {
  Shared& s = shared();
  std::lock_guard lock(s.mu);
  for (const auto& [path, st] : s.files) {
    restore(path, st);
    // The wal-index next to a database (or its WAL) is rebuilt from the WAL on open.
    for (const char* suffix : {"-wal", "-journal", ""}) {
      size_t n = std::strlen(suffix);
      if (path.size() >= n && path.compare(path.size() - n, n, suffix) == 0) {
        ::unlink((path.substr(0, path.size() - n) + "-shm").c_str());
        break;
      }
    }
  }
  s.files.clear();
  ++s.generation;
}

void SqliteFaultVfs::reset() {
  Shared& s = shared();
  std::lock_guard lock(s.mu);
  s.fail_syncs = 0;
  s.fail_part.clear();
  s.files.clear();
}

}  // namespace postern::store
