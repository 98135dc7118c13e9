// Compression for reports: gzip (RFC 1952) written and read, ZIP archives read, all over
// zlib. DMARC aggregate reports (RFC 7489 7.2.1.1) and TLS-RPT reports (RFC 8460) travel as
// .xml.gz / .json.gz, and some reporters send .zip.
//
// Every reader takes a limit on the decompressed size and refuses input that would grow
// beyond it (a "zip bomb": a few kilobytes that inflate to gigabytes), so a hostile
// report cannot exhaust memory.
//
//   std::string gz = *gzip_compress(xml);                // deterministic bytes (mtime 0)
//   auto back = gzip_decompress(gz, 64 << 20);           // Result<std::string>
//   if (is_zip(data)) {
//     auto entries = zip_entries(data);                  // from the central directory
//     auto xml = zip_extract(data, entries->front(), 64 << 20);
//   }
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace postern::base {

// The default limit on decompressed bytes for reports: 64 MiB.
inline constexpr size_t kDefaultInflateLimit = size_t{64} << 20;

// Magic numbers: gzip 1f 8b (RFC 1952 2.3.1); a ZIP local file header "PK\3\4" (or an
// empty archive's end record "PK\5\6").
bool is_gzip(std::string_view data);
bool is_zip(std::string_view data);

// A gzip member (RFC 1952) with no name and mtime 0, so equal input gives equal bytes.
// `level` is zlib's 0-9.
Result<std::string> gzip_compress(std::string_view data, int level = 9);

// Decompresses gzip data; concatenated members (RFC 1952 2.2) are joined. Errors
// (bad_data): not gzip, corrupt or truncated data, a CRC mismatch, or output beyond
// `max_output` bytes.
Result<std::string> gzip_decompress(std::string_view data, size_t max_output);

// Raw deflate (RFC 1951) inflation, as inside ZIP members; same limit rule.
Result<std::string> inflate_raw(std::string_view data, size_t max_output);

// A ZIP archive member as its central directory describes it (APPNOTE 4.3.12).
struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate; others are refused by zip_extract
  uint16_t flags = 0;   // bit 0: encrypted
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;
  uint64_t local_header_offset = 0;
  bool is_directory() const { return !name.empty() && name.back() == '/'; }
};

// The members listed in the archive's central directory. Errors: no end-of-central-directory
// record, a directory that runs past the data, ZIP64 archives, multi-disk archives.
Result<std::vector<ZipEntry>> zip_entries(std::string_view archive);

// A member's bytes: stored (method 0) or deflate (method 8), CRC-32 checked. Other
// methods and encrypted members are refused by name; so is a member whose size is beyond
// `max_output`.
Result<std::string> zip_extract(std::string_view archive, const ZipEntry& entry, size_t max_output);

}  // namespace postern::base
