#!/usr/bin/env bats
# store-migrate: whole-store copies SQLite -> SQLite and SQLite -> PostgreSQL -> SQLite
# compared table by table and blob by blob, search on the copies, a non-empty target
# (65, --force), resume after kill -9, a verification mismatch (70), bad URLs.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  mkdir -p a b c
}

# Fills the store given as arguments: two accounts, an alias, an app password, mail in
# Inbox, a +detail mailbox, Junk, a non-ASCII subject, a deleted account (so id sequences
# run ahead of the rows); all but the last email indexed, that one waits in email_pending.
fill() {
  account-ctl "$@" domain add example.org >/dev/null
  account-ctl "$@" add ann@example.org --name "Ann Example" >/dev/null
  account-ctl "$@" add bob@example.org >/dev/null
  account-ctl "$@" add gone@example.org >/dev/null
  account-ctl "$@" alias add team@example.org ann@example.org >/dev/null
  account-ctl "$@" alias add team@example.org bob@example.org >/dev/null
  account-ctl "$@" app-password add ann@example.org phone >/dev/null
  printf 'From: Bob <bob@example.net>\nTo: ann@example.org\nSubject: asdfghjkl test\nMessage-ID: <1@example.net>\n\nThe meetings are on Monday.\n' |
    store-deliver "$@" ann@example.org >/dev/null
  printf 'From: Carol <carol@example.net>\nTo: ann@example.org\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus Z\xc3\xbcrich\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nOne meeting tomorrow, Gr\xc3\xbc\xc3\x9fe.\n' |
    store-deliver "$@" ann@example.org >/dev/null
  printf 'From: List <list@example.net>\nTo: ann+lists@example.org\nSubject: digest\nIn-Reply-To: <1@example.net>\n\nlist mail\n' |
    store-deliver "$@" -m Lists --create-mailbox ann@example.org >/dev/null
  printf 'From: List <list@example.net>\nTo: ann+lists@example.org\nSubject: digest 2\n\nmore list mail\n' |
    store-deliver "$@" ann+lists@example.org >/dev/null
  printf 'From: Spam <s@example.net>\nTo: bob@example.org\nSubject: cheap\n\nbuy\n' |
    store-deliver "$@" --junk bob@example.org >/dev/null
  store-search "$@" --index >/dev/null
  printf 'From: Dan <dan@example.net>\nTo: team@example.org\nSubject: team news\n\nhello team\n' |
    store-deliver "$@" team@example.org >/dev/null
  account-ctl "$@" del gone@example.org >/dev/null
}

# Moves Ann's Archive (an early id) under Lists (a later one), as a rename would: a copy
# in id order meets the child before its parent.
nest_backwards() {
  sqlite3 "$1" "UPDATE mailbox SET parent_id = (SELECT id FROM mailbox WHERE path = 'Lists'), path = 'Lists/Archive' WHERE path = 'Archive' AND account_id = (SELECT id FROM account WHERE address = 'ann@example.org')"
  [ "$(sqlite3 "$1" "SELECT count(*) FROM mailbox WHERE parent_id > id")" = 1 ]
}

# The tables of a SQLite store worth comparing: all but migrate_progress and the FTS5
# index internals (shadow tables; their layout depends on insert batching, their
# content is checked by searching).
sqlite_tables() {
  sqlite3 "$1" "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'migrate_progress' AND name NOT LIKE '%\_fts\_%' ESCAPE '\' ORDER BY name"
}

# Fails unless two SQLite stores hold the same schema and the same rows in every table.
same_sqlite() {
  local a=$1 b=$2 t n cols
  [ "$(sqlite_tables "$a")" = "$(sqlite_tables "$b")" ]
  diff <(sqlite3 "$a" "SELECT sql FROM sqlite_master WHERE name <> 'migrate_progress' ORDER BY name") \
    <(sqlite3 "$b" "SELECT sql FROM sqlite_master WHERE name <> 'migrate_progress' ORDER BY name")
  for t in $(sqlite_tables "$a"); do
    n=$(sqlite3 "$a" "SELECT count(*) FROM pragma_table_info('$t')")
    cols=$(seq -s, 1 "$n")
    diff <(sqlite3 -cmd '.mode quote' "$a" "SELECT * FROM $t ORDER BY $cols") \
      <(sqlite3 -cmd '.mode quote' "$b" "SELECT * FROM $t ORDER BY $cols") ||
      { echo "table $t differs" >&2; return 1; }
  done
}

# The subjects store-search finds, sorted.
subjects() { store-search "$@" | cut -f4 | sort; }

check_search() {
  [ "$(subjects "$@" -a ann@example.org sdfghjk)" = "asdfghjkl test" ]
  [ "$(subjects "$@" -a ann@example.org -f subject grüße)" = "Grüße aus Zürich" ]
  [ "$(subjects "$@" -a ann@example.org --words meeting)" = "Grüße aus Zürich" ]
  [ "$(subjects "$@" -a ann@example.org -m Lists digest)" = $'digest\ndigest 2' ]
  [ "$(subjects "$@" -a bob@example.org -m Junk buy)" = "cheap" ]
}

# An mbox of $1 small messages.
mbox_of() {
  awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) {
    printf "From sender@example.net Sat Nov 28 10:00:00 2026\n"
    printf "From: sender%d@example.net\nTo: ann@example.org\nSubject: message %d\nMessage-ID: <%d@example.net>\n\nbody of message %d\n\n", i % 7, i, i, i } }'
}

@test "store-migrate: SQLite -> SQLite copies every row and blob; search works on the copy" {
  fill --store sqlite:a/store.db
  nest_backwards a/store.db
  run store-migrate --from sqlite:a/store.db --to sqlite:b/store.db
  assert_status 0
  assert_output_contains "migrated sqlite:a/store.db -> sqlite:b/store.db"
  assert_output_contains "$(sqlite3 a/store.db 'SELECT count(*) FROM blob') blobs"
  same_sqlite a/store.db b/store.db
  diff -r a/blobs b/blobs
  [ "$(sqlite3 b/store.db 'SELECT count(*) FROM email_pending')" = 2 ]
  check_search --store sqlite:b/store.db
  [ "$(subjects --store sqlite:b/store.db -a bob@example.org hello)" = "team news" ]
  [ "$(sqlite3 b/store.db 'SELECT count(*) FROM email_pending')" = 0 ]
  # The FTS indexes were rebuilt by the triggers and agree with their content tables.
  sqlite3 b/store.db "INSERT INTO email_text_fts(email_text_fts, rank) VALUES ('integrity-check', 1)"
  sqlite3 b/store.db "INSERT INTO email_words_fts(email_words_fts, rank) VALUES ('integrity-check', 1)"
  # No progress table is left behind; the deleted account's id is not reused.
  [ "$(sqlite3 b/store.db "SELECT count(*) FROM sqlite_master WHERE name = 'migrate_progress'")" = 0 ]
  account-ctl --store sqlite:b/store.db add new@example.org
  [ "$(sqlite3 b/store.db "SELECT id FROM account WHERE address = 'new@example.org'")" = 4 ]
}

@test "store-migrate: SQLite -> PostgreSQL -> SQLite gives back the same store; --json" {
  require_pg
  pg=$(pg_fresh_url)
  fill --store sqlite:a/store.db
  nest_backwards a/store.db
  run store-migrate --from sqlite:a/store.db --to "$pg" --json
  assert_status 0
  assert_output_contains '"result":"ok"'
  assert_output_contains '"resumed":false'
  blobs=$(sqlite3 a/store.db 'SELECT count(*) FROM blob')
  assert_output_contains "\"blobs\":$blobs"
  # Blobs went into the database; search answers there as on SQLite.
  [ "$(psql -Atq "$pg" -c 'SELECT count(*) FROM blob_data')" = "$blobs" ]
  check_search --store "$pg"
  run store-migrate --from "$pg" --to sqlite:c/store.db
  assert_status 0
  store-search --store sqlite:a/store.db --index >/dev/null  # as the search on $pg did
  same_sqlite a/store.db c/store.db
  diff -r a/blobs c/blobs
  check_search --store sqlite:c/store.db
  # PostgreSQL's identities continue after the source's high-water mark too.
  account-ctl --store "$pg" add new@example.org
  [ "$(psql -Atq "$pg" -c "SELECT id FROM account WHERE address = 'new@example.org'")" = 4 ]
}

@test "store-migrate: a target holding data is refused (65) unless --force" {
  fill --store sqlite:a/store.db
  account-ctl --store sqlite:b/store.db domain add other.example >/dev/null
  account-ctl --store sqlite:b/store.db add zed@other.example >/dev/null
  run store-migrate --from sqlite:a/store.db --to sqlite:b/store.db
  assert_status 65
  assert_output_contains "already holds data"
  assert_output_contains "domain (1 row)"
  assert_output_contains "account (1 row)"
  assert_output_contains "--force"
  [ "$(sqlite3 b/store.db "SELECT name FROM domain")" = other.example ]
  run store-migrate --from sqlite:a/store.db --to sqlite:b/store.db --force --progress
  assert_status 0
  # --progress draws on stderr even when it is not a terminal; without it, nothing.
  assert_output_contains $'\rcopying email'
  assert_output_contains "verifying"
  same_sqlite a/store.db b/store.db
  [ "$(sqlite3 b/store.db "SELECT count(*) FROM domain WHERE name = 'other.example'")" = 0 ]
  run store-migrate --from sqlite:a/store.db --to sqlite:c/store.db
  assert_status 0
  [[ "$output" != *$'\r'* ]]
}

# Starts store-migrate "$@" in the background, waits until it has committed some batches
# (migrate_progress rows counted by the command in $PROGRESS_CMD), kills it with SIGKILL.
migrate_and_kill() {
  store-migrate "$@" >killed.out 2>&1 &
  local pid=$! n=0 i
  for i in $(seq 1 400); do
    n=$(eval "$PROGRESS_CMD" 2>/dev/null || true)
    [ "${n:-0}" -ge 300 ] 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# A store of 1500 small messages in a/, made once per file (importing takes a while).
big_store() {
  local made="$BATS_FILE_TMPDIR/big"
  if [ ! -e "$made/store.db" ]; then
    mkdir -p "$made"
    account-ctl --store "sqlite:$made/store.db" domain add example.org >/dev/null
    account-ctl --store "sqlite:$made/store.db" add ann@example.org >/dev/null
    mbox_of 1500 >"$made/big.mbox"
    store-import --store "sqlite:$made/store.db" -q -a ann@example.org "$made/big.mbox" >/dev/null
  fi
  rm -rf a
  cp -r "$made" a
  [ "$(sqlite3 a/store.db 'SELECT count(*) FROM email')" = 1500 ]
}

@test "store-migrate: killed with SIGKILL, a rerun resumes and verifies (SQLite -> SQLite)" {
  big_store
  PROGRESS_CMD="sqlite3 b/store.db 'SELECT sum(\"rows\") FROM migrate_progress'"
  migrate_and_kill --from sqlite:a/store.db --to sqlite:b/store.db --batch 50
  # It was stopped half-way: progress rows remain, and no summary was printed.
  [ "$(sqlite3 b/store.db "SELECT count(*) FROM migrate_progress")" -ge 1 ]
  run grep -c migrated killed.out
  [ "$output" = 0 ]
  run store-migrate --from sqlite:a/store.db --to sqlite:b/store.db --batch 50
  assert_status 0
  assert_output_contains "resumed and finished"
  # Only what the killed run had not committed was copied again.
  rows=$(sed -nE 's/.*, ([0-9]+) rows, .*/\1/p' <<<"$output")
  copied=$(sed -nE 's/.*this run copied ([0-9]+) rows.*/\1/p' <<<"$output")
  [ "$copied" -gt 0 ] && [ "$copied" -lt "$rows" ]
  same_sqlite a/store.db b/store.db
  diff -r a/blobs b/blobs
  [ "$(store-search --store sqlite:b/store.db -a ann@example.org -f subject 'message 1499' | wc -l)" = 1 ]
}

@test "store-migrate: killed with SIGKILL, a rerun resumes and verifies (SQLite -> PostgreSQL)" {
  require_pg
  pg=$(pg_fresh_url)
  big_store
  PROGRESS_CMD="psql -Atq '$pg' -c 'SELECT COALESCE(sum(\"rows\"), 0) FROM migrate_progress'"
  migrate_and_kill --from sqlite:a/store.db --to "$pg" --batch 50
  [ "$(psql -Atq "$pg" -c 'SELECT count(*) FROM migrate_progress')" -ge 1 ]
  run store-migrate --from sqlite:a/store.db --to "$pg" --batch 50 --json
  assert_status 0
  assert_output_contains '"resumed":true'
  assert_output_contains '"messages":1500'
  [ "$(psql -Atq "$pg" -c 'SELECT count(*) FROM email')" = 1500 ]
  [ "$(psql -Atq "$pg" -c "SELECT to_regclass('migrate_progress') IS NULL")" = t ]
}

@test "store-migrate: a target changed behind a resumable copy fails verification (70)" {
  big_store
  PROGRESS_CMD="sqlite3 b/store.db 'SELECT sum(\"rows\") FROM migrate_progress'"
  migrate_and_kill --from sqlite:a/store.db --to sqlite:b/store.db --batch 50
  [ "$(sqlite3 b/store.db "SELECT done FROM migrate_progress WHERE tbl = 'domain'")" = 1 ]
  sqlite3 b/store.db "UPDATE domain SET name = 'changed.example'"
  run store-migrate --from sqlite:a/store.db --to sqlite:b/store.db
  assert_status 70
  assert_output_contains "verification failed: table domain"
  # That copy is over: a rerun sees a non-empty target, --force starts again.
  run store-migrate --from sqlite:a/store.db --to sqlite:b/store.db
  assert_status 65
  run store-migrate --from sqlite:a/store.db --to sqlite:b/store.db --force
  assert_status 0
  assert_output_contains "migrated"
  same_sqlite a/store.db b/store.db
}

@test "store-migrate: usage and unreachable stores" {
  fill --store sqlite:a/store.db
  run store-migrate --to sqlite:b/store.db
  assert_status 64
  run store-migrate --from nowhere:x --to sqlite:b/store.db
  assert_status 78
  assert_output_contains "neither sqlite:PATH nor a PostgreSQL URL"
  run store-migrate --from sqlite:a/store.db --to sqlite:b/store.db --batch 0
  assert_status 64
  run store-migrate --from sqlite:a/store.db --to sqlite:a/store.db
  assert_status 64
  assert_output_contains "same database"
  run store-migrate --from sqlite:missing/store.db --to sqlite:b/store.db
  assert_status 69
  assert_output_contains "no SQLite store"
  [ ! -e missing/store.db ]
  run store-migrate --from sqlite:a/store.db --to "postgresql://postern@127.0.0.1:1/none"
  assert_status 69
  assert_output_contains "cannot connect"
}

@test "store-migrate: a PostgreSQL database ordering text by ICU rules verifies in byte order" {
  [ -n "${POSTERN_PG_URL:-}" ] || skip "no PostgreSQL test cluster (POSTERN_PG_URL unset)"
  name="icu_$(date +%s%N)_$$"
  psql -q "$POSTERN_PG_URL" -c "CREATE DATABASE $name TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'" 2>/dev/null ||
    skip "this PostgreSQL cannot create an ICU database"
  pg="${POSTERN_PG_URL%/*}/$name"
  fill --store sqlite:a/store.db
  # References whose order differs between byte order and ICU's (punctuation, case).
  sqlite3 a/store.db "INSERT INTO email_ref (email_id, account_id, ref) SELECT id, account_id, r FROM email, (SELECT 'a-b@x' AS r UNION ALL SELECT 'ab@x' UNION ALL SELECT 'B@x' UNION ALL SELECT 'a.c@x') WHERE id = 1"
  run store-migrate --from sqlite:a/store.db --to "$pg" --batch 2
  assert_status 0
  run store-migrate --from "$pg" --to sqlite:b/store.db --batch 2
  assert_status 0
  same_sqlite a/store.db b/store.db
  psql -q "$POSTERN_PG_URL" -c "DROP DATABASE $name" >/dev/null 2>&1 || true
}
