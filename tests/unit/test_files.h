// Shared by the unit tests that read the conformance suites under POSTERN_TESTDATA.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

namespace postern::test {

// A path below the shared test data (../shared/testdata by default; see CMakeLists.txt).
inline std::string testdata(const std::string& rel) {
  return std::string(POSTERN_TESTDATA) + "/" + rel;
}

// The whole file, bytes as they are; "" when it cannot be read (the test's own
// assertions then fail on the content).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The text without any SP, HTAB, CR or LF (to compare folded signature values).
inline std::string no_ws(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') out += c;
  }
  return out;
}

}  // namespace postern::test
