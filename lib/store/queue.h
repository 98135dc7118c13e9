// The mail queue: messages accepted by smtp-listen (and later sendmail) that are waiting
// to be delivered, kept in the store so several nodes sharing PostgreSQL share one queue.
// man/postern-queue.7 describes the states and crash recovery; this header is the API.
//
// A queued message is one row in queue_message (envelope, DSN parameters, state, next
// attempt, lease), one row per recipient in queue_recipient (status, last reply) and its
// bytes in queue_data — all written by ONE transaction, so a message is either wholly in
// the queue or not at all, and the commit is the only durability point (SQLite WAL with
// synchronous=FULL, or PostgreSQL's commit). No file is written outside the database, so
// there is no half-written state to clean up after a crash.
//
//   Queue q(store);
//   NewMessage m{.id = make_queue_id(), .envelope = env, .data = bytes};
//   auto st = q.enqueue(std::span(&m, 1));      // durable when it returns ok
//   auto list = q.list({});                      // queue-ctl list
//
// Group commit: GroupCommitter owns a Store of its own and a thread; many sessions
// submit() at once, and each batch of waiting messages is committed in one transaction
// (one fsync), then every submitter's callback runs with its own outcome.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/batch.h"
#include "base/result.h"
#include "store/store.h"

namespace postern::store::queue {

// RFC 3461 NOTIFY, as a bit set; 0 means the parameter was not given (the default,
// FAILURE and DELAY, applies).
enum Notify : unsigned { kNotifyNever = 1, kNotifySuccess = 2, kNotifyFailure = 4, kNotifyDelay = 8 };

enum class RecipientStatus { kPending, kDelivered, kFailed };
std::string_view status_name(RecipientStatus s);  // "pending", "delivered", "failed"

struct Recipient {
  std::string address;   // the RCPT TO address as given (without <>)
  std::string orcpt;     // RFC 3461 ORCPT, decoded, "rfc822;ann@example.org"; "" if none
  unsigned notify = 0;   // Notify bits
  RecipientStatus status = RecipientStatus::kPending;
  std::string last_reply;  // the last attempt's reply ("250 2.0.0 ok", "451 4.4.1 ..."), one line
  std::string remote_mta;  // the host that gave it ("mx.example.net"), "" for local delivery
};

enum class Ret { kDefault, kFull, kHeaders };  // RFC 3461 RET
enum class Body { k7Bit, k8BitMime, kBinaryMime };  // RFC 6152 / RFC 3030 BODY=

struct Envelope {
  std::string sender;  // MAIL FROM without <>; "" is the null reverse-path
  std::vector<Recipient> recipients;
  std::string envid;   // RFC 3461 ENVID, decoded; "" if none
  Ret ret = Ret::kDefault;
  Body body = Body::k7Bit;
  bool smtputf8 = false;    // RFC 6531
  bool requiretls = false;  // RFC 8689: the next hops must use TLS
  // Where it came from, for Received:, logs and queue-ctl show.
  std::string client_ip;
  std::string helo;
  std::string auth_user;  // the authenticated login, "" when none
  std::string listener;   // the listener's name ("mx", "submission", ...)
};

enum class State { kActive, kHold };
std::string_view state_name(State s);  // "active", "hold"

struct Message {
  std::string id;
  int64_t created_at = 0;
  uint64_t size = 0;
  State state = State::kActive;
  int64_t next_attempt = 0;  // Unix seconds
  int attempts = 0;
  int64_t last_attempt = 0;  // Unix seconds, 0 before the first
  bool delay_warned = false; // the delay DSN went out
  bool bounce = false;       // queue-ctl bounce: return it at the next attempt
  Envelope envelope;
};

struct NewMessage {
  std::string id;  // from make_queue_id(), chosen when the transaction starts (logs use it)
  Envelope envelope;
  std::string_view data;  // the message bytes, CRLF, as they will be sent on
  int64_t created_at = 0;  // 0: now
};

// A new queue id: 16 characters [0-9A-Z] without I, L, O, U (Crockford base32): 10 of
// milliseconds since the epoch (ids sort by arrival) and 6 random. Unique in practice
// across nodes; enqueue() refuses a duplicate (constraint error) rather than overwrite.
std::string make_queue_id();
bool valid_queue_id(std::string_view id);

struct ListFilter {
  std::optional<State> state;
  std::string sender_contains;     // substring, case-insensitive; "" any
  std::string recipient_contains;  // substring, case-insensitive; "" any
  size_t limit = 0;                // 0: all
};

// Enqueue inside the caller's write transaction `tx` (on the store's db()), so the
// messages commit together with the caller's other writes (TLS-RPT: the report and the
// removal of its counts, store/tls_results.h). Checks as Queue::enqueue does.
base::Status enqueue_in(Db& tx, std::span<const NewMessage> messages);

class Queue {
 public:
  explicit Queue(Store& store) : store_(store) {}

  // Writes every message (rows and bytes) in one transaction; all or none.
  base::Status enqueue(std::span<const NewMessage> messages);

  // Oldest first.
  base::Result<std::vector<Message>> list(const ListFilter& filter = {});
  base::Result<std::optional<Message>> get(std::string_view id);
  // The message bytes; Error::no_user ("no queued message ID") when it is not there.
  base::Result<std::string> read(std::string_view id);
  // hold: kept, never attempted until released. release: active again, due now.
  // drop: removed with its recipients and bytes (no bounce). Each returns
  // Error::no_user for an unknown id.
  base::Status hold(std::string_view id);
  base::Status release(std::string_view id);
  base::Status drop(std::string_view id);
  // Due now: one message (retry) or every active one (flush; returns how many).
  base::Status retry(std::string_view id);
  base::Result<uint64_t> flush();
  // Return to the sender at the next attempt (queue-run fails what is pending, with a DSN).
  base::Status bounce(std::string_view id);

  // ---- delivery (queue-run; postern-queue(7), "Leases") ----
  //
  // claim() takes up to `max` active messages that are due (next_attempt <= now) and not
  // leased by a live worker (no lease, or lease_until < now), oldest due first, leases
  // them to `owner` until `lease_until`, and returns them with their recipients. On
  // PostgreSQL the candidates are locked FOR UPDATE SKIP LOCKED, so concurrent workers
  // never take the same message; on SQLite the write transaction is the lock.
  base::Result<std::vector<Message>> claim(std::string_view owner, int64_t now,
                                           int64_t lease_until, size_t max);
  // Extends a lease still held; Error::temporary ("lease lost") when it is not.
  base::Status renew(std::string_view id, std::string_view owner, int64_t lease_until);
  // Gives a lease back without an attempt (shutdown): due again at once.
  base::Status unlease(std::string_view id, std::string_view owner);

  struct Outcome {
    size_t index = 0;  // the recipient's position in the envelope
    RecipientStatus status = RecipientStatus::kPending;
    std::string reply;       // one line
    std::string remote_mta;  // "" for local delivery
  };
  struct Attempt {
    std::vector<Outcome> outcomes;  // the recipients this attempt settled or tried
    int64_t next_attempt = 0;       // when what is still pending is due again
    bool delay_warned = false;      // set the message's flag (never cleared)
    // Committed in the same transaction (DSNs about this message), so a recipient is
    // never marked failed without its bounce, nor bounced twice. Views must stay valid.
    std::vector<NewMessage> enqueue;
  };
  // Records recipients delivered during an attempt, at once (and what they made: the
  // copies an alias forwards), so a crash later in the attempt does not deliver them
  // again; the rest of the attempt is recorded by finish(). Only while `owner` holds the
  // lease (else Error::temporary, "lease lost").
  base::Status record(std::string_view id, std::string_view owner,
                      const std::vector<Outcome>& delivered,
                      const std::vector<NewMessage>& enqueue = {});
  // Records an attempt under a lease: the outcomes, attempts + 1, the next due time, the
  // lease released, and `enqueue`; a message with nothing pending left is removed. All in
  // one transaction, and only while `owner` still holds the lease (else Error::temporary,
  // "lease lost", and nothing is written).
  base::Status finish(std::string_view id, std::string_view owner, int64_t now,
                      const Attempt& attempt);
  // Several attempts' finish() in one transaction (group commit: one fsync for all). Each
  // item gets its own Status: ok, or the "lease lost" error (nothing written for it). An
  // error of the transaction itself (the database gone) fails every item alike.
  struct Finish {
    std::string_view id;
    std::string_view owner;
    int64_t now = 0;
    const Attempt* attempt = nullptr;
  };
  std::vector<base::Status> finish_many(std::span<const Finish> items);

  struct Counts {
    uint64_t active = 0;
    uint64_t hold = 0;
    uint64_t bytes = 0;
  };
  base::Result<Counts> counts();

 private:
  Store& store_;
};

// Commits concurrently submitted messages in batches (group commit).
//
//   GroupCommitter gc(std::move(store));             // its own connection
//   gc.submit(std::move(msg), std::move(bytes), [](base::Status st) { ... });
//
// The callback runs on the committer's thread after the batch's transaction committed
// (ok) or failed (the Error, temporary for I/O, busy and lost connections): a caller that
// answers SMTP sends 250 only for ok. A batch holds what was waiting when the previous
// commit finished, up to max_batch messages or max_batch_bytes. If a batch fails, each of
// its messages is retried alone once, so one bad message does not fail its neighbours.
// The destructor commits what was submitted, then stops.
//
// On SQLite, a second connection (`checkpointer`) lets a thread of its own copy the WAL
// into the database (a PASSIVE checkpoint, which never blocks the committer) whenever
// sqlite_checkpoint_bytes of messages were committed since the last one. Without it,
// SQLite checkpoints inside the COMMIT that crosses wal_autocheckpoint, and every session
// of that batch waits for the copy.
class GroupCommitter {
 public:
  struct Options {
    size_t max_batch = 256;
    uint64_t max_batch_bytes = 64ull << 20;
    // SQLite: the WAL pages after which a commit on the committer's own connection
    // checkpoints (PRAGMA wal_autocheckpoint). Without a checkpointer, fewer, larger
    // checkpoints (64 MiB of WAL rather than the store's 1 MiB) keep that off most
    // batches; with one, it is only the backstop if the checkpointer falls behind.
    // 0: leave the store's setting.
    int sqlite_wal_checkpoint_pages = 16384;
    uint64_t sqlite_checkpoint_bytes = 8ull << 20;
  };
  using Done = std::function<void(base::Status)>;

  explicit GroupCommitter(std::unique_ptr<Store> store) : GroupCommitter(std::move(store), Options{}) {}
  GroupCommitter(std::unique_ptr<Store> store, Options options,
                 std::unique_ptr<Store> checkpointer = nullptr);
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // `data` is owned by the committer until `done` has run. Thread-safe.
  void submit(NewMessage message, std::string data, Done done);

  struct Stats {
    uint64_t batches = 0;
    uint64_t messages = 0;
    uint64_t failures = 0;
    double last_commit_seconds = 0;
    double total_commit_seconds = 0;
    uint64_t checkpoints = 0;  // by the checkpointer thread
    double checkpoint_seconds = 0;
  };
  Stats stats() const;

 private:
  struct Pending {
    NewMessage message;
    std::string data;
    Done done;
  };
  void commit(std::vector<Pending>& batch);
  void run_checkpoints();

  std::unique_ptr<Store> store_;
  std::unique_ptr<Store> checkpoint_store_;
  Options options_;
  mutable std::mutex mu_;  // stats_ and the checkpoint request
  Stats stats_;
  uint64_t uncheckpointed_bytes_ = 0;  // committed since the last checkpoint request
  bool checkpoint_wanted_ = false;
  bool checkpoint_stopping_ = false;  // after the committer's thread ended
  std::condition_variable checkpoint_cv_;
  std::thread checkpoint_thread_;
  std::unique_ptr<base::BatchThread<Pending>> committer_;  // last: stops first
};

}  // namespace postern::store::queue
