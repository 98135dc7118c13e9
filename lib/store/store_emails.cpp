// Emails: delivery, membership, keywords, destruction, the change log, quota and the blob
// sweep.
#include <algorithm>
#include <limits>
#include <set>

#include "mail/header.h"
#include "store/store_internal.h"

namespace postern::store::internal {

using base::Error;
using base::ExitCode;
using base::Result;
using base::Status;

namespace {

constexpr int64_t kNoLimit = std::numeric_limits<int64_t>::max();

int64_t sql_limit(size_t limit) { return limit == 0 ? kNoLimit : static_cast<int64_t>(limit); }

bool valid_keyword(std::string_view k) {
  if (k.empty() || k.size() > 255) return false;
  for (unsigned char c : k) {
    if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' ||
        c == '"' || c == '\\' || c == ']') {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<std::vector<std::string>> normalize_keywords(std::span<const std::string> in) {
  std::set<std::string> out;
  for (const std::string& k : in) {
    std::string l = mail::to_lower(k);
    if (!valid_keyword(l)) return Error::bad_data("invalid keyword \"" + clean_text(k) + "\"");
    out.insert(std::move(l));
  }
  return std::vector<std::string>(out.begin(), out.end());
}

std::string join_keywords(const std::vector<std::string>& k) {
  std::string out;
  for (const auto& w : k) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::vector<std::string> split_keywords(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t sp = s.find(' ', i);
    if (sp == std::string_view::npos) sp = s.size();
    if (sp > i) out.emplace_back(s.substr(i, sp - i));
    i = sp + 1;
  }
  return out;
}

// ---- helpers inside a write transaction ----

Status StoreImpl::release_blob(Db& tx, const std::string& blob_id, int64_t count) {
  POSTERN_TRY(
      tx.exec("UPDATE blob SET refs = refs - ?, orphaned_at = CASE WHEN refs - ? <= 0 THEN ? ELSE "
              "orphaned_at END WHERE id = ?",
              {Value(count), Value(count), Value(now_unix()), Value(blob_id)}));
  return {};
}

Status StoreImpl::unlink_member(Db& tx, Id account, Id email, Id mailbox, int64_t modseq) {
  auto gone = tx.query("DELETE FROM member WHERE email_id = ? AND mailbox_id = ? RETURNING uid",
                       {Value(email), Value(mailbox)});
  if (!gone) return gone.error();
  if (gone->empty()) return {};
  POSTERN_TRY(
      tx.exec("INSERT INTO vanished (mailbox_id, uid, modseq) VALUES (?, ?, ?) "
              "ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq",
              {Value(mailbox), Value((*gone)[0].i64(0)), Value(modseq)}));
  POSTERN_TRY(
      tx.exec("UPDATE mailbox SET modseq = ? WHERE id = ?", {Value(modseq), Value(mailbox)}));
  return log_change(tx, account, ObjectType::kMailbox, mailbox, modseq, ChangeKind::kUpdated);
}

Status StoreImpl::destroy_email(Db& tx, Id account, Id email, int64_t modseq) {
  auto row = tx.query("SELECT blob_id, size, thread_id FROM email WHERE id = ? AND account_id = ?",
                      {Value(email), Value(account)});
  if (!row) return row.error();
  if (row->empty()) return {};
  std::string blob_id = (*row)[0].str(0);
  int64_t size = (*row)[0].i64(1);
  Id thread = (*row)[0].i64(2);
  auto boxes = tx.query("SELECT mailbox_id FROM member WHERE email_id = ?", {Value(email)});
  if (!boxes) return boxes.error();
  for (const Row& r : *boxes) {
    if (auto st = unlink_member(tx, account, email, r.i64(0), modseq); !st) return st;
  }
  POSTERN_TRY(tx.exec("DELETE FROM email_pending WHERE account_id = ? AND email_id = ?",
                      {Value(account), Value(email)}));
  static const char* kDeletes[] = {
      "DELETE FROM email_header WHERE email_id = ?",
      "DELETE FROM email_words WHERE email_id = ?",
      "DELETE FROM email_text WHERE email_id = ?",
      "DELETE FROM email_ref WHERE email_id = ?",
      "DELETE FROM email WHERE id = ?",
  };
  for (const char* sql : kDeletes) POSTERN_TRY(tx.exec(sql, {Value(email)}));
  if (auto st = log_change(tx, account, ObjectType::kEmail, email, modseq, ChangeKind::kDestroyed);
      !st) {
    return st;
  }
  auto left = tx.query("SELECT count(*) FROM email WHERE account_id = ? AND thread_id = ?",
                       {Value(account), Value(thread)});
  if (!left) return left.error();
  if (auto st = log_change(tx, account, ObjectType::kThread, thread, modseq,
                           (*left)[0].i64(0) == 0 ? ChangeKind::kDestroyed : ChangeKind::kUpdated);
      !st) {
    return st;
  }
  POSTERN_TRY(tx.exec(
      "UPDATE account SET used_bytes = CASE WHEN used_bytes > ? THEN used_bytes - ? ELSE 0 END "
      "WHERE id = ?",
      {Value(size), Value(size), Value(account)}));
  return release_blob(tx, blob_id, 1);
}

// ---- delivery ----

Result<Delivered> StoreImpl::deliver(const Delivery& d) {
  auto keywords = normalize_keywords(d.keywords);
  if (!keywords) return keywords.error();
  // 1. The bytes, durable before any row points at them.
  auto blob_id = blobs_->put(d.message);
  if (!blob_id) return blob_id.error();
  // 2. What the email row and threading need, from the header block, outside the
  // transaction. The text is indexed later (index_pending).
  MessageSummary im = summarize_message(d.message);
  const int64_t size = static_cast<int64_t>(d.message.size());
  const int64_t received = d.received_at.value_or(now_unix());
  const std::string kw = join_keywords(*keywords);
  Delivered out;
  // 3. One transaction for the rows.
  auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    // The account's row lock, its next modseq and its usage in one statement (an over
    // quota delivery rolls the whole transaction back).
    auto acct = tx.query(
        "UPDATE account SET modseq = modseq + 1, used_bytes = used_bytes + ? WHERE id = ? "
        "RETURNING modseq, used_bytes - ?, quota_bytes, address",
        {Value(size), Value(d.account_id), Value(size)});
    if (!acct) return acct.error();
    if (acct->empty()) return Error::no_user("no account with id " + std::to_string(d.account_id));
    const int64_t modseq = (*acct)[0].i64(0);
    const int64_t used = (*acct)[0].i64(1);
    const int64_t quota = (*acct)[0].i64(2);
    if (d.enforce_quota && quota > 0 && used + size > quota) {
      return Error(ExitCode::kUnavailable, 552, "5.2.2",
                   "mailbox full: " + (*acct)[0].str(3) + " uses " + std::to_string(used) + " of " +
                       std::to_string(quota) + " bytes; the message has " + std::to_string(size));
    }
    auto mb = tx.query(
        "UPDATE mailbox SET uid_next = uid_next + 1, modseq = ? WHERE id = ? AND account_id = ? "
        "RETURNING uid_next - 1, uid_validity",
        {Value(modseq), Value(d.mailbox_id), Value(d.account_id)});
    if (!mb) return mb.error();
    if (mb->empty()) {
      return Error::bad_data("no mailbox with id " + std::to_string(d.mailbox_id) + " in account " +
                             std::to_string(d.account_id));
    }
    const int64_t uid = (*mb)[0].i64(0);
    const int64_t uid_validity = (*mb)[0].i64(1);
    // Threading: an earlier email whose Message-ID this one refers to (or which has the
    // same Message-ID), else one that refers to this one's Message-ID.
    std::optional<Id> thread;
    std::vector<std::string> ids = im.refs;
    if (!im.message_id.empty()) ids.push_back(im.message_id);
    // The rows of one Message-ID (a few at most), min() taken here: asked for
    // min(thread_id), SQLite walks the (account, thread) index in thread order testing
    // every email's Message-ID, a scan of the account per delivery.
    for (const std::string& ref : ids) {
      auto t = tx.query("SELECT thread_id FROM email WHERE account_id = ? AND message_id = ?",
                        {Value(d.account_id), Value(ref)});
      if (!t) return t.error();
      for (const Row& r : *t) {
        Id found = r.i64(0);
        if (!thread || found < *thread) thread = found;
      }
    }
    if (!thread && !im.message_id.empty()) {
      auto t = tx.query(
          "SELECT min(e.thread_id) FROM email_ref r JOIN email e ON e.id = r.email_id "
          "WHERE r.account_id = ? AND r.ref = ?",
          {Value(d.account_id), Value(im.message_id)});
      if (!t) return t.error();
      if (!t->empty() && !(*t)[0].is_null(0)) thread = (*t)[0].i64(0);
    }
    auto ins = tx.query(
        "INSERT INTO email (account_id, blob_id, size, received_at, sent_at, thread_id, modseq, "
        "message_id, subject, from_text, keywords) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        {Value(d.account_id), Value(*blob_id), Value(size), Value(received), Value(im.sent_at),
         Value(thread.value_or(0)), Value(modseq), Value(im.message_id), Value(im.subject),
         Value(im.from_text), Value(kw)});
    if (!ins) return ins.error();
    const Id email = (*ins)[0].i64(0);
    const bool new_thread = !thread;
    if (new_thread) {
      thread = email;
      POSTERN_TRY(
          tx.exec("UPDATE email SET thread_id = ? WHERE id = ?", {Value(email), Value(email)}));
    }
    POSTERN_TRY(
        tx.exec("INSERT INTO member (email_id, mailbox_id, uid, modseq) VALUES (?, ?, ?, ?)",
                {Value(email), Value(d.mailbox_id), Value(uid), Value(modseq)}));
    std::set<std::string> refs(im.refs.begin(), im.refs.end());
    for (const std::string& ref : refs) {
      POSTERN_TRY(tx.exec("INSERT INTO email_ref (email_id, account_id, ref) VALUES (?, ?, ?)",
                          {Value(email), Value(d.account_id), Value(ref)}));
    }
    POSTERN_TRY(tx.exec("INSERT INTO email_pending (email_id, account_id) VALUES (?, ?)",
                        {Value(email), Value(d.account_id)}));
    if (auto s =
            log_change(tx, d.account_id, ObjectType::kEmail, email, modseq, ChangeKind::kCreated);
        !s) {
      return s;
    }
    if (auto s = log_change(tx, d.account_id, ObjectType::kMailbox, d.mailbox_id, modseq,
                            ChangeKind::kUpdated);
        !s) {
      return s;
    }
    if (auto s = log_change(tx, d.account_id, ObjectType::kThread, *thread, modseq,
                            new_thread ? ChangeKind::kCreated : ChangeKind::kUpdated);
        !s) {
      return s;
    }
    // The size too: a row adopted by sweep_blobs() from a stray file was recorded as 0.
    POSTERN_TRY(
        tx.exec("INSERT INTO blob (id, size, refs, orphaned_at) VALUES (?, ?, 1, NULL) "
                "ON CONFLICT (id) DO UPDATE SET refs = blob.refs + 1, orphaned_at = NULL, "
                "size = excluded.size",
                {Value(*blob_id), Value(size)}));
    // 4. A sweep that removed this blob's unreferenced row and bytes after our put() has
    // committed before the upsert above could take the row (sweeps delete under the same
    // row lock / write lock), so the bytes may be gone: store them again BEFORE we commit,
    // so no committed email is ever without its bytes, even if we die right after.
    auto present = blobs_->exists(*blob_id);
    if (!present) return present.error();
    if (!*present) {
      auto again = blobs_->put(d.message);
      if (!again) return again.error();
    }
    out = Delivered{
        email,    d.mailbox_id, static_cast<uint32_t>(uid), static_cast<uint32_t>(uid_validity),
        *blob_id, *thread};
    return {};
  });
  if (!st) return st.error();
  return out;
}

// ---- reading ----

namespace {

// A macro so the statements are single literals (GCC 12 warns falsely on the
// concatenation of long std::string temporaries).
#define POSTERN_EMAIL_COLUMNS                                                          \
  "id, account_id, blob_id, size, received_at, sent_at, thread_id, keywords, modseq, " \
  "message_id, subject, from_text"

Email email_from_row(const Row& r) {
  Email e;
  e.id = r.i64(0);
  e.account_id = r.i64(1);
  e.blob_id = r.str(2);
  e.size = static_cast<uint64_t>(r.i64(3));
  e.received_at = r.i64(4);
  e.sent_at = r.i64(5);
  e.thread_id = r.i64(6);
  e.keywords = split_keywords(r.str(7));
  e.modseq = r.i64(8);
  e.message_id = r.str(9);
  e.subject = r.str(10);
  e.from = r.str(11);
  return e;
}

}  // namespace

Result<std::optional<Email>> StoreImpl::email(Id account, Id id) {
  auto rows =
      db_->query("SELECT " POSTERN_EMAIL_COLUMNS " FROM email WHERE id = ? AND account_id = ?",
                 {Value(id), Value(account)});
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<Email>();
  Email e = email_from_row((*rows)[0]);
  auto boxes = db_->query("SELECT mailbox_id FROM member WHERE email_id = ? ORDER BY mailbox_id",
                          {Value(id)});
  if (!boxes) return boxes.error();
  for (const Row& r : *boxes) e.mailboxes.push_back(r.i64(0));
  return std::optional<Email>(std::move(e));
}

Result<std::vector<Member>> StoreImpl::members(Id mailbox, uint32_t after_uid, size_t limit) {
  auto rows = db_->query(
      "SELECT email_id, uid, modseq FROM member WHERE mailbox_id = ? AND uid > ? ORDER BY uid "
      "LIMIT ?",
      {Value(mailbox), Value(static_cast<int64_t>(after_uid)), Value(sql_limit(limit))});
  if (!rows) return rows.error();
  std::vector<Member> out;
  for (const Row& r : *rows) {
    out.push_back({r.i64(0), static_cast<uint32_t>(r.i64(1)), r.i64(2)});
  }
  return out;
}

Result<std::vector<Email>> StoreImpl::emails(Id account, Id after_id, size_t limit) {
  auto rows = db_->query("SELECT " POSTERN_EMAIL_COLUMNS
                         " FROM email WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?",
                         {Value(account), Value(after_id), Value(sql_limit(limit))});
  if (!rows) return rows.error();
  std::vector<Email> out;
  for (const Row& r : *rows) out.push_back(email_from_row(r));
  if (out.empty()) return out;
  auto boxes = db_->query(
      "SELECT x.email_id, x.mailbox_id FROM member x JOIN email e ON e.id = x.email_id "
      "WHERE e.account_id = ? AND e.id > ? AND e.id <= ? ORDER BY x.email_id, x.mailbox_id",
      {Value(account), Value(after_id), Value(out.back().id)});
  if (!boxes) return boxes.error();
  size_t i = 0;
  for (const Row& r : *boxes) {
    while (i < out.size() && out[i].id < r.i64(0)) ++i;
    if (i < out.size() && out[i].id == r.i64(0)) out[i].mailboxes.push_back(r.i64(1));
  }
  return out;
}

Result<std::string> StoreImpl::read_message(Id account, Id id) {
  auto rows = db_->query("SELECT blob_id FROM email WHERE id = ? AND account_id = ?",
                         {Value(id), Value(account)});
  if (!rows) return rows.error();
  if (rows->empty()) return Error::bad_data("no email with id " + std::to_string(id));
  return blobs_->get((*rows)[0].str(0));
}

// ---- changing ----

Status StoreImpl::set_keywords(Id account, std::span<const Id> emails,
                               std::span<const std::string> add,
                               std::span<const std::string> remove) {
  auto plus = normalize_keywords(add);
  if (!plus) return plus.error();
  auto minus = normalize_keywords(remove);
  if (!minus) return minus.error();
  bool changed = false;
  static const std::string kNothing = "no keyword changed";
  auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    changed = false;
    auto m = bump_modseq(tx, account);
    if (!m) return m.error();
    for (Id id : emails) {
      auto row = tx.query("SELECT keywords FROM email WHERE id = ? AND account_id = ?",
                          {Value(id), Value(account)});
      if (!row) return row.error();
      if (row->empty()) continue;  // destroyed meanwhile: nothing to set
      auto before = split_keywords((*row)[0].str(0));
      std::set<std::string> now(before.begin(), before.end());
      for (auto& k : *plus) now.insert(k);
      for (auto& k : *minus) now.erase(k);
      std::vector<std::string> after(now.begin(), now.end());
      if (after == before) continue;
      changed = true;
      bool seen_changed = std::count(before.begin(), before.end(), "$seen") !=
                          std::count(after.begin(), after.end(), "$seen");
      POSTERN_TRY(tx.exec("UPDATE email SET keywords = ?, modseq = ? WHERE id = ?",
                          {Value(join_keywords(after)), Value(*m), Value(id)}));
      POSTERN_TRY(
          tx.exec("UPDATE member SET modseq = ? WHERE email_id = ?", {Value(*m), Value(id)}));
      auto boxes = tx.query("SELECT mailbox_id FROM member WHERE email_id = ?", {Value(id)});
      if (!boxes) return boxes.error();
      for (const Row& r : *boxes) {
        POSTERN_TRY(
            tx.exec("UPDATE mailbox SET modseq = ? WHERE id = ?", {Value(*m), Value(r.i64(0))}));
        if (seen_changed) {
          if (auto s =
                  log_change(tx, account, ObjectType::kMailbox, r.i64(0), *m, ChangeKind::kUpdated);
              !s) {
            return s;
          }
        }
      }
      if (auto s = log_change(tx, account, ObjectType::kEmail, id, *m, ChangeKind::kUpdated); !s) {
        return s;
      }
    }
    // Nothing changed: roll back so the state (modseq) does not move.
    if (!changed) return Error::internal(kNothing);
    return {};
  });
  if (!st && !changed && st.error().message() == kNothing) return {};
  return st;
}

Result<std::vector<uint32_t>> StoreImpl::add_to_mailbox(Id account, std::span<const Id> emails,
                                                        Id mailbox) {
  std::vector<uint32_t> uids;
  auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    uids.clear();
    auto m = bump_modseq(tx, account);
    if (!m) return m.error();
    auto mb = tx.query("SELECT 1 FROM mailbox WHERE id = ? AND account_id = ?",
                       {Value(mailbox), Value(account)});
    if (!mb) return mb.error();
    if (mb->empty()) return Error::bad_data("no mailbox with id " + std::to_string(mailbox));
    bool any = false;
    for (Id id : emails) {
      auto e = tx.query("SELECT 1 FROM email WHERE id = ? AND account_id = ?",
                        {Value(id), Value(account)});
      if (!e) return e.error();
      if (e->empty()) return Error::bad_data("no email with id " + std::to_string(id));
      auto have = tx.query("SELECT uid FROM member WHERE email_id = ? AND mailbox_id = ?",
                           {Value(id), Value(mailbox)});
      if (!have) return have.error();
      if (!have->empty()) {
        uids.push_back(static_cast<uint32_t>((*have)[0].i64(0)));
        continue;
      }
      auto u = tx.query(
          "UPDATE mailbox SET uid_next = uid_next + 1, modseq = ? WHERE id = ? "
          "RETURNING uid_next - 1",
          {Value(*m), Value(mailbox)});
      if (!u) return u.error();
      int64_t uid = (*u)[0].i64(0);
      POSTERN_TRY(
          tx.exec("INSERT INTO member (email_id, mailbox_id, uid, modseq) VALUES (?, ?, ?, ?)",
                  {Value(id), Value(mailbox), Value(uid), Value(*m)}));
      POSTERN_TRY(tx.exec("UPDATE email SET modseq = ? WHERE id = ?", {Value(*m), Value(id)}));
      if (auto s = log_change(tx, account, ObjectType::kEmail, id, *m, ChangeKind::kUpdated); !s) {
        return s;
      }
      uids.push_back(static_cast<uint32_t>(uid));
      any = true;
    }
    if (any) {
      return log_change(tx, account, ObjectType::kMailbox, mailbox, *m, ChangeKind::kUpdated);
    }
    return {};
  });
  if (!st) return st.error();
  return uids;
}

Status StoreImpl::remove_from_mailbox(Id account, std::span<const Id> emails, Id mailbox) {
  return with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto m = bump_modseq(tx, account);
    if (!m) return m.error();
    auto mb = tx.query("SELECT 1 FROM mailbox WHERE id = ? AND account_id = ?",
                       {Value(mailbox), Value(account)});
    if (!mb) return mb.error();
    if (mb->empty()) return Error::bad_data("no mailbox with id " + std::to_string(mailbox));
    for (Id id : emails) {
      auto e = tx.query(
          "SELECT 1 FROM member x JOIN email e ON e.id = x.email_id "
          "WHERE x.email_id = ? AND x.mailbox_id = ? AND e.account_id = ?",
          {Value(id), Value(mailbox), Value(account)});
      if (!e) return e.error();
      if (e->empty()) continue;  // not (or no longer) there
      if (auto s = unlink_member(tx, account, id, mailbox, *m); !s) return s;
      auto left = tx.query("SELECT count(*) FROM member WHERE email_id = ?", {Value(id)});
      if (!left) return left.error();
      if ((*left)[0].i64(0) == 0) {
        if (auto s = destroy_email(tx, account, id, *m); !s) return s;
      } else {
        POSTERN_TRY(tx.exec("UPDATE email SET modseq = ? WHERE id = ?", {Value(*m), Value(id)}));
        if (auto s = log_change(tx, account, ObjectType::kEmail, id, *m, ChangeKind::kUpdated);
            !s) {
          return s;
        }
      }
    }
    return {};
  });
}

Status StoreImpl::destroy_emails(Id account, std::span<const Id> emails) {
  return with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto m = bump_modseq(tx, account);
    if (!m) return m.error();
    for (Id id : emails) {
      if (auto s = destroy_email(tx, account, id, *m); !s) return s;
    }
    return {};
  });
}

// ---- changes ----

Result<std::vector<Change>> StoreImpl::changes_since(Id account, int64_t since,
                                                     std::optional<ObjectType> type, size_t limit) {
  auto acct = db_->query("SELECT modseq, change_floor FROM account WHERE id = ?", {Value(account)});
  if (!acct) return acct.error();
  if (acct->empty()) return Error::no_user("no account with id " + std::to_string(account));
  int64_t current = (*acct)[0].i64(0), floor = (*acct)[0].i64(1);
  if (since < floor || since > current) {
    return Error::bad_data("cannotCalculateChanges: state " + std::to_string(since) +
                           " is outside " + std::to_string(floor) + ".." + std::to_string(current));
  }
  std::string sql =
      "SELECT type, object_id, created_modseq, modseq, destroyed FROM change_log "
      "WHERE account_id = ? AND modseq > ?";
  Params p{Value(account), Value(since)};
  if (type) {
    sql += " AND type = ?";
    p.emplace_back(static_cast<int64_t>(*type));
  }
  sql += " ORDER BY modseq, type, object_id";
  auto rows = db_->query(sql, p);
  if (!rows) return rows.error();
  std::vector<Change> out;
  for (size_t i = 0; i < rows->size();) {
    // One modseq at a time: a limit never splits a modseq, so the caller's new state (the
    // last change's modseq) loses nothing. The first group is returned whole.
    size_t j = i;
    std::vector<Change> group;
    int64_t modseq = (*rows)[i].i64(3);
    for (; j < rows->size() && (*rows)[j].i64(3) == modseq; ++j) {
      const Row& r = (*rows)[j];
      bool created = r.i64(2) > since;
      bool destroyed = r.i64(4) != 0;
      if (created && destroyed) continue;  // came and went since `since`
      group.push_back({modseq, static_cast<ObjectType>(r.i64(0)), r.i64(1),
                       destroyed ? ChangeKind::kDestroyed
                                 : (created ? ChangeKind::kCreated : ChangeKind::kUpdated)});
    }
    if (limit != 0 && !out.empty() && out.size() + group.size() > limit) break;
    out.insert(out.end(), group.begin(), group.end());
    i = j;
    if (limit != 0 && out.size() >= limit) break;
  }
  return out;
}

Result<std::vector<Member>> StoreImpl::changed_members(Id mailbox, int64_t since_modseq) {
  auto rows = db_->query(
      "SELECT email_id, uid, modseq FROM member WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
      {Value(mailbox), Value(since_modseq)});
  if (!rows) return rows.error();
  std::vector<Member> out;
  for (const Row& r : *rows) out.push_back({r.i64(0), static_cast<uint32_t>(r.i64(1)), r.i64(2)});
  return out;
}

Result<std::vector<Vanished>> StoreImpl::vanished_since(Id mailbox, int64_t since_modseq) {
  auto rows = db_->query(
      "SELECT uid, modseq FROM vanished WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
      {Value(mailbox), Value(since_modseq)});
  if (!rows) return rows.error();
  std::vector<Vanished> out;
  for (const Row& r : *rows) out.push_back({static_cast<uint32_t>(r.i64(0)), r.i64(1)});
  return out;
}

Result<QuotaUsage> StoreImpl::quota(Id account) {
  auto rows = db_->query(
      "SELECT used_bytes, quota_bytes, (SELECT count(*) FROM email e WHERE e.account_id = a.id) "
      "FROM account a WHERE a.id = ?",
      {Value(account)});
  if (!rows) return rows.error();
  if (rows->empty()) return Error::no_user("no account with id " + std::to_string(account));
  const Row& r = (*rows)[0];
  return QuotaUsage{static_cast<uint64_t>(r.i64(0)), static_cast<uint64_t>(r.i64(1)),
                    static_cast<uint64_t>(r.i64(2))};
}

// ---- maintenance ----

// Why flush first: a delivery killed inside its COMMIT on SQLite can leave its frames in
// the WAL unpublished — no open connection sees its email, so the caller's re-check
// passed — and the next WAL recovery would commit it. The caller's own changes (the blob
// row it deleted), written into the WAL here at the offset where those frames begin,
// break their checksum chain: from now on that delivery can never come back, whether
// this transaction then commits or dies. Only then do the bytes go. (Flushing again
// with nothing new to write is free.)
Status remove_swept_bytes(Db& tx, BlobStore& blobs, const std::string& id) {
  if (auto st = tx.flush(); !st) return st.error().with_context("sweeping blob " + id);
  return blobs.remove(id);
}

Result<int64_t> StoreImpl::sweep_blobs(int64_t grace_seconds) {
  const int64_t now = now_unix();
  const int64_t cutoff = now - grace_seconds;
  // 1. Adopt blobs that never got a row (a delivery that crashed after put()) as orphans
  // dated by their age, so step 2 treats both kinds alike.
  auto listed = blobs_->list();
  if (!listed) return listed.error();
  auto known = db_->query("SELECT id FROM blob");
  if (!known) return known.error();
  std::set<std::string> have;
  for (const Row& r : *known) have.insert(r.str(0));
  std::vector<BlobStore::Entry> strays;
  for (auto& e : *listed) {
    if (!have.count(e.id)) strays.push_back(e);
  }
  for (size_t i = 0; i < strays.size(); i += 500) {
    auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
      for (size_t j = i; j < std::min(strays.size(), i + 500); ++j) {
        POSTERN_TRY(
            tx.exec("INSERT INTO blob (id, size, refs, orphaned_at) VALUES (?, 0, 0, ?) "
                    "ON CONFLICT (id) DO NOTHING",
                    {Value(strays[j].id), Value(now - strays[j].age_seconds)}));
      }
      return {};
    });
    if (!st) return st.error();
  }
  // 2. Delete unreferenced rows and their bytes in one transaction per batch: a delivery
  // that references the blob meanwhile either commits first (the DELETE re-checks refs
  // under the row lock and skips it) or after (and then finds the bytes gone inside its
  // transaction and re-puts them). The rows go first, the bytes only after those deletes
  // reached the log (remove_swept_bytes).
  int64_t removed = 0;
  while (true) {
    int64_t batch_removed = 0;
    size_t selected = 0;
    auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
      batch_removed = 0;
      auto rows = tx.query(
          "SELECT id FROM blob WHERE refs <= 0 AND orphaned_at IS NOT NULL AND orphaned_at <= ? "
          "ORDER BY id LIMIT 200",
          {Value(cutoff)});
      if (!rows) return rows.error();
      selected = rows->size();
      std::vector<std::string> deleted;
      for (const Row& r : *rows) {
        auto gone = tx.query(
            "DELETE FROM blob WHERE id = ? AND refs <= 0 AND orphaned_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM email WHERE email.blob_id = blob.id) RETURNING id",
            {Value(r.str(0)), Value(cutoff)});
        if (!gone) return gone.error();
        if (!gone->empty()) deleted.push_back(r.str(0));
      }
      for (const std::string& id : deleted) {
        if (auto rm = remove_swept_bytes(tx, *blobs_, id); !rm) return rm;
        ++batch_removed;
      }
      return {};
    });
    if (!st) return st.error();
    removed += batch_removed;
    if (selected < 200) break;
  }
  return removed;
}

}  // namespace postern::store::internal
