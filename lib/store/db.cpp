// open_db() dispatch, Row accessors, retry classification and with_transaction().
#include "store/db.h"

#include <dlfcn.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <random>
#include <mutex>
#include <thread>

#include "store/db_internal.h"

namespace postern::store {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

#ifndef POSTERN_PGSQL_MODULE
#define POSTERN_PGSQL_MODULE "libpostern-pgsql.so"
#endif

// The PostgreSQL engine lives in its own module (libpostern-pgsql.so, linked against
// libpq), loaded on the first PostgreSQL URL: a process that only ever opens SQLite
// (store-deliver, once per message) does not map libpq and its ~16 dependencies.
// Looked for beside the libpostern this code was loaded from (the build tree's lib/ and
// the install libdir alike), in ../lib of a program linked with libpostern statically
// (store-deliver: build/bin -> build/lib), then in the configured install libdir, then by
// the dynamic linker's own search path.
using PgOpen = int (*)(const std::string*, const DbOptions*,
                       base::Result<std::unique_ptr<Db>>*);

base::Result<PgOpen> pgsql_module() {
  static std::mutex mu;
  static PgOpen open = nullptr;
  static std::string failure;
  std::lock_guard lock(mu);
  if (open) return open;
  if (!failure.empty()) return base::Error::unavailable(failure);
  std::vector<std::string> candidates;
  // Where this code was loaded from: libpostern.so (an absolute path), or the program
  // itself when it links libpostern statically (dladdr gives the main program's argv[0],
  // perhaps relative or bare: /proc/self/exe instead).
  std::string self;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&pgsql_module), &info) != 0 && info.dli_fname) {
    self = info.dli_fname;
  }
  if (self.empty() || self[0] != '/') {
    self.clear();
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) self.assign(buf, static_cast<size_t>(n));
  }
  if (auto slash = self.rfind('/'); slash != std::string::npos) {
    std::string dir = self.substr(0, slash + 1);
    candidates.push_back(dir + POSTERN_PGSQL_MODULE);
    dir += "../lib/";  // appended: GCC 12 warns falsely on a + b + c of literals
    dir += POSTERN_PGSQL_MODULE;
    candidates.push_back(std::move(dir));
  }
#ifdef POSTERN_INSTALL_LIBDIR
  std::string installed = POSTERN_INSTALL_LIBDIR;
  installed += "/";
  installed += POSTERN_PGSQL_MODULE;
  candidates.push_back(std::move(installed));
#endif
  candidates.push_back(POSTERN_PGSQL_MODULE);
  std::string errors;
  for (const std::string& path : candidates) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      errors += std::string(errors.empty() ? "" : "; ") + (e ? e : path);
      continue;
    }
    if (void* sym = dlsym(h, "postern_pgsql_open")) {
      open = reinterpret_cast<PgOpen>(sym);
      return open;
    }
    errors += (errors.empty() ? "" : "; ") + path + ": no postern_pgsql_open";
    dlclose(h);
  }
  failure = "PostgreSQL support is not available (" + errors + ")";
  return base::Error::unavailable(failure);
}

base::Result<std::unique_ptr<Db>> open_pgsql(const std::string& conninfo,
                                             const DbOptions& options) {
  auto open = pgsql_module();
  if (!open) return open.error();
  base::Result<std::unique_ptr<Db>> out = base::Error::internal("PostgreSQL module returned nothing");
  (*open)(&conninfo, &options, &out);
  return out;
}

}  // namespace

namespace internal {

}  // namespace internal

bool retryable(const base::Error& e) {
  return e.code() == base::ExitCode::kTempFail && starts_with(e.message(), internal::kBusyTag);
}

bool constraint(const base::Error& e) {
  return e.code() == base::ExitCode::kDataErr &&
         starts_with(e.message(), internal::kConstraintTag);
}

int64_t Row::i64(size_t i) const {
  const auto& c = cols_.at(i);
  if (!c) return 0;
  int64_t v = 0;
  const char* b = c->data();
  std::from_chars(b, b + c->size(), v);
  return v;
}

const std::string& Row::str(size_t i) const {
  static const std::string kEmpty;
  const auto& c = cols_.at(i);
  return c ? *c : kEmpty;
}

std::optional<int64_t> Row::opt_i64(size_t i) const {
  if (is_null(i)) return std::nullopt;
  return i64(i);
}

std::optional<std::string> Row::opt_str(size_t i) const { return cols_.at(i); }

std::optional<Engine> engine_of_url(std::string_view url) {
  if (starts_with(url, "sqlite:")) return Engine::kSqlite;
  if (starts_with(url, "postgresql://") || starts_with(url, "postgres://") ||
      url.find('=') != std::string_view::npos) {
    return Engine::kPostgres;
  }
  for (std::string_view s : {".db", ".sqlite", ".sqlite3"}) {
    if (url.size() >= s.size() && url.substr(url.size() - s.size()) == s) return Engine::kSqlite;
  }
  return std::nullopt;
}

base::Result<std::unique_ptr<Db>> open_db(const std::string& url, const DbOptions& options) {
  auto has_prefix = [&](std::string_view p) { return starts_with(url, p); };
  if (has_prefix("sqlite:")) {
    std::string path = url.substr(7);
    if (starts_with(path, "//")) path = path.substr(2);  // sqlite:///abs/path
    if (path.empty()) return base::Error::config("sqlite: URL without a file name");
    return internal::open_sqlite(path, options);
  }
  if (has_prefix("postgresql://") || has_prefix("postgres://") ||
      url.find('=') != std::string::npos) {
    return open_pgsql(url, options);
  }
  auto ends_with = [&](std::string_view s) {
    return url.size() >= s.size() && url.compare(url.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with(".db") || ends_with(".sqlite") || ends_with(".sqlite3")) {
    return internal::open_sqlite(url, options);
  }
  return base::Error::config("store URL \"" + url +
                             "\" is neither sqlite:PATH nor a PostgreSQL URL "
                             "(postgresql://user@host/db or host=... dbname=...)");
}

base::Status with_transaction(Db& db, Access access,
                              const std::function<base::Status(Db&)>& body, int attempts) {
  base::Status last;
  for (int i = 0; i < attempts; ++i) {
    if (i > 0) {
      thread_local std::minstd_rand rng(std::random_device{}());  // seeded on a first retry
      // Randomized backoff: 1-4 ms at first, growing to at most ~100 ms.
      int cap = std::min(100, 4 << std::min(i, 5));
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + rng() % cap));
    }
    if (auto st = db.begin(access); !st) {
      last = st;
      if (retryable(st.error())) continue;
      return st;
    }
    base::Status st = body(db);
    if (st) st = db.commit();
    if (st) return st;
    db.rollback();
    last = st;
    if (!retryable(st.error())) return st;
  }
  return last;
}

}  // namespace postern::store
