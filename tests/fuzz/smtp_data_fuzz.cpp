// libFuzzer target for the DATA reader and the BDAT content policy (lib/smtp/data.h):
// no crash, the same result however the input is split, and the smuggling invariants —
// an accepted message has CRLF line ends only and no line a next hop could take for the
// end of data once it is dot-stuffed again.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/data.h"

using namespace postern::smtp;

namespace {

struct Outcome {
  bool done;
  size_t used;
  bool refused;
  std::string message;
};

Outcome read_all(std::string_view in, size_t step) {
  DotReader r({.bare_lf = BareLf::kNormalize, .max_size = 1 << 16});
  size_t used = 0;
  while (used < in.size() && !r.done()) {
    size_t n = std::min(step, in.size() - used);
    used += r.feed(in.substr(used, n));
  }
  return {r.done(), used, r.done() && r.problem().has_value(), r.take()};
}

void check_clean(const std::string& m) {
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) __builtin_trap();
    if (m[i] == '\r' && (i + 1 >= m.size() || m[i + 1] != '\n')) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Outcome whole = read_all(in, in.size() + 1);
  Outcome bytes = read_all(in, 1);
  if (whole.done != bytes.done || whole.used != bytes.used || whole.message != bytes.message) {
    __builtin_trap();
  }
  if (whole.done && !whole.refused) check_clean(whole.message);

  std::string msg(in);
  if (!check_content(msg, {.bare_lf = BareLf::kNormalize})) check_clean(msg);
  return 0;
}
