// Between the store_*.cpp files: the Store implementation class and the text helpers of
// the search index. Not for callers.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

// Returns the error of a Result (or Status) expression, for one-line statements.
#define POSTERN_TRY(expr)                           \
  do {                                              \
    auto postern_try_ = (expr);                     \
    if (!postern_try_) return postern_try_.error(); \
  } while (0)

namespace postern::store::internal {

int64_t now_unix();

// The last step of a blob sweep, inside the write transaction `tx` that has just deleted
// the blob's row after re-checking that no email uses it: flushes that change into the
// log, then removes the bytes. See "The invariant" in blob.h for why a sweep must have
// written, and flushed, before it unlinks (store_emails.cpp).
base::Status remove_swept_bytes(Db& tx, BlobStore& blobs, const std::string& id);

// ---- search text (store_search.cpp) ----

// The columns of email_text / email_words, in this order.
inline constexpr std::array<const char*, 8> kSearchColumns = {
    "header_text", "body", "subject", "from_addr", "to_addr", "cc_addr", "bcc_addr", "attachments"};
enum SearchColumn {
  kColHeaders,
  kColBody,
  kColSubject,
  kColFrom,
  kColTo,
  kColCc,
  kColBcc,
  kColAttachments
};

// Valid UTF-8 without NUL bytes (PostgreSQL text refuses NUL).
std::string clean_text(std::string_view s);
// The substring-match form: Unicode NFKC_Casefold ("Grüße" -> "grüsse").
std::string fold(std::string_view s);
// The words of folded text, diacritics removed, in order (duplicates kept).
std::vector<std::string> words_of(std::string_view folded);
// The word-match form stored in email_words: distinct words, sorted, space-separated,
// at most `cap` bytes (whole words).
std::string word_list(std::string_view folded, size_t cap = 512 * 1024);

// What deliver() needs at once, from the header block only: the email row and threading.
struct MessageSummary {
  int64_t sent_at = 0;
  std::string message_id;
  std::vector<std::string> refs;  // In-Reply-To and References ids
  std::string subject;            // decoded
  std::string from_text;          // decoded From: field
};
MessageSummary summarize_message(std::string_view bytes);

// The search rows of one message (email_text, email_words, email_header), computed outside
// any transaction: by index_pending() (delivery only queues the email in email_pending) and
// by store-check's repair.
struct IndexRows {
  std::array<std::string, 8> text, words;           // kSearchColumns: folded / word lists
  std::vector<std::array<std::string, 3>> headers;  // name, folded value, words
};
IndexRows index_rows(std::string_view bytes);
// Replaces the email's search rows with `rows`.
base::Status write_index(Db& tx, Id email, Id account, const IndexRows& rows);

// ---- the implementation ----

class StoreImpl final : public Store {
 public:
  StoreImpl(std::unique_ptr<Db> db, std::unique_ptr<BlobStore> blobs)
      : db_(std::move(db)), blobs_(std::move(blobs)) {}
  ~StoreImpl() override { blobs_.reset(); }

  Db& db() override { return *db_; }
  BlobStore& blobs() override { return *blobs_; }

  base::Result<Domain> add_domain(std::string_view name) override;
  base::Status remove_domain(std::string_view name, bool cascade) override;
  base::Result<std::vector<Domain>> domains() override;
  base::Result<bool> is_local_domain(std::string_view name) override;

  base::Result<Account> add_account(std::string_view address, std::string_view name,
                                    uint64_t quota_bytes) override;
  base::Status remove_account(std::string_view address) override;
  base::Result<std::optional<Account>> find_account(std::string_view address) override;
  base::Result<std::optional<Account>> account(Id id) override;
  base::Result<std::vector<Account>> accounts(std::string_view domain) override;
  base::Status set_credentials(Id account, const Credentials& c) override;
  base::Status set_quota(Id account, uint64_t quota_bytes) override;
  base::Status set_enabled(Id account, bool enabled) override;
  base::Status set_name(Id account, std::string_view name) override;
  base::Result<AppPassword> add_app_password(Id account, std::string_view name,
                                             const Credentials& c) override;
  base::Status remove_app_password(Id account, std::string_view name) override;
  base::Result<std::vector<AppPassword>> app_passwords(Id account) override;

  base::Result<Alias> add_alias(std::string_view source, std::string_view target) override;
  base::Status remove_alias(std::string_view source, std::string_view target) override;
  base::Result<std::vector<Alias>> aliases(std::string_view domain) override;
  base::Result<Recipient> resolve(std::string_view address) override;

  base::Result<Mailbox> create_mailbox(Id account, std::string_view path, Role role) override;
  base::Status rename_mailbox(Id account, Id mailbox, std::string_view new_path) override;
  base::Status delete_mailbox(Id account, Id mailbox, bool remove_emails) override;
  base::Status set_subscribed(Id account, Id mailbox, bool subscribed) override;
  base::Status set_role(Id account, Id mailbox, Role role) override;
  base::Result<std::vector<Mailbox>> mailboxes(Id account) override;
  base::Result<std::optional<Mailbox>> find_mailbox(Id account, std::string_view path) override;
  base::Result<std::optional<Mailbox>> mailbox_by_role(Id account, Role role) override;
  base::Result<std::optional<Mailbox>> find_mailbox_nocase(Id account,
                                                           std::string_view path) override;

  base::Result<Delivered> deliver(const Delivery& d) override;
  base::Result<std::optional<Email>> email(Id account, Id email) override;
  base::Result<std::vector<Member>> members(Id mailbox, uint32_t after_uid, size_t limit) override;
  base::Result<std::vector<Email>> emails(Id account, Id after_id, size_t limit) override;
  base::Result<std::string> read_message(Id account, Id email) override;
  base::Status set_keywords(Id account, std::span<const Id> emails,
                            std::span<const std::string> add,
                            std::span<const std::string> remove) override;
  base::Result<std::vector<uint32_t>> add_to_mailbox(Id account, std::span<const Id> emails,
                                                     Id mailbox) override;
  base::Status remove_from_mailbox(Id account, std::span<const Id> emails, Id mailbox) override;
  base::Status destroy_emails(Id account, std::span<const Id> emails) override;

  base::Result<std::vector<Change>> changes_since(Id account, int64_t since,
                                                  std::optional<ObjectType> type,
                                                  size_t limit) override;
  base::Result<std::vector<Member>> changed_members(Id mailbox, int64_t since_modseq) override;
  base::Result<std::vector<Vanished>> vanished_since(Id mailbox, int64_t since_modseq) override;

  base::Result<std::vector<Id>> search(Id account, std::optional<Id> mailbox,
                                       const std::vector<TextCondition>& all_of) override;
  base::Result<size_t> index_pending(std::optional<Id> account, size_t max) override;
  base::Result<size_t> pending_count(std::optional<Id> account) override;
  base::Result<QuotaUsage> quota(Id account) override;
  base::Result<int64_t> sweep_blobs(int64_t grace_seconds) override;

 private:
  // Inside a write transaction: takes the account's row lock by bumping its modseq and
  // returns the new value (Error::no_user when there is no such account).
  static base::Result<int64_t> bump_modseq(Db& tx, Id account);
  // Records a change of one object at `modseq` (one row per object: see change_log).
  static base::Status log_change(Db& tx, Id account, ObjectType type, Id object, int64_t modseq,
                                 ChangeKind kind);
  // Takes one email out of a mailbox: member row gone, UID vanished at modseq.
  static base::Status unlink_member(Db& tx, Id account, Id email, Id mailbox, int64_t modseq);
  // Destroys an email in every mailbox it is in (search rows, quota, blob reference).
  static base::Status destroy_email(Db& tx, Id account, Id email, int64_t modseq);
  static base::Status release_blob(Db& tx, const std::string& blob_id, int64_t count);
  static base::Result<std::optional<Mailbox>> mailbox_where(Db& tx, Id account,
                                                            std::string_view where,
                                                            const Params& params);
  base::Status remove_account_tx(Db& tx, Id account, const std::string& address);

  std::unique_ptr<Db> db_;
  std::unique_ptr<BlobStore> blobs_;
};

// Shared row readers.
Account account_from_row(const Row& r);  // the columns of kAccountColumns
inline constexpr const char* kAccountColumns =
    "id, domain_id, address, name, enabled, quota_bytes, used_bytes, modseq, password_hash, "
    "scram, created_at";
Mailbox mailbox_from_row(const Row& r);  // kMailboxColumns, then total and unseen if present
inline constexpr const char* kMailboxColumns =
    "id, account_id, parent_id, name, path, role, subscribed, uid_validity, uid_next, modseq, "
    "sort_order";
// SQL for the mailbox columns plus total and unseen counts, table alias m.
std::string mailbox_select_with_counts();

// Inserts a mailbox row (fresh UIDVALIDITY); bad_data when the path or role is taken.
base::Result<Id> insert_mailbox(Db& tx, Id account, std::optional<Id> parent,
                                const std::string& name, const std::string& path, Role role,
                                int64_t modseq);

// Validates and normalizes addresses ("Ann@Example.ORG" -> "ann@example.org").
base::Result<std::string> normalize_address(std::string_view address);
base::Result<std::string> normalize_domain(std::string_view name);
// Splits a mailbox path into levels; bad_data for empty levels or control characters.
base::Result<std::vector<std::string>> split_path(std::string_view path);
// Lower-cased, deduplicated, sorted keywords; bad_data for an invalid one.
base::Result<std::vector<std::string>> normalize_keywords(std::span<const std::string> in);
std::string join_keywords(const std::vector<std::string>& k);
std::vector<std::string> split_keywords(std::string_view s);

}  // namespace postern::store::internal
