// Unit tests for lib/spam/pyzor.h: the normalisation rules one by one, line sampling,
// MIME walking and decoding, request signing, response parsing, and the UDP client
// against a small in-process responder (IPv4 and IPv6). Interop with Debian's pyzord and
// digest equality with Debian's pyzor are in tests/e2e/pyzor-interop.bats.
#include "spam/pyzor.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace pyzor = postern::spam::pyzor;

namespace {

std::string sha1(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha1(), nullptr);
  std::string out;
  char buf[3];
  for (unsigned i = 0; i < len; ++i) {
    snprintf(buf, sizeof buf, "%02x", md[i]);
    out += buf;
  }
  return out;
}

std::string raw_sha1(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha1(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

// ---- normalisation, rule by rule ----

TEST(PyzorNormalize, WhiteSpaceIsRemoved) {
  EXPECT_EQ(pyzor::normalize_line("  a b\tc  d "), "abcd");
  // Unicode white space as Python's \s sees it: NBSP, em space, ideographic space.
  EXPECT_EQ(pyzor::normalize_line("a\u00a0b\u2003c\u3000d"), "abcd");
  // U+200B is not white space for Python.
  EXPECT_EQ(pyzor::normalize_line("a\u200bb"), "a\u200bb");
}

TEST(PyzorNormalize, TokensOfTenOrMoreCharactersGo) {
  EXPECT_EQ(pyzor::normalize_line("abc 123456789 x"), "abc123456789x");  // 9 stays
  EXPECT_EQ(pyzor::normalize_line("abc 1234567890 x"), "abcx");          // 10 goes
  // Characters, not bytes: nine accented letters (18 bytes) stay.
  EXPECT_EQ(pyzor::normalize_line("\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9 z"),
            "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9z");
}

TEST(PyzorNormalize, AddressesGo) {
  EXPECT_EQ(pyzor::normalize_line("mail a@b.c now"), "mailnow");
  EXPECT_EQ(pyzor::normalize_line("x <a@b> y"), "xy");
  // '@' first or last in the token: no address.
  EXPECT_EQ(pyzor::normalize_line("@home me@"), "@homeme@");
}

TEST(PyzorNormalize, UrlsGo) {
  EXPECT_EQ(pyzor::normalize_line("see http://x.y now"), "seenow");
  EXPECT_EQ(pyzor::normalize_line("go mailto:z"), "go");
  // The letters before ':' start the match; what precedes them stays.
  EXPECT_EQ(pyzor::normalize_line("(ftp:a) b"), "(b");
  EXPECT_EQ(pyzor::normalize_line("1a:b"), "1");
  // A colon needs a letter before it and something after it.
  EXPECT_EQ(pyzor::normalize_line("at 10:30 ok:"), "at10:30ok:");
  EXPECT_EQ(pyzor::normalize_line("Note: this"), "Note:this");
  EXPECT_EQ(pyzor::normalize_line("A:B"), "");
}

TEST(PyzorNormalize, LongTokensGoBeforeAddressesAndUrls) {
  // "verylongaddress@example.org" is long first; the short one is an address.
  EXPECT_EQ(pyzor::normalize_line("a verylongaddress@example.org b a@b c"), "abc");
}

// ---- lines, sampling, digests ----

std::string message(std::string_view body, std::string_view headers = "") {
  return "From: a@example.org\nSubject: s\n" + std::string(headers) + "\n" + std::string(body);
}

TEST(PyzorDigest, ShortLinesAreDroppedAndHeadersNeverDigested) {
  auto lines = pyzor::digest_lines(message("short\nseven77\neight888\n  nine 9999 \n"));
  EXPECT_EQ(lines, (std::vector<std::string>{"eight888", "nine9999"}));
  // Four lines or fewer: all of them, in order.
  EXPECT_EQ(pyzor::digest(message("short\nseven77\neight888\n  nine 9999 \n")),
            sha1("eight888nine9999"));
  // Only the body counts.
  EXPECT_EQ(pyzor::digest(message("eight888\n", "X-Other: whatever header\n")),
            pyzor::digest(message("eight888\n")));
}

TEST(PyzorDigest, EmptyBodyIsTheHashOfNothing) {
  EXPECT_EQ(pyzor::digest(message("")), sha1(""));
  EXPECT_EQ(pyzor::digest(message("tiny\n")), sha1(""));
}

TEST(PyzorDigest, SamplingThresholds) {
  EXPECT_EQ(pyzor::sampled_indexes(0), std::vector<size_t>{});
  EXPECT_EQ(pyzor::sampled_indexes(4), (std::vector<size_t>{0, 1, 2, 3}));
  // 5 lines: 20% → 1, 2, 3; 60% → 3, 4 (5 does not exist).
  EXPECT_EQ(pyzor::sampled_indexes(5), (std::vector<size_t>{1, 2, 3, 3, 4}));
  EXPECT_EQ(pyzor::sampled_indexes(10), (std::vector<size_t>{2, 3, 4, 6, 7, 8}));
  EXPECT_EQ(pyzor::sampled_indexes(100), (std::vector<size_t>{20, 21, 22, 60, 61, 62}));
  EXPECT_EQ(pyzor::sampled_indexes(7), (std::vector<size_t>{1, 2, 3, 4, 5, 6}));
}

TEST(PyzorDigest, ManyLinesAreSampled) {
  std::string body;
  for (int i = 0; i < 10; ++i) body += "line number " + std::to_string(i) + "\n";
  // lines 2,3,4 and 6,7,8, white space removed.
  EXPECT_EQ(pyzor::digest(message(body)),
            sha1("linenumber2linenumber3linenumber4linenumber6linenumber7linenumber8"));
}

TEST(PyzorDigest, TransferEncodingsAndCharsets) {
  std::string expected = sha1("caf\u00e9caf\u00e9caf\u00e9");
  // base64 of "café café café" in UTF-8
  EXPECT_EQ(pyzor::digest(message("Y2Fmw6kgY2Fmw6kgY2Fmw6k=\n",
                                  "Content-Type: text/plain; charset=utf-8\n"
                                  "Content-Transfer-Encoding: base64\n")),
            expected);
  EXPECT_EQ(pyzor::digest(message("caf=E9 caf=E9 =\ncaf=E9\n",
                                  "Content-Type: text/plain; charset=iso-8859-1\n"
                                  "Content-Transfer-Encoding: quoted-printable\n")),
            expected);
  // No charset: ASCII, and 8-bit bytes are dropped.
  EXPECT_EQ(pyzor::digest(message("caf\xe9 caf\xe9 caf\xe9\n")), sha1("cafcafcaf"));
  // Invalid UTF-8 is dropped, not replaced.
  EXPECT_EQ(pyzor::digest(message("ab\xff"
                                  "cdefgh\n",
                                  "Content-Type: text/plain; charset=utf-8\n")),
            sha1("abcdefgh"));
}

TEST(PyzorDigest, HtmlTextOnly) {
  EXPECT_EQ(pyzor::html_text("<p>Hello <b>big</b>\n world</p><script>var x = '<p>no</p>';"
                             "</script><style>p{}</style><!-- hidden -->&amp; &eacute;t&#233;"),
            "Hello big world & \u00e9t\u00e9");
  // An unfinished tag at the end, and what follows, never reach the parser's output.
  EXPECT_EQ(pyzor::html_text("kept <b unfinished text"), "kept");
  // A '<' that opens no tag is text of its own.
  EXPECT_EQ(pyzor::html_text("a < b"), "a < b");
  EXPECT_EQ(
      pyzor::digest(message("<p>Hello there</p><p>big world</p>\n", "Content-Type: text/html\n")),
      sha1("Hellotherebigworld"));
}

TEST(PyzorDigest, MultipartWalk) {
  std::string m = message(
      "preamble is not digested\n--b\nContent-Type: text/plain\n\nplain part text\n"
      "--b\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\nshortb64==\n"
      "--b\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body text\n--b--\n"
      "epilogue is not digested\n",
      "Content-Type: multipart/mixed; boundary=b\n");
  // Non-text leaves go in raw: "shortb64==" (10 characters) is a long token and goes.
  EXPECT_EQ(pyzor::digest_lines(m), (std::vector<std::string>{"plainparttext", "innerbodytext"}));
  // Without a boundary parameter the whole body is one raw leaf.
  std::string nob = message("--b\nContent-Type: text/plain\n\nplain part text\n--b--\n",
                            "Content-Type: multipart/mixed\n");
  EXPECT_EQ(pyzor::digest_lines(nob), (std::vector<std::string>{"plainparttext"}));
}

// ---- accounts and signatures ----

TEST(PyzorProtocol, AccountsFile) {
  auto a = pyzor::parse_accounts(
      "# comment\n\n127.0.0.1 : 24441 : alice : salt,ABCDEF\n"
      "[::1] : 1 : bob : ,1234\n");
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].host, "127.0.0.1");
  EXPECT_EQ((*a)[0].port, 24441);
  EXPECT_EQ((*a)[0].account.user, "alice");
  EXPECT_EQ((*a)[0].account.key, "ABCDEF");
  EXPECT_EQ(pyzor::account_for(*a, "127.0.0.1", 24441).user, "alice");
  EXPECT_EQ(pyzor::account_for(*a, "127.0.0.1", 24442).user, "anonymous");
  EXPECT_FALSE(pyzor::parse_accounts("host : 1 : user\n"));
  EXPECT_FALSE(pyzor::parse_accounts("host : x : user : a,b\n"));
  EXPECT_FALSE(pyzor::parse_accounts("host : 1 : user : nocomma\n"));
}

TEST(PyzorProtocol, KeyHashAndSignature) {
  // lower(SHA1(user ":" lower(key)))
  EXPECT_EQ(pyzor::hash_key("anonymous", ""), sha1("anonymous:"));
  EXPECT_EQ(pyzor::hash_key("alice", "ABCD"), sha1("alice:abcd"));
  // SHA1(SHA1(text) ":" time ":" hashed key), the text trimmed.
  std::string hk = pyzor::hash_key("alice", "abcd");
  EXPECT_EQ(pyzor::sign("Op: ping\nThread: 5\n\n", 42, hk),
            sha1(raw_sha1("Op: ping\nThread: 5") + ":42:" + hk));
}

TEST(PyzorProtocol, RequestEncodingRoundTrip) {
  std::string digest(40, 'a');
  pyzor::Request req{.op = pyzor::Op::kReport,
                     .digest = digest,
                     .thread = 4321,
                     .time = 1700000000,
                     .account = {"alice", "ABCD"}};
  std::string wire = pyzor::encode_request(req);
  EXPECT_EQ(wire.substr(0, wire.find("Sig:")),
            "Op: report\nOp-Digest: " + digest +
                "\nOp-Spec: 20,3,60,3\nThread: 4321\nPV: 2.1\nUser: alice\nTime: 1700000000\n");
  EXPECT_TRUE(wire.ends_with("\n\n"));
  auto f = pyzor::parse_fields(wire);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->at("op"), "report");
  EXPECT_EQ(f->at("op-digest"), digest);
  EXPECT_EQ(f->at("user"), "alice");
  // The signature verifies the way a server checks it: over the request without Sig.
  std::string unsigned_text = wire.substr(0, wire.find("Sig:"));
  EXPECT_EQ(f->at("sig"), pyzor::sign(unsigned_text, 1700000000, pyzor::hash_key("alice", "abcd")));

  pyzor::Request ping{.op = pyzor::Op::kPing};
  std::string p = pyzor::encode_request(ping);
  EXPECT_TRUE(p.starts_with("Op: ping\nThread: "));
  EXPECT_EQ(p.find("Op-Digest"), std::string::npos);
  EXPECT_GE(ping.thread, 1024);
  EXPECT_GT(ping.time, 1600000000);
  pyzor::Request check{.op = pyzor::Op::kCheck, .digest = digest};
  EXPECT_EQ(pyzor::encode_request(check).find("Op-Spec"), std::string::npos);
}

TEST(PyzorProtocol, ResponseParsing) {
  auto r = pyzor::parse_response(
      "Code: 200\nDiag: OK\nPV: 2.1\nThread: 1234\nCount: 3\n"
      "WL-Count: 1\n\n",
      1234);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->code, 200);
  EXPECT_EQ(r->diag, "OK");
  EXPECT_EQ(r->protocol_version, "2.1");
  EXPECT_EQ(r->count, 3);
  EXPECT_EQ(r->wl_count, 1);
  auto e = pyzor::parse_response("Code: 403\r\nDiag: Forbidden: no\r\nThread: 7\r\n\r\n", 7);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, 403);
  EXPECT_EQ(e->diag, "Forbidden: no");
  EXPECT_FALSE(e->count);
}

TEST(PyzorProtocol, BadResponses) {
  EXPECT_FALSE(pyzor::parse_response("", 1));
  EXPECT_FALSE(pyzor::parse_response("garbage without colon\n", 1));
  EXPECT_FALSE(pyzor::parse_response("Diag: OK\nThread: 1\n", 1));   // no Code
  EXPECT_FALSE(pyzor::parse_response("Code: 200\nThread: 1\n", 1));  // no Diag
  EXPECT_FALSE(pyzor::parse_response("Code: 200\nDiag: OK\n", 1));   // no Thread
  EXPECT_FALSE(pyzor::parse_response("Code: abc\nDiag: OK\nThread: 1\n", 1));
  EXPECT_FALSE(pyzor::parse_response("Code: 200\nDiag: OK\nThread: 2\n", 1));  // other thread
  EXPECT_FALSE(pyzor::parse_response("Code: 200\nDiag: OK\nThread: 1\nCount: x\n", 1));
  auto e = pyzor::parse_response("Code: 200\nDiag: OK\nThread: 99999\n", 1);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().code(), postern::base::ExitCode::kDataErr);
}

TEST(PyzorProtocol, ServerNames) {
  auto s = pyzor::parse_server("127.0.0.1:24441");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->host, "127.0.0.1");
  EXPECT_EQ(s->port, 24441);
  s = pyzor::parse_server("[::1]:5000");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->host, "::1");
  EXPECT_EQ(s->to_string(), "[::1]:5000");
  s = pyzor::parse_server("public.pyzor.org");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->port, 24441);
  EXPECT_FALSE(pyzor::parse_server("::1:5000"));
  EXPECT_FALSE(pyzor::parse_server("host:0"));
  EXPECT_FALSE(pyzor::parse_server("host:99999"));
  EXPECT_FALSE(pyzor::parse_server(":1"));
}

// ---- the client against an in-process responder ----

// Answers `answers` requests on a loopback UDP socket; `reply` builds the answer from the
// request's fields (empty: no answer).
class Responder {
 public:
  using Reply = std::function<std::string(const std::map<std::string, std::string>&)>;
  Responder(int family, Reply reply, int answers = 1) {
    fd_ = ::socket(family, SOCK_DGRAM, 0);
    sockaddr_storage ss{};
    socklen_t len;
    if (family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof *a;
    }
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0 &&
          ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
    port_ = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                     : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    thread_ = std::thread([this, reply, answers] {
      for (int i = 0; i < answers; ++i) {
        char buf[8192];
        sockaddr_storage from{};
        socklen_t fl = sizeof from;
        ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
        if (n <= 0) return;
        auto f = pyzor::parse_fields(std::string_view(buf, static_cast<size_t>(n)));
        if (!f) continue;
        requests_.push_back(*f);
        std::string answer = reply(*f);
        if (!answer.empty())
          ::sendto(fd_, answer.data(), answer.size(), 0, reinterpret_cast<sockaddr*>(&from), fl);
      }
    });
  }
  ~Responder() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  std::vector<std::map<std::string, std::string>> requests_;

 private:
  int fd_ = -1;
  bool ok_ = false;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string ok_answer(const std::map<std::string, std::string>& req) {
  return "Code: 200\nDiag: OK\nPV: 2.1\nThread: " + req.at("thread") +
         "\nCount: 5\nWL-Count: 0\n\n";
}

TEST(PyzorClient, CheckOverIpv4AndIpv6) {
  for (int family : {AF_INET, AF_INET6}) {
    std::vector<std::map<std::string, std::string>> seen;
    Responder r(family, ok_answer);
    if (!r.ok() && family == AF_INET6) GTEST_SKIP() << "no IPv6 loopback";
    ASSERT_TRUE(r.ok());
    pyzor::Server s{family == AF_INET6 ? "::1" : "127.0.0.1", r.port()};
    auto resp = pyzor::exchange(s, {.op = pyzor::Op::kCheck, .digest = std::string(40, 'b')},
                                {.timeout_ms = 2000, .retries = 0});
    ASSERT_TRUE(resp) << resp.error().message();
    EXPECT_EQ(resp->count, 5);
    EXPECT_EQ(resp->wl_count, 0);
  }
}

TEST(PyzorClient, StrayAnswersAreIgnoredAndSilenceTimesOut) {
  // First a datagram for another thread, then nothing: the client must not take it.
  Responder r(AF_INET, [](const auto&) {
    return std::string("Code: 200\nDiag: OK\nThread: 3\nCount: 9\nWL-Count: 0\n\n");
  });
  ASSERT_TRUE(r.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto resp = pyzor::exchange({"127.0.0.1", r.port()},
                              {.op = pyzor::Op::kCheck, .digest = "x", .thread = 2000},
                              {.timeout_ms = 300, .retries = 0});
  ASSERT_FALSE(resp);
  EXPECT_TRUE(resp.error().temporary());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

TEST(PyzorClient, RetriesAfterALostAnswer) {
  int calls = 0;
  Responder r(
      AF_INET, [&calls](const auto& req) { return ++calls == 1 ? std::string() : ok_answer(req); },
      2);
  ASSERT_TRUE(r.ok());
  auto resp = pyzor::exchange({"127.0.0.1", r.port()}, {.op = pyzor::Op::kPing},
                              {.timeout_ms = 300, .retries = 1});
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->code, 200);
}

TEST(PyzorClient, MalformedAnswerIsBadData) {
  Responder r(AF_INET, [](const auto& req) { return "Thread: " + req.at("thread") + "\n\n"; });
  ASSERT_TRUE(r.ok());
  auto resp = pyzor::exchange({"127.0.0.1", r.port()}, {.op = pyzor::Op::kPing},
                              {.timeout_ms = 1000, .retries = 0});
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error().code(), postern::base::ExitCode::kDataErr);
}

}  // namespace
