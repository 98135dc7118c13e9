#!/usr/bin/env bats
# Crash safety of local delivery with real processes (driver: store-crash.py).
#   SQLite: store-deliver SIGKILLed at seeded random moments, several at once; every
#     delivery that exited 0 is in the store with its bytes; store-check finds only
#     orphaned blobs and --repair --grace 0 leaves the store clean.
#   PostgreSQL: an own throw-away cluster (tests/pg-cluster), shut down with
#     stop-immediate (a crash) while two workers deliver, then started again: every
#     exit-0 delivery is there, every other one exited 75.
# STORE_CRASH_ROUNDS (default 100) sets the SQLite rounds (`make soak` runs thousands);
# STORE_CRASH_SEED fixes the seed (default: random, printed on failure).

bats_require_minimum_version 1.5.0
load ../cli/common

DRIVER="$SRC_DIR/tests/e2e/store-crash.py"

seed() { echo "${STORE_CRASH_SEED:-$(( (RANDOM << 15 | RANDOM) % 1000000 ))}"; }

@test "store-crash: SQLite, store-deliver killed before, during and after its commit" {
  s=$(seed)
  run /usr/bin/python3 "$DRIVER" sqlite --bin "$BIN" --dir "$BATS_TEST_TMPDIR" \
    --rounds "${STORE_CRASH_ROUNDS:-100}" --seed "$s"
  echo "$output"
  [ "$status" -eq 0 ] || { echo "reproduce with STORE_CRASH_SEED=$s"; false; }
}

@test "store-crash: PostgreSQL, immediate shutdown while delivering" {
  [ -n "${POSTERN_PG_URL:-}" ] || skip "no PostgreSQL (POSTERN_PG_URL unset)"
  CLUSTER="$BATS_TEST_TMPDIR/pg"
  mkdir -p "$CLUSTER"
  "$SRC_DIR/tests/pg-cluster" start "$CLUSTER" > /dev/null 2>&1 ||
    skip "cannot start an own PostgreSQL cluster"
  s=$(seed)
  run /usr/bin/python3 "$DRIVER" postgres --bin "$BIN" --dir "$BATS_TEST_TMPDIR" \
    --cluster "$CLUSTER" --pg-cluster "$SRC_DIR/tests/pg-cluster" --seed "$s"
  "$SRC_DIR/tests/pg-cluster" stop "$CLUSTER" > /dev/null 2>&1 || true
  echo "$output"
  [ "$status" -eq 0 ] || { echo "reproduce with STORE_CRASH_SEED=$s"; false; }
}

teardown() {
  if [ -d "$BATS_TEST_TMPDIR/pg/data" ]; then
    "$SRC_DIR/tests/pg-cluster" stop "$BATS_TEST_TMPDIR/pg" > /dev/null 2>&1 || true
  fi
}
