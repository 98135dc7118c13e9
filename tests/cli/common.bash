# Shared set-up for the CLI tier (bats). Each tests/cli/<tool>.bats starts with
#   load common
# and then runs "$BIN/<tool>". Paths come from the environment that tests/run-tests
# sets; the defaults work from a plain `bats tests/cli` in the source tree.

SRC_DIR="$(cd "$(dirname "${BATS_TEST_FILENAME}")/../.." && pwd)"
BIN="${POSTERN_BIN:-$SRC_DIR/build/bin}"
BUILD_DIR="${POSTERN_BUILD:-$(dirname "$BIN")}"
TESTDATA="${POSTERN_TESTDATA:-$SRC_DIR/../shared/testdata}"
FIXTURES="$SRC_DIR/tests/fixtures"
PATH="$BIN:$PATH"
export PATH

# Fails the test with a message unless "$status" equals $1.
assert_status() {
  if [ "$status" -ne "$1" ]; then
    echo "expected exit $1, got $status; output:" >&2
    echo "$output" >&2
    return 1
  fi
}

# Fails unless "$output" contains $1.
assert_output_contains() {
  case "$output" in
    *"$1"*) ;;
    *) echo "expected output to contain: $1" >&2; echo "got: $output" >&2; return 1 ;;
  esac
}

# A toy classifier lesson in the current directory: sN.eml (lottery spam) and hN.eml
# (meeting notes, ham) for N in 1..$1, and lotto.eml, a lottery message to ann@ and
# bob@example.org that a model trained on them calls spam.
write_lottery_lesson() {
  local i
  for i in $(seq 1 "$1"); do
    printf 'From: x@lottery.example\r\nSubject: win %s\r\n\r\nYou won the lottery prize, claim your casino jackpot now %s\r\n' "$i" "$i" > "s$i.eml"
    printf 'From: y@work.example\r\nSubject: notes %s\r\n\r\nMinutes of the planning meeting, agenda for the quarterly review %s\r\n' "$i" "$i" > "h$i.eml"
  done
  printf 'From: Lotto <x@lottery.example>\r\nTo: ann@example.org, bob@example.org\r\nSubject: claim\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <l1@lottery.example>\r\n\r\nYou won the lottery prize, claim your casino jackpot now\r\n' > lotto.eml
}

# Skips the test when there is no PostgreSQL test cluster (tests/run-tests starts one and
# sets POSTERN_PG_URL). Call it before pg_fresh_url: a skip inside $(...) cannot skip.
require_pg() {
  [ -n "${POSTERN_PG_URL:-}" ] || skip "no PostgreSQL test cluster (POSTERN_PG_URL unset)"
}

# A fresh, empty PostgreSQL database on the test cluster; prints its URL.
pg_fresh_url() {
  local name="t_$(date +%s%N)_$$_$RANDOM"
  psql -q -v ON_ERROR_STOP=1 "$POSTERN_PG_URL" -c "CREATE DATABASE $name" >/dev/null
  psql -q -v ON_ERROR_STOP=1 "${POSTERN_PG_URL%/*}/$name" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_trgm" >/dev/null 2>&1 || true
  echo "${POSTERN_PG_URL%/*}/$name"
}

# Prints N free TCP ports on 127.0.0.1 (bound together, so they differ).
free_ports() {
  /usr/bin/python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
