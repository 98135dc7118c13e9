#include "mail/attachment.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "base/fd.h"

namespace postern::mail {

std::string safe_filename(std::string_view name, std::string_view fallback) {
  size_t slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::string out;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    out += c;
  }
  size_t b = 0;
  while (b < out.size() && (out[b] == '.' || out[b] == ' ' || out[b] == '-')) ++b;
  out.erase(0, b);
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
  if (out.size() > 200) {
    size_t cut = 200;
    // Do not split a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  if (out.empty()) out = std::string(fallback);
  return out;
}

base::Result<std::string> save_file(const std::string& dir, const std::string& name,
                                    std::string_view data) {
  size_t dot = name.rfind('.');
  std::string stem = dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
  std::string ext = dot == std::string::npos || dot == 0 ? "" : name.substr(dot);
  for (int n = 0; n < 10000; ++n) {
    std::string candidate = n == 0 ? name : stem + "-" + std::to_string(n) + ext;
    std::string path = dir + "/" + candidate;
    base::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             0644));
    if (!fd) {
      if (errno == EEXIST || errno == ELOOP) continue;
      return base::Error::from_errno(errno, path);
    }
    if (auto st = base::write_all(fd.get(), data); !st) return st.error();
    return path;
  }
  return base::Error::temporary("no free file name for " + name + " in " + dir);
}

}  // namespace postern::mail
