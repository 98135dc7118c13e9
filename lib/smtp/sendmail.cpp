// postern-sendmail's engine: message preparation, the SMTP client over the local
// listener's Unix socket, and the -bs relay (see sendmail.h).
#include "smtp/sendmail.h"

#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>

#include "mail/header.h"
#include "mail/writer.h"

namespace postern::smtp::sendmail {
namespace {

using base::Error;
using base::ExitCode;

constexpr int kReplyTimeoutMs = 300 * 1000;  // RFC 5321 4.5.3.2: minutes, not seconds
constexpr int kDataTimeoutMs = 600 * 1000;   // 4.5.3.2.6: the reply after the final dot

bool has_8bit(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// "Name:" with RFC 5322 3.6.8 ftext (printable ASCII but colon) before the colon.
bool is_field_start(std::string_view line) {
  size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (size_t i = 0; i < colon; ++i) {
    unsigned char c = static_cast<unsigned char>(line[i]);
    if (c <= ' ' || c >= 127) return false;
  }
  return true;
}

std::string strip_angles(std::string_view a) {
  while (!a.empty() && (a.front() == ' ' || a.front() == '\t')) a.remove_prefix(1);
  while (!a.empty() && (a.back() == ' ' || a.back() == '\t')) a.remove_suffix(1);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  return std::string(a);
}

struct Field {
  std::string name;
  std::string raw;  // "Name: value\r\n" with its folded lines
  std::string_view value() const { return std::string_view(raw).substr(name.size() + 1); }
};

struct Reply {
  int code = 0;
  std::string enhanced;
  std::vector<std::string> lines;  // text after "NNN-" / "NNN "
  std::string text() const {
    std::string t = std::to_string(code);
    for (size_t i = 0; i < lines.size(); ++i) t += (i ? "; " : " ") + lines[i];
    return t;
  }
};

// The client side of one connection: buffered reply reading with timeouts, and writes
// that cannot raise SIGPIPE.
class Conn {
 public:
  Conn(int fd, const Trace& trace) : fd_(fd), trace_(trace) {}

  base::Status send(std::string_view data, bool show = true) {
    if (show && trace_) trace_(">>> ", data.substr(0, data.size() - 2));
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return lost(std::string("writing: ") + std::strerror(errno));
      data.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }

  // RFC 5321 4.2: "NNN-text" lines up to "NNN text".
  base::Result<Reply> read(int timeout_ms) {
    Reply r;
    for (;;) {
      auto line = read_line(timeout_ms);
      if (!line) return line.error();
      if (trace_) trace_("<<< ", *line);
      const std::string& l = *line;
      if (l.size() < 3 || !std::isdigit(static_cast<unsigned char>(l[0])) ||
          !std::isdigit(static_cast<unsigned char>(l[1])) ||
          !std::isdigit(static_cast<unsigned char>(l[2]))) {
        return lost("unexpected reply from the server: " + l);
      }
      r.code = std::stoi(l.substr(0, 3));
      std::string text = l.size() > 4 ? l.substr(4) : std::string();
      r.lines.push_back(text);
      if (l.size() <= 3 || l[3] != '-') break;
    }
    // RFC 2034: the enhanced code starts the text of the first line.
    const std::string& first = r.lines.front();
    size_t sp = first.find(' ');
    std::string word = first.substr(0, sp);
    if (word.size() >= 5 && word[0] == static_cast<char>('0' + r.code / 100) && word[1] == '.' &&
        std::all_of(word.begin(), word.end(), [](char c) {
          return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
        })) {
      r.enhanced = word;
    }
    return r;
  }

  static Error lost(const std::string& why) {
    return Error::temporary("message NOT accepted: connection to the mail service failed: " + why);
  }

 private:
  base::Result<std::string> read_line(int timeout_ms) {
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
      }
      if (buf_.size() > 65536) return lost("reply line too long");
      pollfd p{fd_, POLLIN, 0};
      int rc = ::poll(&p, 1, timeout_ms);
      if (rc < 0 && errno == EINTR) continue;
      if (rc == 0) return lost("no reply within " + std::to_string(timeout_ms / 1000) + " s");
      if (rc < 0) return lost(std::string("poll: ") + std::strerror(errno));
      char chunk[4096];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return lost(std::string("reading: ") + std::strerror(errno));
      if (n == 0) return lost("the server closed the connection");
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

  int fd_;
  const Trace& trace_;
  std::string buf_;
};

// The exit-code table's reading of a refusal: 4xx temporary (75), 5.1.1 no such user
// (67), any other 5xx unavailable (69). The reply goes into the message.
Error refusal(const Reply& r, std::string_view step) {
  std::string msg = "message NOT accepted: " + std::string(step) + ": " + r.text();
  std::string enhanced = r.enhanced;
  if (r.code >= 400 && r.code < 500) {
    return Error(ExitCode::kTempFail, r.code, enhanced.empty() ? "4.0.0" : enhanced, msg);
  }
  if (r.code >= 500 && r.code < 600) {
    ExitCode c = enhanced == "5.1.1" ? ExitCode::kNoUser : ExitCode::kUnavailable;
    return Error(c, r.code, enhanced.empty() ? "5.0.0" : enhanced, msg);
  }
  return Conn::lost("unexpected reply to " + std::string(step) + ": " + r.text());
}

std::string qualify(std::string address, const std::string& host) {
  if (!address.empty() && address.find('@') == std::string::npos) address += "@" + host;
  return address;
}

}  // namespace

std::vector<std::string> split_recipients(std::string_view arg) {
  std::vector<std::string> out;
  if (arg.find_first_of(",<\"(") == std::string_view::npos) {
    std::string a = strip_angles(arg);
    if (!a.empty()) out.push_back(a);
    return out;
  }
  for (const auto& a : mail::parse_address_list(arg).flatten()) {
    if (a.address && !a.address->empty()) out.push_back(*a.address);
  }
  return out;
}

std::string xtext(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c < '!' || c > '~' || c == '+' || c == '=') {
      out += '+';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

base::Result<Prepared> prepare(std::string_view input, const Options& o) {
  // Line ends first (bare CR and LF become CRLF), then the lines one by one.
  std::string text = mail::to_crlf(std::string(input));
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (!o.ignore_dots && line == ".") break;  // sendmail(8): a lone dot ends the input
    lines.push_back(line);
    pos = end + 2;
  }
  size_t i = 0;
  if (!lines.empty() && lines[0].starts_with("From ")) i = 1;  // an mbox separator line
  std::vector<Field> fields;
  for (; i < lines.size(); ++i) {
    std::string_view l = lines[i];
    if (l.empty()) {
      ++i;  // the blank line that ends the header
      break;
    }
    if ((l.front() == ' ' || l.front() == '\t') && !fields.empty()) {
      fields.back().raw += std::string(l) + "\r\n";
      continue;
    }
    if (!is_field_start(l)) break;  // no blank line: the body starts here
    fields.push_back({std::string(l.substr(0, l.find(':'))), std::string(l) + "\r\n"});
  }
  Prepared p;
  for (; i < lines.size(); ++i) {
    p.body += lines[i];
    p.body += "\r\n";
  }
  std::vector<std::string> rcpts;
  for (const auto& arg : o.recipients) {
    for (auto& a : split_recipients(arg)) rcpts.push_back(std::move(a));
  }
  if (o.extract_recipients) {
    // RFC 5322 3.6.6: a resent message goes to the Resent- recipients only.
    bool resent = std::any_of(fields.begin(), fields.end(), [](const Field& f) {
      return mail::iequals(f.name, "Resent-To") || mail::iequals(f.name, "Resent-Cc") ||
             mail::iequals(f.name, "Resent-Bcc");
    });
    for (const Field& f : fields) {
      std::string_view n = f.name;
      if (resent) {
        if (!mail::iequals(n.substr(0, std::min<size_t>(7, n.size())), "Resent-")) continue;
        n.remove_prefix(7);
      }
      if (!mail::iequals(n, "To") && !mail::iequals(n, "Cc") && !mail::iequals(n, "Bcc")) continue;
      for (const auto& a : mail::parse_address_list(f.value()).flatten()) {
        if (a.address && !a.address->empty()) rcpts.push_back(*a.address);
      }
    }
  }
  std::set<std::string> seen;
  for (auto& r : rcpts) {
    if (seen.insert(mail::to_lower(r)).second) p.recipients.push_back(std::move(r));
  }
  if (p.recipients.empty()) {
    return Error::usage(o.extract_recipients
                            ? "no recipient addresses found in the arguments or header"
                            : "no recipients: give addresses as arguments, or -t");
  }
  for (const Field& f : fields) {
    if (mail::iequals(f.name, "Bcc") || mail::iequals(f.name, "Resent-Bcc")) continue;
    if (mail::iequals(f.name, "From")) p.has_from = true;
    p.header += f.raw;
  }
  p.utf8_header = has_8bit(p.header);
  p.eight_bit = p.utf8_header || has_8bit(p.body);
  return p;
}

Caller caller() {
  Caller c;
  c.uid = ::getuid();
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  if (::getpwuid_r(static_cast<uid_t>(c.uid), &pw, buf.data(), buf.size(), &found) == 0 && found) {
    c.login = found->pw_name;
    std::string gecos = found->pw_gecos ? found->pw_gecos : "";
    c.full_name = gecos.substr(0, gecos.find(','));
  }
  return c;
}

base::Result<base::UniqueFd> connect_unix(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) {
    return Error::temporary("message NOT accepted: socket path too long: " + path);
  }
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd)
    return Error::temporary(std::string("message NOT accepted: socket: ") + std::strerror(errno));
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    return Error::temporary("message NOT accepted: cannot reach the mail service at " + path +
                            ": " + std::strerror(errno));
  }
  return fd;
}

base::Status submit(int fd, const Options& o, Prepared& m, const Caller& who, const Trace& trace,
                    std::string* queue_id) {
  Conn c(fd, trace);
  auto greeting = c.read(kReplyTimeoutMs);
  if (!greeting) return greeting.error();
  if (greeting->code != 220) return refusal(*greeting, "greeting");
  // "220 mx.example.org ESMTP Postern": the host our addresses belong to.
  const std::string& g = greeting->lines.front();
  std::string host = g.substr(0, g.find(' '));
  if (auto st = c.send("EHLO localhost\r\n"); !st) return st;
  auto ehlo = c.read(kReplyTimeoutMs);
  if (!ehlo) return ehlo.error();
  if (ehlo->code != 250) return refusal(*ehlo, "EHLO");
  std::set<std::string> ext;
  for (size_t i = 1; i < ehlo->lines.size(); ++i) {
    std::string kw = ehlo->lines[i].substr(0, ehlo->lines[i].find(' '));
    std::transform(kw.begin(), kw.end(), kw.begin(),
                   [](unsigned char ch) { return std::toupper(ch); });
    ext.insert(kw);
  }

  std::string sender;
  if (o.sender_given) {
    sender = qualify(strip_angles(o.sender), host);
  } else {
    if (who.login.empty()) {
      return Error::no_user("message NOT accepted: uid " + std::to_string(who.uid) +
                            " has no login name to send as");
    }
    sender = who.login + "@" + host;
  }
  std::vector<std::string> rcpts;
  for (const auto& r : m.recipients) rcpts.push_back(qualify(r, host));
  if (!m.has_from) {
    std::string from_address = sender.empty() ? who.login + "@" + host : sender;
    mail::Address a{.address = from_address};
    std::string name = o.full_name.empty() ? who.full_name : o.full_name;
    if (!name.empty()) a.name = name;
    m.header += mail::fold_header("From", mail::format_address(a));
    m.has_from = true;
  }
  bool utf8 =
      m.utf8_header || has_8bit(sender) ||
      std::any_of(rcpts.begin(), rcpts.end(), [](const std::string& r) { return has_8bit(r); });

  std::string data = m.header + "\r\n" + m.body;
  std::string mail = "MAIL FROM:<" + sender + ">";
  if (ext.count("SIZE")) mail += " SIZE=" + std::to_string(data.size());
  std::string body = o.body;
  std::transform(body.begin(), body.end(), body.begin(),
                 [](unsigned char ch) { return std::toupper(ch); });
  if (body.empty() && m.eight_bit) body = "8BITMIME";
  if (!body.empty() && ext.count("8BITMIME")) mail += " BODY=" + body;  // RFC 6152
  if (utf8) {
    if (!ext.count("SMTPUTF8")) {
      return Error::unavailable("message NOT accepted: it needs SMTPUTF8, which the server lacks");
    }
    mail += " SMTPUTF8";  // RFC 6531 3.4
  }
  bool dsn = ext.count("DSN") > 0;  // RFC 3461
  if (dsn && !o.ret.empty()) {
    std::string ret = o.ret;
    std::transform(ret.begin(), ret.end(), ret.begin(),
                   [](unsigned char ch) { return std::toupper(ch); });
    mail += " RET=" + ret;
  }
  if (dsn && !o.envid.empty()) mail += " ENVID=" + xtext(o.envid);
  if (auto st = c.send(mail + "\r\n"); !st) return st;
  auto r = c.read(kReplyTimeoutMs);
  if (!r) return r.error();
  if (r->code != 250) return refusal(*r, "MAIL FROM:<" + sender + ">");

  std::string notify = o.notify;
  std::transform(notify.begin(), notify.end(), notify.begin(),
                 [](unsigned char ch) { return std::toupper(ch); });
  for (const auto& rcpt : rcpts) {
    std::string cmd = "RCPT TO:<" + rcpt + ">";
    if (dsn && !notify.empty()) cmd += " NOTIFY=" + notify;
    if (auto st = c.send(cmd + "\r\n"); !st) return st;
    r = c.read(kReplyTimeoutMs);
    if (!r) return r.error();
    if (r->code != 250 && r->code != 251) {
      (void)c.send("QUIT\r\n");  // all or nothing: nobody gets a message some could not
      return refusal(*r, "RCPT TO:<" + rcpt + ">");
    }
  }
  if (auto st = c.send("DATA\r\n"); !st) return st;
  r = c.read(kReplyTimeoutMs);
  if (!r) return r.error();
  if (r->code != 354) return refusal(*r, "DATA");
  // RFC 5321 4.5.2: a line starting with "." gets another one.
  std::string wire;
  wire.reserve(data.size() + data.size() / 64 + 8);
  for (size_t pos = 0; pos < data.size();) {
    size_t end = data.find("\r\n", pos);
    end = end == std::string::npos ? data.size() : end + 2;
    if (data[pos] == '.') wire += '.';
    wire.append(data, pos, end - pos);
    pos = end;
  }
  wire += ".\r\n";
  if (trace) trace(">>> ", "(message, " + std::to_string(data.size()) + " bytes)");
  if (auto st = c.send(wire, false); !st) return st;
  r = c.read(kDataTimeoutMs);
  if (!r) return r.error();
  if (r->code != 250) return refusal(*r, "end of DATA");
  if (queue_id) {
    const std::string& t = r->lines.front();
    size_t at = t.find("queued as ");
    if (at != std::string::npos) *queue_id = t.substr(at + 10, t.find(' ', at + 10) - at - 10);
  }
  if (c.send("QUIT\r\n")) (void)c.read(5000);  // the message is accepted whatever happens now
  return {};
}

base::Status relay(int in, int out, int sock) {
  bool in_open = true;
  bool prev_cr = false;
  char buf[16384];
  for (;;) {
    pollfd p[2] = {{sock, POLLIN, 0}, {in_open ? in : -1, POLLIN, 0}};
    int rc = ::poll(p, 2, -1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return Error::from_errno(errno, "poll");
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::read(sock, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return {};  // the server closed the session
      if (auto st = base::write_all(out, std::string_view(buf, static_cast<size_t>(n))); !st) {
        return {};  // our reader went away: the session is over for it
      }
    }
    if (in_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ::read(in, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        in_open = false;
        ::shutdown(sock, SHUT_WR);  // the server sees EOF after what was sent
        continue;
      }
      std::string chunk;
      chunk.reserve(static_cast<size_t>(n) + 16);
      for (ssize_t i = 0; i < n; ++i) {
        if (buf[i] == '\n' && !prev_cr) chunk += '\r';
        chunk += buf[i];
        prev_cr = buf[i] == '\r';
      }
      size_t off = 0;
      while (off < chunk.size()) {
        ssize_t w = ::send(sock, chunk.data() + off, chunk.size() - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return {};  // the server closed: whatever it said has been relayed
        off += static_cast<size_t>(w);
      }
    }
  }
}

}  // namespace postern::smtp::sendmail
