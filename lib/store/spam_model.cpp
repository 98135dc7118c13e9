// spam_model: the spam_model / spam_token / spam_seen tables (schema version 6).
#include "store/spam_model.h"

#include <ctime>

#include "store/db.h"
#include "store/store_internal.h"

namespace postern::store::spam_model {

using base::Result;
using base::Status;

base::Result<Counts> totals(Store& store, int64_t account_id) {
  auto rows = store.db().query("SELECT nspam, nham FROM spam_model WHERE account_id = ?",
                               {Value(account_id)});
  if (!rows) return rows.error();
  Counts c;
  if (!rows->empty()) c = {(*rows)[0].i64(0), (*rows)[0].i64(1)};
  return c;
}

base::Result<Model> load(Store& store, int64_t account_id) {
  Model m;
  auto t = totals(store, account_id);
  if (!t) return t.error();
  m.totals = *t;
  auto rows = store.db().query("SELECT token, nspam, nham FROM spam_token WHERE account_id = ?",
                               {Value(account_id)});
  if (!rows) return rows.error();
  m.tokens.reserve(rows->size());
  for (const Row& r : *rows) m.tokens[r.i64(0)] = {r.i64(1), r.i64(2)};
  return m;
}

namespace {

Status add_tokens(Db& tx, int64_t account_id, const std::vector<int64_t>& tokens, int64_t dspam,
                  int64_t dham) {
  for (int64_t t : tokens) {
    POSTERN_TRY(tx.exec(
        "INSERT INTO spam_token (account_id, token, nspam, nham) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (account_id, token) DO UPDATE SET nspam = spam_token.nspam + excluded.nspam, "
        "nham = spam_token.nham + excluded.nham",
        {Value(account_id), Value(t), Value(dspam), Value(dham)}));
  }
  return {};
}

Status add_totals(Db& tx, int64_t account_id, int64_t dspam, int64_t dham, int64_t now) {
  POSTERN_TRY(tx.exec(
      "INSERT INTO spam_model (account_id, nspam, nham, updated_at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (account_id) DO UPDATE SET nspam = spam_model.nspam + excluded.nspam, "
      "nham = spam_model.nham + excluded.nham, updated_at = excluded.updated_at",
      {Value(account_id), Value(dspam), Value(dham), Value(now)}));
  return {};
}

}  // namespace

base::Result<Outcome> learn(Store& store, int64_t account_id, const std::vector<Lesson>& lessons,
                            int64_t now) {
  Outcome out;
  auto st = with_transaction(store.db(), Access::kWrite, [&](Db& tx) -> Status {
    out = {};
    int64_t dspam = 0, dham = 0;
    for (const Lesson& l : lessons) {
      auto seen = tx.query("SELECT spam FROM spam_seen WHERE account_id = ? AND digest = ?",
                           {Value(account_id), Value(l.digest)});
      if (!seen) return seen.error();
      int64_t s = l.spam ? 1 : 0, h = l.spam ? 0 : 1;
      if (!seen->empty()) {
        if (((*seen)[0].i64(0) != 0) == l.spam) {
          ++out.already;
          continue;
        }
        // Learned as the other class: move its tokens and its count.
        if (auto r = add_tokens(tx, account_id, l.tokens, s - h, h - s); !r) return r;
        POSTERN_TRY(tx.exec(
            "UPDATE spam_seen SET spam = ?, learned_at = ? WHERE account_id = ? AND digest = ?",
            {Value(s), Value(now), Value(account_id), Value(l.digest)}));
        dspam += s - h;
        dham += h - s;
        ++out.moved;
        continue;
      }
      if (auto r = add_tokens(tx, account_id, l.tokens, s, h); !r) return r;
      POSTERN_TRY(tx.exec(
          "INSERT INTO spam_seen (account_id, digest, spam, learned_at) VALUES (?, ?, ?, ?)",
          {Value(account_id), Value(l.digest), Value(s), Value(now)}));
      dspam += s;
      dham += h;
      ++out.learned;
    }
    if (dspam || dham) return add_totals(tx, account_id, dspam, dham, now);
    return {};
  });
  if (!st) return st.error();
  return out;
}

base::Result<size_t> forget(Store& store, int64_t account_id, const std::vector<Lesson>& lessons) {
  size_t n = 0;
  auto st = with_transaction(store.db(), Access::kWrite, [&](Db& tx) -> Status {
    n = 0;
    int64_t dspam = 0, dham = 0;
    for (const Lesson& l : lessons) {
      auto seen = tx.query(
          "DELETE FROM spam_seen WHERE account_id = ? AND digest = ? RETURNING spam",
          {Value(account_id), Value(l.digest)});
      if (!seen) return seen.error();
      if (seen->empty()) continue;
      bool spam = (*seen)[0].i64(0) != 0;
      if (auto r = add_tokens(tx, account_id, l.tokens, spam ? -1 : 0, spam ? 0 : -1); !r) return r;
      POSTERN_TRY(tx.exec("DELETE FROM spam_token WHERE account_id = ? AND nspam <= 0 AND nham <= 0",
                          {Value(account_id)}));
      (spam ? dspam : dham) -= 1;
      ++n;
    }
    if (dspam || dham) return add_totals(tx, account_id, dspam, dham, static_cast<int64_t>(std::time(nullptr)));
    return {};
  });
  if (!st) return st.error();
  return n;
}

}  // namespace postern::store::spam_model
