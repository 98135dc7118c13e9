#!/usr/bin/env bats
# store-check: each invariant broken by hand (sqlite3 / psql on a real store), found,
# repaired where that loses no mail, left and reported where it cannot be; exit codes.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  DB="$BATS_TEST_TMPDIR/store.db"
  STORE=(--store "sqlite:$DB")
  account-ctl "${STORE[@]}" domain add example.org
  account-ctl "${STORE[@]}" add ann@example.org
  account-ctl "${STORE[@]}" add bob@example.org
  for i in 1 2 3; do
    printf 'From: bob@example.net\nTo: ann@example.org\nSubject: hello %s\nMessage-ID: <%s@example.net>\n\nHi Ann, number %s.\n' \
      "$i" "$i" "$i" > "msg$i.eml"
    store-deliver "${STORE[@]}" ann@example.org < "msg$i.eml" > /dev/null
  done
  store-deliver "${STORE[@]}" bob@example.org < msg1.eml > /dev/null
}

sql() { sqlite3 -bail "$DB" "$@"; }

# The blob file of an email, by Message-ID.
blob_path() {
  local id
  id=$(sql "SELECT blob_id FROM email WHERE message_id = '$1' LIMIT 1")
  echo "$BATS_TEST_TMPDIR/blobs/${id:0:2}/$id"
}

@test "store-check: a fresh store is consistent (text and --json)" {
  run store-check "${STORE[@]}" --deep
  assert_status 0
  [ "$output" = "checked 2 accounts, 12 mailboxes, 4 emails (4 waiting for text indexing), 4 blobs: no problems" ] || {
    echo "$output"; false; }
  store-search "${STORE[@]}" --index
  run store-check "${STORE[@]}" --json
  assert_status 0
  python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["problems"] == [] and d["left"] == 0 and d["emails"] == 4 and d["pending"] == 0, d' <<<"$output"
}

@test "store-check: used_bytes and the account modseq are recomputed" {
  sql "UPDATE account SET used_bytes = 5, modseq = 1 WHERE address = 'ann@example.org'"
  run store-check "${STORE[@]}"
  assert_status 1
  sum=$(sql "SELECT sum(size) FROM email e JOIN account a ON a.id = e.account_id WHERE a.address = 'ann@example.org'")
  assert_output_contains "account ann@example.org: used_bytes 5 but emails sum to $sum"
  assert_output_contains "account ann@example.org: modseq 1 but a "
  assert_output_contains "2 problems, 2 left"
  run store-check "${STORE[@]}" --repair
  assert_status 0
  assert_output_contains "used_bytes 5 but emails sum to $sum (repaired)"
  assert_output_contains "2 problems, 2 repaired"
  [ "$(sql "SELECT used_bytes FROM account WHERE address = 'ann@example.org'")" = "$sum" ]
  run store-check "${STORE[@]}"
  assert_status 0
}

@test "store-check: blob reference counts, sizes and a lost blob row" {
  sql "UPDATE blob SET refs = 7"
  id=$(sql "SELECT blob_id FROM email WHERE message_id = '2@example.net'")
  sql "DELETE FROM blob WHERE id = '$id'"
  run store-check "${STORE[@]}"
  assert_status 1
  assert_output_contains "refs 7 but 1 email refers to it"
  assert_output_contains "blob $id: 1 email refers to it but it has no row"
  run store-check "${STORE[@]}" --repair
  assert_status 0
  [ "$(sql "SELECT refs FROM blob WHERE id = '$id'")" = 1 ]
  [ "$(sql "SELECT count(*) FROM blob b WHERE refs <> (SELECT count(*) FROM email e WHERE e.blob_id = b.id)")" = 0 ]
  run store-check "${STORE[@]}"
  assert_status 0
}

@test "store-check: uid_next below a UID in use is raised; the next delivery gets a new UID" {
  sql "UPDATE mailbox SET uid_next = 2 WHERE path = 'Inbox' AND account_id = (SELECT id FROM account WHERE address = 'ann@example.org')"
  run store-check "${STORE[@]}"
  assert_status 1
  assert_output_contains 'account ann@example.org: mailbox "Inbox": uid_next 2 but UID 3 is in use'
  run store-check "${STORE[@]}" --repair
  assert_status 0
  run store-deliver "${STORE[@]}" ann@example.org < msg1.eml
  assert_status 0
  assert_output_contains "Inbox uid 4"
}

@test "store-check: an email in no mailbox is put into Inbox, never deleted" {
  sql "DELETE FROM member WHERE email_id = (SELECT id FROM email WHERE message_id = '2@example.net' AND account_id = (SELECT id FROM account WHERE address = 'ann@example.org'))"
  run store-check "${STORE[@]}"
  assert_status 1
  assert_output_contains "<2@example.net> is in no mailbox"
  run store-check "${STORE[@]}" --repair
  assert_status 0
  assert_output_contains "is in no mailbox (repaired)"
  run sql "SELECT b.path, x.uid FROM member x JOIN mailbox b ON b.id = x.mailbox_id JOIN email e ON e.id = x.email_id WHERE e.message_id = '2@example.net'"
  [ "$output" = "Inbox|4" ]
  run store-check "${STORE[@]}"
  assert_status 0
}

@test "store-check: missing search rows are rebuilt from the blob" {
  store-search "${STORE[@]}" --index
  before=$(sql "SELECT body FROM email_text WHERE email_id = (SELECT min(id) FROM email WHERE message_id = '3@example.net')")
  sql "DELETE FROM email_text; DELETE FROM email_words WHERE email_id = (SELECT min(id) FROM email)"
  run store-check "${STORE[@]}"
  assert_status 1
  assert_output_contains "has no search rows (email_text and email_words)"
  assert_output_contains "has no search rows (email_text)"
  run store-check "${STORE[@]}" --repair
  assert_status 0
  assert_output_contains "(0 waiting for text indexing)"
  after=$(sql "SELECT body FROM email_text WHERE email_id = (SELECT min(id) FROM email WHERE message_id = '3@example.net')")
  [ -n "$after" ] && [ "$before" = "$after" ]
  # The full-text index follows the rebuilt rows (SQLite triggers).
  [ "$(sql "SELECT count(*) FROM email_text_fts WHERE email_text_fts MATCH '\"number 3\"'")" = 1 ]
  run store-check "${STORE[@]}"
  assert_status 0
}

@test "store-check: a lost blob is reported and left; --deep finds corrupted bytes" {
  rm "$(blob_path 3@example.net)"
  run store-check "${STORE[@]}" --repair
  assert_status 1
  assert_output_contains "account ann@example.org: email 3 <3@example.net>: its blob"
  assert_output_contains "is missing (cannot be repaired)"
  [ "$(sql "SELECT count(*) FROM email WHERE message_id = '3@example.net'")" = 1 ]
  f=$(blob_path 2@example.net)
  chmod u+w "$f"
  printf 'X' >> "$f"
  run store-check "${STORE[@]}"
  assert_status 1
  [[ "$output" != *"hash to"* ]]
  run store-check "${STORE[@]}" --deep
  assert_status 1
  assert_output_contains "the bytes hash to"
}

@test "store-check: a queued message missing its bytes or recipients is reported, not repaired" {
  printf 'Subject: q\r\n\r\nqueued\r\n' > q.eml
  a=$(queue-ctl "${STORE[@]}" add -f bob@example.net ann@example.org < q.eml)
  b=$(queue-ctl "${STORE[@]}" add -f bob@example.net ann@example.org < q.eml)
  c=$(queue-ctl "${STORE[@]}" add -f bob@example.net ann@example.org < q.eml)
  run store-check "${STORE[@]}" --json
  assert_status 0
  python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["queued"] == 3 and d["left"] == 0, d' <<<"$output"
  sql "DELETE FROM queue_data WHERE queue_id = '$a'"
  sql "UPDATE queue_message SET size = size + 1 WHERE id = '$b'"
  sql "DELETE FROM queue_recipient WHERE queue_id = '$c'"
  run store-check "${STORE[@]}" --repair
  assert_status 1
  assert_output_contains "queued message $a: no bytes"
  assert_output_contains "queued message $b: size"
  assert_output_contains "queued message $c: no recipients"
  queue-ctl "${STORE[@]}" drop "$a" "$b" "$c"
  run store-check "${STORE[@]}"
  assert_status 0
}

@test "store-check: orphaned blobs only after the grace period; --repair removes them" {
  # A file a crashed delivery left (no row), and a row whose last email was destroyed.
  printf 'From: x@example.net\r\n\r\nnever committed\r\n' > orphan.eml
  id=$(sha256sum orphan.eml | cut -c1-64)
  mkdir -p "blobs/${id:0:2}/${id:2:2}"
  cp orphan.eml "blobs/${id:0:2}/$id"
  run store-check "${STORE[@]}"
  assert_status 0
  touch -d '2 hours ago' "blobs/${id:0:2}/$id"
  gone=$(sql "SELECT blob_id FROM email WHERE message_id = '3@example.net'")
  sql "DELETE FROM email_header WHERE email_id IN (SELECT id FROM email WHERE message_id = '3@example.net'); DELETE FROM email_text WHERE email_id IN (SELECT id FROM email WHERE message_id = '3@example.net'); DELETE FROM email_words WHERE email_id IN (SELECT id FROM email WHERE message_id = '3@example.net'); DELETE FROM member WHERE email_id IN (SELECT id FROM email WHERE message_id = '3@example.net'); DELETE FROM email WHERE message_id = '3@example.net'; UPDATE blob SET refs = 0, orphaned_at = strftime('%s', 'now') - 7200 WHERE id = '$gone'; UPDATE account SET used_bytes = (SELECT sum(size) FROM email WHERE account_id = account.id)"
  run store-check "${STORE[@]}"
  assert_status 1
  assert_output_contains "blob ${id:0:16}…: orphan file (no row, 2h old)"
  assert_output_contains "blob ${gone:0:16}…: orphan (unreferenced for 2h)"
  run store-check "${STORE[@]}" --grace 10000
  assert_status 0
  run store-check "${STORE[@]}" --repair
  assert_status 0
  [ ! -e "blobs/${id:0:2}/$id" ]
  [ ! -e "blobs/${gone:0:2}/$gone" ]
  [ "$(sql "SELECT count(*) FROM blob WHERE id = '$gone'")" = 0 ]
  run store-check "${STORE[@]}" --grace 0 --deep
  assert_status 0
}

@test "store-check: parents and roles are reported, not repaired; --account limits the check" {
  sql "UPDATE mailbox SET role = 'inbox' WHERE path = 'Archive' AND account_id = (SELECT id FROM account WHERE address = 'bob@example.org')" 2>/dev/null || {
    # The unique index forbids a second role; drop it the way a broken migration might.
    sql "DROP INDEX mailbox_role"
    sql "UPDATE mailbox SET role = 'inbox' WHERE path = 'Archive' AND account_id = (SELECT id FROM account WHERE address = 'bob@example.org')"
  }
  sql "PRAGMA foreign_keys = OFF; UPDATE mailbox SET parent_id = 9999 WHERE path = 'Junk' AND account_id = (SELECT id FROM account WHERE address = 'bob@example.org')"
  run store-check "${STORE[@]}" --repair
  assert_status 1
  assert_output_contains 'account bob@example.org: role inbox is on 2 mailboxes: "Archive", "Inbox" (cannot be repaired)'
  assert_output_contains 'account bob@example.org: mailbox "Junk": parent mailbox 9999 is missing'
  run store-check "${STORE[@]}" --account ann@example.org
  assert_status 0
  assert_output_contains "checked 1 accounts, 6 mailboxes, 3 emails (3 waiting for text indexing), 3 blobs: no problems"
  run store-check "${STORE[@]}" --account Bob@Example.org --json
  assert_status 1
  python3 -c 'import json, sys; d = json.load(sys.stdin); assert d["left"] == 2 and {p["kind"] for p in d["problems"]} == {"role", "parent"} and all(p["account"] == "bob@example.org" for p in d["problems"]), d' <<<"$output"
}

@test "store-check: exit codes (usage 64, no account 67, no store 69, unreachable 69 or 75, config 78)" {
  run store-check "${STORE[@]}" --grace -5
  assert_status 64
  run store-check "${STORE[@]}" --bogus
  assert_status 64
  run store-check "${STORE[@]}" --account nobody@example.org
  assert_status 67
  run store-check --store "sqlite:$BATS_TEST_TMPDIR/absent.db"
  assert_status 69
  [ ! -e "$BATS_TEST_TMPDIR/absent.db" ]
  run store-check --store "postgresql://postern@127.0.0.1:1/none?connect_timeout=2"
  [ "$status" -eq 69 ] || [ "$status" -eq 75 ] || { echo "$output"; false; }
  printf 'store:\n  engine: sqlite\n  bogus_key: 1\n' > bad.yaml
  run store-check -c bad.yaml
  assert_status 78
}

@test "store-check: PostgreSQL with blobs in the database" {
  require_pg
  url=$(pg_fresh_url)
  [ -n "$url" ]
  PG=(--store "$url" --blob-dir db)
  account-ctl "${PG[@]}" domain add example.org
  account-ctl "${PG[@]}" add ann@example.org
  store-deliver "${PG[@]}" ann@example.org < msg1.eml > /dev/null
  store-deliver "${PG[@]}" ann@example.org < msg2.eml > /dev/null
  run store-check "${PG[@]}" --deep
  assert_status 0
  store-search "${PG[@]}" --index
  psql -q "$url" -c "UPDATE account SET used_bytes = 1; UPDATE blob SET refs = 3; UPDATE mailbox SET uid_next = 1 WHERE path = 'Inbox'; DELETE FROM email_words"
  run store-check "${PG[@]}"
  assert_status 1
  assert_output_contains "used_bytes 1 but emails sum to"
  assert_output_contains 'mailbox "Inbox": uid_next 1 but UID 2 is in use'
  assert_output_contains "refs 3 but 1 email refers to it"
  assert_output_contains "has no search rows (email_words)"
  run store-check "${PG[@]}" --repair
  assert_status 0
  run store-check "${PG[@]}" --deep
  assert_status 0
  run store-deliver "${PG[@]}" ann@example.org < msg3.eml
  assert_output_contains "Inbox uid 3"
}
