// greylist: the greylist table (schema version 6).
#include "store/greylist.h"

#include "store/db.h"
#include "store/store_internal.h"

namespace postern::store::greylist {

using base::Status;

base::Result<Answer> check(Store& store, const std::string& network, const std::string& sender,
                           const std::string& recipient, const Policy& policy, int64_t now) {
  // One text key: a line break cannot occur in an SMTP address (PostgreSQL text holds no NUL).
  const std::string triplet = network + '\n' + sender + '\n' + recipient;
  const std::string client = "client " + network;
  Answer a;
  auto st = with_transaction(store.db(), Access::kWrite, [&](Db& tx) -> Status {
    a = {};
    if (policy.auto_allow > 0) {
      auto c = tx.query("SELECT attempts FROM greylist WHERE triplet = ?", {Value(client)});
      if (!c) return c.error();
      if (!c->empty() && (*c)[0].i64(0) >= policy.auto_allow) {
        a.pass = a.allowed_client = true;
        POSTERN_TRY(tx.exec("UPDATE greylist SET last_seen = ? WHERE triplet = ?",
                            {Value(now), Value(client)}));
        return {};
      }
    }
    auto rows = tx.query("SELECT first_seen, last_seen, passed_at FROM greylist WHERE triplet = ?",
                         {Value(triplet)});
    if (!rows) return rows.error();
    bool known = !rows->empty();
    int64_t first = known ? (*rows)[0].i64(0) : now;
    int64_t last = known ? (*rows)[0].i64(1) : now;
    int64_t passed = known ? (*rows)[0].i64(2) : 0;
    if (passed > 0 && now - last <= policy.expire) {
      a.pass = true;
      POSTERN_TRY(
          tx.exec("UPDATE greylist SET last_seen = ?, attempts = attempts + 1 WHERE triplet = ?",
                  {Value(now), Value(triplet)}));
      return {};
    }
    if (!known || passed > 0 || now - first > policy.retry_window) {
      // A first attempt (or one so late, or after so long, that it starts over).
      a.wait = policy.delay;
      if (policy.delay <= 0) a.pass = true;
      POSTERN_TRY(
          tx.exec("INSERT INTO greylist (triplet, first_seen, last_seen, passed_at, attempts) "
                  "VALUES (?, ?, ?, ?, 1) ON CONFLICT (triplet) DO UPDATE SET first_seen = "
                  "excluded.first_seen, "
                  "last_seen = excluded.last_seen, passed_at = excluded.passed_at, attempts = 1",
                  {Value(triplet), Value(now), Value(now), Value(a.pass ? now : int64_t{0})}));
      return {};
    }
    if (now - first < policy.delay) {
      a.wait = policy.delay - (now - first);
      POSTERN_TRY(
          tx.exec("UPDATE greylist SET last_seen = ?, attempts = attempts + 1 WHERE triplet = ?",
                  {Value(now), Value(triplet)}));
      return {};
    }
    // A retry inside the window: it passes from now on, and counts for its client.
    a.pass = true;
    POSTERN_TRY(
        tx.exec("UPDATE greylist SET last_seen = ?, passed_at = ?, attempts = attempts + 1 WHERE "
                "triplet = ?",
                {Value(now), Value(now), Value(triplet)}));
    if (policy.auto_allow <= 0) return {};
    POSTERN_TRY(
        tx.exec("INSERT INTO greylist (triplet, first_seen, last_seen, passed_at, attempts) "
                "VALUES (?, ?, ?, ?, 1) ON CONFLICT (triplet) DO UPDATE SET last_seen = "
                "excluded.last_seen, "
                "attempts = greylist.attempts + 1",
                {Value(client), Value(now), Value(now), Value(now)}));
    return {};
  });
  if (!st) return st.error();
  return a;
}

base::Result<int64_t> sweep(Store& store, const Policy& policy, int64_t now) {
  int64_t gone = 0;
  auto st = with_transaction(store.db(), Access::kWrite, [&](Db& tx) -> Status {
    auto n = tx.exec(
        "DELETE FROM greylist WHERE (passed_at > 0 AND last_seen < ?) OR "
        "(passed_at = 0 AND first_seen < ?)",
        {Value(now - policy.expire), Value(now - policy.retry_window)});
    if (!n) return n.error();
    gone = *n;
    return {};
  });
  if (!st) return st.error();
  return gone;
}

}  // namespace postern::store::greylist
