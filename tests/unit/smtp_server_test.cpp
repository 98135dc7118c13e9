// smtp::Server in-process, through run_stdio on two pipes (the client's bytes in one, the
// replies out of the other), on a SQLite store opened through the fault-injecting VFS
// (store/sqlite_fault.h):
//   - a message is queued with our Received: field first and its bytes otherwise as sent;
//   - a failed fsync of the WAL at the queue's commit answers 451 4.3.0 and queues
//     nothing; the next message of the same session is answered 250 and is queued, and
//     it survives a simulated power cut;
//   - SMTP smuggling: a bare-LF end-of-data variant stays inside one message, a bare-CR
//     variant refuses the message, and nothing smuggled becomes a second message.
#include "smtp/server.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/fd.h"

#include "store/queue.h"
#include "store/sqlite_fault.h"
#include "store/store.h"

namespace postern::smtp {
namespace {

namespace store = postern::store;
namespace q = postern::store::queue;

// One SMTP session against Server::run_stdio on a thread of its own. The test writes the
// client's bytes with send() and reads each reply with reply(); finish() closes the
// client's side and waits for the session to end.
class PipeSession {
 public:
  explicit PipeSession(Server& server) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) std::abort();
    to_server_ = in[1];
    from_server_ = out[0];
    server_in_ = in[0];
    server_out_ = out[1];
    thread_ = std::thread([this, &server] {
      status_ = server.run_stdio(server_in_, server_out_, "192.0.2.7", "");
      ::close(server_out_);  // the client reads EOF
      server_out_ = -1;
    });
  }
  ~PipeSession() {
    finish();
    if (from_server_ >= 0) ::close(from_server_);
  }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t w = ::write(to_server_, bytes.data(), bytes.size());
      if (w < 0 && errno == EINTR) continue;
      ASSERT_GT(w, 0) << "the session stopped reading";
      bytes.remove_prefix(static_cast<size_t>(w));
    }
  }

  // The next complete reply ("250-...\r\n250 ...\r\n"), its last line without CRLF; ""
  // on EOF or after 30 s.
  std::string reply() {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (;;) {
      size_t start = 0;
      for (size_t eol; (eol = buf_.find("\r\n", start)) != std::string::npos; start = eol + 2) {
        if (eol - start >= 4 && buf_[start + 3] == '-') continue;
        std::string last = buf_.substr(start, eol - start);
        all_ += buf_.substr(0, eol + 2);
        buf_.erase(0, eol + 2);
        return last;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{from_server_, POLLIN, 0};
      int rc = ::poll(&p, 1, static_cast<int>(left.count()));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) return "";
      char chunk[4096];
      ssize_t n = ::read(from_server_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return "";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  // Closes the client's side, waits for the session, and returns what was left unread.
  std::string finish() {
    if (to_server_ >= 0) {
      ::close(to_server_);
      to_server_ = -1;
    }
    if (thread_.joinable()) thread_.join();
    if (server_in_ >= 0) {
      ::close(server_in_);
      server_in_ = -1;
    }
    char chunk[4096];
    ssize_t n;
    while (from_server_ >= 0 && (n = ::read(from_server_, chunk, sizeof chunk)) > 0) {
      buf_.append(chunk, static_cast<size_t>(n));
    }
    std::string rest = std::move(buf_);
    buf_.clear();
    all_ += rest;
    return rest;
  }

  const std::string& transcript() const { return all_; }
  const base::Status& status() const { return status_; }

 private:
  int to_server_ = -1, from_server_ = -1, server_in_ = -1, server_out_ = -1;
  std::thread thread_;
  base::Status status_;
  std::string buf_, all_;
};

class SmtpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    vfs_.reset();
    auto s = open();
    ASSERT_TRUE(s) << s.error().message();
    ASSERT_TRUE((*s)->add_domain("example.org"));
    ASSERT_TRUE((*s)->add_account("ann@example.org"));
    ASSERT_TRUE((*s)->add_account("bob@example.org"));
  }
  void TearDown() override { vfs_.reset(); }

  base::Result<std::unique_ptr<store::Store>> open() {
    store::StoreOptions o;
    o.url = "sqlite:" + dir_.path() + "/store.db";
    o.blob_dir = dir_.path() + "/blobs";
    o.db.vfs = vfs_.name();
    return store::Store::open(o);
  }

  std::unique_ptr<Server> server() {
    Settings s;
    s.hostname = "mx.example.org";
    return std::make_unique<Server>(std::move(s), [this] { return open(); });
  }

  // Every queued message: id -> bytes.
  std::vector<std::pair<std::string, std::string>> queued() {
    std::vector<std::pair<std::string, std::string>> out;
    auto s = open();
    EXPECT_TRUE(s) << s.error().message();
    if (!s) return out;
    q::Queue queue(**s);
    auto list = queue.list();
    EXPECT_TRUE(list) << list.error().message();
    if (!list) return out;
    for (const q::Message& m : *list) {
      auto bytes = queue.read(m.id);
      EXPECT_TRUE(bytes) << bytes.error().message();
      out.emplace_back(m.id, bytes ? *bytes : "");
    }
    return out;
  }

  store::SqliteFaultVfs& vfs_ = store::SqliteFaultVfs::install();
  base::TempDir dir_{"smtp-server"};
};

const std::string kQueued = "250 2.0.0 ok: queued as ";

std::string queue_id(const std::string& reply) {
  if (reply.rfind(kQueued, 0) != 0) return "";
  return reply.substr(kQueued.size());
}

// The message after our Received: field (the first field, with its folded lines).
std::string after_received(const std::string& raw) {
  if (raw.rfind("Received: ", 0) != 0) return "<no Received: field first>";
  size_t pos = raw.find("\r\n");
  while (pos != std::string::npos && pos + 2 < raw.size() && (raw[pos + 2] == ' ' || raw[pos + 2] == '\t')) {
    pos = raw.find("\r\n", pos + 2);
  }
  return pos == std::string::npos ? "" : raw.substr(pos + 2);
}

const std::string kMessage =
    "From: Carol <carol@remote.test>\r\nTo: ann@example.org\r\nSubject: in-process\r\n"
    "Message-ID: <inproc@remote.test>\r\n\r\nfirst line\r\n.a line that began with a dot\r\n"
    "..two dots\r\nlast line\r\n";

// RFC 5321 4.5.2: the client doubles a leading dot.
std::string stuffed(const std::string& m) {
  std::string out;
  size_t start = 0;
  while (start < m.size()) {
    size_t eol = m.find("\r\n", start);
    std::string line = m.substr(start, eol == std::string::npos ? std::string::npos : eol + 2 - start);
    if (!line.empty() && line[0] == '.') out += '.';
    out += line;
    if (eol == std::string::npos) break;
    start = eol + 2;
  }
  return out;
}

TEST_F(SmtpServerTest, AMessageIsQueuedWithReceivedAndItsBytes) {
  auto srv = server();
  PipeSession s(*srv);
  EXPECT_EQ(s.reply().substr(0, 4), "220 ");
  s.send("EHLO client.test\r\n");
  std::string ehlo = s.reply();
  EXPECT_EQ(ehlo.substr(0, 4), "250 ");
  EXPECT_NE(s.transcript().find("250-PIPELINING"), std::string::npos) << s.transcript();
  // Pipelined (RFC 2920): MAIL, RCPT and DATA in one write.
  s.send("MAIL FROM:<carol@remote.test>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
  EXPECT_EQ(s.reply().substr(0, 3), "250");
  EXPECT_EQ(s.reply().substr(0, 3), "250");
  EXPECT_EQ(s.reply().substr(0, 3), "250");
  EXPECT_EQ(s.reply().substr(0, 4), "354 ");
  s.send(stuffed(kMessage) + ".\r\n");
  std::string id = queue_id(s.reply());
  ASSERT_TRUE(q::valid_queue_id(id)) << s.transcript();
  s.send("QUIT\r\n");
  EXPECT_EQ(s.reply().substr(0, 4), "221 ");
  s.finish();
  EXPECT_TRUE(s.status()) << s.status().error().message();

  auto all = queued();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first, id);
  const std::string& raw = all[0].second;
  EXPECT_EQ(after_received(raw), kMessage);
  EXPECT_NE(raw.find("from client.test ([192.0.2.7])"), std::string::npos) << raw;
  EXPECT_NE(raw.find("with ESMTP id " + id), std::string::npos) << raw;
  auto st = open();
  ASSERT_TRUE(st);
  q::Queue queue(**st);
  auto m = queue.get(id);
  ASSERT_TRUE(m && *m);
  EXPECT_EQ((*m)->envelope.sender, "carol@remote.test");
  ASSERT_EQ((*m)->envelope.recipients.size(), 2u);
  EXPECT_EQ((*m)->envelope.recipients[0].address, "ann@example.org");
  EXPECT_EQ((*m)->envelope.recipients[1].address, "bob@example.org");
  EXPECT_EQ((*m)->envelope.client_ip, "192.0.2.7");
  EXPECT_EQ((*m)->size, raw.size());
}

TEST_F(SmtpServerTest, AFailedWalFsyncAtTheCommitAnswers451AndQueuesNothing) {
  auto srv = server();
  PipeSession s(*srv);
  EXPECT_EQ(s.reply().substr(0, 4), "220 ");
  s.send("EHLO client.test\r\nMAIL FROM:<carol@remote.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n");
  EXPECT_EQ(s.reply().substr(0, 4), "250 ");
  EXPECT_EQ(s.reply().substr(0, 3), "250");
  EXPECT_EQ(s.reply().substr(0, 3), "250");
  EXPECT_EQ(s.reply().substr(0, 4), "354 ");
  s.send(stuffed(kMessage));
  // Only the queue's commit can sync the WAL from here on: the fault hits exactly it.
  vfs_.fail_sync(1, "-wal");
  s.send(".\r\n");
  std::string failed = s.reply();
  EXPECT_EQ(failed.substr(0, 10), "451 4.3.0 ") << s.transcript();
  vfs_.reset();
  EXPECT_TRUE(queued().empty()) << "a message answered 451 is in the queue";

  // The session, and the committer's connection, go on: the next message is queued.
  s.send("MAIL FROM:<carol@remote.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n");
  EXPECT_EQ(s.reply().substr(0, 3), "250");
  EXPECT_EQ(s.reply().substr(0, 3), "250");
  EXPECT_EQ(s.reply().substr(0, 4), "354 ");
  s.send(stuffed(kMessage) + ".\r\n");
  std::string id = queue_id(s.reply());
  ASSERT_TRUE(q::valid_queue_id(id)) << s.transcript();
  s.send("QUIT\r\n");
  EXPECT_EQ(s.reply().substr(0, 4), "221 ");
  s.finish();

  // A power cut now (every write that was never synced is lost): the acknowledged
  // message stays, the refused one does not come back.
  vfs_.crash();
  vfs_.reset();
  auto all = queued();
  ASSERT_EQ(all.size(), 1u) << s.transcript();
  EXPECT_EQ(all[0].first, id);
  EXPECT_EQ(after_received(all[0].second), kMessage);
}

TEST_F(SmtpServerTest, SmugglingSequencesNeverEndTheMessage) {
  // Each hides a second transaction behind a sequence some server takes for the end of
  // data. Bare LF (normalize, the default): one message holding the smuggled text.
  const std::string hidden =
      "MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
      "Subject: smuggled\r\n\r\nx\r\n";
  auto smuggle = [&](const std::string& sequence) {
    auto srv = server();
    PipeSession s(*srv);
    s.send("EHLO c\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n"
           "Subject: s\r\n\r\nfirst" + sequence + hidden + ".\r\nQUIT\r\n");
    s.finish();
    EXPECT_TRUE(s.status()) << s.status().error().message();
    return s.transcript();
  };
  auto count = [](const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
  };

  std::string t = smuggle("\n.\n");
  EXPECT_EQ(count(t, kQueued), 1u) << t;
  EXPECT_EQ(t.find("503"), std::string::npos) << t;
  auto all = queued();
  ASSERT_EQ(all.size(), 1u) << t;
  const std::string& raw = all[0].second;
  EXPECT_NE(raw.find("Subject: smuggled"), std::string::npos) << "the smuggled text is content";
  EXPECT_NE(raw.find("MAIL FROM:<evil@remote.test>\r\n"), std::string::npos);
  EXPECT_EQ(raw.find("\r\n.\r\n"), std::string::npos) << "a line a next hop could end on";
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n') {
      ASSERT_TRUE(i > 0 && raw[i - 1] == '\r') << "bare LF at " << i;
    }
    if (raw[i] == '\r') {
      ASSERT_TRUE(i + 1 < raw.size() && raw[i + 1] == '\n') << "bare CR at " << i;
    }
  }

  // Bare CR before the dot: the message is refused and nothing more is queued.
  t = smuggle("\r\n.\r");
  EXPECT_EQ(count(t, kQueued), 0u) << t;
  EXPECT_NE(t.find("550 5."), std::string::npos) << t;
  EXPECT_EQ(queued().size(), 1u) << t;
}

}  // namespace
}  // namespace postern::smtp
