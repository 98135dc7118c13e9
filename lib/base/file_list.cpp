// append_file_list(): one read, split at line ends.
#include "base/file_list.h"

#include "base/fs.h"

namespace postern::base {

Status append_file_list(const std::string& list, std::vector<std::string>& files) {
  auto text = real_fs().read(list == "-" ? "/dev/stdin" : list);
  if (!text) return Error::usage("--files-from: " + text.error().message());
  for (size_t at = 0; at < text->size();) {
    size_t nl = text->find('\n', at);
    if (nl == std::string::npos) nl = text->size();
    if (nl > at) files.push_back(text->substr(at, nl - at));
    at = nl + 1;
  }
  return {};
}

}  // namespace postern::base
