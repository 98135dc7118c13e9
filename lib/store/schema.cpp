// Migrations and the table list (see schema.h).
#include "store/schema.h"

#include <string>

namespace postern::store {
namespace {

// ---- version 1 ----
//
// Conventions shared by both scripts: booleans are integers 0/1; times are Unix seconds;
// roles are JMAP role names ('' for none); keywords are one space-separated, sorted,
// lower-cased list. email_text holds search text case-folded (NFKC_Casefold), email_words
// the distinct diacritic-free words of the same fields (see store_search.cpp); the
// full-text indexes over them are only filters, every match is re-checked on those columns.

constexpr const char* kSqlite1 = R"SQL(
CREATE TABLE schema_version (version INTEGER NOT NULL);

CREATE TABLE domain (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE account (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  domain_id INTEGER NOT NULL REFERENCES domain(id) ON DELETE CASCADE,
  address TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL DEFAULT 1,
  quota_bytes INTEGER NOT NULL DEFAULT 0,
  used_bytes INTEGER NOT NULL DEFAULT 0,
  modseq INTEGER NOT NULL DEFAULT 0,
  change_floor INTEGER NOT NULL DEFAULT 0,
  password_hash TEXT NOT NULL DEFAULT '',
  scram TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX account_domain ON account(domain_id);

CREATE TABLE app_password (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  scram TEXT,
  created_at INTEGER NOT NULL,
  UNIQUE (account_id, name)
);

CREATE TABLE alias (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  source TEXT NOT NULL,
  target TEXT NOT NULL,
  UNIQUE (source, target)
);
CREATE INDEX alias_target ON alias(target);

CREATE TABLE mailbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  parent_id INTEGER REFERENCES mailbox(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  role TEXT NOT NULL DEFAULT '',
  subscribed INTEGER NOT NULL DEFAULT 1,
  uid_validity INTEGER NOT NULL,
  uid_next INTEGER NOT NULL DEFAULT 1,
  modseq INTEGER NOT NULL DEFAULT 0,
  sort_order INTEGER NOT NULL DEFAULT 0,
  UNIQUE (account_id, path)
);
CREATE UNIQUE INDEX mailbox_role ON mailbox(account_id, role) WHERE role <> '';
CREATE INDEX mailbox_parent ON mailbox(parent_id);

CREATE TABLE email (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  blob_id TEXT NOT NULL,
  size INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  sent_at INTEGER NOT NULL DEFAULT 0,
  thread_id INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  message_id TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  from_text TEXT NOT NULL DEFAULT '',
  keywords TEXT NOT NULL DEFAULT ''
);
CREATE INDEX email_account ON email(account_id, id);
CREATE INDEX email_message_id ON email(account_id, message_id);
CREATE INDEX email_thread ON email(account_id, thread_id);
CREATE INDEX email_blob ON email(blob_id);

CREATE TABLE email_ref (
  email_id INTEGER NOT NULL REFERENCES email(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,
  ref TEXT NOT NULL,
  PRIMARY KEY (email_id, ref)
);
CREATE INDEX email_ref_ref ON email_ref(account_id, ref);

CREATE TABLE member (
  email_id INTEGER NOT NULL REFERENCES email(id) ON DELETE CASCADE,
  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid),
  UNIQUE (email_id, mailbox_id)
);
CREATE INDEX member_modseq ON member(mailbox_id, modseq);

CREATE TABLE vanished (
  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX vanished_modseq ON vanished(mailbox_id, modseq);

CREATE TABLE change_log (
  account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  type INTEGER NOT NULL,
  object_id INTEGER NOT NULL,
  created_modseq INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  destroyed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, type, object_id)
);
CREATE INDEX change_log_modseq ON change_log(account_id, modseq);

CREATE TABLE email_text (
  email_id INTEGER PRIMARY KEY REFERENCES email(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,
  header_text TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  from_addr TEXT NOT NULL DEFAULT '',
  to_addr TEXT NOT NULL DEFAULT '',
  cc_addr TEXT NOT NULL DEFAULT '',
  bcc_addr TEXT NOT NULL DEFAULT '',
  attachments TEXT NOT NULL DEFAULT ''
);
CREATE VIRTUAL TABLE email_text_fts USING fts5(
  header_text, body, subject, from_addr, to_addr, cc_addr, bcc_addr, attachments,
  content='email_text', content_rowid='email_id', tokenize='trigram case_sensitive 1');
CREATE TRIGGER email_text_ai AFTER INSERT ON email_text BEGIN
  INSERT INTO email_text_fts(rowid, header_text, body, subject, from_addr, to_addr, cc_addr,
                             bcc_addr, attachments)
  VALUES (new.email_id, new.header_text, new.body, new.subject, new.from_addr, new.to_addr,
          new.cc_addr, new.bcc_addr, new.attachments);
END;
CREATE TRIGGER email_text_ad AFTER DELETE ON email_text BEGIN
  INSERT INTO email_text_fts(email_text_fts, rowid, header_text, body, subject, from_addr,
                             to_addr, cc_addr, bcc_addr, attachments)
  VALUES ('delete', old.email_id, old.header_text, old.body, old.subject, old.from_addr,
          old.to_addr, old.cc_addr, old.bcc_addr, old.attachments);
END;
CREATE TRIGGER email_text_au AFTER UPDATE ON email_text BEGIN
  INSERT INTO email_text_fts(email_text_fts, rowid, header_text, body, subject, from_addr,
                             to_addr, cc_addr, bcc_addr, attachments)
  VALUES ('delete', old.email_id, old.header_text, old.body, old.subject, old.from_addr,
          old.to_addr, old.cc_addr, old.bcc_addr, old.attachments);
  INSERT INTO email_text_fts(rowid, header_text, body, subject, from_addr, to_addr, cc_addr,
                             bcc_addr, attachments)
  VALUES (new.email_id, new.header_text, new.body, new.subject, new.from_addr, new.to_addr,
          new.cc_addr, new.bcc_addr, new.attachments);
END;

CREATE TABLE email_words (
  email_id INTEGER PRIMARY KEY REFERENCES email(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,
  header_text TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  from_addr TEXT NOT NULL DEFAULT '',
  to_addr TEXT NOT NULL DEFAULT '',
  cc_addr TEXT NOT NULL DEFAULT '',
  bcc_addr TEXT NOT NULL DEFAULT '',
  attachments TEXT NOT NULL DEFAULT ''
);
CREATE VIRTUAL TABLE email_words_fts USING fts5(
  header_text, body, subject, from_addr, to_addr, cc_addr, bcc_addr, attachments,
  content='email_words', content_rowid='email_id',
  tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER email_words_ai AFTER INSERT ON email_words BEGIN
  INSERT INTO email_words_fts(rowid, header_text, body, subject, from_addr, to_addr, cc_addr,
                              bcc_addr, attachments)
  VALUES (new.email_id, new.header_text, new.body, new.subject, new.from_addr, new.to_addr,
          new.cc_addr, new.bcc_addr, new.attachments);
END;
CREATE TRIGGER email_words_ad AFTER DELETE ON email_words BEGIN
  INSERT INTO email_words_fts(email_words_fts, rowid, header_text, body, subject, from_addr,
                              to_addr, cc_addr, bcc_addr, attachments)
  VALUES ('delete', old.email_id, old.header_text, old.body, old.subject, old.from_addr,
          old.to_addr, old.cc_addr, old.bcc_addr, old.attachments);
END;
CREATE TRIGGER email_words_au AFTER UPDATE ON email_words BEGIN
  INSERT INTO email_words_fts(email_words_fts, rowid, header_text, body, subject, from_addr,
                              to_addr, cc_addr, bcc_addr, attachments)
  VALUES ('delete', old.email_id, old.header_text, old.body, old.subject, old.from_addr,
          old.to_addr, old.cc_addr, old.bcc_addr, old.attachments);
  INSERT INTO email_words_fts(rowid, header_text, body, subject, from_addr, to_addr, cc_addr,
                              bcc_addr, attachments)
  VALUES (new.email_id, new.header_text, new.body, new.subject, new.from_addr, new.to_addr,
          new.cc_addr, new.bcc_addr, new.attachments);
END;

CREATE TABLE email_header (
  email_id INTEGER NOT NULL REFERENCES email(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  words TEXT NOT NULL,
  PRIMARY KEY (email_id, pos)
);
CREATE INDEX email_header_name ON email_header(account_id, name);

CREATE TABLE blob (
  id TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  refs INTEGER NOT NULL DEFAULT 0,
  orphaned_at INTEGER
);
CREATE INDEX blob_orphaned ON blob(orphaned_at) WHERE orphaned_at IS NOT NULL;

CREATE TABLE blob_data (
  id TEXT PRIMARY KEY,
  data BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
)SQL";

constexpr const char* kPostgres1 = R"SQL(
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE schema_version (version INTEGER NOT NULL);

CREATE TABLE domain (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE account (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  domain_id BIGINT NOT NULL REFERENCES domain(id) ON DELETE CASCADE,
  address TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL DEFAULT 1,
  quota_bytes BIGINT NOT NULL DEFAULT 0,
  used_bytes BIGINT NOT NULL DEFAULT 0,
  modseq BIGINT NOT NULL DEFAULT 0,
  change_floor BIGINT NOT NULL DEFAULT 0,
  password_hash TEXT NOT NULL DEFAULT '',
  scram TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX account_domain ON account(domain_id);

CREATE TABLE app_password (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  account_id BIGINT NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  scram TEXT,
  created_at BIGINT NOT NULL,
  UNIQUE (account_id, name)
);

CREATE TABLE alias (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  source TEXT NOT NULL,
  target TEXT NOT NULL,
  UNIQUE (source, target)
);
CREATE INDEX alias_target ON alias(target);

CREATE TABLE mailbox (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  account_id BIGINT NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  parent_id BIGINT REFERENCES mailbox(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  role TEXT NOT NULL DEFAULT '',
  subscribed INTEGER NOT NULL DEFAULT 1,
  uid_validity BIGINT NOT NULL,
  uid_next BIGINT NOT NULL DEFAULT 1,
  modseq BIGINT NOT NULL DEFAULT 0,
  sort_order INTEGER NOT NULL DEFAULT 0,
  UNIQUE (account_id, path)
);
CREATE UNIQUE INDEX mailbox_role ON mailbox(account_id, role) WHERE role <> '';
CREATE INDEX mailbox_parent ON mailbox(parent_id);

CREATE TABLE email (
  id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  account_id BIGINT NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  blob_id TEXT NOT NULL,
  size BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  sent_at BIGINT NOT NULL DEFAULT 0,
  thread_id BIGINT NOT NULL,
  modseq BIGINT NOT NULL,
  message_id TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  from_text TEXT NOT NULL DEFAULT '',
  keywords TEXT NOT NULL DEFAULT ''
);
CREATE INDEX email_account ON email(account_id, id);
CREATE INDEX email_message_id ON email(account_id, message_id);
CREATE INDEX email_thread ON email(account_id, thread_id);
CREATE INDEX email_blob ON email(blob_id);

CREATE TABLE email_ref (
  email_id BIGINT NOT NULL REFERENCES email(id) ON DELETE CASCADE,
  account_id BIGINT NOT NULL,
  ref TEXT NOT NULL,
  PRIMARY KEY (email_id, ref)
);
CREATE INDEX email_ref_ref ON email_ref(account_id, ref);

CREATE TABLE member (
  email_id BIGINT NOT NULL REFERENCES email(id) ON DELETE CASCADE,
  mailbox_id BIGINT NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
  uid BIGINT NOT NULL,
  modseq BIGINT NOT NULL,
  PRIMARY KEY (mailbox_id, uid),
  UNIQUE (email_id, mailbox_id)
);
CREATE INDEX member_modseq ON member(mailbox_id, modseq);

CREATE TABLE vanished (
  mailbox_id BIGINT NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
  uid BIGINT NOT NULL,
  modseq BIGINT NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
);
CREATE INDEX vanished_modseq ON vanished(mailbox_id, modseq);

CREATE TABLE change_log (
  account_id BIGINT NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  type INTEGER NOT NULL,
  object_id BIGINT NOT NULL,
  created_modseq BIGINT NOT NULL,
  modseq BIGINT NOT NULL,
  destroyed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, type, object_id)
);
CREATE INDEX change_log_modseq ON change_log(account_id, modseq);

CREATE TABLE email_text (
  email_id BIGINT PRIMARY KEY REFERENCES email(id) ON DELETE CASCADE,
  account_id BIGINT NOT NULL,
  header_text TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  from_addr TEXT NOT NULL DEFAULT '',
  to_addr TEXT NOT NULL DEFAULT '',
  cc_addr TEXT NOT NULL DEFAULT '',
  bcc_addr TEXT NOT NULL DEFAULT '',
  attachments TEXT NOT NULL DEFAULT ''
);
CREATE INDEX email_text_header_trgm ON email_text USING GIN (header_text gin_trgm_ops);
CREATE INDEX email_text_body_trgm ON email_text USING GIN (body gin_trgm_ops);
CREATE INDEX email_text_subject_trgm ON email_text USING GIN (subject gin_trgm_ops);
CREATE INDEX email_text_from_trgm ON email_text USING GIN (from_addr gin_trgm_ops);
CREATE INDEX email_text_to_trgm ON email_text USING GIN (to_addr gin_trgm_ops);
CREATE INDEX email_text_cc_trgm ON email_text USING GIN (cc_addr gin_trgm_ops);
CREATE INDEX email_text_bcc_trgm ON email_text USING GIN (bcc_addr gin_trgm_ops);
CREATE INDEX email_text_attachments_trgm ON email_text USING GIN (attachments gin_trgm_ops);

CREATE TABLE email_words (
  email_id BIGINT PRIMARY KEY REFERENCES email(id) ON DELETE CASCADE,
  account_id BIGINT NOT NULL,
  header_text TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '',
  subject TEXT NOT NULL DEFAULT '',
  from_addr TEXT NOT NULL DEFAULT '',
  to_addr TEXT NOT NULL DEFAULT '',
  cc_addr TEXT NOT NULL DEFAULT '',
  bcc_addr TEXT NOT NULL DEFAULT '',
  attachments TEXT NOT NULL DEFAULT ''
);
CREATE INDEX email_words_header_ts ON email_words USING GIN (to_tsvector('simple', header_text));
CREATE INDEX email_words_body_ts ON email_words USING GIN (to_tsvector('simple', body));
CREATE INDEX email_words_subject_ts ON email_words USING GIN (to_tsvector('simple', subject));
CREATE INDEX email_words_from_ts ON email_words USING GIN (to_tsvector('simple', from_addr));
CREATE INDEX email_words_to_ts ON email_words USING GIN (to_tsvector('simple', to_addr));
CREATE INDEX email_words_cc_ts ON email_words USING GIN (to_tsvector('simple', cc_addr));
CREATE INDEX email_words_bcc_ts ON email_words USING GIN (to_tsvector('simple', bcc_addr));
CREATE INDEX email_words_attachments_ts ON email_words
  USING GIN (to_tsvector('simple', attachments));

CREATE TABLE email_header (
  email_id BIGINT NOT NULL REFERENCES email(id) ON DELETE CASCADE,
  account_id BIGINT NOT NULL,
  pos INTEGER NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  words TEXT NOT NULL,
  PRIMARY KEY (email_id, pos)
);
CREATE INDEX email_header_name ON email_header(account_id, name);

CREATE TABLE blob (
  id TEXT PRIMARY KEY,
  size BIGINT NOT NULL,
  refs BIGINT NOT NULL DEFAULT 0,
  orphaned_at BIGINT
);
CREATE INDEX blob_orphaned ON blob(orphaned_at) WHERE orphaned_at IS NOT NULL;

CREATE TABLE blob_data (
  id TEXT PRIMARY KEY,
  data BYTEA NOT NULL,
  created_at BIGINT NOT NULL
);
)SQL";

// ---- version 2: deferred text indexing; SQLite tables without rowids ----
//
// Delivery no longer writes email_text / email_words / email_header; it queues the email
// in email_pending and Store::index_pending() writes them later (in batches, or before a
// search). Version 1 stores indexed every email at delivery, so the queue starts empty.
//
// SQLite: the tables keyed by something other than one integer id keep their rows in the
// primary key's b-tree (WITHOUT ROWID) instead of a rowid b-tree plus a key index, one
// b-tree fewer to write (and to checkpoint) per delivery: member, email_ref, change_log,
// blob, blob_data, vanished, and the queue (keyed by account first, so an account's queue
// is one range; no foreign key, whose check on every email deletion would have to scan
// it: the store deletes queue rows itself). PostgreSQL tables are heaps either way.

constexpr const char* kSqlite2 = R"SQL(
CREATE TABLE email_pending (
  email_id INTEGER NOT NULL,
  account_id INTEGER NOT NULL,
  PRIMARY KEY (account_id, email_id)
) WITHOUT ROWID;

CREATE TABLE member_2 (
  email_id INTEGER NOT NULL REFERENCES email(id) ON DELETE CASCADE,
  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid),
  UNIQUE (email_id, mailbox_id)
) WITHOUT ROWID;
INSERT INTO member_2 (email_id, mailbox_id, uid, modseq)
  SELECT email_id, mailbox_id, uid, modseq FROM member;
DROP TABLE member;
ALTER TABLE member_2 RENAME TO member;
CREATE INDEX member_modseq ON member(mailbox_id, modseq);

CREATE TABLE vanished_2 (
  mailbox_id INTEGER NOT NULL REFERENCES mailbox(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  PRIMARY KEY (mailbox_id, uid)
) WITHOUT ROWID;
INSERT INTO vanished_2 (mailbox_id, uid, modseq) SELECT mailbox_id, uid, modseq FROM vanished;
DROP TABLE vanished;
ALTER TABLE vanished_2 RENAME TO vanished;
CREATE INDEX vanished_modseq ON vanished(mailbox_id, modseq);

CREATE TABLE email_ref_2 (
  email_id INTEGER NOT NULL REFERENCES email(id) ON DELETE CASCADE,
  account_id INTEGER NOT NULL,
  ref TEXT NOT NULL,
  PRIMARY KEY (email_id, ref)
) WITHOUT ROWID;
INSERT INTO email_ref_2 (email_id, account_id, ref) SELECT email_id, account_id, ref FROM email_ref;
DROP TABLE email_ref;
ALTER TABLE email_ref_2 RENAME TO email_ref;
CREATE INDEX email_ref_ref ON email_ref(account_id, ref);

CREATE TABLE change_log_2 (
  account_id INTEGER NOT NULL REFERENCES account(id) ON DELETE CASCADE,
  type INTEGER NOT NULL,
  object_id INTEGER NOT NULL,
  created_modseq INTEGER NOT NULL,
  modseq INTEGER NOT NULL,
  destroyed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, type, object_id)
) WITHOUT ROWID;
INSERT INTO change_log_2 (account_id, type, object_id, created_modseq, modseq, destroyed)
  SELECT account_id, type, object_id, created_modseq, modseq, destroyed FROM change_log;
DROP TABLE change_log;
ALTER TABLE change_log_2 RENAME TO change_log;
CREATE INDEX change_log_modseq ON change_log(account_id, modseq);

CREATE TABLE blob_2 (
  id TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  refs INTEGER NOT NULL DEFAULT 0,
  orphaned_at INTEGER
) WITHOUT ROWID;
INSERT INTO blob_2 (id, size, refs, orphaned_at) SELECT id, size, refs, orphaned_at FROM blob;
DROP TABLE blob;
ALTER TABLE blob_2 RENAME TO blob;
CREATE INDEX blob_orphaned ON blob(orphaned_at) WHERE orphaned_at IS NOT NULL;

CREATE TABLE blob_data_2 (
  id TEXT PRIMARY KEY,
  data BLOB NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO blob_data_2 (id, data, created_at) SELECT id, data, created_at FROM blob_data;
DROP TABLE blob_data;
ALTER TABLE blob_data_2 RENAME TO blob_data;
)SQL";

constexpr const char* kPostgres2 = R"SQL(
CREATE TABLE email_pending (
  email_id BIGINT NOT NULL,
  account_id BIGINT NOT NULL,
  PRIMARY KEY (account_id, email_id)
);
)SQL";

// ---- version 3: the mail queue (see queue.h and postern-queue(7)) ----
//
// A queued message is one queue_message row (envelope, DSN parameters, state, schedule
// and the lease queue-run takes), its recipients in queue_recipient and its bytes in
// queue_data, written in one transaction. state is 'active' or 'hold'; a recipient's
// status 'pending', 'delivered' or 'failed'; ret '' / 'full' / 'hdrs'; body '7bit' /
// '8bitmime' / 'binarymime'. queue_message_due finds the due work of one state in order.
// SQLite: the message and recipient rows are small and keyed by their primary key, so
// WITHOUT ROWID; queue_data's rows are whole messages and stay in a rowid table.

constexpr const char* kSqlite3 = R"SQL(
CREATE TABLE queue_message (
  id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  state TEXT NOT NULL DEFAULT 'active',
  next_attempt INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until INTEGER,
  sender TEXT NOT NULL,
  envid TEXT NOT NULL DEFAULT '',
  ret TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '7bit',
  smtputf8 INTEGER NOT NULL DEFAULT 0,
  requiretls INTEGER NOT NULL DEFAULT 0,
  client_ip TEXT NOT NULL DEFAULT '',
  helo TEXT NOT NULL DEFAULT '',
  auth_user TEXT NOT NULL DEFAULT '',
  listener TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX queue_message_due ON queue_message(state, next_attempt);

CREATE TABLE queue_recipient (
  queue_id TEXT NOT NULL REFERENCES queue_message(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  address TEXT NOT NULL,
  orcpt TEXT NOT NULL DEFAULT '',
  notify INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'pending',
  last_reply TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (queue_id, idx)
) WITHOUT ROWID;

CREATE TABLE queue_data (
  queue_id TEXT PRIMARY KEY REFERENCES queue_message(id) ON DELETE CASCADE,
  data BLOB NOT NULL
);
)SQL";

constexpr const char* kPostgres3 = R"SQL(
CREATE TABLE queue_message (
  id TEXT PRIMARY KEY,
  created_at BIGINT NOT NULL,
  size BIGINT NOT NULL,
  state TEXT NOT NULL DEFAULT 'active',
  next_attempt BIGINT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT,
  lease_until BIGINT,
  sender TEXT NOT NULL,
  envid TEXT NOT NULL DEFAULT '',
  ret TEXT NOT NULL DEFAULT '',
  body TEXT NOT NULL DEFAULT '7bit',
  smtputf8 INTEGER NOT NULL DEFAULT 0,
  requiretls INTEGER NOT NULL DEFAULT 0,
  client_ip TEXT NOT NULL DEFAULT '',
  helo TEXT NOT NULL DEFAULT '',
  auth_user TEXT NOT NULL DEFAULT '',
  listener TEXT NOT NULL DEFAULT ''
);
CREATE INDEX queue_message_due ON queue_message(state, next_attempt);

CREATE TABLE queue_recipient (
  queue_id TEXT NOT NULL REFERENCES queue_message(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  address TEXT NOT NULL,
  orcpt TEXT NOT NULL DEFAULT '',
  notify INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL DEFAULT 'pending',
  last_reply TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (queue_id, idx)
);

CREATE TABLE queue_data (
  queue_id TEXT PRIMARY KEY REFERENCES queue_message(id) ON DELETE CASCADE,
  data BYTEA NOT NULL
);
)SQL";

// ---- version 4: delivery (queue-run, postern-queue(7)) ----
//
// queue_message: when the last attempt was, whether the delay warning went out, and an
// administrator's request to return the message (queue-ctl bounce; queue-run does it at
// the next attempt, with the DSN). queue_recipient: the host that gave last_reply.
// mta_sts_policy caches each domain's MTA-STS policy (RFC 8461 5.1); tls_result counts
// TLS outcomes per day and policy for TLS-RPT aggregate reports (RFC 8460).

constexpr const char* kSqlite4 = R"SQL(
ALTER TABLE queue_message ADD COLUMN last_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_message ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_message ADD COLUMN bounce INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_recipient ADD COLUMN remote_mta TEXT NOT NULL DEFAULT '';
CREATE INDEX queue_message_lease ON queue_message(lease_owner);

CREATE TABLE mta_sts_policy (
  domain TEXT PRIMARY KEY,
  policy_id TEXT NOT NULL,
  policy TEXT NOT NULL,
  fetched_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE tls_result (
  day INTEGER NOT NULL,
  policy_domain TEXT NOT NULL,
  policy_type TEXT NOT NULL,
  policy_string TEXT NOT NULL DEFAULT '',
  mx_host TEXT NOT NULL DEFAULT '',
  receiving_ip TEXT NOT NULL DEFAULT '',
  result_type TEXT NOT NULL DEFAULT '',
  successes INTEGER NOT NULL DEFAULT 0,
  failures INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, policy_domain, policy_type, mx_host, receiving_ip, result_type)
) WITHOUT ROWID;
)SQL";

constexpr const char* kPostgres4 = R"SQL(
ALTER TABLE queue_message ADD COLUMN last_attempt BIGINT NOT NULL DEFAULT 0;
ALTER TABLE queue_message ADD COLUMN delay_warned INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_message ADD COLUMN bounce INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue_recipient ADD COLUMN remote_mta TEXT NOT NULL DEFAULT '';
CREATE INDEX queue_message_lease ON queue_message(lease_owner);

CREATE TABLE mta_sts_policy (
  domain TEXT PRIMARY KEY,
  policy_id TEXT NOT NULL,
  policy TEXT NOT NULL,
  fetched_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);

CREATE TABLE tls_result (
  day BIGINT NOT NULL,
  policy_domain TEXT NOT NULL,
  policy_type TEXT NOT NULL,
  policy_string TEXT NOT NULL DEFAULT '',
  mx_host TEXT NOT NULL DEFAULT '',
  receiving_ip TEXT NOT NULL DEFAULT '',
  result_type TEXT NOT NULL DEFAULT '',
  successes BIGINT NOT NULL DEFAULT 0,
  failures BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (day, policy_domain, policy_type, mx_host, receiving_ip, result_type)
);
)SQL";

// ---- version 5: TLS-RPT session counts (RFC 8460; store/tls_results.h) ----
//
// tls_result is made again (version 4's was never written): one row per day (Unix
// seconds of 00:00 UTC), policy domain, policy (type and its strings, "\n"-joined),
// receiving MX and address, and result ('' = success) with its failure-reason-code;
// `sessions` counts them. queue-run adds to it; the report run takes a (day, domain)'s
// rows away when it sends or drops them.

constexpr const char* kSqlite5 = R"SQL(
DROP TABLE tls_result;
CREATE TABLE tls_result (
  day INTEGER NOT NULL,
  policy_domain TEXT NOT NULL,
  policy_type TEXT NOT NULL,
  policy TEXT NOT NULL DEFAULT '',
  mx_host TEXT NOT NULL DEFAULT '',
  receiving_ip TEXT NOT NULL DEFAULT '',
  result_type TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  sessions INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (day, policy_domain, policy_type, policy, mx_host, receiving_ip, result_type, reason)
) WITHOUT ROWID;
)SQL";

constexpr const char* kPostgres5 = R"SQL(
DROP TABLE tls_result;
CREATE TABLE tls_result (
  day BIGINT NOT NULL,
  policy_domain TEXT NOT NULL,
  policy_type TEXT NOT NULL,
  policy TEXT NOT NULL DEFAULT '',
  mx_host TEXT NOT NULL DEFAULT '',
  receiving_ip TEXT NOT NULL DEFAULT '',
  result_type TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  sessions BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (day, policy_domain, policy_type, policy, mx_host, receiving_ip, result_type, reason)
);
)SQL";

// ---- version 6: the spam filter's state (store/spam_model.h) ----
//
// spam_model: one row per model: account_id 0 is the global model, else one account's.
// spam_token: a token's counts in one model (token: a 64-bit hash of its text).
// spam_seen: which messages (SHA-256 of their bytes) a model learned, and as what, so a
// message learned twice counts once and a message learned the other way moves.
// greylist: RFC 6647 triplets (client network, sender, recipient) and when they were
// first seen, last retried and let through.

constexpr const char* kSqlite6 = R"SQL(
CREATE TABLE spam_model (
  account_id INTEGER PRIMARY KEY,
  nspam INTEGER NOT NULL DEFAULT 0,
  nham INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE spam_token (
  account_id INTEGER NOT NULL,
  token INTEGER NOT NULL,
  nspam INTEGER NOT NULL DEFAULT 0,
  nham INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, token)
) WITHOUT ROWID;
CREATE TABLE spam_seen (
  account_id INTEGER NOT NULL,
  digest TEXT NOT NULL,
  spam INTEGER NOT NULL,
  learned_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, digest)
) WITHOUT ROWID;
CREATE TABLE greylist (
  triplet TEXT PRIMARY KEY,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  passed_at INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE INDEX greylist_last_seen ON greylist(last_seen);
)SQL";

constexpr const char* kPostgres6 = R"SQL(
CREATE TABLE spam_model (
  account_id BIGINT PRIMARY KEY,
  nspam BIGINT NOT NULL DEFAULT 0,
  nham BIGINT NOT NULL DEFAULT 0,
  updated_at BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE spam_token (
  account_id BIGINT NOT NULL,
  token BIGINT NOT NULL,
  nspam BIGINT NOT NULL DEFAULT 0,
  nham BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, token)
);
CREATE TABLE spam_seen (
  account_id BIGINT NOT NULL,
  digest TEXT NOT NULL,
  spam INTEGER NOT NULL,
  learned_at BIGINT NOT NULL,
  PRIMARY KEY (account_id, digest)
);
CREATE TABLE greylist (
  triplet TEXT PRIMARY KEY,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  passed_at BIGINT NOT NULL DEFAULT 0,
  attempts BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX greylist_last_seen ON greylist(last_seen);
)SQL";

constexpr Migration kMigrations[] = {
    {1, kSqlite1, kPostgres1},
    {2, kSqlite2, kPostgres2},
    {3, kSqlite3, kPostgres3},
    {4, kSqlite4, kPostgres4},
    {5, kSqlite5, kPostgres5},
    {6, kSqlite6, kPostgres6},
};

// Any constant will do; it only has to be the same in every Postern process.
constexpr int64_t kMigrationLock = 0x706f737465726e31;  // "postern1"

std::string_view search_cols_sv[] = {"header_text", "body",    "subject",  "from_addr",
                                     "to_addr",     "cc_addr", "bcc_addr", "attachments"};

std::vector<std::string_view> with_search_cols(std::vector<std::string_view> head) {
  for (auto c : search_cols_sv) head.push_back(c);
  return head;
}

}  // namespace

std::span<const Migration> migrations() { return kMigrations; }

int schema_version() { return kMigrations[std::size(kMigrations) - 1].version; }

const std::vector<Table>& tables() {
  static const std::vector<Table> kTables = {
      {"domain", {"id", "name"}, {"id"}, "id"},
      {"account",
       {"id", "domain_id", "address", "name", "enabled", "quota_bytes", "used_bytes", "modseq",
        "change_floor", "password_hash", "scram", "created_at"},
       {"id"},
       "id"},
      {"app_password", {"id", "account_id", "name", "hash", "scram", "created_at"}, {"id"}, "id"},
      {"alias", {"id", "source", "target"}, {"id"}, "id"},
      {"mailbox",
       {"id", "account_id", "parent_id", "name", "path", "role", "subscribed", "uid_validity",
        "uid_next", "modseq", "sort_order"},
       {"id"},
       "id"},
      {"email",
       {"id", "account_id", "blob_id", "size", "received_at", "sent_at", "thread_id", "modseq",
        "message_id", "subject", "from_text", "keywords"},
       {"id"},
       "id"},
      {"email_ref", {"email_id", "account_id", "ref"}, {"email_id", "ref"}, ""},
      {"member", {"email_id", "mailbox_id", "uid", "modseq"}, {"mailbox_id", "uid"}, ""},
      {"vanished", {"mailbox_id", "uid", "modseq"}, {"mailbox_id", "uid"}, ""},
      {"change_log",
       {"account_id", "type", "object_id", "created_modseq", "modseq", "destroyed"},
       {"account_id", "type", "object_id"},
       ""},
      {"email_text", with_search_cols({"email_id", "account_id"}), {"email_id"}, ""},
      {"email_words", with_search_cols({"email_id", "account_id"}), {"email_id"}, ""},
      {"email_header",
       {"email_id", "account_id", "pos", "name", "value", "words"},
       {"email_id", "pos"},
       ""},
      {"email_pending", {"email_id", "account_id"}, {"email_id"}, ""},
      {"blob", {"id", "size", "refs", "orphaned_at"}, {"id"}, ""},
      {"blob_data", {"id", "data", "created_at"}, {"id"}, ""},
      {"queue_message",
       {"id", "created_at", "size", "state", "next_attempt", "attempts", "lease_owner",
        "lease_until", "sender", "envid", "ret", "body", "smtputf8", "requiretls", "client_ip",
        "helo", "auth_user", "listener", "last_attempt", "delay_warned", "bounce"},
       {"id"},
       ""},
      {"queue_recipient",
       {"queue_id", "idx", "address", "orcpt", "notify", "status", "last_reply", "remote_mta"},
       {"queue_id", "idx"},
       ""},
      {"queue_data", {"queue_id", "data"}, {"queue_id"}, ""},
      {"mta_sts_policy", {"domain", "policy_id", "policy", "fetched_at", "expires_at"}, {"domain"}, ""},
      {"tls_result",
       {"day", "policy_domain", "policy_type", "policy", "mx_host", "receiving_ip",
        "result_type", "reason", "sessions"},
       {"day", "policy_domain", "policy_type", "policy", "mx_host", "receiving_ip",
        "result_type", "reason"},
       ""},
      {"spam_model", {"account_id", "nspam", "nham", "updated_at"}, {"account_id"}, ""},
      {"spam_token", {"account_id", "token", "nspam", "nham"}, {"account_id", "token"}, ""},
      {"spam_seen", {"account_id", "digest", "spam", "learned_at"}, {"account_id", "digest"}, ""},
      {"greylist", {"triplet", "first_seen", "last_seen", "passed_at", "attempts"}, {"triplet"}, ""},
  };
  return kTables;
}

base::Result<int> stored_schema_version(Db& db) {
  auto present = db.engine() == Engine::kSqlite
                     ? db.query(
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                           "name = 'schema_version'")
                     : db.query(
                           "SELECT count(*) FROM information_schema.tables WHERE "
                           "table_schema = current_schema() AND table_name = 'schema_version'");
  if (!present) return present.error();
  if (present->empty() || (*present)[0].i64(0) == 0) return 0;
  auto rows = db.query("SELECT max(version) FROM schema_version");
  if (!rows) return rows.error();
  if (rows->empty()) return 0;
  return static_cast<int>((*rows)[0].i64(0));
}

namespace {

base::Error too_new(Db& db, int found) {
  return base::Error::config("store at " + db.describe() + " has schema version " +
                             std::to_string(found) + "; this program knows up to " +
                             std::to_string(schema_version()) +
                             " — upgrade Postern before opening it");
}

}  // namespace

base::Status migrate(Db& db) {
  // A quick look first: an up-to-date or newer database is left alone (no write lock).
  auto found = stored_schema_version(db);
  if (!found) return found.error();
  if (*found > schema_version()) return too_new(db, *found);
  if (*found == schema_version()) return {};
  return with_transaction(db, Access::kWrite, [&](Db& tx) -> base::Status {
    if (tx.engine() == Engine::kPostgres) {
      auto lock = tx.query("SELECT pg_advisory_xact_lock(?)", {Value(kMigrationLock)});
      if (!lock) return lock.error();
    }
    auto now = stored_schema_version(tx);  // another process may have migrated meanwhile
    if (!now) return now.error();
    if (*now > schema_version()) return too_new(tx, *now);
    for (const Migration& m : kMigrations) {
      if (m.version <= *now) continue;
      auto st = tx.exec_script(tx.engine() == Engine::kSqlite ? m.sqlite : m.postgres);
      if (!st) {
        return base::Error(st.error().code(), "migrating " + tx.describe() + " to version " +
                                                  std::to_string(m.version) + ": " +
                                                  st.error().message());
      }
      if (auto d = tx.exec("DELETE FROM schema_version"); !d) return d.error();
      if (auto i = tx.exec("INSERT INTO schema_version (version) VALUES (?)", {Value(m.version)});
          !i) {
        return i.error();
      }
    }
    return {};
  });
}

base::Status reset_sequences(Db& db) {
  if (db.engine() != Engine::kPostgres) return {};
  for (const Table& t : tables()) {
    if (t.identity.empty()) continue;
    std::string name(t.name), col(t.identity);
    // setval(seq, max, true): the next id is max + 1; an empty table restarts at 1.
    std::string sql = "SELECT setval(pg_get_serial_sequence('" + name + "', '" + col +
                      "'), COALESCE((SELECT max(" + col + ") FROM " + name + "), 0) + 1, false)";
    auto r = db.query(sql);
    if (!r) return r.error();
  }
  return {};
}

}  // namespace postern::store
