#include "store/local_delivery.h"

#include "mail/header.h"
#include "mail/writer.h"

namespace postern::store {
namespace {

// The header block's fields as (name, raw value) in order; stops at the blank line.
template <typename F>
void each_field(std::string_view msg, F&& f) {
  size_t pos = 0;
  while (pos < msg.size()) {
    size_t eol = msg.find('\n', pos);
    size_t end = eol == std::string_view::npos ? msg.size() : eol + 1;
    std::string_view line = msg.substr(pos, end - pos);
    if (line == "\r\n" || line == "\n") return;
    // Continuation lines belong to the field before.
    size_t field_end = end;
    while (field_end < msg.size() && (msg[field_end] == ' ' || msg[field_end] == '\t')) {
      size_t e = msg.find('\n', field_end);
      field_end = e == std::string_view::npos ? msg.size() : e + 1;
    }
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (!f(name, msg.substr(pos + colon + 1, field_end - pos - colon - 1))) return;
    }
    pos = field_end;
  }
}

bool looks_like_message(std::string_view msg) {
  size_t eol = msg.find('\n');
  std::string_view first = msg.substr(0, eol);
  size_t colon = first.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  for (char c : first.substr(0, colon)) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) return false;
  }
  return true;
}

base::Result<Mailbox> choose_mailbox(Store& store, Id account, std::string_view detail,
                                     bool junk, const DeliveryOptions& o) {
  if (junk) {
    auto m = store.mailbox_by_role(account, Role::kJunk);
    if (!m) return m.error();
    if (*m) return **m;
  }
  if (!o.mailbox.empty()) {
    auto m = store.find_mailbox(account, o.mailbox);
    if (!m) return m.error();
    if (!*m) {
      m = store.find_mailbox_nocase(account, o.mailbox);
      if (!m) return m.error();
    }
    if (*m) return **m;
    if (o.create_mailbox) return store.create_mailbox(account, o.mailbox);
  }
  if (!detail.empty()) {
    auto m = store.find_mailbox_nocase(account, detail);
    if (!m) return m.error();
    if (*m) return **m;
  }
  auto inbox = store.mailbox_by_role(account, Role::kInbox);
  if (!inbox) return inbox.error();
  if (!*inbox) return base::Error::temporary("account has no Inbox");
  return **inbox;
}

}  // namespace

std::optional<std::string> trusted_field(std::string_view message, std::string_view name) {
  std::optional<std::string> out;
  each_field(message, [&](std::string_view n, std::string_view value) {
    if (mail::iequals(n, "Received")) return false;
    if (!mail::iequals(n, name)) return true;
    out = mail::unfold(value);
    return false;
  });
  return out;
}

bool trusted_spam_flag(std::string_view message) {
  auto flag = trusted_field(message, "X-Spam-Flag");
  return flag && mail::iequals(*flag, "YES");
}

base::Result<LocalDelivery> deliver_local(Store& store, std::string_view recipient,
                                          std::string_view message,
                                          const DeliveryOptions& options) {
  if (message.empty() || !looks_like_message(message)) {
    return base::Error(base::ExitCode::kDataErr, 554, "5.6.0",
                       "the input is not an RFC 5322 message (no header field on its first line)");
  }
  std::string rcpt = mail::to_lower(recipient);
  auto r = store.resolve(rcpt);
  if (!r) return r.error();
  if (!r->found()) return base::Error::no_user("no such user: " + rcpt);

  bool loop = false;
  each_field(message, [&](std::string_view name, std::string_view value) {
    if (mail::iequals(name, "Delivered-To") && mail::iequals(mail::unfold(value), rcpt)) {
      loop = true;
      return false;
    }
    return true;
  });
  if (loop) {
    return base::Error(base::ExitCode::kUnavailable, 554, "5.4.6",
                       "mail forwarding loop: the message was already delivered to " + rcpt);
  }
  bool junk = options.junk || trusted_spam_flag(message);

  std::string prefix;
  if (!options.sender.empty()) {
    std::string s = options.sender == "<>" ? "" : options.sender;
    prefix += "Return-Path: <" + s + ">\r\n";
  }
  prefix += "Delivered-To: " + rcpt + "\r\n";
  std::string bytes = mail::to_crlf(prefix + std::string(message));

  LocalDelivery out;
  out.forward = r->forward;
  for (Id account : r->accounts) {
    auto acct = store.account(account);
    if (!acct) return acct.error();
    if (!*acct) continue;  // removed meanwhile
    std::optional<bool> own = options.judge ? options.judge(account, message) : std::nullopt;
    auto box = choose_mailbox(store, account, r->detail, own ? *own : junk, options);
    if (!box) return box.error();
    Delivery d{.account_id = account, .mailbox_id = box->id, .message = bytes,
               .received_at = options.received_at};
    if (own) d.keywords.push_back(*own ? "$junk" : "$notjunk");
    auto done = store.deliver(d);
    if (!done) {
      const base::Error& e = done.error();
      if (e.enhanced() == "5.2.2" && options.quota_tempfail) {
        return base::Error(base::ExitCode::kTempFail, 452, "4.2.2", e.message());
      }
      return e;
    }
    out.stored.push_back({(*acct)->address, box->path, *done});
  }
  return out;
}

}  // namespace postern::store
