// The supervisor's system calls that need no event loop: binding the listeners (as root,
// before any service starts), the control socket, the unprivileged user, the data
// directory, and systemd's readiness datagram.
//
//   auto fd = bind_listener({.name = "mx", .address = "0.0.0.0:25", .mode = "mx"});
//   auto user = lookup_user("postern");     // Error::config naming it when missing or root
//   (void)notify_systemd("READY=1");        // no-op without $NOTIFY_SOCKET
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/fd.h"
#include "base/result.h"
#include "supervise/supervise.h"

namespace postern::supervise {

// A listening socket for `l`: TCP (SO_REUSEADDR, backlog 1024) or, for "unix:/path", a
// Unix socket (a stale socket there is removed first; mode 0666 for mode local, else
// 0660). Error::config when the address is bad or cannot be bound.
base::Result<base::UniqueFd> bind_listener(const ListenerSpec& l);

// The control socket at `path`, mode 0600. Error::unavailable when another supervisor
// answers there; a stale socket is replaced.
base::Result<base::UniqueFd> listen_control(const std::string& path);

struct UserIds {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (getgrouplist)
};

// server.user; Error::config naming it when it does not exist or is root.
base::Result<UserIds> lookup_user(const std::string& name);

// Creates `dir` (and parents) when missing; with `owner`, makes it owned by that user.
base::Status prepare_data_dir(const std::string& dir, const std::optional<UserIds>& owner);

// Sends `message` ("READY=1") to $NOTIFY_SOCKET (a path, or @abstract); no-op when unset.
base::Status notify_systemd(std::string_view message);

}  // namespace postern::supervise
