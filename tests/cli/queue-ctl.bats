#!/usr/bin/env bats
# queue-ctl: add, list (text and JSON, filters), show (--json, --raw byte for byte),
# hold/release/drop with unknown ids, exit codes; on SQLite and PostgreSQL.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  DB="$BATS_TEST_TMPDIR/store.db"
  STORE=(--store "sqlite:$DB")
  account-ctl "${STORE[@]}" domain add example.org   # creates the store
  printf 'From: ann@example.org\nTo: bob@example.net\nSubject: hello\n\nHi Bob.\n' > msg.eml
  printf 'From: ann@example.org\r\nTo: bob@example.net\r\nSubject: hello\r\n\r\nHi Bob.\r\n' > msg.crlf
}

sql() { sqlite3 -bail "$DB" "$@"; }

@test "queue-ctl: an empty queue" {
  run queue-ctl "${STORE[@]}" list
  assert_status 0
  [ "$output" = "queue is empty" ]
  run queue-ctl "${STORE[@]}" list --json
  assert_status 0
  [ -z "$output" ]
}

@test "queue-ctl: add, list and show a message" {
  run queue-ctl "${STORE[@]}" add -f ann@example.org bob@example.net '<carol@example.com>' < msg.eml
  assert_status 0
  id=$output
  [[ "$id" =~ ^[0-9A-HJKMNP-TV-Z]{16}$ ]] || { echo "bad id: $id"; false; }
  run queue-ctl "${STORE[@]}" list
  assert_status 0
  size=$(wc -c < msg.crlf)
  assert_output_contains "$id  active"
  assert_output_contains " $size  "
  assert_output_contains "ann@example.org"
  assert_output_contains "bob@example.net  pending"
  assert_output_contains "carol@example.com  pending"
  [ "${lines[-1]}" = "1 message, 1 KB" ] || { echo "$output"; false; }
  run queue-ctl "${STORE[@]}" show "$id"
  assert_status 0
  assert_output_contains "id: $id"
  assert_output_contains "state: active"
  assert_output_contains "size: $size"
  assert_output_contains "sender: ann@example.org"
  assert_output_contains "recipient: bob@example.net  pending"
  assert_output_contains "listener: queue-ctl"
  assert_output_contains "body: 7BIT"
  # --raw: the bytes as they will be sent, CRLF.
  queue-ctl "${STORE[@]}" show --raw "$id" > raw.out
  cmp raw.out msg.crlf
  run queue-ctl "${STORE[@]}" show --json "$id"
  assert_status 0
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["id"] == sys.argv[2] and d["state"] == "active" and d["sender"] == "ann@example.org", d
assert [r["address"] for r in d["recipients"]] == ["bob@example.net", "carol@example.com"], d
assert all(r["status"] == "pending" for r in d["recipients"]), d
assert d["size"] == int(sys.argv[3]) and d["attempts"] == 0, d
' "$output" "$id" "$size"
  # The rows are where postern-queue(7) says.
  [ "$(sql "SELECT count(*) FROM queue_recipient WHERE queue_id = '$id'")" = 2 ]
  [ "$(sql "SELECT length(data) FROM queue_data WHERE queue_id = '$id'")" = "$size" ]
}

@test "queue-ctl: binary bytes and the null sender survive" {
  printf 'Subject: 8bit\r\n\r\n\xc3\xa9t\xe9\x00 nul\r\nbare\rcr\n' > bin.eml
  id=$(queue-ctl "${STORE[@]}" add -f '<>' bob@example.net < bin.eml)
  # Only the bare LF became CRLF.
  printf 'Subject: 8bit\r\n\r\n\xc3\xa9t\xe9\x00 nul\r\nbare\rcr\r\n' > bin.want
  queue-ctl "${STORE[@]}" show --raw "$id" > bin.out
  cmp bin.out bin.want
  run queue-ctl "${STORE[@]}" show "$id"
  assert_output_contains "sender: <>"
  assert_output_contains "body: BINARYMIME"
  run queue-ctl "${STORE[@]}" list
  assert_output_contains "  <>"
}

@test "queue-ctl: add --requiretls marks the message REQUIRETLS; without it, it is not" {
  printf 'Subject: t\r\n\r\nx\r\n' > m.eml
  rt=$(queue-ctl "${STORE[@]}" add --requiretls -f ann@example.org bob@example.net < m.eml)
  plain=$(queue-ctl "${STORE[@]}" add -f ann@example.org bob@example.net < m.eml)
  run queue-ctl "${STORE[@]}" show "$rt"
  assert_output_contains "requiretls: yes"
  run queue-ctl "${STORE[@]}" show --json "$plain"
  assert_output_contains '"requiretls":false'
}

@test "queue-ctl: list filters by state, sender and recipient; --json is one object a line" {
  a=$(queue-ctl "${STORE[@]}" add -f ann@example.org bob@example.net < msg.eml)
  b=$(queue-ctl "${STORE[@]}" add -f Carol@Example.COM dave@example.org erin@example.net < msg.eml)
  queue-ctl "${STORE[@]}" hold "$b"
  run queue-ctl "${STORE[@]}" list --state hold
  assert_output_contains "$b  hold"
  [[ "$output" != *"$a"* ]]
  run queue-ctl "${STORE[@]}" list --state active
  assert_output_contains "$a  active"
  [[ "$output" != *"$b"* ]]
  run queue-ctl "${STORE[@]}" list --sender carol@example.com
  assert_output_contains "$b"
  [[ "$output" != *"$a"* ]]
  run queue-ctl "${STORE[@]}" list --recipient EXAMPLE.NET
  assert_output_contains "$a"
  assert_output_contains "$b"
  assert_output_contains "2 messages, "
  run queue-ctl "${STORE[@]}" list --recipient nobody
  [ "$output" = "queue is empty" ]
  run queue-ctl "${STORE[@]}" list --json
  assert_status 0
  [ "${#lines[@]}" = 2 ]
  python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.argv[1].splitlines()]
assert [r["id"] for r in rows] == sys.argv[2:], rows
assert rows[1]["state"] == "hold" and len(rows[1]["recipients"]) == 2, rows
' "$output" "$a" "$b"
  run queue-ctl "${STORE[@]}" list --state frozen
  assert_status 64
}

@test "queue-ctl: hold, release and drop; unknown ids are named, the others still done" {
  a=$(queue-ctl "${STORE[@]}" add -f ann@example.org bob@example.net < msg.eml)
  b=$(queue-ctl "${STORE[@]}" add -f ann@example.org bob@example.net < msg.eml)
  sql "UPDATE queue_message SET next_attempt = 4000000000"
  run queue-ctl "${STORE[@]}" hold "$a" NOSUCHID0000000 "$b"
  assert_status 67
  assert_output_contains "no queued message NOSUCHID0000000"
  [ "$(sql "SELECT count(*) FROM queue_message WHERE state = 'hold'")" = 2 ]
  run queue-ctl "${STORE[@]}" release "$a"
  assert_status 0
  [ "$(sql "SELECT state FROM queue_message WHERE id = '$a'")" = active ]
  [ "$(sql "SELECT next_attempt <= strftime('%s', 'now') FROM queue_message WHERE id = '$a'")" = 1 ]
  run queue-ctl "${STORE[@]}" drop 0000000000000000 "$a"
  assert_status 67
  assert_output_contains "no queued message 0000000000000000"
  run queue-ctl "${STORE[@]}" show "$a"
  assert_status 67
  assert_output_contains "no queued message $a"
  run queue-ctl "${STORE[@]}" show --raw "$a"
  assert_status 67
  [ "$(sql "SELECT count(*) FROM queue_data")" = 1 ]
  [ "$(sql "SELECT count(*) FROM queue_recipient")" = 1 ]
  run queue-ctl "${STORE[@]}" drop "$b"
  assert_status 0
  run queue-ctl "${STORE[@]}" list
  [ "$output" = "queue is empty" ]
}

@test "queue-ctl: usage errors and a missing store" {
  run queue-ctl "${STORE[@]}"
  assert_status 64
  run queue-ctl "${STORE[@]}" add bob@example.net < msg.eml
  assert_status 64
  run queue-ctl "${STORE[@]}" add -f ann@example.org < msg.eml
  assert_status 64
  run queue-ctl "${STORE[@]}" add -f ann@example.org 'not an address' < msg.eml
  assert_status 64
  assert_output_contains "is not an address"
  run queue-ctl "${STORE[@]}" hold
  assert_status 64
  [ "$(sql "SELECT count(*) FROM queue_message")" = 0 ]
  run queue-ctl --store "sqlite:$BATS_TEST_TMPDIR/nowhere.db" list
  assert_status 75
  [ ! -e "$BATS_TEST_TMPDIR/nowhere.db" ]
}

@test "queue-ctl: PostgreSQL" {
  require_pg
  url=$(pg_fresh_url)
  [ -n "$url" ]
  PG=(--store "$url" --blob-dir db)
  account-ctl "${PG[@]}" domain add example.org
  printf 'Subject: 8bit\r\n\r\n\xc3\xa9t\xe9\x00 nul\r\n' > bin.eml
  id=$(queue-ctl "${PG[@]}" add -f ann@example.org bob@example.net < bin.eml)
  queue-ctl "${PG[@]}" show --raw "$id" > bin.out
  cmp bin.out bin.eml
  run queue-ctl "${PG[@]}" list --recipient BOB
  assert_output_contains "$id  active"
  assert_output_contains "1 message, 1 KB"
  queue-ctl "${PG[@]}" hold "$id"
  [ "$(psql -Atq "$url" -c "SELECT state FROM queue_message WHERE id = '$id'")" = hold ]
  run queue-ctl "${PG[@]}" drop "$id" 0000000000000000
  assert_status 67
  run queue-ctl "${PG[@]}" list
  [ "$output" = "queue is empty" ]
}

@test "queue-ctl: retry, flush and bounce make messages due (and bounce marks them)" {
  a=$(printf 'Subject: a\r\n\r\nx\r\n' | queue-ctl "${STORE[@]}" add -f ann@example.org bob@example.net)
  b=$(printf 'Subject: b\r\n\r\ny\r\n' | queue-ctl "${STORE[@]}" add -f ann@example.org bob@example.net)
  sql "UPDATE queue_message SET next_attempt = 4000000000"
  run queue-ctl "${STORE[@]}" retry "$a" 0000000000000000
  assert_status 67
  [ "$(sql "SELECT count(*) FROM queue_message WHERE next_attempt < 4000000000")" = 1 ]
  run queue-ctl "${STORE[@]}" flush
  assert_status 0
  [ "$output" = "1 message made due" ]
  [ "$(sql "SELECT count(*) FROM queue_message WHERE next_attempt < 4000000000")" = 2 ]
  queue-ctl "${STORE[@]}" hold "$b"
  queue-ctl "${STORE[@]}" bounce "$b"
  [ "$(sql "SELECT state || ' ' || bounce FROM queue_message WHERE id = '$b'")" = "active 1" ]
  run queue-ctl "${STORE[@]}" flush
  [ "$output" = "0 messages made due" ]
}
