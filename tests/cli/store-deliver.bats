#!/usr/bin/env bats
# store-deliver: mailbox choice (Inbox, +detail, -m, Junk), aliases, per-account spam
# verdicts, exit codes an MTA relies on, concurrent deliveries, and the same on PostgreSQL.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org
  account-ctl "${STORE[@]}" add ann@example.org
  printf 'From: bob@example.net\nTo: ann@example.org\nSubject: hello\nMessage-ID: <1@example.net>\n\nHi Ann.\n' > msg.eml
}

# The stored bytes of a delivery, from its --json line.
stored_bytes() {
  local id
  id=$(sed -E 's/.*"blob_id":"([0-9a-f]+)".*/\1/' <<<"$1")
  cat "$BATS_TEST_TMPDIR/blobs/${id:0:2}/$id"
}

@test "store-deliver: into Inbox with consecutive UIDs, CRLF, Return-Path and Delivered-To" {
  run store-deliver "${STORE[@]}" -f bob@example.net ann@example.org < msg.eml
  assert_status 0
  [ "$output" = "ann@example.org: delivered to ann@example.org Inbox uid 1" ]
  run store-deliver "${STORE[@]}" --json -f bob@example.net ann@example.org < msg.eml
  assert_status 0
  assert_output_contains '"mailbox":"Inbox","uid":2'
  bytes=$(stored_bytes "$output" | od -c)
  [[ "$bytes" == *'\r  \n'* ]]
  stored_bytes "$output" | head -n 2 | tr -d '\r' > head.txt
  printf 'Return-Path: <bob@example.net>\nDelivered-To: ann@example.org\n' | diff - head.txt
  # Every line ends CRLF: no LF without CR before it.
  [ "$(stored_bytes "$output" | grep -c $'[^\r]$')" -eq 0 ]
}

@test "store-deliver: +detail picks an existing mailbox, else Inbox; -m with --create-mailbox" {
  run store-deliver "${STORE[@]}" ann+lists@example.org < msg.eml
  assert_output_contains "Inbox uid 1"
  run store-deliver "${STORE[@]}" -m Lists --create-mailbox ann@example.org < msg.eml
  assert_status 0
  assert_output_contains "Lists uid 1"
  run store-deliver "${STORE[@]}" ann+LISTS@example.org < msg.eml
  assert_output_contains "Lists uid 2"
  # -m naming a missing mailbox without --create-mailbox falls back to Inbox.
  run store-deliver "${STORE[@]}" -m Nowhere ann@example.org < msg.eml
  assert_status 0
  assert_output_contains "Inbox uid 2"
}

@test "store-deliver: X-Spam-Flag counts only above the first Received field" {
  printf 'X-Spam-Flag: YES\nReceived: from a by b; Sat, 28 Nov 2026 10:00:00 +0000\nFrom: x@example.net\n\nspam\n' > ours.eml
  printf 'Received: from a by b; Sat, 28 Nov 2026 10:00:00 +0000\nX-Spam-Flag: YES\nFrom: x@example.net\n\nnot ours\n' > theirs.eml
  run store-deliver "${STORE[@]}" ann@example.org < ours.eml
  assert_output_contains "Junk uid 1"
  run store-deliver "${STORE[@]}" ann@example.org < theirs.eml
  assert_output_contains "Inbox uid 1"
  run store-deliver "${STORE[@]}" --junk ann+whatever@example.org < msg.eml
  assert_output_contains "Junk uid 2"
}

@test "store-deliver: aliases fan out, catch-all only when nothing else matches" {
  account-ctl "${STORE[@]}" add bob@example.org
  account-ctl "${STORE[@]}" alias add team@example.org ann@example.org
  account-ctl "${STORE[@]}" alias add team@example.org bob@example.org
  account-ctl "${STORE[@]}" alias add @example.org bob@example.org
  run store-deliver "${STORE[@]}" team@example.org < msg.eml
  assert_status 0
  assert_output_contains "ann@example.org Inbox uid 1"
  assert_output_contains "bob@example.org Inbox uid 1"
  run store-deliver "${STORE[@]}" anyone@example.org < msg.eml
  assert_output_contains "bob@example.org Inbox uid 2"
  run store-deliver "${STORE[@]}" ann@example.org < msg.eml
  assert_output_contains "ann@example.org Inbox uid 2"
}

@test "store-deliver: unknown user or domain 67, not a message 65, loop 69" {
  run store-deliver "${STORE[@]}" nobody@example.org < msg.eml
  assert_status 67
  assert_output_contains "5.1.1"
  run store-deliver "${STORE[@]}" ann@elsewhere.example < msg.eml
  assert_status 67
  run store-deliver "${STORE[@]}" ann@example.org < /dev/null
  assert_status 65
  printf '\x00\x01binary junk\n' > junk.bin
  run store-deliver "${STORE[@]}" ann@example.org < junk.bin
  assert_status 65
  printf 'Delivered-To: ann@example.org\nFrom: x@example.net\n\nlooping\n' > loop.eml
  run store-deliver "${STORE[@]}" ann@example.org < loop.eml
  assert_status 69
  assert_output_contains "5.4.6"
}

@test "store-deliver: over quota bounces (69) or defers with --quota-tempfail (75)" {
  account-ctl "${STORE[@]}" quota ann@example.org 1K
  head -c 3000 /dev/zero | tr '\0' x > big.txt
  { cat msg.eml; cat big.txt; echo; } > big.eml
  run store-deliver "${STORE[@]}" ann@example.org < big.eml
  assert_status 69
  assert_output_contains "5.2.2"
  run store-deliver "${STORE[@]}" --quota-tempfail ann@example.org < big.eml
  assert_status 75
  assert_output_contains "4.2.2"
  # A small message still fits.
  run store-deliver "${STORE[@]}" ann@example.org < msg.eml
  assert_status 0
}

@test "store-deliver: a missing store is temporary (75), never a bounce" {
  run store-deliver --store "sqlite:$BATS_TEST_TMPDIR/none/store.db" ann@example.org < msg.eml
  assert_status 75
  run store-deliver --store "sqlite:$BATS_TEST_TMPDIR/absent.db" ann@example.org < msg.eml
  assert_status 75
  [ ! -e "$BATS_TEST_TMPDIR/absent.db" ]
}

@test "store-deliver: RECIPIENT and SENDER from the environment (Postfix mailbox_command)" {
  RECIPIENT=ann@example.org SENDER= run store-deliver "${STORE[@]}" --json < msg.eml
  assert_status 0
  stored_bytes "$output" | head -n 1 | grep -q '^Return-Path: <>'
  run store-deliver "${STORE[@]}" < msg.eml
  assert_status 64
}

@test "store-deliver: after spam-score, an account's own classifier model files its copy" {
  account-ctl "${STORE[@]}" add bob@example.org
  printf 'spam:\n  bayes_min_learned: 3\n  cache_dir: %s\n' "$BATS_TEST_TMPDIR/cache" > postern.yaml
  # Ann has taught her own model that lottery mail is spam and meeting notes are not.
  write_lottery_lesson 4
  spam-train "${STORE[@]}" --user ann@example.org --spam s?.eml >/dev/null
  spam-train "${STORE[@]}" --user ann@example.org --ham h?.eml >/dev/null
  # The global model knows nothing: spam-score calls it ham.
  spam-score -c postern.yaml "${STORE[@]}" < lotto.eml > scored.eml
  grep -q '^X-Spam-Status: No' scored.eml
  run store-deliver -c postern.yaml "${STORE[@]}" ann@example.org bob@example.org < scored.eml
  assert_status 0
  assert_output_contains "ann@example.org: delivered to ann@example.org Junk uid 1"
  assert_output_contains "bob@example.org: delivered to bob@example.org Inbox uid 1"
  run store-search "${STORE[@]}" -a ann@example.org -m Junk --json claim
  assert_output_contains '"keywords":["$junk"]'
  # Unscored mail, or spam.bayes off: the message's own fields decide, for everyone.
  run store-deliver -c postern.yaml "${STORE[@]}" ann@example.org < lotto.eml
  assert_output_contains "Inbox uid 1"
  run store-deliver -c postern.yaml --set spam.bayes=false "${STORE[@]}" ann@example.org < scored.eml
  assert_output_contains "Inbox uid 2"
}

@test "store-deliver: 24 concurrent deliveries get 24 distinct UIDs" {
  for i in $(seq 1 24); do
    store-deliver "${STORE[@]}" ann@example.org < msg.eml > "out.$i" 2>"err.$i" &
  done
  wait
  cat out.* | sed -E 's/.* uid //' | sort -n > uids
  seq 1 24 | diff - uids
}

@test "store-deliver: the same deliveries on PostgreSQL (blobs in the database)" {
  require_pg
  url=$(pg_fresh_url)
  PG=(--store "$url" --blob-dir db)
  account-ctl "${PG[@]}" domain add example.org
  account-ctl "${PG[@]}" add ann@example.org
  run store-deliver "${PG[@]}" ann+lists@example.org < msg.eml
  assert_status 0
  assert_output_contains "Inbox uid 1"
  for i in $(seq 1 12); do store-deliver "${PG[@]}" ann@example.org < msg.eml > "pg.$i" & done
  wait
  cat pg.* | sed -E 's/.* uid //' | sort -n > uids
  seq 2 13 | diff - uids
  run store-deliver "${PG[@]}" nobody@example.org < msg.eml
  assert_status 67
}
