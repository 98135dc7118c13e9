#!/usr/bin/env bats
# postern: its commands, git-style dispatch to the tools, `postern help`, and what it does
# without a supervisor or with a bad configuration. tests/e2e/postern-run.bats runs the
# real supervisor.

load common

# POSTERN_BUILD alone (POSTERN_BUILD=build-sup bats ...) picks that build's programs too.
if [ -z "${POSTERN_BIN:-}" ] && [ -n "${POSTERN_BUILD:-}" ]; then
  BIN="$(cd "$POSTERN_BUILD" && pwd)/bin"
  PATH="$BIN:$PATH"
fi

setup() {
  cd "$BATS_TEST_TMPDIR"
}

@test "postern --help names the commands and the common options" {
  run postern --help
  assert_status 0
  for word in run status reload stop help --config; do
    assert_output_contains "$word"
  done
  run postern status --help
  assert_status 0
  assert_output_contains "--json"
  assert_output_contains "--socket"
}

@test "postern help lists the commands and the tools beside it, with their first --help line" {
  run postern help
  assert_status 0
  for cmd in run status reload stop; do
    grep -Eq "^  $cmd +[a-z]" <<<"$output" || { echo "no command $cmd"; return 1; }
  done
  # The first line of the tool's own --help.
  line=$(dkim-verify --help | head -n1)
  grep -Fq "  dkim-verify" <<<"$output"
  grep -F "  dkim-verify" <<<"$output" | grep -Fq "$line"
  # Every Postern program of the build is listed.
  for bin in "$BIN"/*; do
    name=$(basename "$bin")
    [ "$name" = postern ] && continue
    grep -Eq "^  $name " <<<"$output" || { echo "postern help lacks $name"; return 1; }
  done
}

@test "postern help TOOL shows the tool's help" {
  run postern help dkim-sign
  assert_status 0
  assert_output_contains "Usage: dkim-sign"
}

@test "postern dkim-verify --help runs dkim-verify" {
  run postern dkim-verify --help
  assert_status 0
  assert_output_contains "Usage: dkim-verify"
  expected=$(dkim-verify --help)
  [ "$output" = "$expected" ]
}

@test "postern TOOL passes its arguments and exit status through" {
  printf 'From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n' > m.eml
  run postern msg-parse --json m.eml
  direct=$(msg-parse --json m.eml)
  assert_status 0
  [ "$output" = "$direct" ]
  run postern msg-parse /nonexistent.eml
  through=$status
  run msg-parse /nonexistent.eml
  [ "$status" -ne 0 ]
  [ "$through" -eq "$status" ]
}

@test "postern TOOL finds postern-TOOL beside it and on PATH" {
  mkdir bin
  printf '#!/bin/sh\necho "extra: $*"\nexit 3\n' > bin/postern-extra-test
  chmod +x bin/postern-extra-test
  PATH="$BATS_TEST_TMPDIR/bin:$PATH" run postern extra-test a b
  [ "$status" -eq 3 ]
  [ "$output" = "extra: a b" ]
}

@test "an unknown tool exits 64 with a message" {
  run postern no-such-tool-xyz --flag
  assert_status 64
  assert_output_contains "no-such-tool-xyz"
  assert_output_contains "postern help"
  run postern ../../bin/sh
  assert_status 64
}

@test "postern without a command is a usage error" {
  run postern
  assert_status 64
  run postern status --no-such-option
  assert_status 64
}

@test "postern status, reload and stop without a supervisor exit 69" {
  run postern status --socket "$BATS_TEST_TMPDIR/none.sock"
  assert_status 69
  assert_output_contains "not running"
  cat > postern.yaml <<YAML
server:
  data_dir: $BATS_TEST_TMPDIR/data
YAML
  run postern status -c postern.yaml
  assert_status 69
  assert_output_contains "$BATS_TEST_TMPDIR/data/postern.sock"
  run postern reload -c postern.yaml
  assert_status 69
  run postern stop --socket "$BATS_TEST_TMPDIR/none.sock"
  assert_status 69
  # A socket file nobody listens on (a supervisor that died): not running either.
  /usr/bin/python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' stale.sock
  run postern status --json --socket stale.sock
  assert_status 69
}

@test "postern run with a bad configuration exits 78 naming file:line:col" {
  cat > bad.yaml <<'YAML'
server:
  hostname: mx.example.org
  stop_timeout: soon
listeners:
  - name: mx
    address: 127.0.0.1:2525
    mode: pop3
YAML
  run postern run -c bad.yaml
  assert_status 78
  assert_output_contains "bad.yaml:3:17: server.stop_timeout"
  assert_output_contains "bad.yaml:7:11: listeners[0].mode"
  run postern run -c missing.yaml
  assert_status 78
}

@test "postern run refuses a control socket another supervisor answers on" {
  mkdir data
  /usr/bin/python3 - "$BATS_TEST_TMPDIR/data/postern.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(5)
time.sleep(20)
PY
  py=$!
  for _ in $(seq 50); do [ -S data/postern.sock ] && break; sleep 0.1; done
  cat > postern.yaml <<YAML
server:
  data_dir: $BATS_TEST_TMPDIR/data
  user: nobody
YAML
  run timeout 20 postern run -c postern.yaml
  kill "$py" 2>/dev/null || true
  wait "$py" 2>/dev/null || true
  assert_status 69
  assert_output_contains "another postern supervisor is running"
}

@test "postern run as root refuses a server.user that does not exist" {
  [ "$(id -u)" -eq 0 ] || skip "needs root"
  cat > postern.yaml <<YAML
server:
  data_dir: $BATS_TEST_TMPDIR/data
  user: no-such-user-postern
YAML
  run timeout 20 postern run -c postern.yaml
  assert_status 78
  assert_output_contains "no-such-user-postern"
  [ ! -e "$BATS_TEST_TMPDIR/data/postern.sock" ]
}
