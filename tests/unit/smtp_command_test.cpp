// Unit tests for lib/smtp/command: command lines, MAIL FROM / RCPT TO arguments with every
// ESMTP parameter Postern offers, mailbox syntax (quoted local parts, address literals,
// UTF-8, lengths), xtext and reply formatting. Table-driven: each table row is one test.
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "smtp/command.h"
#include "printable.h"

namespace {

using namespace postern::smtp;
using postern::store::queue::Body;
using postern::store::queue::Ret;
namespace queue = postern::store::queue;

constexpr Offered kNone{};
constexpr Offered kAll{.size = true,
                       .eightbitmime = true,
                       .binarymime = true,
                       .smtputf8 = true,
                       .dsn = true,
                       .requiretls = true,
                       .auth = true,
                       .max_size = 10000000};
constexpr Offered kSizeOnly{.size = true};
constexpr Offered k8BitOnly{.eightbitmime = true};
constexpr Offered kBinaryOnly{.binarymime = true};

// ---------------------------------------------------------------- parse_command

struct CommandCase {
  std::string line;
  Verb verb;
  std::string name;
  std::string arg;
};
void PrintTo(const CommandCase& c, std::ostream* os) { *os << '"' << printable(c.line) << '"'; }

class ParseCommand : public testing::TestWithParam<CommandCase> {};

TEST_P(ParseCommand, SplitsVerbAndArgument) {
  const CommandCase& c = GetParam();
  Command got = parse_command(c.line);
  EXPECT_EQ(got.verb, c.verb);
  EXPECT_EQ(got.name, c.name);
  EXPECT_EQ(got.arg, c.arg);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseCommand,
    testing::Values(
        CommandCase{"MAIL FROM:<ann@example.org>", Verb::kMail, "MAIL", "FROM:<ann@example.org>"},
        CommandCase{"mail from:<ann@example.org>", Verb::kMail, "MAIL", "from:<ann@example.org>"},
        CommandCase{"Rcpt To:<bob@example.org> NOTIFY=NEVER", Verb::kRcpt, "RCPT",
                    "To:<bob@example.org> NOTIFY=NEVER"},
        CommandCase{"EHLO client.example", Verb::kEhlo, "EHLO", "client.example"},
        CommandCase{"ehlo   client.example", Verb::kEhlo, "EHLO", "client.example"},
        CommandCase{"HELO client.example", Verb::kHelo, "HELO", "client.example"},
        CommandCase{"LHLO client.example", Verb::kLhlo, "LHLO", "client.example"},
        CommandCase{"DATA", Verb::kData, "DATA", ""}, CommandCase{"data", Verb::kData, "DATA", ""},
        CommandCase{"DATA x", Verb::kData, "DATA", "x"},
        CommandCase{"BDAT 1000 LAST", Verb::kBdat, "BDAT", "1000 LAST"},
        CommandCase{"RSET", Verb::kRset, "RSET", ""},
        CommandCase{"NOOP hello there", Verb::kNoop, "NOOP", "hello there"},
        CommandCase{"QUIT", Verb::kQuit, "QUIT", ""},
        CommandCase{"VRFY ann", Verb::kVrfy, "VRFY", "ann"},
        CommandCase{"EXPN staff", Verb::kExpn, "EXPN", "staff"},
        CommandCase{"HELP", Verb::kHelp, "HELP", ""},
        CommandCase{"StartTLS", Verb::kStarttls, "STARTTLS", ""},
        CommandCase{"STARTTLS\t", Verb::kStarttls, "STARTTLS", ""},
        CommandCase{"AUTH PLAIN AGFubgBzZWNyZXQ=", Verb::kAuth, "AUTH", "PLAIN AGFubgBzZWNyZXQ="},
        CommandCase{"auth\tlogin", Verb::kAuth, "AUTH", "login"},
        CommandCase{"XYZZY plugh", Verb::kUnknown, "XYZZY", "plugh"},
        CommandCase{"MAILFROM:<ann@example.org>", Verb::kUnknown, "MAILFROM:<ANN@EXAMPLE.ORG>", ""},
        CommandCase{"", Verb::kUnknown, "", ""}, CommandCase{"   ", Verb::kUnknown, "", ""},
        CommandCase{"DATAX", Verb::kUnknown, "DATAX", ""},
        CommandCase{"QUIT now please ", Verb::kQuit, "QUIT", "now please "}));

// ---------------------------------------------------------------- valid_mailbox

struct MailboxCase {
  std::string address;
  bool utf8;
  bool valid;
};
void PrintTo(const MailboxCase& c, std::ostream* os) {
  *os << '"' << printable(c.address) << "\" utf8=" << c.utf8;
}

class ValidMailbox : public testing::TestWithParam<MailboxCase> {};

TEST_P(ValidMailbox, FollowsRfc5321) {
  const MailboxCase& c = GetParam();
  EXPECT_EQ(valid_mailbox(c.address, c.utf8), c.valid);
}

std::string label(size_t n) { return std::string(n, 'a'); }

INSTANTIATE_TEST_SUITE_P(
    Table, ValidMailbox,
    testing::Values(
        // dot-atom local parts
        MailboxCase{"ann@example.org", false, true}, MailboxCase{"ann@example.org", true, true},
        MailboxCase{"a.b.c@example.org", false, true},
        MailboxCase{"ann+tag@example.org", false, true},
        MailboxCase{"!#$%&'*+-/=?^_`{|}~@example.org", false, true},
        MailboxCase{"x@y", false, true}, MailboxCase{"ann@localhost", false, true},
        MailboxCase{"ann@123.example", false, true}, MailboxCase{"ann@a-b.example", false, true},
        MailboxCase{".ann@example.org", false, false},
        MailboxCase{"ann.@example.org", false, false},
        MailboxCase{"a..b@example.org", false, false},
        MailboxCase{"ann smith@example.org", false, false},
        MailboxCase{"ann(comment)@example.org", false, false},
        MailboxCase{"ann,bob@example.org", false, false}, MailboxCase{"ann", false, false},
        MailboxCase{"postmaster", false, false}, MailboxCase{"ann@", false, false},
        MailboxCase{"@example.org", false, false}, MailboxCase{"", false, false},
        MailboxCase{"ann@@example.org", false, false},
        MailboxCase{"ann@b@example.org", false, false},
        // quoted local parts (RFC 5321 4.1.2 Quoted-string)
        MailboxCase{"\"ann smith\"@example.org", false, true},
        MailboxCase{"\"a@b\"@example.org", false, true},
        MailboxCase{"\"a>b\"@example.org", false, true},
        MailboxCase{"\"a\\\"b\"@example.org", false, true},
        MailboxCase{"\"a\\\\b\"@example.org", false, true},
        MailboxCase{"\"\"@example.org", false, true},
        MailboxCase{"\"a..b\"@example.org", false, true},
        MailboxCase{"\"a\"b@example.org", false, false},
        MailboxCase{"\"a\".b@example.org", false, false},
        MailboxCase{"\"unterminated@example.org", false, false},
        MailboxCase{"\"a\\\"@example.org", false, false},
        MailboxCase{"\"tab\there\"@example.org", false, false},
        MailboxCase{"\"nul\x01\"@example.org", false, false}, MailboxCase{"\"a\"", false, false},
        // domains (RFC 5321 4.1.2 Domain, sub-domain = Let-dig [Ldh-str])
        MailboxCase{"ann@-example.org", false, false},
        MailboxCase{"ann@example-.org", false, false},
        MailboxCase{"ann@ex_ample.org", false, false},
        MailboxCase{"ann@example..org", false, false},
        MailboxCase{"ann@.example.org", false, false},
        MailboxCase{"ann@example.org.", false, false},
        MailboxCase{"ann@exa mple.org", false, false},
        // address literals (RFC 5321 4.1.3)
        MailboxCase{"ann@[192.0.2.1]", false, true},
        MailboxCase{"ann@[001.002.003.004]", false, true},
        MailboxCase{"ann@[255.255.255.255]", false, true},
        MailboxCase{"ann@[192.0.2.256]", false, false}, MailboxCase{"ann@[192.0.2]", false, false},
        MailboxCase{"ann@[192.0.2.1.5]", false, false},
        MailboxCase{"ann@[1922.0.2.1]", false, false}, MailboxCase{"ann@[192.0.2.1", false, false},
        MailboxCase{"ann@192.0.2.1]", false, false}, MailboxCase{"ann@[]", false, false},
        MailboxCase{"ann@[IPv6:2001:db8::1]", false, true},
        MailboxCase{"ann@[ipv6:2001:DB8::1]", false, true},
        MailboxCase{"ann@[IPv6:2001:db8:0:0:0:0:0:1]", false, true},
        MailboxCase{"ann@[IPv6:::ffff:192.0.2.1]", false, true},
        MailboxCase{"ann@[IPv6:2001:db8::g]", false, false},
        MailboxCase{"ann@[IPv6:2001:db8:::1]", false, false},
        MailboxCase{"ann@[IPv6:]", false, false}, MailboxCase{"ann@[2001:db8::1]", false, false},
        MailboxCase{"ann@[x-tag:whatever]", false, false},
        // UTF-8 (RFC 6531 3.3)
        MailboxCase{"jos\xc3\xa9@example.org", true, true},
        MailboxCase{"jos\xc3\xa9@example.org", false, false},
        MailboxCase{"ann@b\xc3\xbc"
                    "cher.example",
                    true, true},
        MailboxCase{"ann@b\xc3\xbc"
                    "cher.example",
                    false, false},
        MailboxCase{"\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a",
                    true, true},
        MailboxCase{"\"jos\xc3\xa9 x\"@example.org", true, true},
        MailboxCase{"\"jos\xc3\xa9 x\"@example.org", false, false},
        MailboxCase{"\xc3\x28@example.org", true, false},      // invalid UTF-8
        MailboxCase{"\xed\xa0\x80@example.org", true, false},  // a surrogate
        MailboxCase{"\xc0\xaf@example.org", true, false},      // overlong
        MailboxCase{"ann@exa\xff"
                    "mple.org",
                    true, false},
        // lengths (RFC 5321 4.5.3.1)
        MailboxCase{std::string(64, 'a') + "@example.org", false, true},
        MailboxCase{std::string(65, 'a') + "@example.org", false, false},
        MailboxCase{"\"" + std::string(62, 'a') + "\"@example.org", false, true},
        MailboxCase{"\"" + std::string(63, 'a') + "\"@example.org", false, false},
        MailboxCase{"ann@" + label(63) + ".org", false, true},
        MailboxCase{"ann@" + label(64) + ".org", false, false},
        // 255 octets: labels 63, 63, 63, 61, 1; 256 octets: 63, 63, 63, 62, 1.
        MailboxCase{"ann@" + label(63) + "." + label(63) + "." + label(63) + "." + label(61) + ".a",
                    false, true},
        MailboxCase{"ann@" + label(63) + "." + label(63) + "." + label(63) + "." + label(62) + ".a",
                    false, false}));

TEST(Has8Bit, AnyHighByte) {
  EXPECT_FALSE(has_8bit(""));
  EXPECT_FALSE(has_8bit("plain ascii \x7f"));
  EXPECT_TRUE(has_8bit("\x80"));
  EXPECT_TRUE(has_8bit("jos\xc3\xa9"));
  EXPECT_TRUE(has_8bit(std::string("a\0\xff", 3)));
}

// ---------------------------------------------------------------- parse_mail

struct MailCase {
  std::string arg;
  Offered offered;
  int code = 0;  // 0: accepted
  std::string enhanced = "";
  // expected values when accepted
  std::string sender = "";
  std::optional<uint64_t> size = std::nullopt;
  Body body = Body::k7Bit;
  bool smtputf8 = false;
  Ret ret = Ret::kDefault;
  std::string envid = "";
  bool requiretls = false;
  std::optional<std::string> auth = std::nullopt;
};
void PrintTo(const MailCase& c, std::ostream* os) { *os << '"' << printable(c.arg) << '"'; }

class ParseMail : public testing::TestWithParam<MailCase> {};

TEST_P(ParseMail, AcceptsOrRefusesWithTheRightReply) {
  const MailCase& c = GetParam();
  auto m = parse_mail(c.arg, c.offered);
  if (c.code) {
    ASSERT_FALSE(m.ok()) << "accepted, sender \"" << m->sender << "\"";
    EXPECT_EQ(m.error().smtp_code(), c.code) << m.error().message();
    EXPECT_EQ(m.error().enhanced(), c.enhanced) << m.error().message();
    EXPECT_FALSE(m.error().message().empty());
    EXPECT_FALSE(m.error().temporary());
    return;
  }
  ASSERT_TRUE(m.ok()) << m.error().smtp_reply();
  EXPECT_EQ(m->sender, c.sender);
  EXPECT_EQ(m->size, c.size);
  EXPECT_EQ(m->body, c.body);
  EXPECT_EQ(m->smtputf8, c.smtputf8);
  EXPECT_EQ(m->ret, c.ret);
  EXPECT_EQ(m->envid, c.envid);
  EXPECT_EQ(m->requiretls, c.requiretls);
  EXPECT_EQ(m->auth, c.auth);
}

// RFC 5321 4.5.3.1.3: a path of exactly 256 octets, brackets included.
const std::string kLongPath =
    "FROM:<" + std::string(64, 'a') + "@" + label(63) + "." + label(63) + "." + label(61) + ">";

INSTANTIATE_TEST_SUITE_P(
    Accepted, ParseMail,
    testing::Values(
        MailCase{.arg = "FROM:<ann@example.org>", .offered = kNone, .sender = "ann@example.org"},
        MailCase{.arg = "FROM:<>", .offered = kNone, .sender = ""},
        MailCase{.arg = "from:<ann@example.org>", .offered = kNone, .sender = "ann@example.org"},
        MailCase{.arg = "From:<ann@example.org>", .offered = kNone, .sender = "ann@example.org"},
        MailCase{.arg = "FROM: <ann@example.org>", .offered = kNone, .sender = "ann@example.org"},
        MailCase{.arg = "FROM:  <>", .offered = kNone, .sender = ""},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=1200 BODY=8BITMIME",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .size = 1200,
                 .body = Body::k8BitMime},
        MailCase{.arg = "FROM:<ann@example.org> size=1200 body=8bitmime",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .size = 1200,
                 .body = Body::k8BitMime},
        MailCase{.arg = "FROM:<ann@example.org>  SIZE=1200   BODY=7BIT ",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .size = 1200},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=0",
                 .offered = kSizeOnly,
                 .sender = "ann@example.org",
                 .size = 0},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=10000000",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .size = 10000000},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=18446744073709551615",
                 .offered = kSizeOnly,
                 .sender = "ann@example.org",
                 .size = 18446744073709551615ull},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=00000000000000000042",
                 .offered = kSizeOnly,
                 .sender = "ann@example.org",
                 .size = 42},
        MailCase{.arg = "FROM:<ann@example.org> BODY=7BIT",
                 .offered = k8BitOnly,
                 .sender = "ann@example.org"},
        MailCase{.arg = "FROM:<ann@example.org> BODY=BINARYMIME",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .body = Body::kBinaryMime},
        MailCase{.arg = "FROM:<ann@example.org> BODY=binarymime",
                 .offered = kBinaryOnly,
                 .sender = "ann@example.org",
                 .body = Body::kBinaryMime},
        MailCase{.arg = "FROM:<jos\xc3\xa9@example.org> SMTPUTF8",
                 .offered = kAll,
                 .sender = "jos\xc3\xa9@example.org",
                 .smtputf8 = true},
        MailCase{.arg = "FROM:<ann@example.org> smtputf8",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .smtputf8 = true},
        MailCase{.arg = "FROM:<> SMTPUTF8 BODY=8BITMIME",
                 .offered = kAll,
                 .sender = "",
                 .body = Body::k8BitMime,
                 .smtputf8 = true},
        MailCase{.arg = "FROM:<ann@example.org> RET=HDRS ENVID=QQ+2B1",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .ret = Ret::kHeaders,
                 .envid = "QQ+1"},
        MailCase{.arg = "FROM:<ann@example.org> RET=full",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .ret = Ret::kFull},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=" + std::string(100, 'e'),
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .envid = std::string(100, 'e')},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=a+20b+3Dc",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .envid = "a b=c"},
        MailCase{.arg = "FROM:<ann@example.org> REQUIRETLS",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .requiretls = true},
        MailCase{.arg = "FROM:<ann@example.org> AUTH=<>",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .auth = "<>"},
        MailCase{.arg = "FROM:<ann@example.org> AUTH=ann+2Btag@example.org",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .auth = "ann+tag@example.org"},
        MailCase{.arg = "FROM:<ann@example.org> AUTH=j+C3+A9@example.org",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .auth = "j\xc3\xa9@example.org"},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=5 BODY=8BITMIME SMTPUTF8 RET=FULL "
                        "ENVID=id1 REQUIRETLS AUTH=<>",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .size = 5,
                 .body = Body::k8BitMime,
                 .smtputf8 = true,
                 .ret = Ret::kFull,
                 .envid = "id1",
                 .requiretls = true,
                 .auth = "<>"},
        MailCase{.arg = "FROM:<@relay.example,@b.example:ann@example.org>",
                 .offered = kNone,
                 .sender = "ann@example.org"},
        MailCase{.arg = "FROM:<@relay.example:ann@example.org> SIZE=1",
                 .offered = kAll,
                 .sender = "ann@example.org",
                 .size = 1},
        MailCase{.arg = "FROM:<\"ann > bob\"@example.org>",
                 .offered = kNone,
                 .sender = "\"ann > bob\"@example.org"},
        MailCase{.arg = "FROM:<\"a\\\"b\"@example.org> SIZE=9",
                 .offered = kAll,
                 .sender = "\"a\\\"b\"@example.org",
                 .size = 9},
        MailCase{.arg = "FROM:<ann@[192.0.2.1]>", .offered = kNone, .sender = "ann@[192.0.2.1]"},
        MailCase{.arg = "FROM:<ann@[IPv6:2001:db8::25]>",
                 .offered = kNone,
                 .sender = "ann@[IPv6:2001:db8::25]"},
        MailCase{.arg = kLongPath,
                 .offered = kNone,
                 .sender = kLongPath.substr(6, kLongPath.size() - 7)}));

INSTANTIATE_TEST_SUITE_P(
    Refused, ParseMail,
    testing::Values(
        // syntax of the command itself: 501 5.5.4
        MailCase{.arg = "", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:ann@example.org", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{
            .arg = "FROM <ann@example.org>", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{.arg = "FROM: ", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{.arg = "TO:<ann@example.org>", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{
            .arg = "FROM:<\"ann>@example.org>", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org>SIZE=100",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> =100",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> -FOO",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SI_ZE=1",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{
            .arg = "FROM:<@relay.example:>", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<@relay.example ann@example.org>",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<@relay.example,:ann@example.org>",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{
            .arg = "FROM:<@:ann@example.org>", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<" + std::string(64, 'a') + "@" + label(63) + "." + label(63) + "." +
                        label(63) + "." + label(60) + ">",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},  // path over 256 octets
        MailCase{.arg = "FROM:<" + std::string(64, 'a') + "@" + label(63) + "." + label(63) + "." +
                        label(62) + ">",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},  // 257 octets
        // parameters given twice: 501
        MailCase{.arg = "FROM:<ann@example.org> SIZE=1 SIZE=2",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=1 size=1",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> BODY=7BIT BODY=8BITMIME",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SMTPUTF8 SMTPUTF8",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> RET=FULL RET=HDRS",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=a ENVID=a",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> REQUIRETLS requiretls",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> AUTH=<> AUTH=<>",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        // bad values: 501
        MailCase{.arg = "FROM:<ann@example.org> SIZE",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=12a",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=-1",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=+1",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=18446744073709551616",
                 .offered = kSizeOnly,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SIZE=000000000000000000001",
                 .offered = kSizeOnly,
                 .code = 501,
                 .enhanced = "5.5.4"},  // 21 digits
        MailCase{.arg = "FROM:<ann@example.org> SIZE=1\x01",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> BODY=9BIT",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> BODY",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SMTPUTF8=yes",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> RET=ALL",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{
            .arg = "FROM:<ann@example.org> RET", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=a+2",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=a+XY",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=a=b",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=+0A",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=x+C3+A9",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=" + std::string(101, 'e'),
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> REQUIRETLS=yes",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> AUTH=a+zz",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> AUTH",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> AUTH=a+0Db@example.org",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> AUTH=",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=\xc3\xa9",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> X=\xc3\x28",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        // not offered or unknown: 555 5.5.4
        MailCase{.arg = "FROM:<ann@example.org> SIZE=100",
                 .offered = kNone,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> BODY=8BITMIME",
                 .offered = kNone,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> BODY=7BIT",
                 .offered = kSizeOnly,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> BODY=BINARYMIME",
                 .offered = k8BitOnly,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> BODY=8BITMIME",
                 .offered = kBinaryOnly,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> SMTPUTF8",
                 .offered = kSizeOnly,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> RET=FULL",
                 .offered = kSizeOnly,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> ENVID=x",
                 .offered = kNone,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> REQUIRETLS",
                 .offered = kNone,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> AUTH=<>",
                 .offered = kNone,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> X-FOO=bar",
                 .offered = kAll,
                 .code = 555,
                 .enhanced = "5.5.4"},
        MailCase{.arg = "FROM:<ann@example.org> NOTIFY=NEVER",
                 .offered = kAll,
                 .code = 555,
                 .enhanced = "5.5.4"},  // a RCPT parameter
        MailCase{.arg = "FROM:<ann@example.org> ORCPT=rfc822;a@b",
                 .offered = kAll,
                 .code = 555,
                 .enhanced = "5.5.4"},
        // size over the limit: 552 5.3.4
        MailCase{.arg = "FROM:<ann@example.org> SIZE=10000001",
                 .offered = kAll,
                 .code = 552,
                 .enhanced = "5.3.4"},
        MailCase{.arg = "FROM:<> BODY=8BITMIME SIZE=99999999999",
                 .offered = kAll,
                 .code = 552,
                 .enhanced = "5.3.4"},
        // non-ASCII without SMTPUTF8: 553 5.6.7
        MailCase{.arg = "FROM:<jos\xc3\xa9@example.org>",
                 .offered = kAll,
                 .code = 553,
                 .enhanced = "5.6.7"},
        MailCase{.arg = "FROM:<jos\xc3\xa9@example.org>",
                 .offered = kNone,
                 .code = 553,
                 .enhanced = "5.6.7"},
        MailCase{.arg = "FROM:<ann@b\xc3\xbc"
                        "cher.example> BODY=8BITMIME",
                 .offered = kAll,
                 .code = 553,
                 .enhanced = "5.6.7"},
        // bad sender address: 501 5.1.7
        MailCase{.arg = "FROM:<ann>", .offered = kAll, .code = 501, .enhanced = "5.1.7"},
        MailCase{.arg = "FROM:<postmaster>", .offered = kAll, .code = 501, .enhanced = "5.1.7"},
        MailCase{
            .arg = "FROM:<ann@@example.org>", .offered = kAll, .code = 501, .enhanced = "5.1.7"},
        MailCase{
            .arg = "FROM:<ann..b@example.org>", .offered = kAll, .code = 501, .enhanced = "5.1.7"},
        MailCase{
            .arg = "FROM:<ann@example_org>", .offered = kAll, .code = 501, .enhanced = "5.1.7"},
        MailCase{
            .arg = "FROM:<ann@[300.1.1.1]>", .offered = kAll, .code = 501, .enhanced = "5.1.7"},
        MailCase{
            .arg = "FROM:< ann@example.org>", .offered = kAll, .code = 501, .enhanced = "5.1.7"},
        MailCase{.arg = "FROM:<" + std::string(65, 'a') + "@example.org>",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.1.7"},
        MailCase{.arg = "FROM:<\xc3\x28@example.org> SMTPUTF8",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.1.7"}));

// ---------------------------------------------------------------- parse_rcpt

struct RcptCase {
  std::string arg;
  Offered offered;
  int code = 0;
  std::string enhanced = "";
  std::string address = "";
  std::string orcpt = "";
  unsigned notify = 0;
};
void PrintTo(const RcptCase& c, std::ostream* os) { *os << '"' << printable(c.arg) << '"'; }

class ParseRcpt : public testing::TestWithParam<RcptCase> {};

TEST_P(ParseRcpt, AcceptsOrRefusesWithTheRightReply) {
  const RcptCase& c = GetParam();
  auto r = parse_rcpt(c.arg, c.offered);
  if (c.code) {
    ASSERT_FALSE(r.ok()) << "accepted, address \"" << r->address << "\"";
    EXPECT_EQ(r.error().smtp_code(), c.code) << r.error().message();
    EXPECT_EQ(r.error().enhanced(), c.enhanced) << r.error().message();
    return;
  }
  ASSERT_TRUE(r.ok()) << r.error().smtp_reply();
  EXPECT_EQ(r->address, c.address);
  EXPECT_EQ(r->orcpt, c.orcpt);
  EXPECT_EQ(r->notify, c.notify);
}

constexpr unsigned kSF = queue::kNotifySuccess | queue::kNotifyFailure;
constexpr unsigned kFD = queue::kNotifyFailure | queue::kNotifyDelay;
constexpr unsigned kSFD = queue::kNotifySuccess | queue::kNotifyFailure | queue::kNotifyDelay;

INSTANTIATE_TEST_SUITE_P(
    Accepted, ParseRcpt,
    testing::Values(
        RcptCase{.arg = "TO:<bob@example.org>", .offered = kNone, .address = "bob@example.org"},
        RcptCase{.arg = "to:<bob@example.org>", .offered = kNone, .address = "bob@example.org"},
        RcptCase{.arg = "To: <bob@example.org>", .offered = kNone, .address = "bob@example.org"},
        RcptCase{.arg = "TO:<bob@example.org> ", .offered = kNone, .address = "bob@example.org"},
        RcptCase{.arg = "TO:<Postmaster>", .offered = kNone, .address = "Postmaster"},
        RcptCase{.arg = "TO:<postmaster>", .offered = kNone, .address = "postmaster"},
        RcptCase{.arg = "TO:<POSTMASTER> NOTIFY=NEVER",
                 .offered = kAll,
                 .address = "POSTMASTER",
                 .notify = queue::kNotifyNever},
        RcptCase{.arg = "TO:<Postmaster@example.org>",
                 .offered = kNone,
                 .address = "Postmaster@example.org"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=SUCCESS,FAILURE",
                 .offered = kAll,
                 .address = "bob@example.org",
                 .notify = kSF},
        RcptCase{.arg = "TO:<bob@example.org> notify=failure,delay",
                 .offered = kAll,
                 .address = "bob@example.org",
                 .notify = kFD},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=DELAY,SUCCESS,FAILURE",
                 .offered = kAll,
                 .address = "bob@example.org",
                 .notify = kSFD},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=never",
                 .offered = kAll,
                 .address = "bob@example.org",
                 .notify = queue::kNotifyNever},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=DELAY",
                 .offered = kAll,
                 .address = "bob@example.org",
                 .notify = queue::kNotifyDelay},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=rfc822;bob+2Bx@example.org",
                 .offered = kAll,
                 .address = "bob@example.org",
                 .orcpt = "rfc822;bob+x@example.org"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=RFC822;bob@example.org NOTIFY=FAILURE,DELAY",
                 .offered = kAll,
                 .address = "bob@example.org",
                 .orcpt = "rfc822;bob@example.org",
                 .notify = kFD},
        RcptCase{.arg = "TO:<bob@example.org> orcpt=x-local;Bob+20Smith",
                 .offered = kAll,
                 .address = "bob@example.org",
                 .orcpt = "x-local;Bob Smith"},
        RcptCase{.arg = "TO:<@hop.example:bob@example.org>",
                 .offered = kNone,
                 .address = "bob@example.org"},
        RcptCase{.arg = "TO:<\"bob jones\"@example.org>",
                 .offered = kNone,
                 .address = "\"bob jones\"@example.org"},
        RcptCase{.arg = "TO:<bob@[IPv6:2001:db8::1]>",
                 .offered = kNone,
                 .address = "bob@[IPv6:2001:db8::1]"},
        RcptCase{.arg = "TO:<bob@[192.0.2.7]>", .offered = kNone, .address = "bob@[192.0.2.7]"},
        RcptCase{.arg = "TO:<b\xc3\xb6"
                        "b@example.org>",
                 .offered = kAll,
                 .address = "b\xc3\xb6"
                            "b@example.org"},
        RcptCase{.arg = "TO:<\xe7\x94\xa8@\xe4\xbe\x8b.\xe5\xb9\xbf\xe5\x91\x8a>",
                 .offered = kAll,
                 .address = "\xe7\x94\xa8@\xe4\xbe\x8b.\xe5\xb9\xbf\xe5\x91\x8a"}));

INSTANTIATE_TEST_SUITE_P(
    Refused, ParseRcpt,
    testing::Values(
        RcptCase{.arg = "TO:<>", .offered = kAll, .code = 553, .enhanced = "5.1.3"},
        RcptCase{.arg = "TO:<bob>", .offered = kAll, .code = 553, .enhanced = "5.1.3"},
        RcptCase{.arg = "TO:<bob@example..org>", .offered = kAll, .code = 553, .enhanced = "5.1.3"},
        RcptCase{.arg = "TO:<bob@>", .offered = kAll, .code = 553, .enhanced = "5.1.3"},
        RcptCase{.arg = "TO:<postmaster@>", .offered = kAll, .code = 553, .enhanced = "5.1.3"},
        RcptCase{
            .arg = "TO:<\"bob@example.org>", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:bob@example.org", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        RcptCase{
            .arg = "FROM:<bob@example.org>", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        RcptCase{.arg = "TO <bob@example.org>", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<b\xc3\xb6"
                        "b@example.org>",
                 .offered = kNone,
                 .code = 553,
                 .enhanced = "5.6.7"},
        RcptCase{.arg = "TO:<b\xc3\xb6"
                        "b@example.org>",
                 .offered = kSizeOnly,
                 .code = 553,
                 .enhanced = "5.6.7"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=NEVER,SUCCESS",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=FAILURE,NEVER",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=SOMETIMES",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=SUCCESS,",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=,SUCCESS",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=SUCCESS NOTIFY=FAILURE",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=rfc822;a@b orcpt=rfc822;a@b",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=bob@example.org",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=rfc822;",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=;bob@example.org",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=rfc822;bob+ZZ",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=rf(c;bob",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{
            .arg = "TO:<bob@example.org> ORCPT", .offered = kAll, .code = 501, .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=rfc822;" + std::string(494, 'b'),
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org>NOTIFY=NEVER",
                 .offered = kAll,
                 .code = 501,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> NOTIFY=SUCCESS",
                 .offered = kNone,
                 .code = 555,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> ORCPT=rfc822;bob@example.org",
                 .offered = kSizeOnly,
                 .code = 555,
                 .enhanced = "5.5.4"},
        RcptCase{.arg = "TO:<bob@example.org> SIZE=100",
                 .offered = kAll,
                 .code = 555,
                 .enhanced = "5.5.4"},
        RcptCase{
            .arg = "TO:<bob@example.org> FOO", .offered = kAll, .code = 555, .enhanced = "5.5.4"}));

TEST(ParseRcpt, OrcptAtTheLengthLimit) {
  const std::string addr(493, 'b');  // "rfc822;" + 493 = 500 characters
  auto r = parse_rcpt("TO:<bob@example.org> ORCPT=rfc822;" + addr, kAll);
  ASSERT_TRUE(r.ok()) << r.error().smtp_reply();
  EXPECT_EQ(r->orcpt, "rfc822;" + addr);
}

// ---------------------------------------------------------------- xtext

struct XtextCase {
  std::string encoded;
  std::optional<std::string> decoded;  // nullopt: malformed
};
void PrintTo(const XtextCase& c, std::ostream* os) { *os << '"' << printable(c.encoded) << '"'; }

class XtextDecode : public testing::TestWithParam<XtextCase> {};

TEST_P(XtextDecode, Rfc3461) {
  const XtextCase& c = GetParam();
  EXPECT_EQ(xtext_decode(c.encoded), c.decoded);
}

INSTANTIATE_TEST_SUITE_P(
    Table, XtextDecode,
    testing::Values(XtextCase{"", ""}, XtextCase{"abc", "abc"}, XtextCase{"a+2Bb", "a+b"},
                    XtextCase{"+3D", "="}, XtextCase{"+2b", "+"}, XtextCase{"+2B+2B", "++"},
                    XtextCase{"~!\"#", "~!\"#"}, XtextCase{"+00", std::string(1, '\0')},
                    XtextCase{"+C3+A9", "\xc3\xa9"}, XtextCase{"+FF", "\xff"},
                    XtextCase{"+", std::nullopt}, XtextCase{"+2", std::nullopt},
                    XtextCase{"a+", std::nullopt}, XtextCase{"+GG", std::nullopt},
                    XtextCase{"+-1", std::nullopt}, XtextCase{"a=b", std::nullopt},
                    XtextCase{"a b", std::nullopt}, XtextCase{"\x7f", std::nullopt},
                    XtextCase{"\x80", std::nullopt}, XtextCase{"\t", std::nullopt}));

TEST(XtextEncode, EscapesWhatIsNotAnXchar) {
  EXPECT_EQ(xtext_encode(""), "");
  EXPECT_EQ(xtext_encode("ann@example.org"), "ann@example.org");
  EXPECT_EQ(xtext_encode("a+b=c"), "a+2Bb+3Dc");
  EXPECT_EQ(xtext_encode(" "), "+20");
  EXPECT_EQ(xtext_encode("\x7f"), "+7F");
  EXPECT_EQ(xtext_encode("\xc3\xa9"), "+C3+A9");
  EXPECT_EQ(xtext_encode(std::string("\0\n", 2)), "+00+0A");
  EXPECT_EQ(xtext_encode("!~"), "!~");
}

TEST(Xtext, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  const std::string enc = xtext_encode(all);
  for (char c : enc) {
    EXPECT_TRUE(c >= 33 && c <= 126 && c != '=') << int(c);
  }
  EXPECT_EQ(xtext_decode(enc), all);
  // Pseudo-random strings (a fixed LCG, so a failure reproduces).
  uint32_t state = 12345;
  for (int n = 0; n < 500; ++n) {
    std::string s;
    const size_t len = n % 40;
    for (size_t i = 0; i < len; ++i) {
      state = state * 1103515245u + 12345u;
      s += static_cast<char>(state >> 24);
    }
    auto back = xtext_decode(xtext_encode(s));
    ASSERT_TRUE(back.has_value()) << printable(s);
    EXPECT_EQ(*back, s) << printable(s);
  }
}

// ---------------------------------------------------------------- format_reply

struct ReplyCase {
  int code;
  std::string enhanced;
  std::string text;
  std::string wire;
};
void PrintTo(const ReplyCase& c, std::ostream* os) {
  *os << c.code << " \"" << c.enhanced << "\" \"" << printable(c.text) << '"';
}

class FormatReply : public testing::TestWithParam<ReplyCase> {};

TEST_P(FormatReply, Rfc5321Section4_2) {
  const ReplyCase& c = GetParam();
  EXPECT_EQ(format_reply(c.code, c.enhanced, c.text), c.wire);
}

INSTANTIATE_TEST_SUITE_P(
    Table, FormatReply,
    testing::Values(
        ReplyCase{250, "2.1.0", "ok", "250 2.1.0 ok\r\n"}, ReplyCase{250, "", "ok", "250 ok\r\n"},
        ReplyCase{250, "2.0.0", "", "250 2.0.0\r\n"}, ReplyCase{250, "", "", "250\r\n"},
        ReplyCase{354, "", "End data with <CR><LF>.<CR><LF>",
                  "354 End data with <CR><LF>.<CR><LF>\r\n"},
        ReplyCase{250, "", "mx.example greets you\nPIPELINING\nSIZE 10000000\n8BITMIME",
                  "250-mx.example greets you\r\n250-PIPELINING\r\n250-SIZE 10000000\r\n"
                  "250 8BITMIME\r\n"},
        ReplyCase{550, "5.7.1", "line one\nline two",
                  "550-5.7.1 line one\r\n550 5.7.1 line two\r\n"},
        ReplyCase{250, "", "a\n", "250 a\r\n"}, ReplyCase{250, "", "a\r\nb", "250-a\r\n250 b\r\n"},
        ReplyCase{421, "4.3.0", "a\n\nb", "421-4.3.0 a\r\n421-4.3.0\r\n421 4.3.0 b\r\n"},
        ReplyCase{451, "", "x\ny\n", "451-x\r\n451 y\r\n"},
        ReplyCase{220, "", "mx.example ESMTP\rX", "220 mx.example ESMTPX\r\n"}));

TEST(FormatReply, FromAnError) {
  const postern::base::Error e(postern::base::ExitCode::kTempFail, 451, "4.3.0", "try later");
  EXPECT_EQ(format_reply(e), "451 4.3.0 try later\r\n");
  auto m = parse_mail("FROM:<ann@example.org> X-UNKNOWN", kAll);
  ASSERT_FALSE(m.ok());
  const std::string r = format_reply(m.error());
  EXPECT_EQ(r.substr(0, 10), "555 5.5.4 ");
  EXPECT_EQ(r.substr(r.size() - 2), "\r\n");
  EXPECT_EQ(r, m.error().smtp_reply() + "\r\n");
}

// ---------------------------------------------------------------- the header's example

TEST(CommandHeaderExample, WorksAsDocumented) {
  auto c = parse_command("MAIL FROM:<ann@example.org> SIZE=1200 BODY=8BITMIME");
  EXPECT_EQ(c.verb, Verb::kMail);
  EXPECT_EQ(c.arg, "FROM:<ann@example.org> SIZE=1200 BODY=8BITMIME");
  auto m = parse_mail(c.arg, {.size = true, .eightbitmime = true});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->sender, "ann@example.org");
  EXPECT_EQ(*m->size, 1200u);
  EXPECT_EQ(m->body, Body::k8BitMime);
  EXPECT_EQ(format_reply(250, "2.1.0", "ok"), "250 2.1.0 ok\r\n");
}

}  // namespace
