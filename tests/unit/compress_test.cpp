// Unit tests for lib/base/compress: gzip both ways, ZIP reading, and the limits that stop
// decompression bombs. ZIP archives are built here byte by byte (APPNOTE 4.3) so every
// field can be made wrong on purpose.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>
#include <vector>

#include "base/compress.h"

namespace {

namespace base = postern::base;

std::string le16(uint16_t v) { return {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)}; }
std::string le32(uint32_t v) { return le16(v & 0xffff) + le16(v >> 16); }

std::string raw_deflate(const std::string& in) {
  z_stream s{};
  deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&s, in.size()) + 16, '\0');
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = in.size();
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = out.size();
  deflate(&s, Z_FINISH);
  out.resize(out.size() - s.avail_out);
  deflateEnd(&s);
  return out;
}

struct Member {
  std::string name;
  std::string data;
  uint16_t method = 8;
  uint16_t flags = 0;
  int32_t crc_delta = 0;
};

std::string make_zip(const std::vector<Member>& members, std::string comment = "") {
  std::string out, central;
  for (const auto& m : members) {
    std::string body = m.method == 8 ? raw_deflate(m.data) : m.data;
    uint32_t crc =
        crc32(0, reinterpret_cast<const Bytef*>(m.data.data()), m.data.size()) + m.crc_delta;
    uint32_t offset = out.size();
    std::string common = le16(20) + le16(m.flags) + le16(m.method) + le16(0) + le16(0) + le32(crc) +
                         le32(body.size()) + le32(m.data.size()) + le16(m.name.size()) + le16(0);
    out += le32(0x04034b50) + common + m.name + body;
    central += le32(0x02014b50) + le16(0x031e) + common + le16(0) + le16(0) + le16(0) + le32(0) +
               le32(offset) + m.name;
  }
  uint32_t cd_offset = out.size();
  out += central;
  out += le32(0x06054b50) + le16(0) + le16(0) + le16(members.size()) + le16(members.size()) +
         le32(central.size()) + le32(cd_offset) + le16(comment.size()) + comment;
  return out;
}

TEST(Gzip, RoundTripAndDeterministic) {
  std::string text = "<feedback>" + std::string(10000, 'x') + "</feedback>\n";
  auto a = base::gzip_compress(text);
  auto b = base::gzip_compress(text);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_TRUE(base::is_gzip(*a));
  EXPECT_LT(a->size(), text.size() / 10);
  // RFC 1952 2.3: ID1 ID2 CM=8, no flags, MTIME 0.
  EXPECT_EQ(a->substr(0, 8), std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8));
  auto back = base::gzip_decompress(*a, 1 << 20);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, text);
  auto empty = base::gzip_compress("");
  ASSERT_TRUE(empty);
  EXPECT_EQ(*base::gzip_decompress(*empty, 10), "");
}

TEST(Gzip, ConcatenatedMembersAreJoined) {
  std::string two = *base::gzip_compress("one ") + *base::gzip_compress("two");
  auto back = base::gzip_decompress(two, 100);
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, "one two");
}

TEST(Gzip, ErrorsAndTheLimit) {
  std::string gz = *base::gzip_compress(std::string(100000, 'a'));
  EXPECT_FALSE(base::gzip_decompress("plain text", 100));
  auto truncated = base::gzip_decompress(gz.substr(0, gz.size() / 2), 1 << 20);
  ASSERT_FALSE(truncated);
  EXPECT_NE(truncated.error().message().find("truncated"), std::string::npos);
  std::string bad = gz;
  bad[bad.size() - 6] ^= 0x55;  // the CRC-32 of the trailer
  auto corrupt = base::gzip_decompress(bad, 1 << 20);
  ASSERT_FALSE(corrupt);
  EXPECT_EQ(corrupt.error().code(), base::ExitCode::kDataErr);
  // A bomb: 100 kB of 'a' is a few hundred bytes compressed; the limit stops it.
  auto bomb = base::gzip_decompress(gz, 1000);
  ASSERT_FALSE(bomb);
  EXPECT_NE(bomb.error().message().find("limit"), std::string::npos);
  EXPECT_TRUE(base::gzip_decompress(gz, 100000));
}

TEST(Zip, StoredAndDeflatedMembers) {
  std::string z =
      make_zip({{"a.xml", "<feedback/>", 0}, {"dir/", "", 0}, {"b.xml", std::string(5000, 'b'), 8}},
               "a comment");
  EXPECT_TRUE(base::is_zip(z));
  auto entries = base::zip_entries(z);
  ASSERT_TRUE(entries) << entries.error().message();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].name, "a.xml");
  EXPECT_TRUE((*entries)[1].is_directory());
  EXPECT_EQ((*entries)[2].method, 8);
  EXPECT_EQ(*base::zip_extract(z, (*entries)[0], 100), "<feedback/>");
  auto b = base::zip_extract(z, (*entries)[2], 10000);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(*b, std::string(5000, 'b'));
  auto limited = base::zip_extract(z, (*entries)[2], 4999);
  ASSERT_FALSE(limited);
  EXPECT_NE(limited.error().message().find("limit"), std::string::npos);
}

TEST(Zip, RefusesWhatItCannotRead) {
  auto bzip2 = make_zip({{"r.xml", "data", 12}});
  auto e = base::zip_entries(bzip2);
  ASSERT_TRUE(e);
  auto r = base::zip_extract(bzip2, e->front(), 100);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("compression method 12"), std::string::npos);

  auto enc = make_zip({{"r.xml", "data", 0, 1}});
  r = base::zip_extract(enc, base::zip_entries(enc)->front(), 100);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("encrypted"), std::string::npos);

  auto crc = make_zip({{"r.xml", "data", 8, 0, 1}});
  r = base::zip_extract(crc, base::zip_entries(crc)->front(), 100);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("CRC"), std::string::npos);

  std::string good = make_zip({{"r.xml", "data", 8}});
  EXPECT_FALSE(base::zip_entries("PK\3\4 not really"));
  EXPECT_FALSE(base::zip_entries(good.substr(0, good.size() - 3)));  // end record cut
  std::string cut = good;
  cut.erase(10, 20);  // central directory offset now points past its place
  EXPECT_FALSE(base::zip_entries(cut));
}

}  // namespace
