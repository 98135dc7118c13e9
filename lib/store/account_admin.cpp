// account-ctl's operations on the Store (see account_admin.h).
#include "store/account_admin.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "base/clock.h"

namespace postern::store::admin {

using base::Error;
using base::Result;
using base::Status;
namespace json = boost::json;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : lower(address.substr(at + 1));
}

Status check_address(std::string_view address, bool allow_catch_all) {
  auto at = address.rfind('@');
  bool ok = at != std::string_view::npos && at + 1 < address.size() && (at > 0 || allow_catch_all);
  for (unsigned char c : address) ok = ok && c > 0x20 && c != 0x7f;
  if (!ok) {
    return Error::bad_data("not an address (local@domain" +
                           std::string(allow_catch_all ? " or @domain" : "") + "): \"" +
                           std::string(address) + "\"");
  }
  return {};
}

Status need_domain(Store& s, const std::string& domain) {
  auto local = s.is_local_domain(domain);
  if (!local) return local.error();
  if (!*local) return Error::no_user("no domain " + domain + " (add it with `domain add`)");
  return {};
}

Result<Account> need_account(Store& s, std::string_view address) {
  if (auto st = check_address(address, false); !st) return st.error();
  auto a = s.find_account(address);
  if (!a) return a.error();
  if (!*a) return Error::no_user("no account " + lower(address));
  return **a;
}

std::string when(int64_t unix) {
  if (unix <= 0) return "";
  return base::rfc3339(base::Clock::WallTime{std::chrono::seconds{unix}});
}

std::string json_line(const json::value& v) { return json::serialize(v) + "\n"; }

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  std::string t = lower(text);
  if (t == "0" || t == "none" || t == "unlimited") return uint64_t{0};
  size_t i = 0;
  uint64_t n = 0;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') {
    if (n > (UINT64_MAX - 9) / 10)
      return Error::usage("size too large: \"" + std::string(text) + "\"");
    n = n * 10 + uint64_t(t[i] - '0');
    ++i;
  }
  std::string unit = t.substr(i);
  int shift = -1;
  if (i == 0)
    shift = -1;
  else if (unit.empty() || unit == "b")
    shift = 0;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    shift = 10;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    shift = 20;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    shift = 30;
  else if (unit == "t" || unit == "tb" || unit == "tib")
    shift = 40;
  if (shift < 0) {
    return Error::usage("not a size: \"" + std::string(text) +
                        "\" (bytes, or a number with K, M, G or T; 0 or none: unlimited)");
  }
  if (shift > 0 && n > (UINT64_MAX >> shift)) {
    return Error::usage("size too large: \"" + std::string(text) + "\"");
  }
  return n << shift;
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"", "K", "M", "G", "T", "P"};
  int u = 0;
  uint64_t scale = 1;
  while (u < 5 && bytes >= scale * 1024) {
    scale *= 1024;
    ++u;
  }
  if (u == 0) return std::to_string(bytes);
  uint64_t tenths = (bytes * 10 + scale / 2) / scale;  // rounded to 0.1 unit
  if (bytes > UINT64_MAX / 10) tenths = bytes / scale * 10;
  std::string out = std::to_string(tenths / 10);
  if (tenths % 10) out += "." + std::to_string(tenths % 10);
  return out + kUnits[u];
}

std::string generate_app_password() {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";  // 32 letters
  unsigned char raw[16];
  if (RAND_bytes(raw, sizeof raw) != 1) return {};
  std::string out;
  for (size_t i = 0; i < sizeof raw; ++i) {
    if (i && i % 4 == 0) out += '-';
    out += kAlphabet[raw[i] & 31];
  }
  OPENSSL_cleanse(raw, sizeof raw);
  return out;
}

namespace {

// Echo goes off (typeahead discarded, as getpass(3) does) before the prompt is shown,
// so whatever is typed after the prompt is kept; echo comes back without discarding.
Result<std::string> prompt_line(const char* prompt) {
  termios old{};
  bool restore = ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~tcflag_t(ECHO);
    quiet.c_lflag |= ECHONL;
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  std::fputs(prompt, stderr);
  std::fflush(stderr);
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  if (restore) ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  if (!got) return Error::usage("no password given (end of input)");
  return line;
}

}  // namespace

Result<std::string> read_password(bool confirm) {
  std::string pw;
  if (::isatty(STDIN_FILENO)) {
    auto first = prompt_line("Password: ");
    if (!first) return first.error();
    pw = std::move(*first);
    if (confirm) {
      auto again = prompt_line("Retype password: ");
      if (!again) return again.error();
      bool same = *again == pw;
      OPENSSL_cleanse(again->data(), again->size());
      if (!same) return Error::bad_data("the passwords differ");
    }
  } else {
    std::string all;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
      all.append(buf, n);
      if (all.size() > 65536) return Error::bad_data("standard input too long for a password");
    }
    OPENSSL_cleanse(buf, sizeof buf);
    auto nl = all.find('\n');
    pw = all.substr(0, nl);
    std::string rest = nl == std::string::npos ? "" : all.substr(nl + 1);
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
    if (!rest.empty()) {
      std::string second = rest.substr(0, rest.find('\n'));
      if (!second.empty() && second.back() == '\r') second.pop_back();
      bool ok = second == pw && rest.find('\n') >= rest.size() - 1;
      OPENSSL_cleanse(second.data(), second.size());
      if (!ok) {
        OPENSSL_cleanse(all.data(), all.size());
        return Error::bad_data("standard input must hold the password on one line");
      }
    }
    OPENSSL_cleanse(all.data(), all.size());
    OPENSSL_cleanse(rest.data(), rest.size());
  }
  if (pw.empty()) return Error::bad_data("the password is empty");
  return pw;
}

// ---- domains ----

Status add_domain(Store& s, std::string_view name) {
  auto d = s.add_domain(name);
  if (!d) return d.error();
  return {};
}

Status remove_domain(Store& s, std::string_view name, bool cascade) {
  if (auto st = need_domain(s, lower(name)); !st) return st;
  return s.remove_domain(name, cascade);
}

Result<std::string> list_domains(Store& s, bool as_json) {
  auto ds = s.domains();
  if (!ds) return ds.error();
  std::string out;
  for (const auto& d : *ds) {
    auto accts = s.accounts(d.name);
    if (!accts) return accts.error();
    if (as_json) {
      out += json_line(json::object{{"domain", d.name}, {"accounts", accts->size()}});
    } else {
      out += d.name + "\t" + std::to_string(accts->size()) + "\n";
    }
  }
  return out;
}

// ---- accounts ----

Status add_account(Store& s, std::string_view address, std::string_view name, uint64_t quota_bytes,
                   const std::optional<Credentials>& credentials) {
  if (auto st = check_address(address, false); !st) return st;
  if (auto st = need_domain(s, domain_of(address)); !st) return st;
  auto a = s.add_account(address, name, quota_bytes);
  if (!a) return a.error();
  if (credentials) {
    if (auto st = s.set_credentials(a->id, *credentials); !st) {
      (void)s.remove_account(a->address);  // no half-made account without its password
      return st;
    }
  }
  return {};
}

Status remove_account(Store& s, std::string_view address) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  return s.remove_account(a->address);
}

namespace {

struct View {
  Account a;
  QuotaUsage q;
  size_t mailboxes = 0;
  std::vector<AppPassword> apps;
};

Result<View> view_of(Store& s, const Account& a, bool details) {
  View v{a, {}, 0, {}};
  auto q = s.quota(a.id);
  if (!q) return q.error();
  v.q = *q;
  if (details) {
    auto mbs = s.mailboxes(a.id);
    if (!mbs) return mbs.error();
    v.mailboxes = mbs->size();
    auto apps = s.app_passwords(a.id);
    if (!apps) return apps.error();
    v.apps = std::move(*apps);
  }
  return v;
}

json::object to_json(const View& v, bool details) {
  json::object o{{"address", v.a.address},       {"name", v.a.name},
                 {"enabled", v.a.enabled},       {"quota_bytes", v.q.limit_bytes},
                 {"used_bytes", v.q.used_bytes}, {"messages", v.q.messages}};
  if (details) {
    o["mailboxes"] = v.mailboxes;
    o["password_scheme"] = std::string(hash_scheme(v.a.password_hash));
    o["scram"] = v.a.scram.has_value();
    json::array apps;
    for (const auto& p : v.apps) apps.push_back(json::string(p.name));
    o["app_passwords"] = std::move(apps);
    o["created_at"] = when(v.a.created_at);
  }
  return o;
}

std::string quota_text(const QuotaUsage& q) {
  return format_size(q.used_bytes) + "/" +
         (q.limit_bytes ? format_size(q.limit_bytes) : "unlimited");
}

}  // namespace

Result<std::string> list_accounts(Store& s, std::string_view domain, bool as_json) {
  if (!domain.empty()) {
    if (auto st = need_domain(s, lower(domain)); !st) return st.error();
  }
  auto accts = s.accounts(lower(domain));
  if (!accts) return accts.error();
  std::string out;
  for (const auto& a : *accts) {
    auto v = view_of(s, a, false);
    if (!v) return v.error();
    if (as_json) {
      out += json_line(to_json(*v, false));
    } else {
      out += a.address + "\t" + (a.enabled ? "enabled" : "disabled") + "\t" + quota_text(v->q) +
             "\t" + a.name + "\n";
    }
  }
  return out;
}

Result<std::string> show_account(Store& s, std::string_view address, bool as_json) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  auto v = view_of(s, *a, true);
  if (!v) return v.error();
  if (as_json) return json_line(to_json(*v, true));
  std::string apps;
  for (const auto& p : v->apps) apps += (apps.empty() ? "" : ", ") + p.name;
  std::string quota = format_size(v->q.used_bytes) + " used of " +
                      (v->q.limit_bytes ? format_size(v->q.limit_bytes) : "unlimited");
  if (v->q.limit_bytes) {
    quota += " (" + std::to_string(v->q.used_bytes * 100 / v->q.limit_bytes) + "%)";
  }
  std::string out;
  auto line = [&](const char* k, const std::string& val) {
    out += k;
    out += val + "\n";
  };
  line("address:       ", a->address);
  line("name:          ", a->name);
  line("enabled:       ", a->enabled ? "yes" : "no");
  line("quota:         ", quota);
  line("messages:      ", std::to_string(v->q.messages));
  line("mailboxes:     ", std::to_string(v->mailboxes));
  line("password:      ", std::string(hash_scheme(a->password_hash)));
  line("scram-sha-256: ", a->scram ? "yes" : "no");
  line("app passwords: ", apps.empty() ? "none" : apps);
  line("created:       ", when(a->created_at));
  return out;
}

Status set_password(Store& s, std::string_view address, const Credentials& c) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  return s.set_credentials(a->id, c);
}

Status set_quota(Store& s, std::string_view address, uint64_t quota_bytes) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  return s.set_quota(a->id, quota_bytes);
}

Status set_enabled(Store& s, std::string_view address, bool enabled) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  return s.set_enabled(a->id, enabled);
}

// ---- aliases ----

Status add_alias(Store& s, std::string_view source, std::string_view target) {
  if (auto st = check_address(source, true); !st) return st;
  if (auto st = check_address(target, false); !st) return st;
  if (auto st = need_domain(s, domain_of(source)); !st) return st;
  auto a = s.add_alias(source, target);
  if (!a) return a.error();
  return {};
}

Status remove_alias(Store& s, std::string_view source, std::string_view target) {
  if (auto st = check_address(source, true); !st) return st;
  std::string src = lower(source), tgt = lower(target);
  if (auto st = need_domain(s, domain_of(src)); !st) return st;
  auto all = s.aliases(domain_of(src));
  if (!all) return all.error();
  bool found = false;
  for (const auto& a : *all) {
    found = found || (lower(a.source) == src && (tgt.empty() || lower(a.target) == tgt));
  }
  if (!found) return Error::no_user("no alias " + src + (tgt.empty() ? "" : " -> " + tgt));
  return s.remove_alias(source, target);
}

Result<std::string> list_aliases(Store& s, std::string_view domain, bool as_json) {
  if (!domain.empty()) {
    if (auto st = need_domain(s, lower(domain)); !st) return st.error();
  }
  auto all = s.aliases(lower(domain));
  if (!all) return all.error();
  std::string out;
  for (const auto& a : *all) {
    out += as_json ? json_line(json::object{{"source", a.source}, {"target", a.target}})
                   : a.source + "\t" + a.target + "\n";
  }
  return out;
}

// ---- app passwords ----

Result<std::string> add_app_password(Store& s, std::string_view address, std::string_view name) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  if (name.empty()) return Error::usage("an app password needs a name");
  std::string pw = generate_app_password();
  if (pw.empty()) return Error::internal("no random bytes for an app password");
  auto c = make_credentials(pw);
  if (!c) return c.error();
  auto added = s.add_app_password(a->id, name, *c);
  if (!added) {
    OPENSSL_cleanse(pw.data(), pw.size());
    return added.error();
  }
  return pw;
}

Status remove_app_password(Store& s, std::string_view address, std::string_view name) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  auto apps = s.app_passwords(a->id);
  if (!apps) return apps.error();
  bool found = false;
  for (const auto& p : *apps) found = found || p.name == name;
  if (!found)
    return Error::no_user("no app password \"" + std::string(name) + "\" for " + a->address);
  return s.remove_app_password(a->id, name);
}

Result<std::string> list_app_passwords(Store& s, std::string_view address, bool as_json) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  auto apps = s.app_passwords(a->id);
  if (!apps) return apps.error();
  std::string out;
  for (const auto& p : *apps) {
    out += as_json ? json_line(json::object{{"name", p.name},
                                            {"created_at", when(p.created_at)},
                                            {"scram", p.scram.has_value()}})
                   : p.name + "\t" + when(p.created_at) + "\n";
  }
  return out;
}

Result<std::optional<std::string>> verify(Store& s, std::string_view address,
                                          std::string_view password) {
  auto a = need_account(s, address);
  if (!a) return a.error();
  if (verify_password(password, a->password_hash)) return std::optional<std::string>("account");
  auto apps = s.app_passwords(a->id);
  if (!apps) return apps.error();
  for (const auto& p : *apps) {
    if (verify_password(password, p.hash))
      return std::optional<std::string>("app-password " + p.name);
  }
  return std::optional<std::string>();
}

}  // namespace postern::store::admin
