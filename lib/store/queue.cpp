// The mail queue (queue.h): messages in queue_message / queue_recipient / queue_data,
// written by one transaction each batch, and the group committer.
#include "store/queue.h"

#include "base/clock.h"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <tuple>
#include <utility>

#include "store/db.h"

namespace postern::store::queue {

using base::Error;
using base::Result;
using base::Status;

namespace {

// Crockford base32: digits and upper-case letters without I, L, O and U.
constexpr std::string_view kAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr size_t kIdLength = 16;
constexpr size_t kTimeChars = 10;

int64_t now_unix() { return base::unix_seconds(base::system_clock().now()); }

std::string_view ret_name(Ret r) {
  switch (r) {
    case Ret::kFull:
      return "full";
    case Ret::kHeaders:
      return "hdrs";
    case Ret::kDefault:
      break;
  }
  return "";
}

Ret parse_ret(std::string_view s) {
  if (s == "full") return Ret::kFull;
  if (s == "hdrs") return Ret::kHeaders;
  return Ret::kDefault;
}

std::string_view body_name(Body b) {
  switch (b) {
    case Body::k8BitMime:
      return "8bitmime";
    case Body::kBinaryMime:
      return "binarymime";
    case Body::k7Bit:
      break;
  }
  return "7bit";
}

Body parse_body(std::string_view s) {
  if (s == "8bitmime") return Body::k8BitMime;
  if (s == "binarymime") return Body::kBinaryMime;
  return Body::k7Bit;
}

RecipientStatus parse_status(std::string_view s) {
  if (s == "delivered") return RecipientStatus::kDelivered;
  if (s == "failed") return RecipientStatus::kFailed;
  return RecipientStatus::kPending;
}

// Envelope text is stored as text on both engines: valid UTF-8 (PostgreSQL refuses
// anything else) without NUL, CR or LF (nothing an SMTP command line can carry).
bool valid_text(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0 || c == '\r' || c == '\n') return false;
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    // Overlong forms, surrogates and values past U+10FFFF.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return false;
    }
    i += n;
  }
  return true;
}

Status check_message(const NewMessage& m) {
  if (!valid_queue_id(m.id)) return Error::bad_data("invalid queue id \"" + m.id + "\"");
  const Envelope& e = m.envelope;
  if (e.recipients.empty()) return Error::bad_data("queue message " + m.id + " has no recipients");
  auto field = [&](std::string_view name, std::string_view v) -> Status {
    if (valid_text(v)) return {};
    return Error::bad_data("queue message " + m.id + ": " + std::string(name) +
                           " is not valid UTF-8 text on one line");
  };
  for (auto [name, v] : {std::pair<const char*, const std::string*>{"sender", &e.sender},
                         {"envid", &e.envid},
                         {"client_ip", &e.client_ip},
                         {"helo", &e.helo},
                         {"auth_user", &e.auth_user},
                         {"listener", &e.listener}}) {
    if (auto st = field(name, *v); !st) return st;
  }
  for (const Recipient& r : e.recipients) {
    if (r.address.empty()) return Error::bad_data("queue message " + m.id + ": empty recipient");
    if (auto st = field("recipient", r.address); !st) return st;
    if (auto st = field("orcpt", r.orcpt); !st) return st;
    if (auto st = field("last_reply", r.last_reply); !st) return st;
  }
  return {};
}

Error not_queued(std::string_view id) {
  return Error::no_user("no queued message " + std::string(id));
}

constexpr const char* kMessageColumns =
    "id, created_at, size, state, next_attempt, attempts, sender, envid, ret, body, smtputf8, "
    "requiretls, client_ip, helo, auth_user, listener, last_attempt, delay_warned, bounce";
constexpr const char* kRecipientColumns =
    "queue_id, address, orcpt, notify, status, last_reply, remote_mta";

Message message_of(const Row& r) {
  Message m;
  m.id = r.str(0);
  m.created_at = r.i64(1);
  m.size = static_cast<uint64_t>(r.i64(2));
  m.state = r.str(3) == "hold" ? State::kHold : State::kActive;
  m.next_attempt = r.i64(4);
  m.attempts = static_cast<int>(r.i64(5));
  Envelope& e = m.envelope;
  e.sender = r.str(6);
  e.envid = r.str(7);
  e.ret = parse_ret(r.str(8));
  e.body = parse_body(r.str(9));
  e.smtputf8 = r.i64(10) != 0;
  e.requiretls = r.i64(11) != 0;
  e.client_ip = r.str(12);
  e.helo = r.str(13);
  e.auth_user = r.str(14);
  e.listener = r.str(15);
  m.last_attempt = r.i64(16);
  m.delay_warned = r.i64(17) != 0;
  m.bounce = r.i64(18) != 0;
  return m;
}

// kRecipientColumns, ordered by idx.
Recipient recipient_of(const Row& r) {
  Recipient out;
  out.address = r.str(1);
  out.orcpt = r.str(2);
  out.notify = static_cast<unsigned>(r.i64(3));
  out.status = parse_status(r.str(4));
  out.last_reply = r.str(5);
  out.remote_mta = r.str(6);
  return out;
}

// The rows of one message, inside a transaction of the caller's.
Status insert_message(Db& tx, const NewMessage& m, int64_t now) {
  const Envelope& e = m.envelope;
  const int64_t created = m.created_at != 0 ? m.created_at : now;
  auto ins = tx.exec(
      "INSERT INTO queue_message (id, created_at, size, state, next_attempt, attempts, "
      "sender, envid, ret, body, smtputf8, requiretls, client_ip, helo, auth_user, listener) "
      "VALUES (?, ?, ?, 'active', ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {Value(m.id), Value(created), Value(static_cast<int64_t>(m.data.size())), Value(now),
       Value(e.sender), Value(e.envid), Value(ret_name(e.ret)), Value(body_name(e.body)),
       Value(e.smtputf8), Value(e.requiretls), Value(e.client_ip), Value(e.helo),
       Value(e.auth_user), Value(e.listener)});
  if (!ins) return ins.error();
  for (size_t i = 0; i < e.recipients.size(); ++i) {
    const Recipient& r = e.recipients[i];
    auto rc = tx.exec(
        "INSERT INTO queue_recipient (queue_id, idx, address, orcpt, notify, status, "
        "last_reply, remote_mta) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        {Value(m.id), Value(static_cast<int64_t>(i)), Value(r.address), Value(r.orcpt),
         Value(static_cast<int64_t>(r.notify)), Value(status_name(r.status)),
         Value(r.last_reply), Value(r.remote_mta)});
    if (!rc) return rc.error();
  }
  auto data = tx.exec("INSERT INTO queue_data (queue_id, data) VALUES (?, ?)",
                      {Value(m.id), Value(Bytes{std::string(m.data)})});
  if (!data) return data.error();
  return {};
}

Status delete_message(Db& tx, std::string_view id) {
  // Children first, then the message row, whose count says whether the id existed.
  if (auto d = tx.exec("DELETE FROM queue_data WHERE queue_id = ?", {Value(id)}); !d) {
    return d.error();
  }
  if (auto r = tx.exec("DELETE FROM queue_recipient WHERE queue_id = ?", {Value(id)}); !r) {
    return r.error();
  }
  auto n = tx.exec("DELETE FROM queue_message WHERE id = ?", {Value(id)});
  if (!n) return n.error();
  if (*n == 0) return not_queued(id);
  return {};
}

Error lease_lost(std::string_view id) {
  return Error::temporary("lease lost on queued message " + std::string(id) +
                          " (it expired and another worker took it)");
}

// ASCII case-insensitive substring test (addresses are compared as Postern folds them
// elsewhere; non-ASCII bytes must match exactly).
bool contains_nocase(std::string_view hay, std::string_view needle) {
  if (needle.empty()) return true;
  auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(),
                        [&](char a, char b) { return lower(a) == lower(b); });
  return it != hay.end();
}

Status update_state(Db& db, std::string_view id, std::string_view sql, const Params& params) {
  return with_transaction(db, Access::kWrite, [&](Db& tx) -> Status {
    auto n = tx.exec(sql, params);
    if (!n) return n.error();
    if (*n == 0) return not_queued(id);
    return {};
  });
}

}  // namespace

std::string_view status_name(RecipientStatus s) {
  switch (s) {
    case RecipientStatus::kDelivered:
      return "delivered";
    case RecipientStatus::kFailed:
      return "failed";
    case RecipientStatus::kPending:
      break;
  }
  return "pending";
}

std::string_view state_name(State s) { return s == State::kHold ? "hold" : "active"; }

std::string make_queue_id() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  uint64_t t = static_cast<uint64_t>(ms);
  std::string id(kIdLength, '0');
  for (size_t i = kTimeChars; i-- > 0;) {
    id[i] = kAlphabet[t & 31];
    t >>= 5;
  }
  unsigned char raw[kIdLength - kTimeChars];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    // Without OpenSSL's generator, the C++ one (the id is unique, not secret).
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    for (auto& b : raw) b = static_cast<unsigned char>(rng());
  }
  for (size_t i = 0; i < sizeof raw; ++i) id[kTimeChars + i] = kAlphabet[raw[i] & 31];
  return id;
}

bool valid_queue_id(std::string_view id) {
  return id.size() == kIdLength && std::all_of(id.begin(), id.end(), [](char c) {
           return kAlphabet.find(c) != std::string_view::npos;
         });
}

// ---- Queue ----

Status Queue::enqueue(std::span<const NewMessage> messages) {
  if (messages.empty()) return {};
  for (const NewMessage& m : messages) {
    if (auto st = check_message(m); !st) return st;
  }
  const int64_t now = now_unix();
  return with_transaction(store_.db(), Access::kWrite, [&](Db& tx) -> Status {
    for (const NewMessage& m : messages) {
      if (auto st = insert_message(tx, m, now); !st) return st;
    }
    return {};
  });
}

Status enqueue_in(Db& tx, std::span<const NewMessage> messages) {
  for (const NewMessage& m : messages) {
    if (auto st = check_message(m); !st) return st;
  }
  const int64_t now = now_unix();
  for (const NewMessage& m : messages) {
    if (auto st = insert_message(tx, m, now); !st) return st;
  }
  return {};
}

Result<std::vector<Message>> Queue::list(const ListFilter& filter) {
  std::vector<Message> out;
  auto st = with_transaction(store_.db(), Access::kRead, [&](Db& tx) -> Status {
    out.clear();
    Params p;
    std::string where;
    if (filter.state) {
      where = " WHERE m.state = ?";
      p.emplace_back(state_name(*filter.state));
    }
    auto rows = tx.query(std::string("SELECT ") + kMessageColumns + " FROM queue_message m" +
                             where + " ORDER BY m.created_at, m.id",
                         p);
    if (!rows) return rows.error();
    auto rcpts = tx.query(
        "SELECT r.queue_id, r.address, r.orcpt, r.notify, r.status, r.last_reply, r.remote_mta "
        "FROM queue_recipient r JOIN queue_message m ON m.id = r.queue_id" +
            where + " ORDER BY r.queue_id, r.idx",
        p);
    if (!rcpts) return rcpts.error();
    std::map<std::string, std::vector<Recipient>, std::less<>> by_id;
    for (const Row& r : *rcpts) by_id[r.str(0)].push_back(recipient_of(r));
    for (const Row& r : *rows) {
      Message m = message_of(r);
      if (auto it = by_id.find(m.id); it != by_id.end())
        m.envelope.recipients = std::move(it->second);
      if (!contains_nocase(m.envelope.sender, filter.sender_contains)) continue;
      if (!filter.recipient_contains.empty() &&
          std::none_of(m.envelope.recipients.begin(), m.envelope.recipients.end(),
                       [&](const Recipient& rc) {
                         return contains_nocase(rc.address, filter.recipient_contains);
                       })) {
        continue;
      }
      out.push_back(std::move(m));
      if (filter.limit != 0 && out.size() >= filter.limit) break;
    }
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::optional<Message>> Queue::get(std::string_view id) {
  std::optional<Message> out;
  auto st = with_transaction(store_.db(), Access::kRead, [&](Db& tx) -> Status {
    out.reset();
    auto rows = tx.query(
        std::string("SELECT ") + kMessageColumns + " FROM queue_message WHERE id = ?", {Value(id)});
    if (!rows) return rows.error();
    if (rows->empty()) return {};
    Message m = message_of((*rows)[0]);
    auto rcpts = tx.query(
        std::string("SELECT ") + kRecipientColumns + " FROM queue_recipient WHERE queue_id = ? ORDER BY idx",
        {Value(id)});
    if (!rcpts) return rcpts.error();
    for (const Row& r : *rcpts) m.envelope.recipients.push_back(recipient_of(r));
    out = std::move(m);
    return {};
  });
  if (!st) return st.error();
  return out;
}

Result<std::string> Queue::read(std::string_view id) {
  auto rows = store_.db().query("SELECT data FROM queue_data WHERE queue_id = ?", {Value(id)});
  if (!rows) return rows.error();
  if (rows->empty()) return not_queued(id);
  return std::string((*rows)[0].str(0));
}

Status Queue::hold(std::string_view id) {
  return update_state(store_.db(), id, "UPDATE queue_message SET state = 'hold' WHERE id = ?",
                      {Value(id)});
}

Status Queue::release(std::string_view id) {
  return update_state(store_.db(), id,
                      "UPDATE queue_message SET state = 'active', next_attempt = ? WHERE id = ?",
                      {Value(now_unix()), Value(id)});
}

Status Queue::drop(std::string_view id) {
  return with_transaction(store_.db(), Access::kWrite,
                          [&](Db& tx) -> Status { return delete_message(tx, id); });
}

Status Queue::retry(std::string_view id) {
  return update_state(store_.db(), id, "UPDATE queue_message SET next_attempt = ? WHERE id = ?",
                      {Value(now_unix()), Value(id)});
}

Result<uint64_t> Queue::flush() {
  auto n = store_.db().exec(
      "UPDATE queue_message SET next_attempt = ? WHERE state = 'active' AND next_attempt > ?",
      {Value(now_unix()), Value(now_unix())});
  if (!n) return n.error();
  return static_cast<uint64_t>(*n);
}

Status Queue::bounce(std::string_view id) {
  return update_state(store_.db(), id,
                      "UPDATE queue_message SET bounce = 1, state = 'active', next_attempt = ? "
                      "WHERE id = ?",
                      {Value(now_unix()), Value(id)});
}

Result<std::vector<Message>> Queue::claim(std::string_view owner, int64_t now,
                                          int64_t lease_until, size_t max) {
  std::vector<Message> out;
  auto st = with_transaction(store_.db(), Access::kWrite, [&](Db& tx) -> Status {
    out.clear();
    const bool pg = tx.engine() == Engine::kPostgres;
    std::string pick =
        "SELECT id FROM queue_message WHERE state = 'active' AND next_attempt <= ? AND "
        "(lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt, id LIMIT ?";
    if (pg) pick += " FOR UPDATE SKIP LOCKED";
    auto ids = tx.query("UPDATE queue_message SET lease_owner = ?, lease_until = ? WHERE id IN (" +
                            pick + ") RETURNING id",
                        {Value(owner), Value(lease_until), Value(now), Value(now),
                         Value(static_cast<int64_t>(max))});
    if (!ids) return ids.error();
    for (const Row& r : *ids) {
      std::string id = r.str(0);
      auto rows = tx.query(std::string("SELECT ") + kMessageColumns +
                               " FROM queue_message WHERE id = ?",
                           {Value(id)});
      if (!rows) return rows.error();
      if (rows->empty()) continue;
      Message m = message_of((*rows)[0]);
      auto rcpts = tx.query(std::string("SELECT ") + kRecipientColumns +
                                " FROM queue_recipient WHERE queue_id = ? ORDER BY idx",
                            {Value(id)});
      if (!rcpts) return rcpts.error();
      for (const Row& rc : *rcpts) m.envelope.recipients.push_back(recipient_of(rc));
      out.push_back(std::move(m));
    }
    std::sort(out.begin(), out.end(), [](const Message& a, const Message& b) {
      return std::tie(a.next_attempt, a.id) < std::tie(b.next_attempt, b.id);
    });
    return {};
  });
  if (!st) return st.error();
  return out;
}

Status Queue::renew(std::string_view id, std::string_view owner, int64_t lease_until) {
  auto n = store_.db().exec(
      "UPDATE queue_message SET lease_until = ? WHERE id = ? AND lease_owner = ?",
      {Value(lease_until), Value(id), Value(owner)});
  if (!n) return n.error();
  if (*n == 0) return lease_lost(id);
  return {};
}

Status Queue::unlease(std::string_view id, std::string_view owner) {
  auto n = store_.db().exec(
      "UPDATE queue_message SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND "
      "lease_owner = ?",
      {Value(id), Value(owner)});
  if (!n) return n.error();
  if (*n == 0) return lease_lost(id);
  return {};
}

Status Queue::record(std::string_view id, std::string_view owner,
                     const std::vector<Outcome>& delivered, const std::vector<NewMessage>& enqueue) {
  for (const NewMessage& m : enqueue) {
    if (auto st = check_message(m); !st) return st;
  }
  for (const Outcome& o : delivered) {
    if (!valid_text(o.reply) || !valid_text(o.remote_mta)) {
      return Error::bad_data("queue message " + std::string(id) +
                             ": a reply is not valid UTF-8 text on one line");
    }
  }
  const int64_t now = now_unix();
  return with_transaction(store_.db(), Access::kWrite, [&](Db& tx) -> Status {
    auto held = tx.query("SELECT 1 FROM queue_message WHERE id = ? AND lease_owner = ?",
                         {Value(id), Value(owner)});
    if (!held) return held.error();
    if (held->empty()) return lease_lost(id);
    for (const Outcome& o : delivered) {
      auto u = tx.exec(
          "UPDATE queue_recipient SET status = ?, last_reply = ?, remote_mta = ? WHERE "
          "queue_id = ? AND idx = ?",
          {Value(status_name(o.status)), Value(o.reply), Value(o.remote_mta), Value(id),
           Value(static_cast<int64_t>(o.index))});
      if (!u) return u.error();
    }
    for (const NewMessage& m : enqueue) {
      if (auto st = insert_message(tx, m, now); !st) return st;
    }
    return {};
  });
}

namespace {

Status check_attempt(std::string_view id, const Queue::Attempt& attempt) {
  for (const NewMessage& m : attempt.enqueue) {
    if (auto st = check_message(m); !st) return st;
  }
  for (const Queue::Outcome& o : attempt.outcomes) {
    if (!valid_text(o.reply) || !valid_text(o.remote_mta)) {
      return Error::bad_data("queue message " + std::string(id) +
                             ": a reply is not valid UTF-8 text on one line");
    }
  }
  return {};
}

// One attempt's records inside the caller's transaction; lease_lost() (with nothing
// written) when `owner` no longer holds the lease.
Status finish_in(Db& tx, std::string_view id, std::string_view owner, int64_t now,
                 const Queue::Attempt& attempt) {
  auto n = tx.exec(
      "UPDATE queue_message SET attempts = attempts + 1, last_attempt = ?, next_attempt = ?, "
      "lease_owner = NULL, lease_until = NULL, bounce = 0, delay_warned = CASE WHEN ? = 1 "
      "THEN 1 ELSE delay_warned END WHERE id = ? AND lease_owner = ?",
      {Value(now), Value(attempt.next_attempt), Value(attempt.delay_warned ? 1 : 0), Value(id),
       Value(owner)});
  if (!n) return n.error();
  if (*n == 0) return lease_lost(id);
  for (const Queue::Outcome& o : attempt.outcomes) {
    auto u = tx.exec(
        "UPDATE queue_recipient SET status = ?, last_reply = ?, remote_mta = ? WHERE "
        "queue_id = ? AND idx = ?",
        {Value(status_name(o.status)), Value(o.reply), Value(o.remote_mta), Value(id),
         Value(static_cast<int64_t>(o.index))});
    if (!u) return u.error();
  }
  for (const NewMessage& m : attempt.enqueue) {
    if (auto st = insert_message(tx, m, now); !st) return st;
  }
  auto pending = tx.query(
      "SELECT count(*) FROM queue_recipient WHERE queue_id = ? AND status = 'pending'",
      {Value(id)});
  if (!pending) return pending.error();
  if (!pending->empty() && (*pending)[0].i64(0) == 0) return delete_message(tx, id);
  return {};
}

bool is_lease_lost(const Status& st) {
  return !st && st.error().message().starts_with("lease lost");
}

}  // namespace

Status Queue::finish(std::string_view id, std::string_view owner, int64_t now,
                     const Attempt& attempt) {
  Finish f{id, owner, now, &attempt};
  return finish_many(std::span<const Finish>(&f, 1))[0];
}

std::vector<Status> Queue::finish_many(std::span<const Finish> items) {
  std::vector<Status> out(items.size());
  std::vector<bool> valid(items.size(), true);
  for (size_t i = 0; i < items.size(); ++i) {
    out[i] = check_attempt(items[i].id, *items[i].attempt);
    valid[i] = static_cast<bool>(out[i]);
  }
  Status all = with_transaction(store_.db(), Access::kWrite, [&](Db& tx) -> Status {
    for (size_t i = 0; i < items.size(); ++i) {
      if (!valid[i]) continue;
      const Finish& f = items[i];
      Status st = finish_in(tx, f.id, f.owner, f.now, *f.attempt);
      if (!st && !is_lease_lost(st)) return st;  // the transaction fails, for all
      out[i] = st;
    }
    return {};
  });
  if (!all && items.size() > 1 && !all.error().temporary()) {
    // One bad item (a DSN that cannot be stored) must not fail its neighbours: each alone.
    for (size_t i = 0; i < items.size(); ++i) {
      if (valid[i]) out[i] = finish(items[i].id, items[i].owner, items[i].now, *items[i].attempt);
    }
  } else if (!all) {
    for (size_t i = 0; i < items.size(); ++i) {
      if (valid[i]) out[i] = all;
    }
  }
  return out;
}

Result<Queue::Counts> Queue::counts() {
  auto rows = store_.db().query(
      "SELECT state, count(*), COALESCE(sum(size), 0) FROM queue_message GROUP BY state");
  if (!rows) return rows.error();
  Counts c;
  for (const Row& r : *rows) {
    uint64_t n = static_cast<uint64_t>(r.i64(1));
    (r.str(0) == "hold" ? c.hold : c.active) += n;
    c.bytes += static_cast<uint64_t>(r.i64(2));
  }
  return c;
}

// ---- GroupCommitter ----
//
// Stats: batches counts the batches taken from the waiting list (one transaction each,
// plus the single-message retries of a failed one); messages every message answered;
// failures those whose callback got an error; the times are per batch, retries included.

GroupCommitter::GroupCommitter(std::unique_ptr<Store> store, Options options,
                               std::unique_ptr<Store> checkpointer)
    : store_(std::move(store)), options_(options) {
  if (options_.max_batch == 0) options_.max_batch = 1;
  bool sqlite = store_->db().engine() == Engine::kSqlite;
  if (sqlite && checkpointer && checkpointer->db().engine() == Engine::kSqlite) {
    checkpoint_store_ = std::move(checkpointer);
  }
  if (options_.sqlite_wal_checkpoint_pages > 0 && sqlite) {
    (void)store_->db().exec("PRAGMA wal_autocheckpoint=" +
                            std::to_string(options_.sqlite_wal_checkpoint_pages));
  }
  if (checkpoint_store_) checkpoint_thread_ = std::thread([this] { run_checkpoints(); });
  committer_ = std::make_unique<base::BatchThread<Pending>>(
      [this](std::vector<Pending>& batch) { commit(batch); },
      base::BatchThread<Pending>::Limits{.max_items = options_.max_batch,
                                         .max_weight = options_.max_batch_bytes,
                                         .weight = [](const Pending& p) -> uint64_t { return p.data.size(); }});
}

GroupCommitter::~GroupCommitter() {
  committer_.reset();  // commits what was submitted
  {
    std::lock_guard<std::mutex> lock(mu_);
    checkpoint_stopping_ = true;
  }
  checkpoint_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
}

// PASSIVE: copies what no reader still needs and returns; never waits for the committer,
// which keeps appending meanwhile. The committer restarts the WAL from its start at the
// first commit after a checkpoint that caught up.
void GroupCommitter::run_checkpoints() {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      checkpoint_cv_.wait(lock, [&] { return checkpoint_wanted_ || checkpoint_stopping_; });
      if (checkpoint_stopping_) return;
      checkpoint_wanted_ = false;
    }
    auto start = std::chrono::steady_clock::now();
    (void)checkpoint_store_->db().query("PRAGMA wal_checkpoint(PASSIVE)");
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::lock_guard<std::mutex> lock(mu_);
    stats_.checkpoints += 1;
    stats_.checkpoint_seconds += seconds;
  }
}

void GroupCommitter::submit(NewMessage message, std::string data, Done done) {
  committer_->submit(Pending{std::move(message), std::move(data), std::move(done)});
}

GroupCommitter::Stats GroupCommitter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void GroupCommitter::commit(std::vector<Pending>& batch) {
  Queue queue(*store_);
  // The views point into the batch's own strings, which stay put from here on.
  std::vector<NewMessage> messages;
  messages.reserve(batch.size());
  for (Pending& p : batch) {
    p.message.data = p.data;
    messages.push_back(p.message);
  }
  auto start = std::chrono::steady_clock::now();
  std::vector<Status> outcome(batch.size());
  Status all = queue.enqueue(messages);
  if (!all && all.error().temporary()) {
    // The database is busy or gone (the store already retried): every message in the
    // batch fails alike, at once, so each client hears 451 now rather than after one
    // retry per message. But a commit whose answer was lost (the PostgreSQL connection
    // died during COMMIT) may have gone through; if the database answers again, a
    // message found whole under its id was committed, and its sender gets its 250, not
    // a 451 that makes the client send it twice.
    for (auto& o : outcome) o = all;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto found = queue.get(messages[i].id);
      if (!found) break;  // still unreachable: no point asking about the others
      if (!*found || (*found)->size != messages[i].data.size()) continue;
      auto bytes = queue.read(messages[i].id);
      if (bytes && *bytes == messages[i].data &&
          (*found)->envelope.recipients.size() == messages[i].envelope.recipients.size()) {
        outcome[i] = Status();
      }
    }
  } else if (!all && batch.size() > 1) {
    // One bad message (a duplicate id, text that is not UTF-8) must not fail its
    // neighbours: each alone, once.
    for (size_t i = 0; i < batch.size(); ++i) {
      outcome[i] = queue.enqueue(std::span<const NewMessage>(&messages[i], 1));
    }
  } else {
    for (auto& o : outcome) o = all;
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t failed = 0;
  for (const Status& o : outcome) failed += o ? 0 : 1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.batches += 1;
    stats_.messages += batch.size();
    stats_.failures += failed;
    stats_.last_commit_seconds = seconds;
    stats_.total_commit_seconds += seconds;
    if (checkpoint_store_) {
      for (const NewMessage& m : messages) uncheckpointed_bytes_ += m.data.size() + 512;
      if (uncheckpointed_bytes_ >= options_.sqlite_checkpoint_bytes) {
        uncheckpointed_bytes_ = 0;
        checkpoint_wanted_ = true;
        checkpoint_cv_.notify_one();
      }
    }
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!batch[i].done) continue;
    try {
      batch[i].done(outcome[i]);
    } catch (...) {
      // A throwing callback must not stop the committer for everyone else.
    }
  }
}

}  // namespace postern::store::queue
