// Saving attachments to a directory safely: names from the message are never trusted.
//
//   std::string name = safe_filename("../../etc/passwd", "part-2");   // "passwd"
//   auto path = save_file(dir, name, bytes);   // "dir/passwd", or "dir/passwd-1" if taken
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace postern::mail {

// A file name that cannot escape a directory or surprise a shell user: the last path
// component only (both '/' and '\' separate), control characters and NUL removed, leading
// dots and white space stripped, at most 200 bytes (UTF-8 kept whole); `fallback` when
// nothing is left.
std::string safe_filename(std::string_view name, std::string_view fallback);

// Creates `dir/name` exclusively (O_EXCL | O_NOFOLLOW, never overwriting, never following
// a symlink), trying "stem-1.ext", "stem-2.ext", … when taken. Returns the path written.
base::Result<std::string> save_file(const std::string& dir, const std::string& name,
                                    std::string_view data);

}  // namespace postern::mail
