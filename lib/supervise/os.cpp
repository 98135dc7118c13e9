#include "supervise/os.h"


#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "base/log.h"

namespace postern::supervise {
namespace {

base::Result<base::UniqueFd> bind_unix(const std::string& path, mode_t mode,
                                       const std::string& what) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return base::Error::config(what + ": socket path empty or too long: " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return base::Error::config(what + ": " + path + " exists and is not a socket");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return base::Error::from_errno(errno, what + ": removing the stale socket " + path);
    }
  }
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return base::Error::from_errno(errno, what + ": socket");
  mode_t old = ::umask(0177);  // no moment with looser permissions than asked for
  int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = errno;
  ::umask(old);
  if (rc != 0) return base::Error::config(what + ": bind " + path + ": " + std::strerror(err));
  if (::chmod(path.c_str(), mode) != 0)
    return base::Error::from_errno(errno, what + ": chmod " + path);
  if (::listen(fd.get(), 1024) != 0)
    return base::Error::from_errno(errno, what + ": listen " + path);
  return fd;
}

}  // namespace

base::Result<base::UniqueFd> bind_listener(const ListenerSpec& l) {
  std::string what = "listener " + l.name;
  if (l.address.starts_with("unix:")) {
    return bind_unix(l.address.substr(5), l.mode == "local" ? 0666 : 0660, what);
  }
  std::string host, port;
  if (!l.address.empty() && l.address.front() == '[') {
    size_t close = l.address.find(']');
    if (close == std::string::npos || close + 1 >= l.address.size() ||
        l.address[close + 1] != ':') {
      return base::Error::config(what + ": bad address " + l.address);
    }
    host = l.address.substr(1, close - 1);
    port = l.address.substr(close + 2);
  } else {
    size_t colon = l.address.rfind(':');
    if (colon == std::string::npos) return base::Error::config(what + ": bad address " + l.address);
    host = l.address.substr(0, colon);
    port = l.address.substr(colon + 1);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return base::Error::config(what + ": " + l.address + ": " + ::gai_strerror(rc));
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    base::UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) {
      last = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 1024) != 0) {
      last = std::strerror(errno);
      continue;
    }
    ::freeaddrinfo(res);
    return fd;
  }
  ::freeaddrinfo(res);
  return base::Error::config(what + ": cannot listen on " + l.address + ": " + last);
}

base::Result<base::UniqueFd> listen_control(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!path.empty() && path.size() < sizeof addr.sun_path) {
    std::memcpy(addr.sun_path, path.data(), path.size());
    base::UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      return base::Error::unavailable("another postern supervisor is running (control socket " +
                                      path + ")");
    }
  }
  std::error_code ec;
  std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  return bind_unix(path, 0600, "control socket");
}

base::Result<UserIds> lookup_user(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || !found) {
    return base::Error::config("server.user: no such user: " + name +
                               " (create it, or name another unprivileged user)");
  }
  if (pw.pw_uid == 0) {
    return base::Error::config("server.user: " + name +
                               " is root; services must run as an unprivileged user");
  }
  UserIds u{.name = name, .uid = pw.pw_uid, .gid = pw.pw_gid, .groups = {}};
  int n = 32;
  for (int attempt = 0; attempt < 4; ++attempt) {
    u.groups.resize(static_cast<size_t>(n));
    int want = n;
    if (::getgrouplist(name.c_str(), pw.pw_gid, u.groups.data(), &want) >= 0) {
      u.groups.resize(static_cast<size_t>(want));
      return u;
    }
    n = want > n ? want : n * 2;
  }
  u.groups = {pw.pw_gid};
  return u;
}

base::Status prepare_data_dir(const std::string& dir, const std::optional<UserIds>& owner) {
  if (dir.empty()) return {};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return base::Error::config("server.data_dir: cannot create " + dir + ": " + ec.message());
  if (!owner) return {};
  if (::chown(dir.c_str(), owner->uid, owner->gid) != 0) {
    return base::Error::from_errno(errno, "server.data_dir: chown " + dir);
  }
  // What an admin made there as root (account-ctl creating the store, its WAL, a blob
  // directory) would lock the services out: every entry directly inside and every
  // directory below becomes the user's too. Blob files below stay as they are (never
  // written again; removing one needs only its directory); sockets and symbolic links are
  // left alone.
  auto give = [&](const std::filesystem::directory_entry& e) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0 || S_ISSOCK(st.st_mode) || S_ISLNK(st.st_mode)) return;
    if (st.st_uid == owner->uid) return;
    if (::lchown(e.path().c_str(), owner->uid, owner->gid) != 0) {
      base::log_warn("chown_failed", {{"path", e.path().string()}, {"error", std::strerror(errno)}});
    }
  };
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) give(e);
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 0 && it->is_directory(ec) && !it->is_symlink(ec)) give(*it);
  }
  return {};
}

base::Status notify_systemd(std::string_view message) {
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (!env || !*env) return {};
  std::string path = env;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return base::Error::config("NOTIFY_SOCKET too long");
  std::memcpy(addr.sun_path, path.data(), path.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  if (path.front() == '@') {
    addr.sun_path[0] = '\0';  // abstract namespace
  } else {
    ++len;  // the terminating NUL of a path
  }
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return base::Error::from_errno(errno, "socket");
  if (::sendto(fd.get(), message.data(), message.size(), MSG_NOSIGNAL,
               reinterpret_cast<sockaddr*>(&addr), len) < 0) {
    return base::Error::from_errno(errno, "NOTIFY_SOCKET " + path);
  }
  return {};
}

}  // namespace postern::supervise
