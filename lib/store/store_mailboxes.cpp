// Mailboxes: hierarchy, rename, delete, roles, counts.
#include <algorithm>
#include <functional>

#include "mail/charset.h"
#include "store/store_internal.h"

namespace postern::store::internal {

using base::Error;
using base::Result;
using base::Status;

Result<std::vector<std::string>> split_path(std::string_view path) {
  auto bad = [&](const std::string& why) {
    return Error::bad_data("invalid mailbox name \"" + clean_text(path) + "\": " + why);
  };
  if (path.empty()) return bad("empty");
  if (!mail::is_valid_utf8(path)) return bad("not UTF-8");
  std::vector<std::string> levels;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view level = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (level.empty()) return bad("empty level");
    if (level.size() > 255) return bad("a level longer than 255 bytes");
    for (size_t i = 0; i < level.size(); ++i) {
      auto c = static_cast<unsigned char>(level[i]);
      // C0 controls, DEL, and C1 controls (U+0080..U+009F, UTF-8 C2 80..C2 9F).
      bool c1 = c == 0xc2 && i + 1 < level.size() &&
                static_cast<unsigned char>(level[i + 1]) >= 0x80 &&
                static_cast<unsigned char>(level[i + 1]) <= 0x9f;
      if (c < 0x20 || c == 0x7f || c1) return bad("control character");
    }
    levels.emplace_back(level);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return levels;
}

std::string mailbox_select_with_counts() {
  return "SELECT m.id, m.account_id, m.parent_id, m.name, m.path, m.role, m.subscribed, "
         "m.uid_validity, m.uid_next, m.modseq, m.sort_order, "
         "(SELECT count(*) FROM member x WHERE x.mailbox_id = m.id), "
         "(SELECT count(*) FROM member x JOIN email e ON e.id = x.email_id "
         "WHERE x.mailbox_id = m.id AND (' ' || e.keywords || ' ') NOT LIKE '% $seen %') "
         "FROM mailbox m";
}

Mailbox mailbox_from_row(const Row& r) {
  Mailbox m;
  m.id = r.i64(0);
  m.account_id = r.i64(1);
  m.parent_id = r.opt_i64(2);
  m.name = r.str(3);
  m.path = r.str(4);
  m.role = parse_role(r.str(5)).value_or(Role::kNone);
  m.subscribed = r.i64(6) != 0;
  m.uid_validity = static_cast<uint32_t>(r.i64(7));
  m.uid_next = static_cast<uint32_t>(r.i64(8));
  m.modseq = r.i64(9);
  m.sort_order = static_cast<int>(r.i64(10));
  if (r.size() > 12) {
    m.total = static_cast<uint32_t>(r.i64(11));
    m.unseen = static_cast<uint32_t>(r.i64(12));
  }
  return m;
}

Result<std::optional<Mailbox>> StoreImpl::mailbox_where(Db& tx, Id account, std::string_view where,
                                                        const Params& params) {
  Params p{Value(account)};
  p.insert(p.end(), params.begin(), params.end());
  // No counts: they take a pass over the mailbox's members, and a lookup by path, role
  // or id is on every delivery's path (see Mailbox::total).
  std::string sql = "SELECT ";  // appended: GCC 12 warns falsely on a + b + c of literals
  sql += kMailboxColumns;
  sql += " FROM mailbox m WHERE m.account_id = ? AND ";
  sql += where;
  auto rows = tx.query(sql, p);
  if (!rows) return rows.error();
  if (rows->empty()) return std::optional<Mailbox>();
  return std::optional<Mailbox>(mailbox_from_row((*rows)[0]));
}

namespace {

// Creates the missing levels of `levels[0..n)` (no role); returns the last one's id, or
// nullopt for n == 0.
Result<std::optional<Id>> ensure_parents(Db& tx, Id account, const std::vector<std::string>& levels,
                                         size_t n, int64_t modseq,
                                         const std::function<Status(Id)>& created) {
  std::optional<Id> parent;
  std::string path;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) path += '/';
    path += levels[i];
    auto rows = tx.query("SELECT id FROM mailbox WHERE account_id = ? AND path = ?",
                         {Value(account), Value(path)});
    if (!rows) return rows.error();
    if (!rows->empty()) {
      parent = (*rows)[0].i64(0);
      continue;
    }
    auto id = insert_mailbox(tx, account, parent, levels[i], path, Role::kNone, modseq);
    if (!id) return id.error();
    if (auto st = created(*id); !st) return st.error();
    parent = *id;
  }
  return parent;
}

std::string join_levels(const std::vector<std::string>& levels) {
  std::string out;
  for (size_t i = 0; i < levels.size(); ++i) {
    if (i > 0) out += '/';
    out += levels[i];
  }
  return out;
}

}  // namespace

Result<Mailbox> StoreImpl::create_mailbox(Id account, std::string_view path, Role role) {
  auto levels = split_path(path);
  if (!levels) return levels.error();
  std::string full = join_levels(*levels);
  Id id = 0;
  auto st = with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto m = bump_modseq(tx, account);
    if (!m) return m.error();
    auto created = [&](Id mb) {
      return log_change(tx, account, ObjectType::kMailbox, mb, *m, ChangeKind::kCreated);
    };
    auto parent = ensure_parents(tx, account, *levels, levels->size() - 1, *m, created);
    if (!parent) return parent.error();
    auto exists = tx.query("SELECT 1 FROM mailbox WHERE account_id = ? AND path = ?",
                           {Value(account), Value(full)});
    if (!exists) return exists.error();
    if (!exists->empty()) return Error::bad_data("mailbox \"" + full + "\" exists");
    auto mb = insert_mailbox(tx, account, *parent, levels->back(), full, role, *m);
    if (!mb) return mb.error();
    id = *mb;
    return created(*mb);
  });
  if (!st) return st.error();
  auto mb = mailbox_where(*db_, account, "m.id = ?", {Value(id)});
  if (!mb) return mb.error();
  if (!*mb) return Error::temporary("mailbox \"" + full + "\" vanished while being created");
  return std::move(**mb);
}

Status StoreImpl::rename_mailbox(Id account, Id mailbox, std::string_view new_path) {
  auto levels = split_path(new_path);
  if (!levels) return levels.error();
  std::string target = join_levels(*levels);
  return with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto m = bump_modseq(tx, account);
    if (!m) return m.error();
    auto cur = tx.query("SELECT path FROM mailbox WHERE id = ? AND account_id = ?",
                        {Value(mailbox), Value(account)});
    if (!cur) return cur.error();
    if (cur->empty()) return Error::bad_data("no mailbox with id " + std::to_string(mailbox));
    std::string old = (*cur)[0].str(0);
    if (old == target) return {};
    if (target.starts_with(old + "/")) {
      return Error::bad_data("cannot move mailbox \"" + old + "\" into itself");
    }
    auto exists = tx.query("SELECT 1 FROM mailbox WHERE account_id = ? AND path = ?",
                           {Value(account), Value(target)});
    if (!exists) return exists.error();
    if (!exists->empty()) return Error::bad_data("mailbox \"" + target + "\" exists");
    auto parent = ensure_parents(tx, account, *levels, levels->size() - 1, *m, [&](Id mb) {
      return log_change(tx, account, ObjectType::kMailbox, mb, *m, ChangeKind::kCreated);
    });
    if (!parent) return parent.error();
    // Children first get their new paths (no clash: nothing lives under `target`).
    auto all = tx.query("SELECT id, path FROM mailbox WHERE account_id = ?", {Value(account)});
    if (!all) return all.error();
    std::string prefix = old + "/";
    for (const Row& r : *all) {
      if (!r.str(1).starts_with(prefix)) continue;
      std::string moved = target + r.str(1).substr(old.size());
      if (auto x =
              tx.exec("UPDATE mailbox SET path = ? WHERE id = ?", {Value(moved), Value(r.i64(0))});
          !x) {
        return x.error();
      }
    }
    auto x =
        tx.exec("UPDATE mailbox SET parent_id = ?, name = ?, path = ?, modseq = ? WHERE id = ?",
                {Value(*parent), Value(levels->back()), Value(target), Value(*m), Value(mailbox)});
    if (!x) return x.error();
    return log_change(tx, account, ObjectType::kMailbox, mailbox, *m, ChangeKind::kUpdated);
  });
}

Status StoreImpl::delete_mailbox(Id account, Id mailbox, bool remove_emails) {
  return with_transaction(*db_, Access::kWrite, [&](Db& tx) -> Status {
    auto m = bump_modseq(tx, account);
    if (!m) return m.error();
    auto cur = tx.query("SELECT path FROM mailbox WHERE id = ? AND account_id = ?",
                        {Value(mailbox), Value(account)});
    if (!cur) return cur.error();
    if (cur->empty()) return Error::bad_data("no mailbox with id " + std::to_string(mailbox));
    std::string path = (*cur)[0].str(0);
    auto kids = tx.query("SELECT count(*) FROM mailbox WHERE parent_id = ?", {Value(mailbox)});
    if (!kids) return kids.error();
    if ((*kids)[0].i64(0) > 0) {
      return Error::bad_data("mailbox \"" + path + "\" has child mailboxes");
    }
    auto members =
        tx.query("SELECT email_id FROM member WHERE mailbox_id = ? ORDER BY uid", {Value(mailbox)});
    if (!members) return members.error();
    if (!members->empty() && !remove_emails) {
      return Error::bad_data("mailbox \"" + path + "\" is not empty (" +
                             std::to_string(members->size()) + " emails)");
    }
    for (const Row& r : *members) {
      Id email = r.i64(0);
      if (auto st = unlink_member(tx, account, email, mailbox, *m); !st) return st;
      auto left = tx.query("SELECT count(*) FROM member WHERE email_id = ?", {Value(email)});
      if (!left) return left.error();
      if ((*left)[0].i64(0) == 0) {
        if (auto st = destroy_email(tx, account, email, *m); !st) return st;
      } else {
        if (auto x = tx.exec("UPDATE email SET modseq = ? WHERE id = ?", {Value(*m), Value(email)});
            !x) {
          return x.error();
        }
        if (auto st = log_change(tx, account, ObjectType::kEmail, email, *m, ChangeKind::kUpdated);
            !st) {
          return st;
        }
      }
    }
    if (auto x = tx.exec("DELETE FROM vanished WHERE mailbox_id = ?", {Value(mailbox)}); !x) {
      return x.error();
    }
    if (auto x = tx.exec("DELETE FROM mailbox WHERE id = ?", {Value(mailbox)}); !x) {
      return x.error();
    }
    return log_change(tx, account, ObjectType::kMailbox, mailbox, *m, ChangeKind::kDestroyed);
  });
}

namespace {

Status update_mailbox(Db& db, Id account, Id mailbox, const std::string& set, Value v,
                      const std::function<Result<int64_t>(Db&)>& bump,
                      const std::function<Status(Db&, int64_t)>& log) {
  return with_transaction(db, Access::kWrite, [&](Db& tx) -> Status {
    auto m = bump(tx);
    if (!m) return m.error();
    auto n = tx.exec("UPDATE mailbox SET " + set + ", modseq = ? WHERE id = ? AND account_id = ?",
                     {v, Value(*m), Value(mailbox), Value(account)});
    if (!n) {
      if (constraint(n.error())) {
        return Error::bad_data("another mailbox of the account has that role");
      }
      return n.error();
    }
    if (*n == 0) return Error::bad_data("no mailbox with id " + std::to_string(mailbox));
    return log(tx, *m);
  });
}

}  // namespace

Status StoreImpl::set_subscribed(Id account, Id mailbox, bool subscribed) {
  return update_mailbox(
      *db_, account, mailbox, "subscribed = ?", Value(subscribed),
      [&](Db& tx) { return bump_modseq(tx, account); },
      [&](Db& tx, int64_t m) {
        return log_change(tx, account, ObjectType::kMailbox, mailbox, m, ChangeKind::kUpdated);
      });
}

Status StoreImpl::set_role(Id account, Id mailbox, Role role) {
  return update_mailbox(
      *db_, account, mailbox, "role = ?", Value(role_name(role)),
      [&](Db& tx) { return bump_modseq(tx, account); },
      [&](Db& tx, int64_t m) {
        return log_change(tx, account, ObjectType::kMailbox, mailbox, m, ChangeKind::kUpdated);
      });
}

Result<std::vector<Mailbox>> StoreImpl::mailboxes(Id account) {
  auto rows =
      db_->query(mailbox_select_with_counts() + " WHERE m.account_id = ?", {Value(account)});
  if (!rows) return rows.error();
  std::vector<Mailbox> out;
  for (const Row& r : *rows) out.push_back(mailbox_from_row(r));
  // Byte order of the path, the same on both engines whatever the database collation.
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.path < b.path; });
  return out;
}

Result<std::optional<Mailbox>> StoreImpl::find_mailbox(Id account, std::string_view path) {
  return mailbox_where(*db_, account, "m.path = ?", {Value(path)});
}

Result<std::optional<Mailbox>> StoreImpl::mailbox_by_role(Id account, Role role) {
  if (role == Role::kNone) return std::optional<Mailbox>();
  return mailbox_where(*db_, account, "m.role = ?", {Value(role_name(role))});
}

Result<std::optional<Mailbox>> StoreImpl::find_mailbox_nocase(Id account, std::string_view path) {
  auto exact = find_mailbox(account, path);
  if (!exact || *exact) return exact;
  // Every mailbox row, without counts (as mailbox_where); the first match in path byte
  // order, as mailboxes() lists them.
  std::string sql = "SELECT ";
  sql += kMailboxColumns;
  sql += " FROM mailbox m WHERE m.account_id = ?";
  auto rows = db_->query(sql, {Value(account)});
  if (!rows) return rows.error();
  std::string want = fold(path);
  std::optional<Mailbox> best;
  for (const Row& r : *rows) {
    Mailbox m = mailbox_from_row(r);
    if (fold(m.path) == want && (!best || m.path < best->path)) best = std::move(m);
  }
  return best;
}

}  // namespace postern::store::internal
