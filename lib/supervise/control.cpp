#include "supervise/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>

#include "base/fd.h"

namespace postern::supervise {
namespace json = boost::json;

std::optional<Request> parse_request(std::string_view line) {
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ' ||
                           line.back() == '\t')) {
    line.remove_suffix(1);
  }
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  if (line == "status") return Request::kStatus;
  if (line == "reload") return Request::kReload;
  if (line == "stop") return Request::kStop;
  return std::nullopt;
}

std::string encode_status(const SupervisorStatus& s) {
  json::array services;
  for (const ServiceStatus& v : s.services) {
    json::object o;
    o["name"] = v.name;
    o["state"] = v.state;
    o["pid"] = v.pid;
    o["uptime"] = v.uptime;
    o["restarts"] = v.restarts;
    o["crash_loop"] = v.crash_loop;
    if (v.exit_code) {
      o["last_exit"] = json::object{{"code", *v.exit_code}};
    } else if (v.exit_signal) {
      o["last_exit"] = json::object{{"signal", *v.exit_signal}};
    } else {
      o["last_exit"] = nullptr;
    }
    o["reason"] = v.reason;
    services.push_back(std::move(o));
  }
  json::object top{
      {"ok", true}, {"pid", s.pid}, {"ready", s.ready}, {"services", std::move(services)}};
  return json::serialize(top) + "\n";
}

std::string encode_ok() { return "{\"ok\":true}\n"; }

std::string encode_error(std::string_view message) {
  return json::serialize(json::object{{"ok", false}, {"error", message}}) + "\n";
}

namespace {

base::Result<json::object> parse_answer(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return base::Error::bad_data("the supervisor's answer is not JSON");
  json::object& o = v.as_object();
  const json::value* ok = o.if_contains("ok");
  if (!ok || !ok->is_bool()) return base::Error::bad_data("the supervisor's answer has no \"ok\"");
  if (!ok->as_bool()) {
    const json::value* e = o.if_contains("error");
    std::string msg = e && e->is_string() ? std::string(e->as_string()) : "request refused";
    return base::Error::unavailable("supervisor: " + msg);
  }
  return std::move(o);
}

int64_t int_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<int64_t>(v->as_uint64());
  return 0;
}

std::string string_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

base::Result<SupervisorStatus> decode_status(std::string_view text) {
  auto top = parse_answer(text);
  if (!top) return top.error();
  SupervisorStatus s;
  s.pid = int_of(*top, "pid");
  const json::value* ready = top->if_contains("ready");
  s.ready = ready && ready->is_bool() && ready->as_bool();
  const json::value* services = top->if_contains("services");
  if (!services || !services->is_array()) {
    return base::Error::bad_data("the supervisor's answer has no \"services\"");
  }
  for (const json::value& item : services->as_array()) {
    if (!item.is_object()) return base::Error::bad_data("a service entry is not an object");
    const json::object& o = item.as_object();
    ServiceStatus v;
    v.name = string_of(o, "name");
    v.state = string_of(o, "state");
    v.pid = int_of(o, "pid");
    v.uptime = int_of(o, "uptime");
    v.restarts = int_of(o, "restarts");
    const json::value* loop = o.if_contains("crash_loop");
    v.crash_loop = loop && loop->is_bool() && loop->as_bool();
    if (const json::value* e = o.if_contains("last_exit"); e && e->is_object()) {
      if (e->as_object().contains("code"))
        v.exit_code = static_cast<int>(int_of(e->as_object(), "code"));
      if (e->as_object().contains("signal")) {
        v.exit_signal = static_cast<int>(int_of(e->as_object(), "signal"));
      }
    }
    v.reason = string_of(o, "reason");
    s.services.push_back(std::move(v));
  }
  return s;
}

base::Status decode_ok(std::string_view text) {
  auto top = parse_answer(text);
  if (!top) return top.error();
  return {};
}

std::string last_exit_text(const ServiceStatus& s) {
  if (s.exit_code) return "exit " + std::to_string(*s.exit_code);
  if (s.exit_signal) return "signal " + std::to_string(*s.exit_signal);
  return "-";
}

std::string format_status_table(const SupervisorStatus& s) {
  std::vector<std::array<std::string, 6>> rows;
  rows.push_back({"SERVICE", "STATE", "PID", "UPTIME", "RESTARTS", "LAST-EXIT"});
  for (const ServiceStatus& v : s.services) {
    std::string state = v.state;
    if (v.crash_loop) state += " (crash loop)";
    if (!v.reason.empty()) state += " (" + v.reason + ")";
    rows.push_back({v.name, state, v.pid ? std::to_string(v.pid) : "-",
                    v.pid ? std::to_string(v.uptime) + "s" : "-", std::to_string(v.restarts),
                    last_exit_text(v)});
  }
  std::array<size_t, 6> width{};
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

base::Result<std::string> control_request(const std::string& path, std::string_view request,
                                          std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return base::Error::usage("control socket path too long or empty: " + path);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return base::Error::from_errno(errno, "socket");
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED || err == ENOTDIR || err == ENOTSOCK) {
      return base::Error::unavailable("the supervisor is not running (" + path + ": " +
                                      std::strerror(err) + ")");
    }
    if (err == EACCES || err == EPERM) {
      return base::Error::permission("control socket " + path + ": " + std::strerror(err));
    }
    return base::Error::from_errno(err, "connect " + path);
  }
  std::string line = std::string(request) + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(line.size())) {
    return base::Error::unavailable("the supervisor closed the control connection");
  }
  auto until = std::chrono::steady_clock::now() + timeout;
  std::string answer;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return base::Error::temporary("no answer from the supervisor in time");
    pollfd p{.fd = fd.get(), .events = POLLIN, .revents = 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return base::Error::from_errno(errno, "poll");
    if (r == 0) continue;
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return base::Error::from_errno(errno, "reading the control socket");
    if (n == 0) break;
    answer.append(buf, static_cast<size_t>(n));
    if (answer.find('\n') != std::string::npos) break;
  }
  size_t nl = answer.find('\n');
  if (nl == std::string::npos && answer.empty()) {
    return base::Error::unavailable(
        "the supervisor closed the control connection without answering");
  }
  return answer.substr(0, nl);
}

}  // namespace postern::supervise
