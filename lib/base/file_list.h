// --files-from for the tools that take many messages: the file names in LIST, one a line
// ("-": standard input), appended to `files`. Empty lines are skipped.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace postern::base {

Status append_file_list(const std::string& list, std::vector<std::string>& files);

}  // namespace postern::base
