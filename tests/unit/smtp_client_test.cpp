// The outbound SMTP client (smtp/client.h):
//   - the reply parser: multi-line replies, enhanced codes, garbage; capabilities; dot-stuffing;
//   - against a scripted peer on a loopback socket, what goes on the wire: PIPELINING (the
//     peer answers nothing until the whole group has arrived), BDAT, LMTP's per-recipient
//     replies, the HELO fallback, a garbled greeting, a peer trickling bytes past the timeout;
//   - against a real smtp::Server on 127.0.0.1 (SQLite store, accounts): per-recipient
//     replies with one unknown recipient, and STARTTLS with a self-signed certificate made
//     by openssl(1): PKIX with the right and a wrong name, DANE-EE with the right and a
//     wrong SHA-256 SPKI digest — a failed check sends nothing.
#include "smtp/client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/fd.h"
#include "smtp/server.h"
#include "store/queue.h"
#include "store/store.h"

namespace postern::smtp::client {
namespace {

namespace q = postern::store::queue;
using std::chrono::seconds;

// ---- pure functions ----

TEST(SmtpClientReply, SingleAndMultiLineWithEnhancedCodes) {
  ParsedReply p = parse_reply("250 2.1.0 sender ok\r\n");
  ASSERT_EQ(p.status, ParsedReply::kOk);
  EXPECT_EQ(p.reply.code, 250);
  EXPECT_EQ(p.reply.enhanced, "2.1.0");
  ASSERT_EQ(p.reply.lines.size(), 1u);
  EXPECT_EQ(p.reply.lines[0], "sender ok");
  EXPECT_EQ(p.used, 21u);
  EXPECT_EQ(p.reply.text(), "250 2.1.0 sender ok");
  EXPECT_TRUE(p.reply.positive());

  std::string multi = "550-5.7.1 first line\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n250 next\r\n";
  p = parse_reply(multi);
  ASSERT_EQ(p.status, ParsedReply::kOk);
  EXPECT_EQ(p.reply.code, 550);
  EXPECT_EQ(p.reply.enhanced, "5.7.1");
  EXPECT_EQ(p.reply.lines, (std::vector<std::string>{"first line", "second", "third"}));
  EXPECT_EQ(p.reply.text(), "550 5.7.1 first line; second; third");
  EXPECT_EQ(multi.substr(p.used), "250 next\r\n");
  EXPECT_TRUE(p.reply.permanent());

  // No enhanced code, bare code, LF alone, an enhanced code of another class kept as text.
  p = parse_reply("220 mx.example.org ESMTP\n");
  EXPECT_EQ(p.status, ParsedReply::kOk);
  EXPECT_EQ(p.reply.enhanced, "");
  EXPECT_EQ(p.reply.text(), "220 mx.example.org ESMTP");
  p = parse_reply("354\r\n");
  EXPECT_EQ(p.status, ParsedReply::kOk);
  EXPECT_EQ(p.reply.code, 354);
  EXPECT_EQ(p.reply.text(), "354");
  p = parse_reply("451 5.1.1 odd\r\n");
  EXPECT_EQ(p.reply.enhanced, "");
  EXPECT_EQ(p.reply.lines[0], "5.1.1 odd");
  EXPECT_TRUE(p.reply.transient());
  p = parse_reply("250 2.0.0\r\n");
  EXPECT_EQ(p.reply.enhanced, "2.0.0");

  EXPECT_EQ(Reply{}.text(), "no reply");
  EXPECT_TRUE(Reply{}.transient());
}

TEST(SmtpClientReply, IncompleteAndGarbage) {
  EXPECT_EQ(parse_reply("").status, ParsedReply::kNeedMore);
  EXPECT_EQ(parse_reply("250-first\r\n250 sec").status, ParsedReply::kNeedMore);
  EXPECT_EQ(parse_reply("hello there\r\n").status, ParsedReply::kBad);
  EXPECT_EQ(parse_reply("25\r\n").status, ParsedReply::kBad);
  EXPECT_EQ(parse_reply("250x\r\n").status, ParsedReply::kBad);
  EXPECT_EQ(parse_reply("650 no such class\r\n").status, ParsedReply::kBad);
  EXPECT_EQ(parse_reply("250-one\r\n451 two\r\n").status, ParsedReply::kBad);
  EXPECT_EQ(parse_reply(std::string(5000, '2')).status, ParsedReply::kBad);
  EXPECT_EQ(parse_reply("250 " + std::string(5000, 'a') + "\r\n").status, ParsedReply::kBad);
}

TEST(SmtpClientReply, Capabilities) {
  ParsedReply p = parse_reply(
      "250-mx.example.org greets you\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
      "250-STARTTLS\r\n250-AUTH PLAIN login\r\n250-AUTH=LOGIN\r\n250-DSN\r\n250-CHUNKING\r\n"
      "250 ENHANCEDSTATUSCODES\r\n");
  ASSERT_EQ(p.status, ParsedReply::kOk);
  Capabilities c = parse_capabilities(p.reply);
  EXPECT_TRUE(c.esmtp && c.pipelining && c.eightbitmime && c.starttls && c.dsn && c.chunking &&
              c.enhanced);
  EXPECT_FALSE(c.smtputf8 || c.binarymime || c.requiretls);
  EXPECT_EQ(c.size, 1000u);
  EXPECT_EQ(c.auth, (std::vector<std::string>{"PLAIN", "LOGIN"}));
}

TEST(SmtpClientData, DotStuffingAndLineEndings) {
  EXPECT_EQ(dot_stuff("a\r\n.b\r\n..c\r\n"), "a\r\n..b\r\n...c\r\n.\r\n");
  EXPECT_EQ(dot_stuff("no final newline"), "no final newline\r\n.\r\n");
  EXPECT_EQ(dot_stuff(""), ".\r\n");
  // Bare LF and bare CR become CRLF: no next hop can see an end of data we did not send.
  EXPECT_EQ(dot_stuff("x\n.\ny\r.\rz"), "x\r\n..\r\ny\r\n..\r\nz\r\n.\r\n");
  EXPECT_EQ(to_crlf("a\nb\r\nc"), "a\r\nb\r\nc");
  EXPECT_TRUE(check_message("a\r\nb\r\n", 0));
  EXPECT_FALSE(check_message("caf\xc3\xa9\r\n", 0));
  EXPECT_TRUE(check_message("caf\xc3\xa9\r\n", 1));
  EXPECT_FALSE(check_message(std::string(999, 'x') + "\r\n", 1));
  EXPECT_TRUE(check_message(std::string(998, 'x') + "\r\n", 1));
  EXPECT_TRUE(check_message(std::string(5000, 'x'), 2));
  EXPECT_FALSE(check_message(std::string("a\0b", 3), 1));
}

// ---- a scripted peer ----

int listen_loopback(uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) std::abort();
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// Accepts one connection and runs `script` on it on a thread of its own.
class Peer {
 public:
  using Script = std::function<void(Peer&)>;
  explicit Peer(Script script) {
    listener_ = listen_loopback(&port_);
    thread_ = std::thread([this, script = std::move(script)] {
      pollfd p{listener_, POLLIN, 0};
      if (::poll(&p, 1, 20000) != 1) return;
      fd_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd_ < 0) return;
      script(*this);
      ::close(fd_);
    });
  }
  ~Peer() {
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  uint16_t port() const { return port_; }
  std::vector<Target> targets() const { return {{"peer.test", "127.0.0.1", port_}}; }

  void send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.remove_prefix(static_cast<size_t>(n));
    }
  }
  // Reads until everything received (since the last call) holds `needle`; true if it does.
  bool until(std::string_view needle, int ms = 10000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (pending_.find(needle) == std::string::npos) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      end - std::chrono::steady_clock::now()).count());
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, left) != 1) return false;
      char buf[65536];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return false;
      pending_.append(buf, static_cast<size_t>(n));
      all_.append(buf, static_cast<size_t>(n));
    }
    last_ = pending_.substr(0, pending_.find(needle) + needle.size());
    pending_.erase(0, last_.size());
    return true;
  }
  // What the last until() consumed.
  const std::string& last() const { return last_; }
  const std::string& all() const { return all_; }

 private:
  int listener_ = -1, fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::string pending_, all_, last_;
};

Options quick() {
  Options o;
  o.helo_name = "client.test";
  o.tls.mode = TlsMode::kNone;
  o.connect_timeout = o.greeting_timeout = o.command_timeout = o.data_timeout = seconds(5);
  return o;
}

Envelope three() {
  Envelope e;
  e.sender = "ann@example.org";
  e.recipients = {{"a@peer.test", "", 0}, {"nobody@peer.test", "", 0}, {"c@peer.test", "", 0}};
  return e;
}

TEST(SmtpClientPeer, PipeliningSendsTheWholeGroupBeforeAnyReply) {
  std::string group, body;
  Peer peer([&](Peer& p) {
    p.send("220 peer.test ESMTP\r\n");
    if (!p.until("\r\n")) return;
    p.send("250-peer.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    // Nothing is answered until MAIL, the RCPTs and DATA have all arrived.
    if (!p.until("DATA\r\n")) return;
    group = p.last();
    p.send("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no such user\r\n250 2.1.5 ok\r\n354 go\r\n");
    if (!p.until("\r\n.\r\n")) return;
    body = p.last();
    p.send("250 2.0.0 queued\r\n");
    if (p.until("QUIT\r\n")) p.send("221 bye\r\n");
  });
  Delivery d = send_one(peer.targets(), quick(), three(),
                        "Subject: x\r\n\r\n.dot\r\nbare\nlf\r\nlast");
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_EQ(group,
            "MAIL FROM:<ann@example.org>\r\nRCPT TO:<a@peer.test>\r\nRCPT TO:<nobody@peer.test>\r\n"
            "RCPT TO:<c@peer.test>\r\nDATA\r\n");
  EXPECT_EQ(body, "Subject: x\r\n\r\n..dot\r\nbare\r\nlf\r\nlast\r\n.\r\n");
  ASSERT_EQ(d.result->rcpts.size(), 3u);
  EXPECT_EQ(d.result->outcome(0).text(), "250 2.0.0 queued");
  EXPECT_EQ(d.result->outcome(1).text(), "550 5.1.1 no such user");
  EXPECT_EQ(d.result->outcome(2).code, 250);
  EXPECT_EQ(d.accepted(), 2u);
  EXPECT_EQ(d.permanent(), 1u);
  EXPECT_EQ(d.peer, "peer.test[127.0.0.1]:" + std::to_string(peer.port()));
}

TEST(SmtpClientPeer, BdatSendsTheBytesAsTheyAre) {
  std::string wire;
  const std::string msg = "Subject: b\r\n\r\n.not stuffed\r\nno newline at the end";
  Peer peer([&](Peer& p) {
    p.send("220 peer.test ESMTP\r\n");
    if (!p.until("\r\n")) return;
    p.send("250-peer.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 DSN\r\n");
    if (!p.until("RCPT TO:<c@peer.test> NOTIFY=FAILURE,DELAY ORCPT=rfc822;c+2Bx@peer.test\r\n")) return;
    p.send("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n");
    if (!p.until("end")) return;
    wire = p.last();
    p.send("250 2.0.0 got it\r\n");
    if (p.until("QUIT\r\n")) p.send("221 bye\r\n");
  });
  Envelope e = three();
  e.envid = "id 1";
  e.ret = 2;
  e.recipients[2].notify = q::kNotifyFailure | q::kNotifyDelay;
  e.recipients[2].orcpt = "rfc822;c+x@peer.test";
  Delivery d = send_one(peer.targets(), quick(), e, msg);
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_EQ(wire, "BDAT " + std::to_string(msg.size()) + " LAST\r\n" + msg);
  EXPECT_EQ(d.accepted(), 3u);
  EXPECT_NE(peer.all().find("MAIL FROM:<ann@example.org> RET=HDRS ENVID=id+201\r\n"), std::string::npos)
      << peer.all();
}

TEST(SmtpClientPeer, LmtpGivesOneReplyPerAcceptedRecipient) {
  Peer peer([&](Peer& p) {
    p.send("220 peer.test LMTP\r\n");
    if (!p.until("LHLO client.test\r\n")) return;
    p.send("250-peer.test\r\n250 PIPELINING\r\n");
    if (!p.until("DATA\r\n")) return;
    p.send("250 ok\r\n250 ok\r\n550 5.1.1 unknown\r\n250 ok\r\n354 go\r\n");
    if (!p.until("\r\n.\r\n")) return;
    p.send("250 2.0.0 delivered to a\r\n452 4.2.2 c is over quota\r\n");
    if (p.until("QUIT\r\n")) p.send("221 bye\r\n");
  });
  Options o = quick();
  o.lmtp = true;
  Delivery d = send_one(peer.targets(), o, three(), "Subject: l\r\n\r\nx\r\n");
  ASSERT_TRUE(d.result) << d.failure.reason;
  ASSERT_EQ(d.result->data.size(), 2u);
  EXPECT_EQ(d.result->outcome(0).text(), "250 2.0.0 delivered to a");
  EXPECT_EQ(d.result->outcome(1).code, 550);
  EXPECT_EQ(d.result->outcome(2).text(), "452 4.2.2 c is over quota");
  EXPECT_EQ(d.temporary(), 1u);
}

TEST(SmtpClientPeer, HeloFallbackAndOneCommandAtATime) {
  Peer peer([&](Peer& p) {
    p.send("220 old.test SMTP\r\n");
    if (!p.until("EHLO client.test\r\n")) return;
    p.send("502 5.5.2 what?\r\n");
    if (!p.until("HELO client.test\r\n")) return;
    p.send("250 old.test\r\n");
    if (!p.until("MAIL FROM:<ann@example.org>\r\n")) return;
    p.send("250 ok\r\n");
    for (int i = 0; i < 3; ++i) {
      // Without PIPELINING the next command waits for this reply.
      if (!p.until("\r\n")) return;
      p.send(i == 1 ? "550 no\r\n" : "250 ok\r\n");
    }
    if (!p.until("DATA\r\n")) return;
    p.send("354 go\r\n");
    if (!p.until("\r\n.\r\n")) return;
    p.send("250 done\r\n");
    if (p.until("QUIT\r\n")) p.send("221 bye\r\n");
  });
  Delivery d = send_one(peer.targets(), quick(), three(), "Subject: h\r\n\r\nx\r\n");
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_FALSE(d.caps.esmtp);
  EXPECT_EQ(d.accepted(), 2u);
  EXPECT_EQ(d.result->outcome(1).code, 550);
}

// TLS-RPT (RFC 8460 4.3.1): a peer without STARTTLS when TLS is required fails as
// starttls-not-supported; an opportunistic session goes on in clear and says so too.
TEST(SmtpClientPeer, NoStartTlsIsReportedAsStarttlsNotSupported) {
  for (bool required : {true, false}) {
    Peer peer([&](Peer& p) {
      p.send("220 plain.test ESMTP\r\n");
      if (!p.until("EHLO client.test\r\n")) return;
      p.send("250-plain.test\r\n250 PIPELINING\r\n");
      if (required) {
        if (p.until("QUIT\r\n")) p.send("221 bye\r\n");
        return;
      }
      if (!p.until("DATA\r\n")) return;
      p.send("250 ok\r\n250 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n");
      if (!p.until("\r\n.\r\n")) return;
      p.send("250 done\r\n");
      if (p.until("QUIT\r\n")) p.send("221 bye\r\n");
    });
    Options o = quick();
    o.tls.mode = required ? TlsMode::kRequired : TlsMode::kOpportunistic;
    Delivery d = send_one(peer.targets(), o, three(), "Subject: h\r\n\r\nx\r\n");
    EXPECT_EQ(d.result.has_value(), !required) << d.failure.reason;
    EXPECT_FALSE(d.tls.used);
    EXPECT_TRUE(d.tls.decided());
    ASSERT_TRUE(d.tls.rpt_failure);
    EXPECT_EQ(*d.tls.rpt_failure, tls_rpt::ResultType::kStarttlsNotSupported);
    EXPECT_EQ(d.tls.rpt_reason, "STARTTLS not offered");
  }
}

TEST(SmtpClientPeer, AGarbledGreetingIsATransientFailure) {
  Peer peer([&](Peer& p) {
    p.send("hello, I am not an SMTP server\r\n");
    p.until("QUIT", 300);
  });
  Delivery d = send_one(peer.targets(), quick(), three(), "x\r\n");
  EXPECT_FALSE(d.result);
  EXPECT_FALSE(d.failure.permanent);
  EXPECT_NE(d.failure.reason.find("bad reply"), std::string::npos) << d.failure.reason;
  EXPECT_EQ(d.temporary(), 3u);
}

TEST(SmtpClientPeer, APeerTricklingBytesDoesNotExtendTheTimeout) {
  Peer peer([&](Peer& p) {
    p.send("220-");
    for (int i = 0; i < 40; ++i) {  // one byte every 100 ms, never a whole reply
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      p.send("x");
    }
  });
  Options o = quick();
  o.greeting_timeout = seconds(1);
  auto start = std::chrono::steady_clock::now();
  Delivery d = send_one(peer.targets(), o, three(), "x\r\n");
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(d.result);
  EXPECT_FALSE(d.failure.permanent);
  EXPECT_NE(d.failure.reason.find("timeout"), std::string::npos) << d.failure.reason;
  EXPECT_LT(took, seconds(3));
}

TEST(SmtpClientPeer, ThePeerMustOfferWhatTheMessageNeeds) {
  for (int i = 0; i < 2; ++i) {
    Peer peer([&](Peer& p) {
      p.send("220 peer.test ESMTP\r\n");
      if (!p.until("\r\n")) return;
      p.send("250-peer.test\r\n250 PIPELINING\r\n");
      if (p.until("QUIT\r\n")) p.send("221 bye\r\n");
    });
    Envelope e = three();
    if (i == 0) e.smtputf8 = true; else e.body = 1;
    Delivery d = send_one(peer.targets(), quick(), e, "x\r\n");
    EXPECT_FALSE(d.result);
    EXPECT_TRUE(d.failure.permanent);
    EXPECT_NE(d.failure.reason.find(i == 0 ? "SMTPUTF8" : "8BITMIME"), std::string::npos);
    EXPECT_EQ(peer.all().find("MAIL"), std::string::npos) << "nothing is sent";
  }
}

// ---- a real smtp::Server ----

std::string sh(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

std::string unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  }
  return out;
}

class SmtpClientServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new base::TempDir("smtp-client-tls");
    const std::string d = dir_->path();
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
       "-subj /CN=mx.example.org -addext subjectAltName=DNS:mx.example.org -keyout " + d +
       "/key.pem -out " + d + "/cert.pem 2>/dev/null");
    std::string hex = sh("openssl x509 -in " + d + "/cert.pem -pubkey -noout | openssl pkey -pubin "
                         "-outform DER | openssl dgst -sha256 -binary | od -An -v -tx1 | tr -d ' \\n'");
    *spki_sha256_ = unhex(hex);
  }
  static void TearDownTestSuite() { delete dir_; }

  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    ASSERT_EQ(spki_sha256_->size(), 32u) << "openssl(1) did not make the test certificate";
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE((*s)->add_domain("example.org"));
    ASSERT_TRUE((*s)->add_account("ann@example.org"));
    ASSERT_TRUE((*s)->add_account("bob@example.org"));
    Settings st;
    st.hostname = "mx.example.org";
    st.listeners = {{"mx", "127.0.0.1:0", Mode::kMx}};
    st.tls_certificate = dir_->path() + "/cert.pem";
    st.tls_key = dir_->path() + "/key.pem";
    server_ = std::make_unique<Server>(std::move(st), [this] { return open(); });
    ASSERT_TRUE(server_->prepare());
    int fd = listen_loopback(&port_);
    thread_ = std::thread([this, fd] { status_ = server_->run({{fd, "mx"}}); });
    // The greeting means its event loop runs (and its signals are blocked): SIGTERM is safe.
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port_);
    ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    char buf[512];
    pollfd p{c, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
    ASSERT_GT(::read(c, buf, sizeof buf), 3);
    ::close(c);
  }
  void TearDown() override {
    if (thread_.joinable()) {
      pthread_kill(thread_.native_handle(), SIGTERM);
      thread_.join();
    }
    server_.reset();
  }

  base::Result<std::unique_ptr<store::Store>> open() {
    store::StoreOptions o;
    o.url = "sqlite:" + tmp_.path() + "/store.db";
    o.blob_dir = tmp_.path() + "/blobs";
    return store::Store::open(o);
  }

  std::vector<q::Message> queued() {
    auto s = open();
    EXPECT_TRUE(s);
    if (!s) return {};
    q::Queue queue(**s);
    auto list = queue.list();
    EXPECT_TRUE(list);
    return list ? *list : std::vector<q::Message>{};
  }

  std::vector<Target> targets() const { return {{"mx.example.org", "127.0.0.1", port_}}; }
  Options tls_options() const {
    Options o = quick();
    o.tls.mode = TlsMode::kOpportunistic;
    return o;
  }
  Envelope envelope() const {
    Envelope e;
    e.sender = "carol@remote.test";
    e.recipients = {{"ann@example.org", "", 0}, {"nobody@example.org", "", 0}, {"bob@example.org", "", 0}};
    return e;
  }
  static dns::Record tlsa(const std::string& digest) {
    dns::Record r;
    r.name = "_25._tcp.mx.example.org";
    r.type = dns::RrType::kTlsa;
    r.tlsa[0] = 3;
    r.tlsa[1] = 1;
    r.tlsa[2] = 1;
    r.data = digest;
    return r;
  }

  const std::string kMessage = "From: carol@remote.test\r\nSubject: out\r\n\r\n.dot line\r\nbody\r\n";
  static inline base::TempDir* dir_ = nullptr;
  static inline std::string* spki_sha256_ = new std::string;
  base::TempDir tmp_{"smtp-client"};
  std::unique_ptr<Server> server_;
  std::thread thread_;
  base::Status status_;
  uint16_t port_ = 0;
};

TEST_F(SmtpClientServer, ThreeRecipientsOneUnknownGetTheirOwnReplies) {
  for (bool chunking : {true, false}) {
    Options o = quick();
    o.chunking = chunking;
    Delivery d = send_one(targets(), o, envelope(), kMessage);
    ASSERT_TRUE(d.result) << d.failure.reason;
    EXPECT_TRUE(d.caps.pipelining && d.caps.chunking && d.caps.starttls);
    EXPECT_EQ(d.result->outcome(0).code, 250);
    EXPECT_EQ(d.result->outcome(1).code, 550);
    EXPECT_EQ(d.result->outcome(1).enhanced, "5.1.1");
    EXPECT_EQ(d.result->outcome(2).code, 250);
    EXPECT_NE(d.result->outcome(0).text().find("queued as"), std::string::npos);
  }
  auto all = queued();
  ASSERT_EQ(all.size(), 2u);
  for (const auto& m : all) {
    ASSERT_EQ(m.envelope.recipients.size(), 2u);
    EXPECT_EQ(m.envelope.recipients[0].address, "ann@example.org");
    EXPECT_EQ(m.envelope.recipients[1].address, "bob@example.org");
    auto s = open();
    ASSERT_TRUE(s);
    auto raw = q::Queue(**s).read(m.id);
    ASSERT_TRUE(raw);
    EXPECT_NE(raw->find("\r\n\r\n.dot line\r\nbody\r\n"), std::string::npos) << *raw;
  }
}

TEST_F(SmtpClientServer, StartTlsVerifiedByPkixWithTheRightName) {
  Options o = tls_options();
  o.tls.verify_pkix = true;
  o.tls.ca_file = dir_->path() + "/cert.pem";
  Delivery d = send_one(targets(), o, envelope(), kMessage);
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_TRUE(d.tls.used);
  EXPECT_TRUE(d.tls.verified);
  EXPECT_EQ(d.tls.how, "pkix");
  EXPECT_FALSE(d.tls.version.empty());
  EXPECT_EQ(d.accepted(), 2u);
  EXPECT_EQ(queued().size(), 1u);

  // Opportunistic without a policy: TLS, reported unverified.
  d = send_one(targets(), tls_options(), envelope(), kMessage);
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_TRUE(d.tls.used);
  EXPECT_FALSE(d.tls.verified);
  EXPECT_EQ(d.tls.how, "none");
}

TEST_F(SmtpClientServer, PkixWithAWrongNameSendsNothing) {
  Options o = tls_options();
  o.tls.verify_pkix = true;
  o.tls.ca_file = dir_->path() + "/cert.pem";
  o.tls.names = {"other.example.net"};
  Delivery d = send_one(targets(), o, envelope(), kMessage);
  EXPECT_FALSE(d.result);
  EXPECT_FALSE(d.failure.permanent);
  EXPECT_NE(d.failure.reason.find("verification failed"), std::string::npos) << d.failure.reason;
  // An untrusted certificate (no CA file: the system store does not know it) fails too.
  o.tls.names.clear();
  o.tls.ca_file.clear();
  d = send_one(targets(), o, envelope(), kMessage);
  EXPECT_FALSE(d.result);
  EXPECT_TRUE(queued().empty());
}

// TLS-RPT result types of failed PKIX checks (RFC 8460 4.3.1), with OpenSSL's reason.
TEST_F(SmtpClientServer, PkixFailuresAreClassifiedForTlsRpt) {
  Options o = tls_options();
  o.tls.verify_pkix = true;
  o.tls.ca_file = dir_->path() + "/cert.pem";
  o.tls.names = {"other.example.net"};
  Delivery d = send_one(targets(), o, envelope(), kMessage);
  EXPECT_FALSE(d.result);
  EXPECT_TRUE(d.tls.used);
  EXPECT_TRUE(d.tls.decided());
  ASSERT_TRUE(d.tls.rpt_failure);
  EXPECT_EQ(*d.tls.rpt_failure, tls_rpt::ResultType::kCertificateHostMismatch);
  EXPECT_EQ(d.tls.rpt_reason, "hostname mismatch");

  // Self-signed and not in the trust store: not trusted.
  o.tls.names.clear();
  o.tls.ca_file = dir_->path() + "/nothing.pem";
  d = send_one(targets(), o, envelope(), kMessage);
  EXPECT_FALSE(d.result);
  if (d.tls.rpt_failure && *d.tls.rpt_failure == tls_rpt::ResultType::kValidationFailure) {
    // The CA file could not be loaded: that is a local problem, not the peer's. Use the
    // system store instead (which does not know this certificate).
    o.tls.ca_file.clear();
    d = send_one(targets(), o, envelope(), kMessage);
  }
  ASSERT_TRUE(d.tls.rpt_failure);
  EXPECT_EQ(*d.tls.rpt_failure, tls_rpt::ResultType::kCertificateNotTrusted) << d.tls.rpt_reason;
  EXPECT_NE(d.tls.rpt_reason.find("self-signed"), std::string::npos) << d.tls.rpt_reason;

  // The right name and trust: no failure to report.
  o.tls.ca_file = dir_->path() + "/cert.pem";
  d = send_one(targets(), o, envelope(), kMessage);
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_FALSE(d.tls.rpt_failure);
  EXPECT_TRUE(d.tls.decided());
  EXPECT_TRUE(queued().size() == 1u);
}

// MTA-STS testing mode (RFC 8461 5.2): the check runs and is reported, the mail goes.
TEST_F(SmtpClientServer, AuditModeReportsAWrongNameAndDeliversAnyway) {
  Options o = tls_options();
  o.tls.audit_pkix = true;
  o.tls.ca_file = dir_->path() + "/cert.pem";
  o.tls.names = {"other.example.net"};
  Delivery d = send_one(targets(), o, envelope(), kMessage);
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_EQ(d.accepted(), 2u);
  EXPECT_TRUE(d.tls.used);
  EXPECT_FALSE(d.tls.verified);
  ASSERT_TRUE(d.tls.rpt_failure);
  EXPECT_EQ(*d.tls.rpt_failure, tls_rpt::ResultType::kCertificateHostMismatch);
  EXPECT_EQ(queued().size(), 1u);

  // And with the right name: verified, nothing to report.
  o.tls.names.clear();
  d = send_one(targets(), o, envelope(), kMessage);
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_TRUE(d.tls.verified);
  EXPECT_EQ(d.tls.how, "pkix");
  EXPECT_FALSE(d.tls.rpt_failure);
}

TEST_F(SmtpClientServer, DaneEeWithTheRightDigestVerifiesAndAWrongOneSendsNothing) {
  Options o = tls_options();
  o.tls.tlsa = {tlsa(*spki_sha256_)};
  Delivery d = send_one(targets(), o, envelope(), kMessage);
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_TRUE(d.tls.verified);
  EXPECT_EQ(d.tls.how, "dane-ee");
  EXPECT_EQ(queued().size(), 1u);

  o.tls.tlsa = {tlsa(std::string(32, '\x5a'))};
  d = send_one(targets(), o, envelope(), kMessage);
  EXPECT_FALSE(d.result);
  EXPECT_FALSE(d.failure.permanent);
  EXPECT_NE(d.failure.reason.find("DANE"), std::string::npos) << d.failure.reason;
  EXPECT_EQ(queued().size(), 1u) << "a message went over a connection DANE did not verify";
  ASSERT_TRUE(d.tls.rpt_failure);
  EXPECT_EQ(*d.tls.rpt_failure, tls_rpt::ResultType::kValidationFailure);
  EXPECT_EQ(d.tls.rpt_reason, "no TLSA record matched");

  // Only PKIX-TA/EE records (RFC 7672 3.1.3: unusable): tlsa-invalid.
  dns::Record pkix_ee = tlsa(*spki_sha256_);
  pkix_ee.tlsa[0] = 1;
  o.tls.tlsa = {pkix_ee};
  // RFC 7672 2.2: encrypted but unauthenticated, and reported.
  d = send_one(targets(), o, envelope(), kMessage);
  ASSERT_TRUE(d.result) << d.failure.reason;
  EXPECT_TRUE(d.tls.used);
  EXPECT_FALSE(d.tls.verified);
  ASSERT_TRUE(d.tls.rpt_failure);
  EXPECT_EQ(*d.tls.rpt_failure, tls_rpt::ResultType::kTlsaInvalid);
}

}  // namespace
}  // namespace postern::smtp::client
