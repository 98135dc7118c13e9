// Unit tests for lib/mail/maildir: modified UTF-7 (RFC 3501 5.1.3), file names and flags,
// dovecot-keywords, folder names, and reading/writing a tree through MemoryFileSystem.
#include "mail/maildir.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

namespace base = postern::base;
namespace maildir = postern::mail::maildir;
using Strings = std::vector<std::string>;

TEST(Mutf7, Rfc3501Example) {
  // RFC 3501 5.1.3: English, Chinese and Japanese in one name.
  const std::string utf8 = "~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E";
  auto dec = maildir::decode_mutf7("~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  ASSERT_TRUE(dec) << dec.error().message();
  EXPECT_EQ(*dec, utf8);
  auto enc = maildir::encode_mutf7(utf8);
  ASSERT_TRUE(enc);
  EXPECT_EQ(*enc, "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
}

TEST(Mutf7, AmpersandAndAscii) {
  EXPECT_EQ(*maildir::encode_mutf7("Tom & Jerry"), "Tom &- Jerry");
  EXPECT_EQ(*maildir::decode_mutf7("Tom &- Jerry"), "Tom & Jerry");
  // RFC 2152's "Hi Mom -<WHITE SMILING FACE>-!" in the modified form.
  EXPECT_EQ(*maildir::encode_mutf7("Hi Mom -\xE2\x98\xBA-!"), "Hi Mom -&Jjo--!");
  EXPECT_EQ(*maildir::decode_mutf7("Hi Mom -&Jjo--!"), "Hi Mom -\xE2\x98\xBA-!");
  EXPECT_EQ(*maildir::encode_mutf7("Entw\xC3\xBC" "rfe"), "Entw&APw-rfe");
}

TEST(Mutf7, SurrogatePairsRoundTrip) {
  const std::string emoji = "mail \xF0\x9F\x93\xAC";  // U+1F4EC
  auto enc = maildir::encode_mutf7(emoji);
  ASSERT_TRUE(enc);
  EXPECT_EQ(*enc, "mail &2D3c7A-");
  EXPECT_EQ(*maildir::decode_mutf7(*enc), emoji);
}

TEST(Mutf7, RejectsMalformed) {
  EXPECT_FALSE(maildir::decode_mutf7("&Jjo!"));       // RFC 3501: no '-'
  EXPECT_FALSE(maildir::decode_mutf7("&Jj/-"));       // '/' is not modified base64
  EXPECT_FALSE(maildir::decode_mutf7("&2D0-"));       // lone high surrogate
  EXPECT_FALSE(maildir::decode_mutf7("caf\xC3\xA9"));  // raw 8-bit
  EXPECT_FALSE(maildir::decode_mutf7("&AGE"));        // unterminated
  EXPECT_FALSE(maildir::encode_mutf7("bad \xFF"));    // invalid UTF-8
}

TEST(Mutf7, AlsoEncode) {
  auto enc = maildir::encode_mutf7("v1.2", ".");
  ASSERT_TRUE(enc);
  EXPECT_EQ(*enc, "v1&AC4-2");
  EXPECT_EQ(*maildir::decode_mutf7(*enc), "v1.2");
}

TEST(FileName, DovecotName) {
  auto f = maildir::parse_filename("1700000000.M20046P2137.mail.example.org,S=1234,W=1260:2,FRSab");
  EXPECT_EQ(f.time, 1700000000);
  ASSERT_TRUE(f.size);
  EXPECT_EQ(*f.size, 1234u);
  ASSERT_TRUE(f.vsize);
  EXPECT_EQ(*f.vsize, 1260u);
  EXPECT_TRUE(f.has_info);
  EXPECT_EQ(f.flags, "FRS");
  EXPECT_EQ(f.keyword_letters, "ab");
  EXPECT_EQ(f.base, "1700000000.M20046P2137.mail.example.org,S=1234,W=1260");
}

TEST(FileName, PlainAndNew) {
  auto f = maildir::parse_filename("1099999999.12345_1.host");
  EXPECT_EQ(f.time, 1099999999);
  EXPECT_FALSE(f.has_info);
  EXPECT_FALSE(f.size);
  EXPECT_TRUE(f.flags.empty());
  auto g = maildir::parse_filename("notatime.host:2,");
  EXPECT_EQ(g.time, 0);
  EXPECT_TRUE(g.has_info);
}

TEST(FileName, MakeSortsFlags) {
  EXPECT_EQ(maildir::make_filename(1700000000, "P1Q2", "h", 10, 12, "bSRaF"),
            "1700000000.P1Q2.h,S=10,W=12:2,FRSab");
  auto f = maildir::parse_filename(maildir::make_filename(5, "u", "h", 3, 4, "S"));
  EXPECT_EQ(f.time, 5);
  EXPECT_EQ(*f.size, 3u);
  EXPECT_EQ(f.flags, "S");
}

TEST(Keywords, DovecotKeywordsFile) {
  auto table = maildir::KeywordTable::parse("0 $Forwarded\n1 Junk\n3 $Label1\nbad line\n30 x\n");
  EXPECT_EQ(table.name_of('a').value_or(""), "$Forwarded");
  EXPECT_EQ(table.name_of('b').value_or(""), "Junk");
  EXPECT_FALSE(table.name_of('c'));
  EXPECT_EQ(table.name_of('d').value_or(""), "$Label1");
  auto f = maildir::parse_filename("1.u.h:2,PRSabcd");
  EXPECT_EQ(maildir::keywords_of(f, table, false),
            (Strings{"$answered", "$forwarded", "$label1", "$seen", "junk"}));
}

TEST(Keywords, StandardFlagsAndNew) {
  maildir::KeywordTable empty;
  auto f = maildir::parse_filename("1.u.h:2,DFPRST");
  EXPECT_EQ(maildir::keywords_of(f, empty, false),
            (Strings{"$answered", "$deleted", "$draft", "$flagged", "$forwarded", "$seen"}));
  // In new/: no info, no flags; an info part (Dovecot writes one) still counts.
  EXPECT_EQ(maildir::keywords_of(maildir::parse_filename("1.u.h"), empty, true), Strings{});
  EXPECT_EQ(maildir::keywords_of(maildir::parse_filename("1.u.h:2,S"), empty, true),
            Strings{"$seen"});
}

TEST(Keywords, FlagsForAssignsLetters) {
  auto table = maildir::KeywordTable::parse("0 Junk\n");
  auto flags = maildir::flags_for({"$seen", "$forwarded", "junk", "work", "$answered"}, table);
  // junk keeps letter a; $Forwarded gets b, work c; P for $forwarded too.
  EXPECT_EQ(flags, "PRSabc");
  EXPECT_EQ(table.text(), "0 Junk\n1 $Forwarded\n2 work\n");
}

TEST(Keywords, TwentySixLetters) {
  maildir::KeywordTable table;
  Strings many, dropped;
  for (int i = 0; i < 28; ++i) many.push_back("k" + std::to_string(i));
  auto flags = maildir::flags_for(many, table, &dropped);
  EXPECT_EQ(flags.size(), 26u);
  EXPECT_EQ(dropped.size(), 2u);
}

TEST(Keywords, VirtualSize) {
  EXPECT_EQ(maildir::virtual_size("a\nb\r\nc\n"), 9u);
  EXPECT_EQ(maildir::virtual_size(""), 0u);
}

TEST(Folders, NameMapping) {
  EXPECT_EQ(*maildir::folder_dir_name("Lists/Work"), ".Lists.Work");
  EXPECT_EQ(*maildir::folder_dir_name(""), "");
  EXPECT_EQ(*maildir::folder_dir_name("v1.2/x"), ".v1&AC4-2.x");
  EXPECT_EQ(*maildir::folder_dir_name("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"), ".&ZeVnLIqe-");
  EXPECT_FALSE(maildir::folder_dir_name("a//b"));
  EXPECT_EQ(*maildir::folder_path(".Lists.Work"), "Lists/Work");
  EXPECT_EQ(*maildir::folder_path(".v1&AC4-2.x"), "v1.2/x");
  EXPECT_EQ(*maildir::folder_path(".&ZeVnLIqe-"), "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
  EXPECT_FALSE(maildir::folder_path("Lists"));
  EXPECT_FALSE(maildir::folder_path(".a..b"));
  EXPECT_FALSE(maildir::folder_path("."));
  EXPECT_FALSE(maildir::folder_path(".&Jjo"));
}

void put(base::MemoryFileSystem& fs, const std::string& path, const std::string& data) {
  ASSERT_TRUE(base::write_file_atomic(fs, path, data));
}

TEST(Tree, ReadsDovecotLayout) {
  base::MemoryFileSystem fs;
  for (std::string d : {"/m", "/m/cur", "/m/new", "/m/tmp", "/m/.Sent", "/m/.Sent/cur",
                        "/m/.Lists.Work", "/m/.Lists.Work/cur", "/m/.Lists.Work/new",
                        "/m/.&ZeVnLIqe-", "/m/.&ZeVnLIqe-/cur", "/m/.bad&", "/m/.bad&/cur"}) {
    ASSERT_TRUE(fs.make_dir(d));
  }
  put(fs, "/m/cur/100.a.h,S=3:2,RS", "x: 1\n");
  put(fs, "/m/new/200.b.h", "x: 2\n");
  put(fs, "/m/dovecot-keywords", "0 Junk\n");
  put(fs, "/m/.Lists.Work/cur/300.c.h:2,Fa", "x: 3\n");
  put(fs, "/m/subscriptions", "Sent\nLists.Work\n");
  std::vector<std::string> bad;
  auto folders = maildir::list_folders(fs, "/m", &bad);
  ASSERT_TRUE(folders);
  Strings paths;
  for (const auto& f : *folders) paths.push_back(f.path);
  EXPECT_EQ(paths, (Strings{"", "Lists/Work", "Sent", "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E"}));
  EXPECT_EQ(bad, Strings{"/m/.bad&"});
  auto inbox = maildir::list_messages(fs, (*folders)[0]);
  ASSERT_TRUE(inbox);
  ASSERT_EQ(inbox->size(), 2u);
  EXPECT_EQ((*inbox)[0].keywords, (Strings{"$answered", "$seen"}));
  EXPECT_FALSE((*inbox)[0].in_new);
  EXPECT_TRUE((*inbox)[1].in_new);  // 200 is newer than 100
  EXPECT_EQ((*inbox)[1].name.time, 200);
  EXPECT_EQ((*inbox)[1].keywords, Strings{});
  auto lists = maildir::list_messages(fs, (*folders)[1]);
  ASSERT_TRUE(lists);
  ASSERT_EQ(lists->size(), 1u);
  EXPECT_EQ((*lists)[0].keywords, Strings{"$flagged"});  // no dovecot-keywords there
  auto subs = maildir::read_subscriptions(fs, "/m");
  ASSERT_TRUE(subs && *subs);
  EXPECT_EQ(**subs, (Strings{"Sent", "Lists/Work"}));
}

TEST(Tree, FsLayoutAndSubscriptionsV2) {
  base::MemoryFileSystem fs;
  for (std::string d : {"/m", "/m/cur", "/m/Lists", "/m/Lists/Work", "/m/Lists/Work/cur"}) {
    ASSERT_TRUE(fs.make_dir(d));
  }
  put(fs, "/m/subscriptions", "V\t2\n\nLists\tWork\n");
  auto folders = maildir::list_folders(fs, "/m");
  ASSERT_TRUE(folders);
  ASSERT_EQ(folders->size(), 2u);
  EXPECT_EQ((*folders)[1].path, "Lists/Work");
  EXPECT_EQ((*folders)[1].dir, "/m/Lists/Work");
  auto subs = maildir::read_subscriptions(fs, "/m");
  ASSERT_TRUE(subs && *subs);
  EXPECT_EQ(**subs, Strings{"Lists/Work"});
}

TEST(Tree, WriterRoundTrip) {
  base::MemoryFileSystem fs;
  maildir::Writer w(fs, "/out", "host:1/x");
  auto a = w.add("", "Subject: a\n\nbody\n", {"$seen", "junk"}, 1700000000);
  ASSERT_TRUE(a) << a.error().message();
  auto b = w.add("Lists/Work", "Subject: b\n\n", {"$flagged", "$forwarded"}, 1600000000);
  ASSERT_TRUE(b);
  ASSERT_TRUE(w.finish({"", "Lists/Work"}));
  EXPECT_TRUE(fs.exists("/out/.Lists.Work/maildirfolder"));
  EXPECT_TRUE(fs.exists("/out/tmp"));
  EXPECT_EQ(*fs.read("/out/dovecot-keywords"), "0 junk\n");
  EXPECT_EQ(*fs.read("/out/.Lists.Work/dovecot-keywords"), "0 $Forwarded\n");
  EXPECT_EQ(*fs.read("/out/subscriptions"), "Lists.Work\n");
  EXPECT_NE(a->find("/out/cur/1700000000."), std::string::npos);
  EXPECT_NE(a->find(".host_1_x,S=17,W=20:2,Sa"), std::string::npos) << *a;
  EXPECT_EQ(*fs.read(*a), "Subject: a\n\nbody\n");

  auto folders = maildir::list_folders(fs, "/out");
  ASSERT_TRUE(folders);
  ASSERT_EQ(folders->size(), 2u);
  auto inbox = maildir::list_messages(fs, (*folders)[0]);
  ASSERT_TRUE(inbox);
  ASSERT_EQ(inbox->size(), 1u);
  EXPECT_EQ((*inbox)[0].keywords, (Strings{"$seen", "junk"}));
  EXPECT_EQ((*inbox)[0].name.time, 1700000000);
  auto lists = maildir::list_messages(fs, (*folders)[1]);
  ASSERT_TRUE(lists);
  EXPECT_EQ((*lists)[0].keywords, (Strings{"$flagged", "$forwarded"}));
}

TEST(Tree, WriterDovecotUidlist) {
  base::MemoryFileSystem fs;
  maildir::Writer w(fs, "/out", "h");
  ASSERT_TRUE(w.set_uids("", 1234567890, 9));
  auto a = w.add("", "Subject: a\n\n", {"$seen"}, 100, 3);
  auto b = w.add("", "Subject: b\n\n", {}, 200, 8);
  ASSERT_TRUE(a && b);
  // A folder that already has a dovecot-uidlist keeps it.
  ASSERT_TRUE(fs.make_dir("/out/.Old"));
  ASSERT_TRUE(base::write_file_atomic(fs, "/out/.Old/dovecot-uidlist", "3 V1 N2\n1 :x\n"));
  ASSERT_TRUE(w.set_uids("Old", 5, 6));
  ASSERT_TRUE(w.add("Old", "Subject: c\n\n", {}, 300, 5));
  ASSERT_TRUE(w.finish({}));
  auto base_of = [](const std::string& p) {
    std::string n = p.substr(p.rfind('/') + 1);
    return n.substr(0, n.rfind(":2,"));
  };
  EXPECT_EQ(*fs.read("/out/dovecot-uidlist"),
            "3 V1234567890 N9\n3 :" + base_of(*a) + "\n8 :" + base_of(*b) + "\n");
  EXPECT_EQ(*fs.read("/out/.Old/dovecot-uidlist"), "3 V1 N2\n1 :x\n");
}

TEST(Tree, WriterIsDurable) {
  base::MemoryFileSystem fs;
  maildir::Writer w(fs, "/out", "h");
  auto a = w.add("Sent", "Subject: a\n\n", {}, 1);
  ASSERT_TRUE(a);
  fs.crash();  // everything add() returned for was synced
  EXPECT_TRUE(fs.exists(*a));
  EXPECT_EQ(*fs.read(*a), "Subject: a\n\n");
}

TEST(Tree, WriterReportsSyncFailure) {
  base::MemoryFileSystem fs;
  maildir::Writer w(fs, "/out", "h");
  ASSERT_TRUE(w.create_folder(""));
  fs.fail(base::FsOp::kSync, EIO);
  EXPECT_FALSE(w.add("", "Subject: a\n\n", {}, 1));
  auto left = fs.list("/out/tmp");
  ASSERT_TRUE(left);
  EXPECT_TRUE(left->empty());
  auto cur = fs.list("/out/cur");
  ASSERT_TRUE(cur);
  EXPECT_TRUE(cur->empty());
}

}  // namespace
