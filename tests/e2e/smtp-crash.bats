#!/usr/bin/env bats
# Crash safety of smtp-listen under load from real SMTP clients (driver: smtp-crash.py).
#   SQLite: smtp-listen SIGKILLed at seeded random moments while concurrent clients
#     (smtplib, raw PIPELINING, BDAT) send 1 KB-200 KB messages; every message that got
#     "250 ... queued as ID" is in the queue under ID with its bytes (SHA-256 of what
#     follows our Received: field), every other queued message is a whole copy of a sent
#     one (a commit whose 250 was lost), and store-check is clean.
#   PostgreSQL: an own throw-away cluster (tests/pg-cluster) is stopped with
#     `pg_ctl stop -m immediate` (pg-cluster stop-immediate, as the postgres user) while
#     clients send: no end of data is answered 250 while it is down (4xx or a dropped
#     connection), every 250'd message is in the queue after the restart, and
#     smtp-listen serves again without being restarted.
# SMTP_CRASH_ROUNDS (default 20, 5 kills each: about 100 kills) sets the SQLite rounds;
# `make soak` runs thousands. SMTP_CRASH_SEED (or SEED) replays a seed (default:
# random, printed on failure).

bats_require_minimum_version 1.5.0
load ../cli/common

DRIVER="$SRC_DIR/tests/e2e/smtp-crash.py"

seed() { echo "${SMTP_CRASH_SEED:-${SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000 ))}}"; }

@test "smtp-crash: SQLite, smtp-listen SIGKILLed under load loses no acknowledged message" {
  s=$(seed)
  run /usr/bin/python3 "$DRIVER" sqlite --bin "$BIN" --dir "$BATS_TEST_TMPDIR" \
    --rounds "${SMTP_CRASH_ROUNDS:-20}" --kills "${SMTP_CRASH_KILLS:-5}" --seed "$s"
  echo "$output"
  [ "$status" -eq 0 ] || { echo "reproduce with SMTP_CRASH_SEED=$s"; false; }
}

@test "smtp-crash: PostgreSQL, immediate shutdown under load: 451, never 250" {
  require_pg
  CLUSTER="$BATS_TEST_TMPDIR/pg"
  mkdir -p "$CLUSTER"
  "$SRC_DIR/tests/pg-cluster" start "$CLUSTER" > /dev/null 2>&1 ||
    skip "cannot start an own PostgreSQL cluster"
  s=$(seed)
  run /usr/bin/python3 "$DRIVER" postgres --bin "$BIN" --dir "$BATS_TEST_TMPDIR" \
    --cluster "$CLUSTER" --pg-cluster "$SRC_DIR/tests/pg-cluster" --seed "$s"
  "$SRC_DIR/tests/pg-cluster" stop "$CLUSTER" > /dev/null 2>&1 || true
  echo "$output"
  [ "$status" -eq 0 ] || { echo "reproduce with SMTP_CRASH_SEED=$s"; false; }
}

teardown() {
  if [ -d "$BATS_TEST_TMPDIR/pg/data" ]; then
    "$SRC_DIR/tests/pg-cluster" stop "$BATS_TEST_TMPDIR/pg" > /dev/null 2>&1 || true
  fi
}
