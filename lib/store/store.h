// The store: accounts, mailboxes, messages, change log and search, on SQLite or
// PostgreSQL (same schema, same behaviour), with message bytes in a BlobStore.
//
// Every later service keeps its data here; the protocols only add protocol code:
//   - JMAP: per-account modseq ("state"), changes_since() for /changes, email ids,
//     thread ids, keywords, blob ids, word search (TextMatch::kWords).
//   - IMAP: per-mailbox UIDVALIDITY/UIDNEXT, one UID per message per mailbox, the
//     membership's modseq (CONDSTORE) and expunged UIDs with their modseq (QRESYNC),
//     substring search (TextMatch::kSubstring: "sdfghjk" finds "asdfghjkl").
//
//   StoreOptions o{.url = "sqlite:/var/lib/postern/store.db", .blob_dir = "/var/lib/postern/blobs"};
//   auto store = Store::open(o);                 // runs migrations
//   if (!store) return store.error();
//   auto acct = (*store)->find_account("ann@example.org");
//   auto d = (*store)->deliver({.account_id = acct->id, .mailbox_id = inbox, .message = bytes});
//
// Concurrency: a Store is one connection, used by one thread. Any number of processes
// (and, on PostgreSQL, machines) may open the same store: UID and modseq allocation are
// row-locked read-modify-writes inside one transaction, so two deliveries never get the
// same UID and no update is lost. Busy/serialization failures are retried internally;
// what still fails comes back as Error::temporary.
//
// Addresses: Postern folds the whole address to lower case (as Postfix and Dovecot do by
// default); accounts and aliases are stored lower-cased.
//
// Times are Unix seconds (UTC).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/fs.h"
#include "base/result.h"
#include "store/blob.h"
#include "store/db.h"
#include "store/password.h"

namespace postern::store {

using Id = int64_t;

// The newest schema version this binary knows (see schema.h).
int schema_version();

struct StoreOptions {
  std::string url;       // "sqlite:PATH" or a PostgreSQL URL/conninfo (see open_db)
  std::string blob_dir;  // blobs as files here; empty: blobs inside the database
  base::FileSystem* fs = nullptr;  // seam for blob files (null: real_fs())
  bool create = true;    // create a missing SQLite file / empty schema
  DbOptions db;          // engine tuning (busy timeout, sync, SQLite VFS)
};

enum class Role { kNone, kInbox, kSent, kDrafts, kJunk, kTrash, kArchive };
std::string_view role_name(Role r);  // "", "inbox", "sent", ... (JMAP role names)
std::optional<Role> parse_role(std::string_view name);

struct Domain {
  Id id = 0;
  std::string name;  // lower case, A-labels
};

struct Account {
  Id id = 0;
  Id domain_id = 0;
  std::string address;  // local@domain, lower case
  std::string name;     // display name, may be empty
  bool enabled = true;
  uint64_t quota_bytes = 0;  // 0: no quota
  uint64_t used_bytes = 0;   // sum of the sizes of the account's emails
  int64_t modseq = 0;        // JMAP state / IMAP HIGHESTMODSEQ source
  std::string password_hash;           // crypt(3); empty: no password (login impossible)
  std::optional<ScramVerifier> scram;  // SCRAM-SHA-256 verifier
  int64_t created_at = 0;
};

struct AppPassword {
  Id id = 0;
  Id account_id = 0;
  std::string name;
  std::string hash;
  std::optional<ScramVerifier> scram;
  int64_t created_at = 0;
};

// source is "user@domain" or "@domain" (catch-all); target is a local or outside address.
struct Alias {
  Id id = 0;
  std::string source;
  std::string target;
};

// What a recipient address means here.
struct Recipient {
  std::vector<Id> accounts;          // local accounts to deliver to (deduplicated)
  std::vector<std::string> forward;  // outside addresses aliases send it on to
  std::string detail;                // the "+detail" of the address as given ("" if none)
  bool found() const { return !accounts.empty() || !forward.empty(); }
};

struct Mailbox {
  Id id = 0;
  Id account_id = 0;
  std::optional<Id> parent_id;
  std::string name;  // this level's name
  std::string path;  // full name, levels joined by '/'
  Role role = Role::kNone;
  bool subscribed = true;
  uint32_t uid_validity = 0;
  uint32_t uid_next = 1;
  int64_t modseq = 0;  // highest modseq of anything in this mailbox
  int sort_order = 0;
  // Counted by mailboxes() only (a pass over the members); lookups of one mailbox by
  // path, role or id leave them 0.
  uint32_t total = 0;   // messages in it
  uint32_t unseen = 0;  // without $seen
};

// JMAP keyword names; IMAP system flags map to them (\Seen -> $seen, \Answered ->
// $answered, \Flagged -> $flagged, \Draft -> $draft, \Deleted -> $deleted). Keywords are
// stored lower-cased.
struct Email {
  Id id = 0;
  Id account_id = 0;
  std::string blob_id;
  uint64_t size = 0;
  int64_t received_at = 0;
  int64_t sent_at = 0;  // Date: header, 0 when missing or unparsable
  Id thread_id = 0;
  std::vector<std::string> keywords;  // sorted
  int64_t modseq = 0;
  std::string message_id;  // without <>
  std::string subject;
  std::string from;  // the From: field as decoded text
  std::vector<Id> mailboxes;
};

// An email's place in one mailbox.
struct Member {
  Id email_id = 0;
  uint32_t uid = 0;
  int64_t modseq = 0;  // last change of this email as seen from this mailbox
};

struct Delivery {
  Id account_id = 0;
  Id mailbox_id = 0;
  std::string_view message;           // RFC 5322 bytes, stored as they are
  std::vector<std::string> keywords;  // e.g. {"$seen"} on import
  std::optional<int64_t> received_at; // default: now
  bool enforce_quota = true;
};

struct Delivered {
  Id email_id = 0;
  Id mailbox_id = 0;
  uint32_t uid = 0;
  uint32_t uid_validity = 0;
  std::string blob_id;
  Id thread_id = 0;
};

enum class ObjectType { kEmail, kMailbox, kThread };
enum class ChangeKind { kCreated, kUpdated, kDestroyed };
struct Change {
  int64_t modseq = 0;
  ObjectType type = ObjectType::kEmail;
  Id id = 0;
  ChangeKind kind = ChangeKind::kCreated;
};

// A UID expunged from a mailbox at modseq (IMAP QRESYNC VANISHED).
struct Vanished {
  uint32_t uid = 0;
  int64_t modseq = 0;
};

enum class TextField { kText, kBody, kSubject, kFrom, kTo, kCc, kBcc, kHeader, kAttachmentName };
enum class TextMatch { kSubstring, kWords };
// kText: headers and body (IMAP TEXT, JMAP text). kHeader matches the named header's
// decoded value. kSubstring is case-insensitive substring matching (IMAP SEARCH);
// kWords matches every word of `value` as a whole word, case-insensitively (JMAP).
// Both engines give the same results, defined in C++ (store_search.cpp): substring
// compares Unicode NFKC_Casefold forms ("GRÜSSE" finds "Grüße", accents count, any
// needle length; an empty needle matches everything, for kHeader every email that has
// the field). A word is a run of letters, digits and marks; kWords is also
// diacritic-insensitive ("cafe" finds "Café") and never matches part of a word
// ("meeting" does not find "meetings"); the words may be in different fields of kText.
struct TextCondition {
  TextField field = TextField::kText;
  std::string header;  // kHeader only
  std::string value;
  TextMatch match = TextMatch::kSubstring;
};

struct QuotaUsage {
  uint64_t used_bytes = 0;
  uint64_t limit_bytes = 0;  // 0: unlimited
  uint64_t messages = 0;
};

class Store {
 public:
  // Opens (creating when allowed) and migrates to schema_version(). A database written
  // by a newer binary is refused with Error::config naming both versions.
  static base::Result<std::unique_ptr<Store>> open(const StoreOptions& options);
  virtual ~Store() = default;

  virtual Db& db() = 0;
  virtual BlobStore& blobs() = 0;

  // ---- domains ----
  virtual base::Result<Domain> add_domain(std::string_view name) = 0;  // bad_data if exists
  // Refuses (bad_data) while accounts or aliases remain unless `cascade`.
  virtual base::Status remove_domain(std::string_view name, bool cascade = false) = 0;
  virtual base::Result<std::vector<Domain>> domains() = 0;
  virtual base::Result<bool> is_local_domain(std::string_view name) = 0;

  // ---- accounts ----
  // Creates the account (its domain must exist) with the default mailboxes Inbox, Sent,
  // Drafts, Junk, Trash and Archive (roles set, subscribed).
  virtual base::Result<Account> add_account(std::string_view address, std::string_view name = {},
                                           uint64_t quota_bytes = 0) = 0;
  // Removes the account, its mailboxes, emails (blob references released) and aliases
  // pointing at it.
  virtual base::Status remove_account(std::string_view address) = 0;
  virtual base::Result<std::optional<Account>> find_account(std::string_view address) = 0;
  virtual base::Result<std::optional<Account>> account(Id id) = 0;
  // All accounts, or those of one domain.
  virtual base::Result<std::vector<Account>> accounts(std::string_view domain = {}) = 0;
  virtual base::Status set_credentials(Id account, const Credentials& c) = 0;
  virtual base::Status set_quota(Id account, uint64_t quota_bytes) = 0;
  virtual base::Status set_enabled(Id account, bool enabled) = 0;
  virtual base::Status set_name(Id account, std::string_view name) = 0;

  virtual base::Result<AppPassword> add_app_password(Id account, std::string_view name,
                                                     const Credentials& c) = 0;
  virtual base::Status remove_app_password(Id account, std::string_view name) = 0;
  virtual base::Result<std::vector<AppPassword>> app_passwords(Id account) = 0;

  // ---- aliases ----
  virtual base::Result<Alias> add_alias(std::string_view source, std::string_view target) = 0;
  // Removes one target, or every target of `source` when target is empty.
  virtual base::Status remove_alias(std::string_view source, std::string_view target = {}) = 0;
  virtual base::Result<std::vector<Alias>> aliases(std::string_view domain = {}) = 0;

  // Resolves an address as SMTP RCPT and local delivery see it: the "+detail" is split
  // off (kept in Recipient::detail), then exact account, exact alias, catch-all "@domain"
  // (only when neither matched). Aliases expand recursively (depth 10; loops stop).
  // Disabled accounts do not receive. A domain that is not local gives an empty result.
  virtual base::Result<Recipient> resolve(std::string_view address) = 0;

  // ---- mailboxes ----
  // `path` with '/' between levels; missing parents are created. bad_data if it exists.
  virtual base::Result<Mailbox> create_mailbox(Id account, std::string_view path,
                                              Role role = Role::kNone) = 0;
  // Renames (moves) a mailbox and its children; UIDVALIDITY is kept.
  virtual base::Status rename_mailbox(Id account, Id mailbox, std::string_view new_path) = 0;
  // Deletes an empty mailbox without children (bad_data otherwise, unless `remove_emails`:
  // then its emails leave it, and are destroyed when in no other mailbox).
  virtual base::Status delete_mailbox(Id account, Id mailbox, bool remove_emails = false) = 0;
  virtual base::Status set_subscribed(Id account, Id mailbox, bool subscribed) = 0;
  virtual base::Status set_role(Id account, Id mailbox, Role role) = 0;
  virtual base::Result<std::vector<Mailbox>> mailboxes(Id account) = 0;  // sorted by path
  virtual base::Result<std::optional<Mailbox>> find_mailbox(Id account, std::string_view path) = 0;
  virtual base::Result<std::optional<Mailbox>> mailbox_by_role(Id account, Role role) = 0;
  // Case-insensitive path match ("inbox" finds "Inbox"), for +detail delivery.
  virtual base::Result<std::optional<Mailbox>> find_mailbox_nocase(Id account,
                                                                   std::string_view path) = 0;

  // ---- emails ----
  // Puts the bytes in the blob store (durable), then in one transaction: the email row,
  // thread id (References/In-Reply-To/Message-ID), its UID in the mailbox, modseq and
  // change log, quota usage, and a place in the queue of emails whose text is not yet
  // indexed (see index_pending). Over quota (when enforced):
  // Error(kUnavailable, 552, "5.2.2", ...). Unknown account/mailbox: Error::no_user /
  // bad_data.
  virtual base::Result<Delivered> deliver(const Delivery& d) = 0;
  virtual base::Result<std::optional<Email>> email(Id account, Id email) = 0;
  // The mailbox's members in UID order, with uid > after_uid (IMAP SEARCH/FETCH), and at
  // most `limit` (0: all).
  virtual base::Result<std::vector<Member>> members(Id mailbox, uint32_t after_uid = 0,
                                                   size_t limit = 0) = 0;
  // The emails of an account, by id, after `after_id` (for export and migration paging).
  virtual base::Result<std::vector<Email>> emails(Id account, Id after_id = 0,
                                                 size_t limit = 0) = 0;
  virtual base::Result<std::string> read_message(Id account, Id email) = 0;
  // Adds/removes keywords on emails (one modseq step for the whole call).
  virtual base::Status set_keywords(Id account, std::span<const Id> emails,
                                    std::span<const std::string> add,
                                    std::span<const std::string> remove) = 0;
  // Adds emails to a mailbox (new UIDs there); returns the new UIDs in order.
  virtual base::Result<std::vector<uint32_t>> add_to_mailbox(Id account, std::span<const Id> emails,
                                                            Id mailbox) = 0;
  // Takes emails out of a mailbox (UIDs recorded as vanished); an email left in no
  // mailbox is destroyed and its blob reference released.
  virtual base::Status remove_from_mailbox(Id account, std::span<const Id> emails, Id mailbox) = 0;
  // Destroys emails outright (from every mailbox).
  virtual base::Status destroy_emails(Id account, std::span<const Id> emails) = 0;

  // ---- changes (JMAP /changes, IMAP CONDSTORE/QRESYNC) ----
  // Changes with modseq > since, oldest first, at most `limit` (0: all). If `since` is
  // older than the change log keeps, Error::bad_data with "cannotCalculateChanges".
  virtual base::Result<std::vector<Change>> changes_since(Id account, int64_t since,
                                                          std::optional<ObjectType> type = {},
                                                          size_t limit = 0) = 0;
  virtual base::Result<std::vector<Member>> changed_members(Id mailbox, int64_t since_modseq) = 0;
  virtual base::Result<std::vector<Vanished>> vanished_since(Id mailbox, int64_t since_modseq) = 0;

  // ---- search ----
  // Emails of the account (in `mailbox` when given) matching every condition, by id.
  // Indexes the account's pending emails first, so every delivered email is searchable.
  virtual base::Result<std::vector<Id>> search(Id account, std::optional<Id> mailbox,
                                               const std::vector<TextCondition>& all_of) = 0;
  // Text indexing is deferred, as Dovecot's FTS does by default: deliver() only queues the
  // email (email_pending); this reads the queued emails' bytes and writes their search
  // rows, in batches, one transaction each. Of one account or all; at most `max`; returns
  // how many it indexed. Safe to run concurrently (each email is claimed once); an email
  // whose blob is missing is indexed as empty (store-check reports the blob).
  virtual base::Result<size_t> index_pending(std::optional<Id> account = {},
                                             size_t max = SIZE_MAX) = 0;
  virtual base::Result<size_t> pending_count(std::optional<Id> account = {}) = 0;

  virtual base::Result<QuotaUsage> quota(Id account) = 0;

  // ---- maintenance ----
  // Deletes blobs unreferenced for longer than `grace_seconds`; returns how many.
  virtual base::Result<int64_t> sweep_blobs(int64_t grace_seconds = 3600) = 0;
};

}  // namespace postern::store
