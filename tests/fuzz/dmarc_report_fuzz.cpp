// libFuzzer target: reading received DMARC aggregate reports (XML through expat, gzip,
// ZIP, whole report messages), the JSON rendering, and writing a parsed report back as
// XML that must parse again. Seed corpus: tests/fuzz/corpus/dmarc_report/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/dmarc_report.h"

namespace rep = postern::auth::dmarc_report;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Small limits: the fuzzer must find the limit checks, not exhaust memory.
  auto reports = rep::read_reports(input, {.max_inflated = 1 << 20, .max_xml = 1 << 20});
  if (!reports) return 0;
  size_t total = 0;
  for (const auto& f : *reports) {
    total += rep::to_json(f, "fuzz").size();
    std::string xml = rep::to_xml(f);
    if (!rep::parse_xml(xml)) __builtin_trap();  // what we write, we read
  }
  return total == static_cast<size_t>(-1) ? 1 : 0;
}
