// Store::open, domains, accounts, app passwords, aliases and recipient resolution.
#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>
#include <thread>
#include <tuple>

#include "mail/header.h"
#include "store/schema.h"
#include "store/store.h"
#include "store/store_internal.h"

namespace postern::store {

using base::Error;
using base::Result;
using base::Status;

namespace {

constexpr std::pair<Role, std::string_view> kRoles[] = {
    {Role::kNone, ""},           {Role::kInbox, "inbox"}, {Role::kSent, "sent"},
    {Role::kDrafts, "drafts"},   {Role::kJunk, "junk"},   {Role::kTrash, "trash"},
    {Role::kArchive, "archive"},
};

}  // namespace

std::string_view role_name(Role r) {
  for (auto& [role, name] : kRoles) {
    if (role == r) return name;
  }
  return "";
}

std::optional<Role> parse_role(std::string_view name) {
  for (auto& [role, n] : kRoles) {
    if (n == name) return role;
  }
  return std::nullopt;
}

namespace {

Result<std::unique_ptr<Db>> open_and_migrate(const StoreOptions& options) {
  DbOptions dbo = options.db;
  dbo.create = options.create;
  auto db = open_db(options.url, dbo);
  if (!db) return db.error();
  if (!options.create) {
    auto v = stored_schema_version(**db);
    if (!v) return v.error();
    if (*v == 0) {
      return Error::unavailable("store at " + (*db)->describe() +
                                " is empty (no schema); create it first");
    }
  }
  if (auto st = migrate(**db); !st) return st.error();
  return db;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
  // Several processes opening a new SQLite store at once race to switch it to WAL and
  // create the schema; a step that loses can get SQLITE_BUSY without SQLite's busy
  // handler being asked (a reader of a database another connection is converting), so
  // the whole opening is tried again, a few times, on a busy error. (PostgreSQL's
  // migrations take an advisory lock; a server that is down is reported at once.)
  auto db = open_and_migrate(options);
  const bool sqlite = engine_of_url(options.url) == Engine::kSqlite;
  for (int attempt = 1; sqlite && !db && retryable(db.error()) && attempt < 10; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10 * attempt));
    db = open_and_migrate(options);
  }
  if (!db) return db.error();
  std::unique_ptr<BlobStore> blobs;
  if (options.blob_dir.empty()) {
    blobs = make_db_blob_store(**db);
  } else {
    blobs = make_fs_blob_store(options.fs ? *options.fs : base::real_fs(), options.blob_dir);
  }
  return std::unique_ptr<Store>(
      std::make_unique<internal::StoreImpl>(std::move(*db), std::move(blobs)));
}

namespace internal {

int64_t now_unix() { return static_cast<int64_t>(std::time(nullptr)); }

namespace {

bool bad_char(unsigned char c) { return c < 0x20 || c == 0x7f || c == ' '; }

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.front() == '.' || d.back() == '.') return false;
  if (d.find("..") != std::string_view::npos) return false;
  for (unsigned char c : d) {
    if (bad_char(c) || c == '@' || c == '/' || c == '\\' || c == '"' || c == '<' || c == '>' ||
        c == ',' || c == ';' || c == ':' || c >= 0x80) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::string> normalize_domain(std::string_view name) {
  std::string d = mail::to_lower(name);
  if (!valid_domain(d)) return Error::bad_data("not a domain name: \"" + std::string(name) + "\"");
  return d;
}

Result<std::string> normalize_address(std::string_view address) {
  std::string a = mail::to_lower(address);
  auto at = a.rfind('@');
  if (at == std::string::npos || at == 0) {
    return Error::bad_data("not an address (local@domain): \"" + std::string(address) + "\"");
  }
  for (size_t i = 0; i < at; ++i) {
    auto c = static_cast<unsigned char>(a[i]);
    if (bad_char(c) || c == '<' || c == '>' || c == ',' || c == '"' || c == '@') {
      return Error::bad_data("not an address (local@domain): \"" + std::string(address) + "\"");
    }
  }
  if (!valid_domain(std::string_view(a).substr(at + 1))) {
    return Error::bad_data("not an address (local@domain): \"" + std::string(address) + "\"");
  }
  return a;
}

Account account_from_row(const Row& r) {
  Account a;
  a.id = r.i64(0);
  a.domain_id = r.i64(1);
  a.address = r.str(2);
  a.name = r.str(3);
  a.enabled = r.i64(4) != 0;
  a.quota_bytes = static_cast<uint64_t>(r.i64(5));
  a.used_bytes = static_cast<uint64_t>(r.i64(6));
  a.modseq = r.i64(7);
  a.password_hash = r.str(8);
  if (!r.is_null(9) && !r.str(9).empty()) {
    if (auto v = ScramVerifier::parse(r.str(9))) a.scram = std::move(*v);
  }
  a.created_at = r.i64(10);
  return a;
}

// ---- change log and modseq ----

Result<int64_t> StoreImpl::bump_modseq(Db& tx, Id account) {
  auto rows = tx.query("UPDATE account SET modseq = modseq + 1 WHERE id = ? RETURNING modseq",
                       {Value(account)});
  if (!rows) return rows.error();
  if (rows->empty()) return Error::no_user("no account with id " + std::to_string(account));
  return (*rows)[0].i64(0);
}

Status StoreImpl::log_change(Db& tx, Id account, ObjectType type, Id object, int64_t modseq,
                             ChangeKind kind) {
  // One row per object: created_modseq tells "created" from "updated" for any `since`,
  // destroyed marks a tombstone (ids are never reused).
  int64_t destroyed = kind == ChangeKind::kDestroyed ? 1 : 0;
  auto r = tx.exec(
      "INSERT INTO change_log (account_id, type, object_id, created_modseq, modseq, destroyed) "
      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, type, object_id) DO UPDATE SET "
      "modseq = excluded.modseq, destroyed = excluded.destroyed",
      {Value(account), Value(static_cast<int64_t>(type)), Value(object),
       Value(kind == ChangeKind::kCreated ? modseq : int64_t{0}), Value(modseq), Value(destroyed)});
  if (!r) return r.error();
  return {};
}

// ---- domains ----

Result<Domain> StoreImpl::add_domain(std::string_view name) {
  auto d = normalize_domain(name);
  if (!d) return d.error();
  Domain out;
  auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto rows = tx.query(
        "INSERT INTO domain (name) VALUES (?) ON CONFLICT (name) DO NOTHING "
        "RETURNING id",
        {Value(*d)});
    if (!rows) return rows.error();
    if (rows->empty()) return Error::bad_data("domain " + *d + " exists");
    out = Domain{(*rows)[0].i64(0), *d};
    return {};
  });
  if (!st) return st.error();
  return out;
}

Status StoreImpl::remove_domain(std::string_view name, bool cascade) {
  auto d = normalize_domain(name);
  if (!d) return d.error();
  return with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto dom = tx.query("SELECT id FROM domain WHERE name = ?", {Value(*d)});
    if (!dom) return dom.error();
    if (dom->empty()) return Error::bad_data("no domain " + *d);
    Id id = (*dom)[0].i64(0);
    auto accts = tx.query("SELECT id, address FROM account WHERE domain_id = ?", {Value(id)});
    if (!accts) return accts.error();
    auto all_aliases = tx.query("SELECT source FROM alias");
    if (!all_aliases) return all_aliases.error();
    std::string suffix = "@" + *d;
    size_t n_aliases = 0;
    for (const Row& r : *all_aliases) {
      if (r.str(0).ends_with(suffix)) ++n_aliases;
    }
    if (!cascade && (!accts->empty() || n_aliases > 0)) {
      return Error::bad_data("domain " + *d + " still has " + std::to_string(accts->size()) +
                             " accounts and " + std::to_string(n_aliases) +
                             " aliases; remove them first or cascade");
    }
    for (const Row& r : *accts) {
      if (auto st = remove_account_tx(tx, r.i64(0), r.str(1)); !st) return st;
    }
    for (const Row& r : *all_aliases) {
      if (!r.str(0).ends_with(suffix)) continue;
      if (auto x = tx.exec("DELETE FROM alias WHERE source = ?", {Value(r.str(0))}); !x) {
        return x.error();
      }
    }
    if (auto x = tx.exec("DELETE FROM domain WHERE id = ?", {Value(id)}); !x) return x.error();
    return {};
  });
}

Result<std::vector<Domain>> StoreImpl::domains() {
  auto rows = db_->query("SELECT id, name FROM domain");
  if (!rows) return rows.error();
  std::vector<Domain> out;
  for (const Row& r : *rows) out.push_back({r.i64(0), r.str(1)});
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

Result<bool> StoreImpl::is_local_domain(std::string_view name) {
  std::string d = mail::to_lower(name);
  auto rows = db_->query("SELECT 1 FROM domain WHERE name = ?", {Value(d)});
  if (!rows) return rows.error();
  return !rows->empty();
}

// ---- accounts ----

namespace {

uint32_t new_uid_validity() {
  // Time-based (so a mailbox re-created under the same name gets a larger value) plus
  // some randomness; never 0.
  static thread_local uint32_t seed = static_cast<uint32_t>(std::time(nullptr)) ^
                                      static_cast<uint32_t>(reinterpret_cast<uintptr_t>(&seed));
  seed = seed * 1664525u + 1013904223u;
  uint32_t v = static_cast<uint32_t>(std::time(nullptr)) + ((seed >> 16) & 0xfff);
  return v == 0 ? 1 : v;
}

}  // namespace

Result<Id> insert_mailbox(Db& tx, Id account, std::optional<Id> parent, const std::string& name,
                          const std::string& path, Role role, int64_t modseq) {
  auto rows = tx.query(
      "INSERT INTO mailbox (account_id, parent_id, name, path, role, subscribed, uid_validity, "
      "uid_next, modseq, sort_order) VALUES (?, ?, ?, ?, ?, 1, ?, 1, ?, 0) RETURNING id",
      {Value(account), Value(parent), Value(name), Value(path), Value(role_name(role)),
       Value(static_cast<int64_t>(new_uid_validity())), Value(modseq)});
  if (!rows) {
    if (constraint(rows.error())) {
      if (role != Role::kNone) {
        return Error::bad_data("mailbox \"" + path + "\" or one with role " +
                               std::string(role_name(role)) + " exists");
      }
      return Error::bad_data("mailbox \"" + path + "\" exists");
    }
    return rows.error();
  }
  return (*rows)[0].i64(0);
}

Result<Account> StoreImpl::add_account(std::string_view address, std::string_view name,
                                       uint64_t quota_bytes) {
  auto a = normalize_address(address);
  if (!a) return a.error();
  std::string domain = a->substr(a->rfind('@') + 1);
  std::string display = clean_text(name);
  Id id = 0;
  auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto dom = tx.query("SELECT id FROM domain WHERE name = ?", {Value(domain)});
    if (!dom) return dom.error();
    if (dom->empty()) return Error::bad_data("domain " + domain + " is not a local domain");
    auto rows = tx.query(
        "INSERT INTO account (domain_id, address, name, enabled, quota_bytes, used_bytes, modseq, "
        "created_at) VALUES (?, ?, ?, 1, ?, 0, 1, ?) ON CONFLICT (address) DO NOTHING "
        "RETURNING id",
        {Value((*dom)[0].i64(0)), Value(*a), Value(display),
         Value(static_cast<int64_t>(quota_bytes)), Value(now_unix())});
    if (!rows) return rows.error();
    if (rows->empty()) return Error::bad_data("account " + *a + " exists");
    id = (*rows)[0].i64(0);
    static const std::pair<const char*, Role> kDefaults[] = {
        {"Inbox", Role::kInbox}, {"Sent", Role::kSent},   {"Drafts", Role::kDrafts},
        {"Junk", Role::kJunk},   {"Trash", Role::kTrash}, {"Archive", Role::kArchive}};
    for (auto& [mb, role] : kDefaults) {
      auto m = insert_mailbox(tx, id, std::nullopt, mb, mb, role, 1);
      if (!m) return m.error();
      if (auto l = log_change(tx, id, ObjectType::kMailbox, *m, 1, ChangeKind::kCreated); !l) {
        return l;
      }
    }
    return {};
  });
  if (!st) return st.error();
  auto acct = account(id);
  if (!acct) return acct.error();
  if (!*acct) return Error::temporary("account " + *a + " vanished while being created");
  return std::move(**acct);
}

Status StoreImpl::remove_account_tx(Db& tx, Id id, const std::string& address) {
  auto blobs = tx.query("SELECT blob_id, count(*) FROM email WHERE account_id = ? GROUP BY blob_id",
                        {Value(id)});
  if (!blobs) return blobs.error();
  for (const Row& r : *blobs) {
    if (auto st = release_blob(tx, r.str(0), r.i64(1)); !st) return st;
  }
  static const char* kDeletes[] = {
      "DELETE FROM email_pending WHERE account_id = ?",
      "DELETE FROM email_header WHERE account_id = ?",
      "DELETE FROM email_words WHERE account_id = ?",
      "DELETE FROM email_text WHERE account_id = ?",
      "DELETE FROM email_ref WHERE account_id = ?",
      "DELETE FROM member WHERE mailbox_id IN (SELECT id FROM mailbox WHERE account_id = ?)",
      "DELETE FROM vanished WHERE mailbox_id IN (SELECT id FROM mailbox WHERE account_id = ?)",
      "DELETE FROM email WHERE account_id = ?",
      "DELETE FROM mailbox WHERE account_id = ?",
      "DELETE FROM change_log WHERE account_id = ?",
      "DELETE FROM app_password WHERE account_id = ?",
  };
  for (const char* sql : kDeletes) {
    if (auto x = tx.exec(sql, {Value(id)}); !x) return x.error();
  }
  if (auto x = tx.exec("DELETE FROM alias WHERE target = ?", {Value(address)}); !x) {
    return x.error();
  }
  if (auto x = tx.exec("DELETE FROM account WHERE id = ?", {Value(id)}); !x) return x.error();
  return {};
}

Status StoreImpl::remove_account(std::string_view address) {
  auto a = normalize_address(address);
  if (!a) return a.error();
  return with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto rows = tx.query("SELECT id FROM account WHERE address = ?", {Value(*a)});
    if (!rows) return rows.error();
    if (rows->empty()) return Error::no_user("no account " + *a);
    return remove_account_tx(tx, (*rows)[0].i64(0), *a);
  });
}

Result<std::optional<Account>> StoreImpl::find_account(std::string_view address) {
  std::string a = mail::to_lower(address);
  auto rows = db_->query(
      std::string("SELECT ") + kAccountColumns + " FROM account WHERE address = ?", {Value(a)});
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<Account>();
  return std::optional<Account>(account_from_row((*rows)[0]));
}

Result<std::optional<Account>> StoreImpl::account(Id id) {
  auto rows = db_->query(std::string("SELECT ") + kAccountColumns + " FROM account WHERE id = ?",
                         {Value(id)});
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<Account>();
  return std::optional<Account>(account_from_row((*rows)[0]));
}

Result<std::vector<Account>> StoreImpl::accounts(std::string_view domain) {
  Result<Rows> rows = Rows{};
  if (domain.empty()) {
    rows = db_->query(std::string("SELECT ") + kAccountColumns + " FROM account");
  } else {
    rows = db_->query(std::string("SELECT ") + kAccountColumns +
                          " FROM account WHERE domain_id IN (SELECT id FROM domain WHERE name = ?)",
                      {Value(mail::to_lower(domain))});
  }
  if (!rows) return rows.error();
  std::vector<Account> out;
  for (const Row& r : *rows) out.push_back(account_from_row(r));
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.address < b.address; });
  return out;
}

namespace {

Status update_account(Db& db, Id account, const std::string& sql, Params params) {
  params.emplace_back(account);
  return with_transaction(db, Access::kWrite, [&](Db& tx) -> Status {
    auto n = tx.exec(sql, params);
    if (!n) return n.error();
    if (*n == 0) return Error::no_user("no account with id " + std::to_string(account));
    return {};
  });
}

Value scram_value(const std::optional<ScramVerifier>& v) {
  if (!v) return Value();
  return Value(v->serialize());
}

}  // namespace

Status StoreImpl::set_credentials(Id account, const Credentials& c) {
  return update_account(*db_, account,
                        "UPDATE account SET password_hash = ?, scram = ? WHERE id = ?",
                        {Value(c.hash), scram_value(c.scram)});
}

Status StoreImpl::set_quota(Id account, uint64_t quota_bytes) {
  return update_account(*db_, account, "UPDATE account SET quota_bytes = ? WHERE id = ?",
                        {Value(static_cast<int64_t>(quota_bytes))});
}

Status StoreImpl::set_enabled(Id account, bool enabled) {
  return update_account(*db_, account, "UPDATE account SET enabled = ? WHERE id = ?",
                        {Value(enabled)});
}

Status StoreImpl::set_name(Id account, std::string_view name) {
  return update_account(*db_, account, "UPDATE account SET name = ? WHERE id = ?",
                        {Value(clean_text(name))});
}

Result<AppPassword> StoreImpl::add_app_password(Id account, std::string_view name,
                                                const Credentials& c) {
  std::string n = clean_text(name);
  if (n.empty()) return Error::bad_data("an app password needs a name");
  AppPassword out;
  auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto acct = tx.query("SELECT 1 FROM account WHERE id = ?", {Value(account)});
    if (!acct) return acct.error();
    if (acct->empty()) return Error::no_user("no account with id " + std::to_string(account));
    int64_t now = now_unix();
    auto rows = tx.query(
        "INSERT INTO app_password (account_id, name, hash, scram, created_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account_id, name) DO NOTHING RETURNING id",
        {Value(account), Value(n), Value(c.hash), scram_value(c.scram), Value(now)});
    if (!rows) return rows.error();
    if (rows->empty()) return Error::bad_data("app password \"" + n + "\" exists");
    out = AppPassword{(*rows)[0].i64(0), account, n, c.hash, c.scram, now};
    return {};
  });
  if (!st) return st.error();
  return out;
}

Status StoreImpl::remove_app_password(Id account, std::string_view name) {
  return with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto n = tx.exec("DELETE FROM app_password WHERE account_id = ? AND name = ?",
                     {Value(account), Value(name)});
    if (!n) return n.error();
    if (*n == 0) return Error::bad_data("no app password \"" + std::string(name) + "\"");
    return {};
  });
}

Result<std::vector<AppPassword>> StoreImpl::app_passwords(Id account) {
  auto rows = db_->query(
      "SELECT id, account_id, name, hash, scram, created_at FROM app_password "
      "WHERE account_id = ? ORDER BY id",
      {Value(account)});
  if (!rows) return rows.error();
  std::vector<AppPassword> out;
  for (const Row& r : *rows) {
    AppPassword p{r.i64(0), r.i64(1), r.str(2), r.str(3), std::nullopt, r.i64(5)};
    if (!r.is_null(4) && !r.str(4).empty()) {
      if (auto v = ScramVerifier::parse(r.str(4))) p.scram = std::move(*v);
    }
    out.push_back(std::move(p));
  }
  return out;
}

// ---- aliases ----

Result<Alias> StoreImpl::add_alias(std::string_view source, std::string_view target) {
  std::string src;
  std::string domain;
  if (!source.empty() && source.front() == '@') {
    auto d = normalize_domain(source.substr(1));
    if (!d) return d.error();
    domain = *d;
    src = "@" + *d;
  } else {
    auto a = normalize_address(source);
    if (!a) return a.error();
    src = *a;
    domain = src.substr(src.rfind('@') + 1);
  }
  auto t = normalize_address(target);
  if (!t) return t.error();
  Alias out;
  auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto dom = tx.query("SELECT 1 FROM domain WHERE name = ?", {Value(domain)});
    if (!dom) return dom.error();
    if (dom->empty())
      return Error::bad_data("alias " + src + ": " + domain + " is not a local domain");
    auto rows = tx.query(
        "INSERT INTO alias (source, target) VALUES (?, ?) ON CONFLICT (source, target) DO NOTHING "
        "RETURNING id",
        {Value(src), Value(*t)});
    if (!rows) return rows.error();
    if (rows->empty()) return Error::bad_data("alias " + src + " -> " + *t + " exists");
    out = Alias{(*rows)[0].i64(0), src, *t};
    return {};
  });
  if (!st) return st.error();
  return out;
}

Status StoreImpl::remove_alias(std::string_view source, std::string_view target) {
  std::string src = mail::to_lower(source);
  std::string tgt = mail::to_lower(target);
  return with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto n = tgt.empty() ? tx.exec("DELETE FROM alias WHERE source = ?", {Value(src)})
                         : tx.exec("DELETE FROM alias WHERE source = ? AND target = ?",
                                   {Value(src), Value(tgt)});
    if (!n) return n.error();
    if (*n == 0) {
      return Error::bad_data("no alias " + src + (tgt.empty() ? "" : " -> " + tgt));
    }
    return {};
  });
}

Result<std::vector<Alias>> StoreImpl::aliases(std::string_view domain) {
  auto rows = db_->query("SELECT id, source, target FROM alias");
  if (!rows) return rows.error();
  std::string suffix = "@" + mail::to_lower(domain);
  std::vector<Alias> out;
  for (const Row& r : *rows) {
    if (!domain.empty() && !r.str(1).ends_with(suffix)) continue;
    out.push_back({r.i64(0), r.str(1), r.str(2)});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return std::tie(a.source, a.target) < std::tie(b.source, b.target);
  });
  return out;
}

// ---- resolution ----

namespace {

struct Resolver {
  Db& db;
  Recipient out;
  std::set<std::string> visited;
  std::set<Id> accounts;
  std::set<std::string> forwards;

  Result<bool> local(const std::string& domain) {
    auto rows = db.query("SELECT 1 FROM domain WHERE name = ?", {Value(domain)});
    if (!rows) return rows.error();
    return !rows->empty();
  }

  // Whether `addr` (local@domain, lower case, domain local) names an account or alias;
  // delivers/forwards what it names.
  Result<bool> lookup(const std::string& addr, int depth) {
    bool matched = false;
    auto acct = db.query("SELECT id, enabled FROM account WHERE address = ?", {Value(addr)});
    if (!acct) return acct.error();
    if (!acct->empty()) {
      matched = true;
      if ((*acct)[0].i64(1) != 0 && accounts.insert((*acct)[0].i64(0)).second) {
        out.accounts.push_back((*acct)[0].i64(0));
      }
    }
    auto targets = db.query("SELECT target FROM alias WHERE source = ? ORDER BY id", {Value(addr)});
    if (!targets) return targets.error();
    if (!targets->empty()) {
      matched = true;
      for (const Row& r : *targets) {
        if (auto st = expand(r.str(0), depth + 1); !st) return st.error();
      }
    }
    return matched;
  }

  Status expand(const std::string& address, int depth) {
    if (depth > 10) return {};
    auto at = address.rfind('@');
    if (at == std::string::npos) return {};
    std::string domain = address.substr(at + 1);
    auto is_local = local(domain);
    if (!is_local) return is_local.error();
    if (!*is_local) {
      if (forwards.insert(address).second) out.forward.push_back(address);
      return {};
    }
    if (!visited.insert(address).second) return {};  // a loop
    auto m = lookup(address, depth);
    if (!m) return m.error();
    if (*m) return {};
    // Subaddress: "local+detail@domain" is "local@domain".
    std::string local_part = address.substr(0, at);
    auto plus = local_part.find('+');
    if (plus != std::string::npos && plus > 0) {
      std::string base = local_part.substr(0, plus) + "@" + domain;
      if (depth == 0) out.detail = local_part.substr(plus + 1);
      if (visited.insert(base).second) {
        auto mb = lookup(base, depth);
        if (!mb) return mb.error();
        if (*mb) return {};
      }
    }
    // Catch-all, only when nothing else matched.
    auto targets =
        db.query("SELECT target FROM alias WHERE source = ? ORDER BY id", {Value("@" + domain)});
    if (!targets) return targets.error();
    for (const Row& r : *targets) {
      if (auto st = expand(r.str(0), depth + 1); !st) return st;
    }
    return {};
  }
};

}  // namespace

Result<Recipient> StoreImpl::resolve(std::string_view address) {
  std::string a = mail::to_lower(address);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  auto at = a.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == a.size()) return Recipient{};
  auto local = is_local_domain(a.substr(at + 1));
  if (!local) return local.error();
  if (!*local) return Recipient{};
  Resolver r{*db_, {}, {}, {}, {}};
  if (auto st = r.expand(a, 0); !st) return st.error();
  return std::move(r.out);
}

}  // namespace internal
}  // namespace postern::store
