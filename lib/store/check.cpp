// store-check: invariants and repairs (see check.h).
//
// Two phases. The check reads everything in one read transaction and records, next to
// each problem, the repair that would fix it. The repairs then run one by one, each in a
// write transaction that first takes the row lock a delivery would take (the account row,
// then the mailbox or blob row) and re-reads the state under it, so what a concurrent
// delivery committed in between is counted and what it has not yet committed is added by
// the delivery itself afterwards, on top of the repaired value.
#include "store/check.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "store/store_internal.h"

namespace postern::store {

using base::Error;
using base::Result;
using base::Status;

size_t CheckReport::left() const {
  return static_cast<size_t>(
      std::count_if(problems.begin(), problems.end(), [](const Problem& p) { return !p.repaired; }));
}

bool CheckReport::only(std::string_view kind) const {
  return std::all_of(problems.begin(), problems.end(),
                     [&](const Problem& p) { return p.repaired || p.kind == kind; });
}

namespace {

// Repairs run in this order: the ones later steps rely on first (a UID can only be
// handed out once uid_next is right; an orphan is only swept once its refs are).
enum Phase { kFixUidNext, kFixBlobRows, kFixMailbox, kFixIndex, kFixAccount, kSweep };

struct Repair {
  Phase phase;
  size_t problem;
  std::function<Status(Db&)> body;  // runs inside with_transaction(kWrite)
};

std::string short_id(const std::string& blob) { return blob.substr(0, 16); }

std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::string age_text(int64_t s) {
  if (s >= 2 * 86400) return std::to_string(s / 86400) + "d";
  if (s >= 2 * 3600) return std::to_string(s / 3600) + "h";
  if (s >= 120) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

// A sentinel a repair body returns when the problem has gone by itself (fixed by a
// concurrent writer, or the object was deleted): rolls back, and counts as repaired.
const char* const kNothingToDo = "store-check: nothing left to repair";

Error nothing_to_do() { return Error::internal(kNothingToDo); }

// Takes the account's row lock the way every writer does first (deliver, set_keywords,
// ...: UPDATE account ... WHERE id = ?), without changing anything. False: no such account.
Result<bool> lock_account(Db& tx, Id account) {
  auto n = tx.exec("UPDATE account SET modseq = modseq WHERE id = ?", {Value(account)});
  if (!n) return n.error();
  return *n > 0;
}

Status log_change(Db& tx, Id account, ObjectType type, Id object, int64_t modseq) {
  // As StoreImpl::log_change(kUpdated): one row per object; created_modseq 0 on insert.
  auto r = tx.exec(
      "INSERT INTO change_log (account_id, type, object_id, created_modseq, modseq, destroyed) "
      "VALUES (?, ?, ?, 0, ?, 0) ON CONFLICT (account_id, type, object_id) DO UPDATE SET "
      "modseq = excluded.modseq, destroyed = excluded.destroyed",
      {Value(account), Value(static_cast<int64_t>(type)), Value(object), Value(modseq)});
  if (!r) return r.error();
  return {};
}

class Checker {
 public:
  Checker(Store& store, const CheckOptions& o) : store_(store), db_(store.db()), o_(o) {}

  Result<CheckReport> run() {
    report_.store = db_.describe() + " blobs " + store_.blobs().describe();
    if (!o_.account.empty()) {
      auto a = store_.find_account(o_.account);
      if (!a) return a.error();
      if (!*a) return Error::no_user("no account " + o_.account);
      scope_ = (*a)->id;
    }
    now_ = internal::now_unix();
    if (auto st = db_.begin(Access::kRead); !st) return st.error();
    Status st = check_all();
    db_.rollback();  // read only: nothing to commit
    if (!st) return st.error();
    if (o_.repair) repair_all();
    return std::move(report_);
  }

 private:
  // " AND <col> = ?" when scoped to one account.
  std::string scoped(const char* col, Params& p) const {
    if (!scope_) return "";
    p.push_back(Value(*scope_));
    return std::string(" AND ") + col + " = ?";
  }

  size_t add(std::string kind, Id account, std::string message, bool repairable) {
    Problem p;
    p.kind = std::move(kind);
    if (account) {
      auto it = addresses_.find(account);
      p.account = it != addresses_.end() ? it->second : "#" + std::to_string(account);
    }
    p.message = std::move(message);
    p.repairable = repairable;
    report_.problems.push_back(std::move(p));
    return report_.problems.size() - 1;
  }

  std::string acct(Id id) const {
    auto it = addresses_.find(id);
    return "account " + (it != addresses_.end() ? it->second : "#" + std::to_string(id));
  }

  void plan(Phase phase, size_t problem, std::function<Status(Db&)> body) {
    repairs_.push_back({phase, problem, std::move(body)});
  }

  Status check_all() {
    if (db_.engine() == Engine::kPostgres) {
      // One snapshot for every query below (READ COMMITTED would take one per statement
      // and see a delivery half-way through the checks).
      auto st = db_.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      if (!st) return st.error();
    }
    for (auto step : {&Checker::check_accounts, &Checker::check_mailboxes,
                      &Checker::check_members, &Checker::check_emails, &Checker::check_blobs,
                      &Checker::check_queue}) {
      if (auto st = (this->*step)(); !st) return st;
    }
    return {};
  }

  // ---- accounts: used_bytes, modseq ----

  Status check_accounts() {
    Params p;
    std::string where = scope_ ? " WHERE a.id = ?" : "";
    if (scope_) p.push_back(Value(*scope_));
    auto rows = db_.query(
        "SELECT a.id, a.address, a.used_bytes, a.modseq, "
        "COALESCE((SELECT sum(e.size) FROM email e WHERE e.account_id = a.id), 0) "
        "FROM account a" + where + " ORDER BY a.address",
        p);
    if (!rows) return rows.error();
    report_.accounts = static_cast<int64_t>(rows->size());
    for (const Row& r : *rows) addresses_[r.i64(0)] = r.str(1);
    // The largest modseq anything of the account carries.
    std::map<Id, std::pair<int64_t, std::string>> highest;
    static const std::pair<const char*, const char*> kModseqs[] = {
        {"SELECT account_id, max(modseq) FROM mailbox WHERE 1 = 1%s GROUP BY account_id",
         "mailbox"},
        {"SELECT account_id, max(modseq) FROM email WHERE 1 = 1%s GROUP BY account_id", "email"},
        {"SELECT account_id, max(modseq) FROM change_log WHERE 1 = 1%s GROUP BY account_id",
         "change log"},
        {"SELECT b.account_id, max(x.modseq) FROM member x JOIN mailbox b ON b.id = x.mailbox_id "
         "WHERE 1 = 1%s GROUP BY b.account_id",
         "membership"},
        {"SELECT b.account_id, max(v.modseq) FROM vanished v JOIN mailbox b ON b.id = v.mailbox_id "
         "WHERE 1 = 1%s GROUP BY b.account_id",
         "expunged UID"},
    };
    for (auto& [sql_fmt, what] : kModseqs) {
      Params q;
      std::string sql(sql_fmt);
      std::string col = std::string(sql_fmt).find("b.account_id") != std::string::npos
                            ? "b.account_id"
                            : "account_id";
      sql.replace(sql.find("%s"), 2, scoped(col.c_str(), q));
      auto m = db_.query(sql, q);
      if (!m) return m.error();
      for (const Row& r : *m) {
        auto& h = highest[r.i64(0)];
        if (r.i64(1) > h.first) h = {r.i64(1), what};
      }
    }
    for (const Row& r : *rows) {
      Id id = r.i64(0);
      int64_t used = r.i64(2), modseq = r.i64(3), sum = r.i64(4);
      if (used != sum) {
        size_t i = add("used_bytes", id,
                       acct(id) + ": used_bytes " + std::to_string(used) + " but emails sum to " +
                           std::to_string(sum),
                       true);
        plan(kFixAccount, i, [id](Db& tx) { return fix_used_bytes(tx, id); });
      }
      auto h = highest.find(id);
      if (h != highest.end() && h->second.first > modseq) {
        size_t i = add("modseq", id,
                       acct(id) + ": modseq " + std::to_string(modseq) + " but a " +
                           h->second.second + " has modseq " + std::to_string(h->second.first),
                       true);
        plan(kFixAccount, i, [id](Db& tx) { return fix_modseq(tx, id); });
      }
    }
    return {};
  }

  static Status fix_used_bytes(Db& tx, Id id) {
    // Under the account lock every delivery that will add an email has either committed
    // (and its email is in the sum, read by this later statement) or not yet added its
    // used_bytes (and adds it after us, to the corrected value).
    auto locked = lock_account(tx, id);
    if (!locked) return locked.error();
    if (!*locked) return nothing_to_do();
    auto n = tx.exec(
        "UPDATE account SET used_bytes = "
        "(SELECT COALESCE(sum(e.size), 0) FROM email e WHERE e.account_id = ?) WHERE id = ?",
        {Value(id), Value(id)});
    if (!n) return n.error();
    return {};
  }

  static Status fix_modseq(Db& tx, Id id) {
    auto locked = lock_account(tx, id);
    if (!locked) return locked.error();
    if (!*locked) return nothing_to_do();
    auto m = tx.query(
        "SELECT max(x) FROM ("
        "SELECT max(modseq) AS x FROM mailbox WHERE account_id = ? "
        "UNION ALL SELECT max(modseq) FROM email WHERE account_id = ? "
        "UNION ALL SELECT max(modseq) FROM change_log WHERE account_id = ? "
        "UNION ALL SELECT max(m.modseq) FROM member m JOIN mailbox b ON b.id = m.mailbox_id "
        "WHERE b.account_id = ? "
        "UNION ALL SELECT max(v.modseq) FROM vanished v JOIN mailbox b ON b.id = v.mailbox_id "
        "WHERE b.account_id = ?) AS t",
        {Value(id), Value(id), Value(id), Value(id), Value(id)});
    if (!m) return m.error();
    int64_t top = m->empty() ? 0 : (*m)[0].i64(0);
    // Raising the state only makes clients resynchronize; it never hides a change.
    auto n = tx.exec("UPDATE account SET modseq = ? WHERE id = ? AND modseq < ?",
                     {Value(top), Value(id), Value(top)});
    if (!n) return n.error();
    return {};
  }

  // ---- mailboxes: uid_next, parents, roles ----

  Status check_mailboxes() {
    Params p;
    std::string where = scoped("m.account_id", p);
    auto rows = db_.query(
        "SELECT m.id, m.account_id, m.path, m.uid_next, m.role, m.parent_id, p.id, p.account_id, "
        "COALESCE((SELECT max(x.uid) FROM member x WHERE x.mailbox_id = m.id), 0), "
        "COALESCE((SELECT max(v.uid) FROM vanished v WHERE v.mailbox_id = m.id), 0) "
        "FROM mailbox m LEFT JOIN mailbox p ON p.id = m.parent_id WHERE 1 = 1" + where +
            " ORDER BY m.account_id, m.path",
        p);
    if (!rows) return rows.error();
    report_.mailboxes = static_cast<int64_t>(rows->size());
    std::map<std::pair<Id, std::string>, std::vector<std::string>> roles;
    for (const Row& r : *rows) {
      Id id = r.i64(0), account = r.i64(1);
      const std::string& path = r.str(2);
      int64_t uid_next = r.i64(3), in_use = r.i64(8), expunged = r.i64(9);
      std::string box = acct(account) + ": mailbox " + quoted(path);
      if (!r.str(4).empty()) roles[{account, r.str(4)}].push_back(path);
      if (!r.is_null(5)) {
        if (r.is_null(6)) {
          add("parent", account, box + ": parent mailbox " + std::to_string(r.i64(5)) + " is missing",
              false);
        } else if (r.i64(7) != account) {
          add("parent", account, box + ": parent mailbox " + std::to_string(r.i64(5)) +
                                     " belongs to another account",
              false);
        }
      }
      int64_t top = std::max(in_use, expunged);
      if (top >= uid_next) {
        size_t i = add("uid_next", account,
                       box + ": uid_next " + std::to_string(uid_next) + " but UID " +
                           std::to_string(top) + (top == in_use ? " is in use" : " was used"),
                       true);
        plan(kFixUidNext, i, [id, account](Db& tx) { return fix_uid_next(tx, account, id); });
      }
    }
    for (auto& [key, paths] : roles) {
      if (paths.size() < 2) continue;
      std::string list;
      for (auto& p2 : paths) list += (list.empty() ? "" : ", ") + quoted(p2);
      add("role", key.first, acct(key.first) + ": role " + key.second + " is on " +
                                 std::to_string(paths.size()) + " mailboxes: " + list,
          false);
    }
    return {};
  }

  static Status fix_uid_next(Db& tx, Id account, Id mailbox) {
    // Lock order as in deliver(): account, then mailbox.
    auto locked = lock_account(tx, account);
    if (!locked) return locked.error();
    if (!*locked) return nothing_to_do();
    auto m = tx.query(
        "SELECT max(u) FROM (SELECT max(uid) AS u FROM member WHERE mailbox_id = ? "
        "UNION ALL SELECT max(uid) FROM vanished WHERE mailbox_id = ?) AS t",
        {Value(mailbox), Value(mailbox)});
    if (!m) return m.error();
    int64_t next = (m->empty() ? 0 : (*m)[0].i64(0)) + 1;
    auto n = tx.exec("UPDATE mailbox SET uid_next = ? WHERE id = ? AND uid_next < ?",
                     {Value(next), Value(mailbox), Value(next)});
    if (!n) return n.error();
    if (*n == 0) return nothing_to_do();
    return {};
  }

  // ---- memberships: UIDs, accounts ----

  Status check_members() {
    Params p;
    std::string where = scoped("b.account_id", p);
    auto dup = db_.query(
        "SELECT b.account_id, b.path, x.uid, count(*) FROM member x "
        "JOIN mailbox b ON b.id = x.mailbox_id WHERE 1 = 1" + where +
            " GROUP BY b.account_id, b.path, x.uid HAVING count(*) > 1 OR x.uid < 1",
        p);
    if (!dup) return dup.error();
    for (const Row& r : *dup) {
      std::string box = acct(r.i64(0)) + ": mailbox " + quoted(r.str(1));
      if (r.i64(2) < 1) {
        add("uid", r.i64(0), box + ": " + std::to_string(r.i64(3)) + " emails have UID " +
                                 std::to_string(r.i64(2)),
            false);
      } else {
        add("uid", r.i64(0), box + ": UID " + std::to_string(r.i64(2)) + " is used by " +
                                 std::to_string(r.i64(3)) + " emails",
            false);
      }
    }
    Params q;
    std::string w2 = scoped("e.account_id", q);
    auto cross = db_.query(
        "SELECT e.account_id, x.email_id, b.path, b.account_id FROM member x "
        "JOIN email e ON e.id = x.email_id JOIN mailbox b ON b.id = x.mailbox_id "
        "WHERE e.account_id <> b.account_id" + w2,
        q);
    if (!cross) return cross.error();
    for (const Row& r : *cross) {
      add("member", r.i64(0), acct(r.i64(0)) + ": email " + std::to_string(r.i64(1)) +
                                  " is in mailbox " + quoted(r.str(2)) + " of " + acct(r.i64(3)),
          false);
    }
    return {};
  }

  // ---- emails: in a mailbox, indexed ----

  Status check_emails() {
    Params p;
    std::string where = scoped("e.account_id", p);
    auto count = db_.query("SELECT count(*) FROM email e WHERE 1 = 1" + where, p);
    if (!count) return count.error();
    report_.emails = count->empty() ? 0 : (*count)[0].i64(0);
    auto homeless = db_.query(
        "SELECT e.id, e.account_id, e.message_id FROM email e WHERE NOT EXISTS "
        "(SELECT 1 FROM member x WHERE x.email_id = e.id)" + where + " ORDER BY e.id",
        p);
    if (!homeless) return homeless.error();
    for (const Row& r : *homeless) {
      Id email = r.i64(0), account = r.i64(1);
      size_t i = add("no_mailbox", account, acct(account) + ": email " + std::to_string(email) +
                                                message_id(r.str(2)) + " is in no mailbox",
                     true);
      plan(kFixMailbox, i, [account, email](Db& tx) { return fix_homeless(tx, account, email); });
    }
    auto pending = db_.query("SELECT count(*) FROM email_pending e WHERE 1 = 1" + where, p);
    if (!pending) return pending.error();
    report_.pending = pending->empty() ? 0 : (*pending)[0].i64(0);
    // Searchable: indexed (both search rows) or queued for the indexer.
    auto unindexed = db_.query(
        "SELECT e.id, e.account_id, e.message_id, "
        "(SELECT count(*) FROM email_text t WHERE t.email_id = e.id), "
        "(SELECT count(*) FROM email_words w WHERE w.email_id = e.id) FROM email e "
        "WHERE (NOT EXISTS (SELECT 1 FROM email_text t WHERE t.email_id = e.id) OR "
        "NOT EXISTS (SELECT 1 FROM email_words w WHERE w.email_id = e.id)) AND "
        "NOT EXISTS (SELECT 1 FROM email_pending q WHERE q.account_id = e.account_id AND "
        "q.email_id = e.id)" + where +
            " ORDER BY e.id",
        p);
    if (!unindexed) return unindexed.error();
    for (const Row& r : *unindexed) {
      Id email = r.i64(0), account = r.i64(1);
      std::string missing = r.i64(3) == 0 && r.i64(4) == 0 ? "email_text and email_words"
                            : r.i64(3) == 0               ? "email_text"
                                                          : "email_words";
      size_t i = add("index", account, acct(account) + ": email " + std::to_string(email) +
                                           message_id(r.str(2)) + " has no search rows (" +
                                           missing + ") and is not queued for indexing",
                     true);
      // Queued again; Store::index_pending() (run by check_store after the repairs)
      // rewrites its rows.
      plan(kFixIndex, i, [account, email](Db& tx) -> Status {
        auto locked = lock_account(tx, account);
        if (!locked) return locked.error();
        auto still = tx.query("SELECT 1 FROM email WHERE id = ? AND account_id = ?",
                              {Value(email), Value(account)});
        if (!still) return still.error();
        if (still->empty()) return nothing_to_do();
        auto q = tx.exec(
            "INSERT INTO email_pending (email_id, account_id) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            {Value(email), Value(account)});
        if (!q) return q.error();
        return {};
      });
    }
    return {};
  }

  static std::string message_id(const std::string& mid) {
    return mid.empty() ? "" : " <" + internal::clean_text(mid.substr(0, 200)) + ">";
  }

  static Status fix_homeless(Db& tx, Id account, Id email) {
    auto locked = lock_account(tx, account);
    if (!locked) return locked.error();
    if (!*locked) return nothing_to_do();
    auto still = tx.query(
        "SELECT 1 FROM email e WHERE e.id = ? AND e.account_id = ? AND NOT EXISTS "
        "(SELECT 1 FROM member x WHERE x.email_id = e.id)",
        {Value(email), Value(account)});
    if (!still) return still.error();
    if (still->empty()) return nothing_to_do();
    auto inbox = tx.query("SELECT id FROM mailbox WHERE account_id = ? AND role = 'inbox'",
                          {Value(account)});
    if (!inbox) return inbox.error();
    if (inbox->empty()) return Error::unavailable("the account has no Inbox to put it in");
    Id box = (*inbox)[0].i64(0);
    // Same steps as Store::add_to_mailbox: one modseq step, a fresh UID, the change log.
    auto m = tx.query("UPDATE account SET modseq = modseq + 1 WHERE id = ? RETURNING modseq",
                      {Value(account)});
    if (!m) return m.error();
    int64_t modseq = (*m)[0].i64(0);
    auto u = tx.query(
        "UPDATE mailbox SET uid_next = uid_next + 1, modseq = ? WHERE id = ? RETURNING uid_next - 1",
        {Value(modseq), Value(box)});
    if (!u) return u.error();
    int64_t uid = (*u)[0].i64(0);
    auto ins = tx.exec("INSERT INTO member (email_id, mailbox_id, uid, modseq) VALUES (?, ?, ?, ?)",
                       {Value(email), Value(box), Value(uid), Value(modseq)});
    if (!ins) return ins.error();
    auto e = tx.exec("UPDATE email SET modseq = ? WHERE id = ?", {Value(modseq), Value(email)});
    if (!e) return e.error();
    if (auto st = log_change(tx, account, ObjectType::kEmail, email, modseq); !st) return st;
    return log_change(tx, account, ObjectType::kMailbox, box, modseq);
  }

  // ---- blobs: bytes, rows, refs, sizes, orphans ----

  // ---- the mail queue: one transaction writes a message whole, so a part missing is
  // damage from outside (a restored backup, hand edits); queue-ctl drop removes it ----

  Status check_queue() {
    if (scope_) return {};
    auto rows = db_.query(
        "SELECT m.id, m.size, (SELECT length(d.data) FROM queue_data d WHERE d.queue_id = m.id), "
        "(SELECT count(*) FROM queue_recipient r WHERE r.queue_id = m.id) "
        "FROM queue_message m ORDER BY m.id");
    if (!rows) return rows.error();
    report_.queued = static_cast<int64_t>(rows->size());
    for (const Row& r : *rows) {
      std::string id = "queued message " + r.str(0) + ": ";
      if (r.is_null(2)) {
        add("queue", 0, id + "no bytes", false);
      } else if (r.i64(2) != r.i64(1)) {
        add("queue", 0,
            id + "size " + std::to_string(r.i64(1)) + " but " + std::to_string(r.i64(2)) +
                " bytes",
            false);
      }
      if (r.i64(3) == 0) add("queue", 0, id + "no recipients", false);
    }
    return {};
  }

  Status check_blobs() {
    auto listed = store_.blobs().list();
    if (!listed) return listed.error();
    std::map<std::string, int64_t> files;  // id -> age in seconds
    for (auto& e : *listed) files[e.id] = e.age_seconds;
    report_.blob_files = static_cast<int64_t>(files.size());

    // The blobs this check covers: every one the (scoped) emails use, with the global
    // count of referencing emails.
    Params p;
    std::string where = scoped("account_id", p);
    auto used = db_.query(
        "SELECT d.blob_id, (SELECT count(*) FROM email x WHERE x.blob_id = d.blob_id), "
        "(SELECT max(x.size) FROM email x WHERE x.blob_id = d.blob_id), b.id, b.refs, b.size "
        "FROM (SELECT DISTINCT blob_id FROM email WHERE 1 = 1" + where +
            ") d LEFT JOIN blob b ON b.id = d.blob_id ORDER BY d.blob_id",
        p);
    if (!used) return used.error();
    auto all_rows = db_.query("SELECT count(*) FROM blob");
    if (!all_rows) return all_rows.error();
    report_.blobs = scope_ ? static_cast<int64_t>(used->size())
                           : (all_rows->empty() ? 0 : (*all_rows)[0].i64(0));
    for (const Row& r : *used) {
      const std::string id = r.str(0);
      int64_t count = r.i64(1), size = r.i64(2);
      bool has_row = !r.is_null(3);
      bool has_bytes = files.count(id) > 0;
      if (!has_bytes) {
        // Not listed: perhaps stored after the listing; ask once more.
        auto ex = store_.blobs().exists(id);
        if (!ex) return ex.error();
        has_bytes = *ex;
      }
      if (!has_bytes) {
        if (auto st = report_missing(id); !st) return st;
      } else if (o_.deep) {
        auto bytes = store_.blobs().get(id);
        if (!bytes) return bytes.error();
        std::string actual = blob_id_of(*bytes);
        if (actual != id) {
          add("blob_hash", 0, "blob " + id + ": the bytes hash to " + actual + " (corrupted)",
              false);
        } else if (static_cast<int64_t>(bytes->size()) != size) {
          add("blob_hash", 0, "blob " + id + ": " + std::to_string(bytes->size()) +
                                  " bytes but its emails say " + std::to_string(size),
              false);
        }
      }
      if (!has_row) {
        std::string m = "blob " + id + ": " + std::to_string(count) +
                        (count == 1 ? " email refers" : " emails refer") + " to it but it has no row";
        size_t i = add("blob_row", 0, m + (has_bytes ? "" : " (and no bytes)"), has_bytes);
        if (has_bytes) plan(kFixBlobRows, i, [id](Db& tx) { return fix_blob_row(tx, id); });
        continue;
      }
      if (r.i64(4) != count) {
        size_t i = add("refs", 0, "blob " + short_id(id) + "…: refs " + std::to_string(r.i64(4)) +
                                      " but " + std::to_string(count) +
                                      (count == 1 ? " email refers" : " emails refer") + " to it",
                       true);
        plan(kFixBlobRows, i, [id](Db& tx) { return fix_blob_row(tx, id); });
      } else if (r.i64(5) != size) {
        size_t i = add("blob_size", 0, "blob " + short_id(id) + "…: size " +
                                           std::to_string(r.i64(5)) + " but its emails have " +
                                           std::to_string(size) + " bytes",
                       true);
        plan(kFixBlobRows, i, [id](Db& tx) { return fix_blob_row(tx, id); });
      }
    }
    if (scope_) return {};  // unreferenced blobs belong to no account

    // Rows nothing refers to.
    auto loose = db_.query(
        "SELECT b.id, b.refs, b.orphaned_at FROM blob b WHERE NOT EXISTS "
        "(SELECT 1 FROM email e WHERE e.blob_id = b.id) ORDER BY b.id");
    if (!loose) return loose.error();
    std::set<std::string> rows_seen;
    for (const Row& r : *loose) {
      const std::string id = r.str(0);
      rows_seen.insert(id);
      auto f = files.find(id);
      if (r.i64(1) != 0) {
        size_t i = add("refs", 0, "blob " + short_id(id) + "…: refs " + std::to_string(r.i64(1)) +
                                      " but no email refers to it",
                       true);
        plan(kFixBlobRows, i, [id](Db& tx) { return fix_blob_row(tx, id); });
        continue;  // an orphan from now on; swept after its grace period
      }
      // Unreferenced since orphaned_at (or, when unset, as old as its file).
      int64_t age = !r.is_null(2) ? now_ - r.i64(2) : (f != files.end() ? f->second : 0);
      if (age < o_.grace_seconds) continue;
      size_t i = add("orphan", 0, "blob " + short_id(id) + "…: orphan (unreferenced for " +
                                      age_text(age) + (f == files.end() ? ", no bytes" : "") + ")",
                     true);
      int64_t grace = o_.grace_seconds;
      BlobStore* blobs = &store_.blobs();
      plan(kSweep, i, [blobs, id, grace](Db& tx) { return sweep_row(tx, *blobs, id, grace); });
    }
    // Files without any row: a delivery that stopped between storing the bytes and its
    // commit (or one still running: hence the grace period).
    auto known = db_.query("SELECT id FROM blob");
    if (!known) return known.error();
    std::set<std::string> with_row;
    for (const Row& r : *known) with_row.insert(r.str(0));
    for (auto& [id, age] : files) {
      if (with_row.count(id) || age < o_.grace_seconds) continue;
      // Files under --blob-dir, or blob_data rows when the blobs live in the database.
      const char* what = store_.blobs().describe().rfind("fs:", 0) == 0 ? "file" : "data";
      size_t i = add("orphan", 0, "blob " + short_id(id) + "…: orphan " + what + " (no row, " +
                                      age_text(age) + " old)",
                     true);
      int64_t grace = o_.grace_seconds;
      BlobStore* blobs = &store_.blobs();
      std::string blob = id;
      plan(kSweep, i, [blobs, blob, grace](Db& tx) { return sweep_file(tx, *blobs, blob, grace); });
    }
    return {};
  }

  Status report_missing(const std::string& id) {
    Params p{Value(id)};
    std::string where = scoped("account_id", p);
    auto emails = db_.query(
        "SELECT id, account_id, message_id FROM email WHERE blob_id = ?" + where + " ORDER BY id",
        p);
    if (!emails) return emails.error();
    for (const Row& e : *emails) {
      add("blob_missing", e.i64(1), acct(e.i64(1)) + ": email " + std::to_string(e.i64(0)) +
                                        message_id(e.str(2)) + ": its blob " + id + " is missing",
          false);
    }
    return {};
  }

  // Recreates a missing blob row and sets refs (and size) from the emails using it.
  static Status fix_blob_row(Db& tx, const std::string& id) {
    auto size = tx.query("SELECT max(size) FROM email WHERE blob_id = ?", {Value(id)});
    if (!size) return size.error();
    int64_t bytes = size->empty() ? 0 : (*size)[0].i64(0);
    // The row first (a delivery inserting it concurrently waits on ours, then adds its
    // reference with ON CONFLICT), then its lock, then the count: every delivery either
    // committed before the count or increments refs after our commit.
    auto ins = tx.exec(
        "INSERT INTO blob (id, size, refs, orphaned_at) VALUES (?, ?, 0, ?) "
        "ON CONFLICT (id) DO NOTHING",
        {Value(id), Value(bytes), Value(internal::now_unix())});
    if (!ins) return ins.error();
    auto lock = tx.exec("UPDATE blob SET refs = refs WHERE id = ?", {Value(id)});
    if (!lock) return lock.error();
    auto count = tx.query("SELECT count(*), max(size) FROM email WHERE blob_id = ?", {Value(id)});
    if (!count) return count.error();
    int64_t n = (*count)[0].i64(0);
    Params p{Value(n)};
    std::string sql = "UPDATE blob SET refs = ?, orphaned_at = ";
    if (n == 0) {
      sql += "COALESCE(orphaned_at, ?)";
      p.push_back(Value(internal::now_unix()));
    } else {
      sql += "NULL, size = ?";
      p.push_back(Value((*count)[0].i64(1)));
    }
    sql += " WHERE id = ?";
    p.push_back(Value(id));
    auto up = tx.exec(sql, p);
    if (!up) return up.error();
    return {};
  }

  // The orphan sweep, one blob per transaction. Why this cannot take bytes a delivery
  // relies on: deliver() stores the bytes first (put), then in its transaction inserts
  // the email, does INSERT INTO blob ... ON CONFLICT refs = refs + 1 and, still inside
  // it, checks that the bytes exist (putting them again if not) before it commits. Here,
  // under the blob row's lock (SQLite: the database write lock; PostgreSQL: the row lock
  // from the UPDATE below), we re-check that refs is 0, that no committed email uses the
  // blob and that it has been unreferenced for the grace period, and delete the row and
  // then the bytes in this same transaction. A delivery of the same content then either
  // committed before us (we see its email and keep the blob) or commits after us (its
  // blob upsert waits for our lock and creates a fresh row; its check finds the bytes
  // gone and stores them again). The bytes go only after the row's deletion was flushed
  // into the log (remove_swept_bytes; the invariant is in blob.h): on SQLite that also
  // ends a delivery killed half-way through its COMMIT, which no connection sees now but
  // WAL recovery would otherwise commit later. Correctness does not rest on the grace
  // period (file ages are whole seconds: --grace 1 takes files from ~0 s old); it keeps
  // the sweep off bytes about to be referenced, which a delivery would store again.
  static Status sweep_row(Db& tx, BlobStore& blobs, const std::string& id, int64_t grace) {
    auto lock = tx.exec("UPDATE blob SET refs = refs WHERE id = ?", {Value(id)});
    if (!lock) return lock.error();
    if (*lock == 0) return sweep_file(tx, blobs, id, grace);  // row gone meanwhile
    auto row = tx.query(
        "SELECT refs, orphaned_at, (SELECT count(*) FROM email e WHERE e.blob_id = ?) "
        "FROM blob WHERE id = ?",
        {Value(id), Value(id)});
    if (!row) return row.error();
    if (row->empty()) return nothing_to_do();
    const Row& r = (*row)[0];
    if (r.i64(0) != 0 || r.i64(2) != 0) return nothing_to_do();  // referenced again
    if (!r.is_null(1) && internal::now_unix() - r.i64(1) < grace) return nothing_to_do();
    auto del = tx.exec("DELETE FROM blob WHERE id = ? AND refs = 0", {Value(id)});
    if (!del) return del.error();
    if (*del == 0) return nothing_to_do();
    return internal::remove_swept_bytes(tx, blobs, id);
  }

  // A file (or blob_data row) without a blob row: the bytes of a delivery that stopped
  // between put() and its commit, older than the grace period (checked on the listing).
  // Adopted as a row first, then swept like one: the row is what serializes this with a
  // delivery of the same bytes (PostgreSQL: our INSERT waits for a delivery's uncommitted
  // upsert of the same id, and its upsert for our row; SQLite: the write lock), and the
  // change this transaction makes is what lets remove_swept_bytes end a delivery killed
  // inside its COMMIT. A transaction that only read here (as this once did) left that
  // delivery's WAL frames in place: the bytes went, and the next process to open the
  // store recovered the delivery's email without them.
  static Status sweep_file(Db& tx, BlobStore& blobs, const std::string& id, int64_t grace) {
    (void)grace;
    auto adopt = tx.exec(
        "INSERT INTO blob (id, size, refs, orphaned_at) VALUES (?, 0, 0, ?) "
        "ON CONFLICT (id) DO NOTHING",
        {Value(id), Value(internal::now_unix())});
    if (!adopt) return adopt.error();
    if (*adopt == 0) return nothing_to_do();  // a row appeared meanwhile: judged by it later
    auto used = tx.query("SELECT count(*) FROM email WHERE blob_id = ?", {Value(id)});
    if (!used) return used.error();
    if ((*used)[0].i64(0) != 0) return nothing_to_do();  // rolls the adoption back
    auto del = tx.exec("DELETE FROM blob WHERE id = ?", {Value(id)});
    if (!del) return del.error();
    return internal::remove_swept_bytes(tx, blobs, id);
  }

  void repair_all() {
    std::stable_sort(repairs_.begin(), repairs_.end(),
                     [](const Repair& a, const Repair& b) { return a.phase < b.phase; });
    for (Repair& r : repairs_) {
      Problem& p = report_.problems[r.problem];
      auto st = with_transaction(db_, Access::kWrite, r.body);
      if (st || st.error().message() == kNothingToDo) {
        p.repaired = true;
      } else {
        p.repair_error = st.error().message();
      }
    }
    // Emails queued again by kFixIndex: index them now (a failure leaves them queued,
    // which is consistent; the problem says why).
    const bool requeued = std::any_of(repairs_.begin(), repairs_.end(), [&](const Repair& r) {
      return r.phase == kFixIndex && report_.problems[r.problem].repaired;
    });
    if (!requeued) return;
    auto indexed = store_.index_pending(scope_);
    if (indexed) {
      auto left = store_.pending_count(scope_);
      if (left) report_.pending = static_cast<int64_t>(*left);
      return;
    }
    for (Repair& r : repairs_) {
      if (r.phase != kFixIndex) continue;
      Problem& p = report_.problems[r.problem];
      if (!p.repaired) continue;
      p.repaired = false;
      p.repair_error = "queued for indexing, but indexing failed: " + indexed.error().message();
    }
  }

  Store& store_;
  Db& db_;
  const CheckOptions& o_;
  std::optional<Id> scope_;
  int64_t now_ = 0;
  std::map<Id, std::string> addresses_;
  CheckReport report_;
  std::vector<Repair> repairs_;
};

}  // namespace

Result<CheckReport> check_store(Store& store, const CheckOptions& options) {
  Checker c(store, options);
  return c.run();
}

}  // namespace postern::store
