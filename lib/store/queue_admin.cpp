// queue-ctl's operations (queue_admin.h).
#include "store/queue_admin.h"
#include "base/clock.h"

#include <boost/json.hpp>
#include <ctime>
#include <vector>

#include "mail/writer.h"

namespace postern::store::queue {

namespace json = boost::json;
using base::Error;
using base::Result;

namespace {

std::string shown_sender(const std::string& s) { return s.empty() ? "<>" : s; }

std::string ret_text(Ret r) { return r == Ret::kFull ? "FULL" : r == Ret::kHeaders ? "HDRS" : ""; }

std::string body_text(Body b) {
  return b == Body::k8BitMime ? "8BITMIME" : b == Body::kBinaryMime ? "BINARYMIME" : "7BIT";
}

// RFC 3461 4.1 NOTIFY keywords; "" when the parameter was not given.
std::string notify_text(unsigned n) {
  if (n == 0) return "";
  if (n & kNotifyNever) return "NEVER";
  std::string out;
  for (auto [bit, name] : {std::pair<unsigned, const char*>{kNotifySuccess, "SUCCESS"},
                           {kNotifyFailure, "FAILURE"},
                           {kNotifyDelay, "DELAY"}}) {
    if (!(n & bit)) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

std::string recipient_line(const Recipient& r) {
  std::string s = r.address + "  " + std::string(status_name(r.status));
  if (!r.last_reply.empty()) s += ": " + r.last_reply;
  return s;
}

json::object to_json(const Message& m) {
  const Envelope& e = m.envelope;
  json::array rcpts;
  for (const Recipient& r : e.recipients) {
    rcpts.push_back(json::object{{"address", r.address},
                                 {"orcpt", r.orcpt},
                                 {"notify", notify_text(r.notify)},
                                 {"status", status_name(r.status)},
                                 {"last_reply", r.last_reply}});
  }
  return {{"id", m.id},
          {"state", state_name(m.state)},
          {"arrival_time", m.created_at},
          {"size", m.size},
          {"attempts", m.attempts},
          {"next_attempt", m.next_attempt},
          {"sender", e.sender},
          {"envid", e.envid},
          {"ret", ret_text(e.ret)},
          {"body", body_text(e.body)},
          {"smtputf8", e.smtputf8},
          {"requiretls", e.requiretls},
          {"client_ip", e.client_ip},
          {"helo", e.helo},
          {"auth_user", e.auth_user},
          {"listener", e.listener},
          {"recipients", std::move(rcpts)}};
}

std::string pad(std::string s, size_t width, bool right = false) {
  if (s.size() >= width) return s;
  std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

// A recipient address given on the command line: "<a@b>" or "a@b".
Result<std::string> command_line_address(std::string_view a, bool sender) {
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  if (sender && a.empty()) return std::string();
  auto at = a.rfind('@');
  bool ok = at != std::string_view::npos && at > 0 && at + 1 < a.size();
  for (unsigned char c : a) ok = ok && c > 0x20 && c != 0x7f && c != '<' && c != '>';
  if (!ok) {
    return Error::usage("\"" + std::string(a) + "\" is not an address (local@domain" +
                        (sender ? std::string(", or <> for none)") : std::string(")")));
  }
  return std::string(a);
}

bool has_8bit(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return true;
  }
  return false;
}

}  // namespace

std::optional<State> parse_state(std::string_view name) {
  if (name == "active") return State::kActive;
  if (name == "hold") return State::kHold;
  return std::nullopt;
}

Result<std::string> list_text(Queue& q, const ListFilter& filter, bool json) {
  auto list = q.list(filter);
  if (!list) return list.error();
  std::string out;
  if (json) {
    for (const Message& m : *list) out += json::serialize(to_json(m)) + "\n";
    return out;
  }
  if (list->empty()) return std::string("queue is empty\n");
  // id (16), state, size, arrival, then sender and recipients in one column.
  const std::string indent(16 + 2 + 6 + 2 + 10 + 2 + 19 + 2, ' ');
  out = "-Queue ID-------  State   ----Size  ---Arrival (UTC)---  -Sender/Recipients-\n";
  uint64_t bytes = 0;
  for (const Message& m : *list) {
    bytes += m.size;
    out += m.id + "  " + pad(std::string(state_name(m.state)), 6) + "  " +
           pad(std::to_string(m.size), 10, true) + "  " + base::utc_datetime(m.created_at) + "  " +
           shown_sender(m.envelope.sender) + "\n";
    for (const Recipient& r : m.envelope.recipients) out += indent + recipient_line(r) + "\n";
    out += "\n";
  }
  size_t n = list->size();
  out += std::to_string(n) + (n == 1 ? " message, " : " messages, ") +
         std::to_string((bytes + 1023) / 1024) + " KB\n";
  return out;
}

Result<std::string> show_text(Queue& q, std::string_view id, bool json) {
  auto m = q.get(id);
  if (!m) return m.error();
  if (!*m) return Error::no_user("no queued message " + std::string(id));
  const Message& msg = **m;
  if (json) return json::serialize(to_json(msg)) + "\n";
  const Envelope& e = msg.envelope;
  std::string out;
  auto line = [&](const char* name, const std::string& value) {
    out += std::string(name) + ": " + value + "\n";
  };
  line("id", msg.id);
  line("state", std::string(state_name(msg.state)));
  line("arrival", base::utc_datetime(msg.created_at) + " UTC");
  line("size", std::to_string(msg.size));
  line("attempts", std::to_string(msg.attempts));
  line("next attempt", base::utc_datetime(msg.next_attempt) + " UTC");
  line("sender", shown_sender(e.sender));
  if (!e.envid.empty()) line("envid", e.envid);
  if (e.ret != Ret::kDefault) line("ret", ret_text(e.ret));
  line("body", body_text(e.body));
  if (e.smtputf8) line("smtputf8", "yes");
  if (e.requiretls) line("requiretls", "yes");
  if (!e.client_ip.empty()) line("client", e.client_ip);
  if (!e.helo.empty()) line("helo", e.helo);
  if (!e.auth_user.empty()) line("auth", e.auth_user);
  if (!e.listener.empty()) line("listener", e.listener);
  for (const Recipient& r : e.recipients) {
    std::string s = recipient_line(r);
    if (!r.orcpt.empty()) s += "  orcpt=" + r.orcpt;
    if (r.notify != 0) s += "  notify=" + notify_text(r.notify);
    line("recipient", s);
  }
  return out;
}

Result<std::string> add_message(Queue& q, std::string_view sender,
                                std::span<const std::string> recipients, std::string_view message,
                                bool requiretls) {
  if (recipients.empty()) return Error::usage("no recipients");
  NewMessage m;
  m.id = make_queue_id();
  auto from = command_line_address(sender, true);
  if (!from) return from.error();
  m.envelope.sender = *from;
  bool utf8 = has_8bit(*from);
  for (const std::string& r : recipients) {
    auto to = command_line_address(r, false);
    if (!to) return to.error();
    utf8 = utf8 || has_8bit(*to);
    m.envelope.recipients.push_back(Recipient{.address = *to});
  }
  m.envelope.smtputf8 = utf8;
  m.envelope.requiretls = requiretls;
  m.envelope.listener = "queue-ctl";
  std::string bytes = mail::lf_to_crlf(message);
  m.envelope.body = bytes.find('\0') != std::string::npos ? Body::kBinaryMime
                    : has_8bit(bytes)                     ? Body::k8BitMime
                                                          : Body::k7Bit;
  m.data = bytes;
  if (auto st = q.enqueue(std::span<const NewMessage>(&m, 1)); !st) return st.error();
  return m.id;
}

}  // namespace postern::store::queue
