#include "base/compress.h"

#include <zlib.h>

#include <climits>
#include <cstring>

namespace postern::base {

namespace {

constexpr size_t kChunk = 64 * 1024;

std::string human_size(size_t n) {
  if (n >= (size_t{1} << 20) && n % (size_t{1} << 20) == 0) {
    return std::to_string(n >> 20) + " MiB";
  }
  return std::to_string(n) + " bytes";
}

Error too_large(size_t limit) {
  return Error::bad_data("decompressed data larger than the limit of " + human_size(limit));
}

// Inflates with the given windowBits (31: gzip, -15: raw). For gzip, concatenated members
// are read one after another; anything after the last member that is not another member is
// ignored, as gzip(1) does.
Result<std::string> inflate_with(std::string_view data, int window_bits, size_t max_output,
                                 std::string_view what) {
  if (data.size() > UINT_MAX) return Error::bad_data(std::string(what) + " input too large");
  z_stream s{};
  if (inflateInit2(&s, window_bits) != Z_OK) {
    return Error::internal("zlib inflateInit2 failed");
  }
  struct Guard {
    z_stream* s;
    ~Guard() { inflateEnd(s); }
  } guard{&s};
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[kChunk];
  for (;;) {
    s.next_out = reinterpret_cast<Bytef*>(buf);
    s.avail_out = sizeof buf;
    int rc = inflate(&s, Z_NO_FLUSH);
    size_t got = sizeof buf - s.avail_out;
    if (out.size() + got > max_output) return too_large(max_output);
    out.append(buf, got);
    if (rc == Z_STREAM_END) {
      if (window_bits > 0 && s.avail_in >= 2 && s.next_in[0] == 0x1f && s.next_in[1] == 0x8b) {
        inflateReset(&s);  // RFC 1952 2.2: another member follows
        continue;
      }
      return out;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && s.avail_in == 0) {
      return Error::bad_data(std::string(what) + " data is truncated");
    }
    if (rc == Z_BUF_ERROR) continue;  // no progress possible only with a full output buffer
    std::string msg = s.msg ? s.msg : "error " + std::to_string(rc);
    return Error::bad_data(std::string(what) + " data is corrupt: " + msg);
  }
}

uint16_t le16(std::string_view d, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(d[at]) |
                               static_cast<unsigned char>(d[at + 1]) << 8);
}
uint32_t le32(std::string_view d, size_t at) {
  return static_cast<uint32_t>(le16(d, at)) | static_cast<uint32_t>(le16(d, at + 2)) << 16;
}

constexpr uint32_t kLocalHeaderSig = 0x04034b50;    // APPNOTE 4.3.7
constexpr uint32_t kCentralHeaderSig = 0x02014b50;  // APPNOTE 4.3.12
constexpr uint32_t kEndSig = 0x06054b50;            // APPNOTE 4.3.16
constexpr size_t kEndSize = 22;
constexpr size_t kCentralSize = 46;
constexpr size_t kLocalSize = 30;

}  // namespace

bool is_gzip(std::string_view d) {
  return d.size() >= 2 && static_cast<unsigned char>(d[0]) == 0x1f &&
         static_cast<unsigned char>(d[1]) == 0x8b;
}

bool is_zip(std::string_view d) {
  return d.size() >= 4 && (le32(d, 0) == kLocalHeaderSig || le32(d, 0) == kEndSig);
}

Result<std::string> gzip_compress(std::string_view data, int level) {
  if (data.size() > UINT_MAX) return Error::bad_data("gzip input too large");
  z_stream s{};
  // windowBits 15 + 16: a gzip wrapper with a default header (no name, mtime 0, OS unix).
  if (deflateInit2(&s, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    return Error::internal("zlib deflateInit2 failed");
  }
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  std::string out;
  out.resize(deflateBound(&s, static_cast<uLong>(data.size())) + 32);
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&s, Z_FINISH);
  size_t n = out.size() - s.avail_out;
  deflateEnd(&s);
  if (rc != Z_STREAM_END) return Error::internal("zlib deflate failed: " + std::to_string(rc));
  out.resize(n);
  return out;
}

Result<std::string> gzip_decompress(std::string_view data, size_t max_output) {
  if (!is_gzip(data)) return Error::bad_data("not gzip data");
  return inflate_with(data, 15 + 16, max_output, "gzip");
}

Result<std::string> inflate_raw(std::string_view data, size_t max_output) {
  return inflate_with(data, -15, max_output, "deflate");
}

Result<std::vector<ZipEntry>> zip_entries(std::string_view z) {
  if (z.size() < kEndSize) return Error::bad_data("not a ZIP archive: too short");
  // APPNOTE 4.3.16: the end record is the last thing, followed only by a comment of at
  // most 65535 bytes; search backwards for its signature.
  size_t lowest = z.size() >= kEndSize + 0xffff ? z.size() - kEndSize - 0xffff : 0;
  size_t end = std::string_view::npos;
  for (size_t at = z.size() - kEndSize + 1; at-- > lowest;) {
    if (le32(z, at) == kEndSig && at + kEndSize + le16(z, at + 20) <= z.size()) {
      end = at;
      break;
    }
  }
  if (end == std::string_view::npos) {
    return Error::bad_data("not a ZIP archive: no end of central directory record");
  }
  uint16_t disk = le16(z, end + 4), cd_disk = le16(z, end + 6);
  uint16_t count = le16(z, end + 10);
  uint32_t cd_size = le32(z, end + 12), cd_offset = le32(z, end + 16);
  if (disk != 0 || cd_disk != 0 || le16(z, end + 8) != count) {
    return Error::bad_data("multi-disk ZIP archives are not supported");
  }
  if (count == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    return Error::bad_data("ZIP64 archives are not supported");
  }
  if (static_cast<uint64_t>(cd_offset) + cd_size > end) {
    return Error::bad_data("ZIP central directory runs past the end of the data");
  }
  std::vector<ZipEntry> entries;
  size_t at = cd_offset;
  for (uint16_t i = 0; i < count; ++i) {
    if (at + kCentralSize > end || le32(z, at) != kCentralHeaderSig) {
      return Error::bad_data("ZIP central directory entry " + std::to_string(i + 1) +
                             " is damaged");
    }
    ZipEntry e;
    e.flags = le16(z, at + 8);
    e.method = le16(z, at + 10);
    e.crc32 = le32(z, at + 16);
    e.compressed_size = le32(z, at + 20);
    e.size = le32(z, at + 24);
    uint16_t name_len = le16(z, at + 28), extra_len = le16(z, at + 30),
             comment_len = le16(z, at + 32);
    e.local_header_offset = le32(z, at + 42);
    if (e.compressed_size == 0xffffffff || e.size == 0xffffffff ||
        e.local_header_offset == 0xffffffff) {
      return Error::bad_data("ZIP64 archives are not supported");
    }
    size_t next = at + kCentralSize + name_len + extra_len + comment_len;
    if (next > end) {
      return Error::bad_data("ZIP central directory entry " + std::to_string(i + 1) +
                             " runs past the directory");
    }
    e.name.assign(z.substr(at + kCentralSize, name_len));
    entries.push_back(std::move(e));
    at = next;
  }
  return entries;
}

Result<std::string> zip_extract(std::string_view z, const ZipEntry& e, size_t max_output) {
  const std::string what = "ZIP member " + e.name;
  if (e.flags & 1) return Error::bad_data(what + " is encrypted; not supported");
  if (e.method != 0 && e.method != 8) {
    return Error::bad_data(what + " uses compression method " + std::to_string(e.method) +
                           "; only stored (0) and deflate (8) are supported");
  }
  if (e.size > max_output) return too_large(max_output);
  size_t at = e.local_header_offset;
  if (at + kLocalSize > z.size() || le32(z, at) != kLocalHeaderSig) {
    return Error::bad_data(what + ": local file header not found");
  }
  // APPNOTE 4.3.7: the local header's own name and extra lengths place the data; its
  // sizes may be zero (bit 3, a data descriptor follows), so the central directory's are used.
  size_t data_at = at + kLocalSize + le16(z, at + 26) + le16(z, at + 28);
  if (data_at > z.size() || z.size() - data_at < e.compressed_size) {
    return Error::bad_data(what + " runs past the end of the archive");
  }
  std::string_view raw = z.substr(data_at, e.compressed_size);
  std::string out;
  if (e.method == 0) {
    if (e.compressed_size != e.size) {
      return Error::bad_data(what + ": stored member with differing sizes");
    }
    out.assign(raw);
  } else {
    auto inflated = inflate_raw(raw, max_output);
    if (!inflated) return inflated.error().with_context(what);
    out = std::move(*inflated);
  }
  if (out.size() != e.size) return Error::bad_data(what + ": size does not match the directory");
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data()), static_cast<uInt>(out.size()));
  if (static_cast<uint32_t>(crc) != e.crc32) return Error::bad_data(what + ": CRC-32 mismatch");
  return out;
}

}  // namespace postern::base
