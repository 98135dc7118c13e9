#include "supervise/tools.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "base/fd.h"
#include "base/process.h"

namespace postern::supervise {
namespace {

constexpr std::string_view kTools[] = {
#include "supervise/tool_list.inc"
};

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::optional<std::string> on_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + std::string(name);
    if (executable_file(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

bool safe_name(std::string_view name) {
  return !name.empty() && name.front() != '-' && name.front() != '.' &&
         name.find('/') == std::string_view::npos;
}

// The first non-empty line `path --help` prints, waiting at most a few seconds.
std::string first_help_line(const std::string& path) {
  auto pipe = base::Pipe::create();
  if (!pipe) return "";
  base::UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  auto child = base::Child::spawn(
      {path, "--help"},
      {.stdin_fd = devnull.get(), .stdout_fd = pipe->write.get(), .stderr_fd = devnull.get()});
  pipe->write.reset();
  if (!child) return "";
  std::string out;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  char buf[4096];
  while (out.size() < 65536) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{.fd = pipe->read.get(), .events = POLLIN, .revents = 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    ssize_t n = ::read(pipe->read.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  child->kill(SIGKILL);
  child->wait();
  size_t start = out.find_first_not_of("\r\n");
  if (start == std::string::npos) return "";
  size_t end = out.find('\n', start);
  std::string line = out.substr(start, end == std::string::npos ? std::string::npos : end - start);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string path(buf, static_cast<size_t>(n));
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash == 0 ? 1 : slash);
}

std::optional<std::string> find_program(std::string_view name, const std::string& dir) {
  if (!safe_name(name)) return std::nullopt;
  if (!dir.empty()) {
    std::string beside = dir + "/" + std::string(name);
    if (executable_file(beside)) return beside;
  }
  return on_path(name);
}

std::optional<std::string> find_tool(std::string_view name, const std::string& dir) {
  if (!safe_name(name)) return std::nullopt;
  std::string prefixed = "postern-" + std::string(name);
  if (!dir.empty()) {
    for (const std::string& n : {std::string(name), prefixed}) {
      std::string beside = dir + "/" + n;
      if (executable_file(beside)) return beside;
    }
  }
  if (auto p = on_path(name)) return p;
  return on_path(prefixed);
}

std::span<const std::string_view> known_tools() { return kTools; }

std::vector<ToolInfo> list_tools(const std::string& dir) {
  std::vector<ToolInfo> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    bool known = std::find(std::begin(kTools), std::end(kTools), name) != std::end(kTools);
    if (!known && !(name.starts_with("postern-") && name.size() > 8)) continue;
    std::string path = dir + "/" + name;
    if (!executable_file(path)) continue;
    out.push_back({name, path, ""});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(),
            [](const ToolInfo& a, const ToolInfo& b) { return a.name < b.name; });
  for (ToolInfo& t : out) t.summary = first_help_line(t.path);
  return out;
}

}  // namespace postern::supervise
