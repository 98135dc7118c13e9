#!/usr/bin/env bats
# The README's newcomer path, `make run` (examples/run-example), run non-interactively from
# a copy of examples/ in a temp directory, so var/ lands there: the first set-up makes the
# certificate, the DKIM key, the store and the demo account; postern run gets ready on the
# example's fixed loopback ports; the swaks, store-export, queue-ctl and postern status
# commands the script prints (taken from its output, not retyped) work; Ctrl-C (SIGINT) stops the
# supervisor (exit 0) and its services; a second set-up reuses everything.
#
# The tests of this file run in order against one temp directory. As root, like make run,
# the services run as server.user (postern), created as a system user when missing.
# Skipped when the build has no `postern run` yet, or a port of the example is taken.
# Needs (Debian): swaks, libnet-ssleay-perl, openssl, python3.

bats_require_minimum_version 1.5.0
load ../cli/common

PY=/usr/bin/python3

# Why this file is skipped, or "". (This bats, 1.8, cannot skip from setup_file: each
# test skips in setup.)
skip_reason() {
  command -v swaks >/dev/null || { echo "swaks is not installed"; return; }
  command -v openssl >/dev/null || { echo "openssl is not installed"; return; }
  "$BIN/postern" run --help >/dev/null 2>&1 ||
    { echo "this build has no 'postern run' (the supervisor)"; return; }
  if [ "$(id -u)" -eq 0 ]; then
    # The services run as another user: it must reach the programs of the build.
    runuser -u nobody -- test -x "$BIN/smtp-listen" ||
      { echo "other users cannot run $BIN/smtp-listen (the services would run as postern)"; return; }
  fi
  # Every loopback port the example names (listeners, metrics) must be free.
  local ports
  ports=$(sed -n 's/^ *\(address\|metrics\): 127\.0\.0\.1:\([0-9][0-9]*\).*/\2/p' \
    "$SRC_DIR/examples/postern.yaml")
  [ -n "$ports" ] || { echo "no loopback ports found in examples/postern.yaml"; return; }
  # shellcheck disable=SC2086
  "$PY" -c 'import socket, sys
for p in sys.argv[1:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        sys.exit(1)
    finally:
        s.close()' $ports || echo "a port of examples/postern.yaml is taken (${ports//$'\n'/ })"
}

setup_file() {
  SKIP_REASON=$(skip_reason)
  export SKIP_REASON
  [ -z "$SKIP_REASON" ] || return 0
  # A directory the services' user can enter (bats' own temp dirs are private to root).
  D=$(mktemp -d /tmp/make-run.XXXXXX)
  chmod 755 "$D"
  cp -r "$SRC_DIR/examples" "$D/"
  export D
}

setup() {
  [ -z "$SKIP_REASON" ] || skip "$SKIP_REASON"
}

teardown_file() {
  [ -n "${D:-}" ] || return 0
  local p
  if [ -f "$D/pid" ]; then
    p=$(cat "$D/pid")
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  rm -rf "$D"
}

teardown() {
  [ -n "${BATS_TEST_COMPLETED:-}" ] && return 0
  [ -f "$D/run.log" ] && { echo "--- postern run's log" >&2; tail -n 40 "$D/run.log" >&2; }
  return 0
}

# make run's set-up alone (POSTERN_RUN_NO_EXEC), from the top of the copy; TMPDIR makes
# the printed store-export command write into the test's directory.
setup_only() {
  cd "$D" || return
  POSTERN_RUN_NO_EXEC=1 TMPDIR="$D/tmp" "$D/examples/run-example" "$BUILD_DIR"
}

# The printed command line that starts with $2 (a fixed prefix), from file $1.
printed() {
  local line
  line=$(grep -m1 -F -- "$2" "$1" | sed 's/^ *//')
  [ -n "$line" ] || { echo "no line with '$2' in $1:" >&2; cat "$1" >&2; return 1; }
  case "$line" in "$2"*) ;; *) echo "unexpected line: $line" >&2; return 1 ;; esac
  printf '%s\n' "$line"
}

# Runs a printed command line from the top of the copy, as a person pasting it would.
paste_run() {
  cd "$D" || return
  mkdir -p "$D/tmp"
  eval "$1"
}

# Waits until the printed store-export command finds a message whose Subject is $1.
wait_delivered() {
  local cmd
  cmd=$(printed "$D/setup1.out" "$BUILD_DIR/bin/store-export ") || return 1
  for _ in $(seq 100); do
    if paste_run "$cmd" >"$D/export.out" 2>&1 &&
      grep -rqs --include='*.eml' "^Subject: $1" "$D/tmp/demo-mail/INBOX"; then
      return 0
    fi
    sleep 0.2
  done
  echo "no message '$1' in the Inbox; the last export said:" >&2
  cat "$D/export.out" >&2
  return 1
}

@test "the first set-up makes var/: certificate, DKIM key, store and the demo account" {
  run --separate-stderr setup_only
  echo "$stderr" >&2
  assert_status 0
  printf '%s\n' "$output" > "$D/setup1.out"
  assert_output_contains "demo@example.test, password: "
  local pw
  pw=$(sed -n 's/.*demo@example\.test, password: //p' "$D/setup1.out")
  [ ${#pw} -ge 12 ]
  printf '%s\n' "$pw" > "$D/password"
  # The certificate names the host, localhost and the loopback address.
  run openssl x509 -in "$D/var/tls/cert.pem" -noout -text
  assert_status 0
  assert_output_contains "DNS:mail.example.test"
  assert_output_contains "DNS:localhost"
  assert_output_contains "IP Address:127.0.0.1"
  # The key matches the certificate.
  [ "$(openssl x509 -in "$D/var/tls/cert.pem" -noout -pubkey)" = \
    "$(openssl pkey -in "$D/var/tls/key.pem" -pubout)" ]
  # The DKIM key, and its record beside it.
  grep -q 'demo._domainkey.example.test.*v=DKIM1' "$D/var/dkim/example.test.txt"
  cp "$D/var/dkim/example.test.pem" "$D/dkim.first"
  cp "$D/var/tls/key.pem" "$D/tlskey.first"
  # The account exists and the printed password is its password.
  cd "$D" || return
  run account-ctl -c examples/postern.yaml verify demo@example.test <<<"$pw"
  assert_status 0
  if [ "$(id -u)" -eq 0 ]; then
    id -u postern
    # The keys: root's, readable by the services' group only; var/ is the services'.
    [ "$(stat -c '%U:%G %a' var/dkim/example.test.pem)" = "root:$(id -gn postern) 640" ]
    [ "$(stat -c '%U:%G %a' var/tls/key.pem)" = "root:$(id -gn postern) 640" ]
    [ "$(stat -c '%U' var var/store.db)" = "$(printf 'postern\npostern')" ]
    runuser -u postern -- test -r "$D/var/dkim/example.test.pem"
  else
    [ "$(stat -c '%a' var/dkim/example.test.pem var/tls/key.pem)" = "$(printf '600\n600')" ]
  fi
  # Every paste-ready command is there.
  printed "$D/setup1.out" "swaks --server 127.0.0.1:2525 " >/dev/null
  printed "$D/setup1.out" "swaks --server 127.0.0.1:2587 --tls " >/dev/null
  printed "$D/setup1.out" "$BUILD_DIR/bin/queue-ctl -c examples/postern.yaml list" >/dev/null
  printed "$D/setup1.out" "$BUILD_DIR/bin/postern status -c examples/postern.yaml" >/dev/null
}

@test "make run starts postern run in the foreground and it gets ready" {
  [ -f "$D/setup1.out" ] || skip "the set-up failed"
  : > "$D/ready"
  (
    cd "$D"
    TMPDIR="$D/tmp" POSTERN_RUN_NOTIFY_FD=3 "$D/examples/run-example" "$BUILD_DIR" &
    echo $! > "$D/pid"
    rc=0
    wait $! || rc=$?
    echo "$rc" > "$D/exit"
  ) 3>"$D/ready" >"$D/run.out" 2>"$D/run.log" &
  for _ in $(seq 200); do
    [ -s "$D/ready" ] && break
    [ -f "$D/exit" ] && break
    sleep 0.1
  done
  [ -s "$D/ready" ] || { echo "not ready; exit: $(cat "$D/exit" 2>/dev/null)" >&2; cat "$D/run.out" >&2; return 1; }
  # The script became the supervisor (exec): the pid it had is postern's.
  [[ "$(ps -o args= -p "$(cat "$D/pid")")" == *"postern run -c examples/postern.yaml"* ]]
  # The printed status command: both services ready.
  run paste_run "$(printed "$D/setup1.out" "$BUILD_DIR/bin/postern status -c examples/postern.yaml")"
  assert_status 0
  [[ "$output" =~ smtp-listen\ +ready ]]
  [[ "$output" =~ queue-run\ +ready ]]
  # Remember the services' pids, to see them gone after Ctrl-C.
  "$BIN/postern" status -c "$D/examples/postern.yaml" --json |
    "$PY" -c 'import json, sys
for s in json.load(sys.stdin)["services"]: print(s["pid"])' > "$D/children"
  [ "$(wc -l < "$D/children")" -ge 2 ]
}

@test "the printed swaks command delivers to the MX listener, store-export finds it" {
  [ -s "$D/ready" ] || skip "postern is not running"
  local cmd
  cmd=$(printed "$D/setup1.out" "swaks --server 127.0.0.1:2525 ")
  run paste_run "$cmd"
  assert_status 0
  assert_output_contains "250 2.0.0"
  wait_delivered "hello from swaks"
  # The printed store-export | ls line lists the message file.
  run paste_run "$(printed "$D/setup1.out" "$BUILD_DIR/bin/store-export ")"
  assert_status 0
  assert_output_contains ".eml"
  # The queue is empty again once delivered.
  run paste_run "$(printed "$D/setup1.out" "$BUILD_DIR/bin/queue-ctl -c examples/postern.yaml list")"
  assert_status 0
}

@test "the printed submission command (STARTTLS, AUTH) is accepted and delivered" {
  [ -s "$D/ready" ] || skip "postern is not running"
  local cmd
  cmd=$(printed "$D/setup1.out" "swaks --server 127.0.0.1:2587 --tls ")
  [[ "$cmd" == *"--auth-password $(cat "$D/password") "* ]]
  run paste_run "$cmd"
  assert_status 0
  assert_output_contains "235 "
  assert_output_contains "250 2.0.0"
  wait_delivered "submitted"
  # A wrong password is refused.
  run paste_run "${cmd/--auth-password $(cat "$D/password")/--auth-password wrong-password}"
  [ "$status" -ne 0 ]
  assert_output_contains "535 "
}

@test "Ctrl-C (SIGINT) stops postern run (exit 0) and every service" {
  [ -s "$D/ready" ] || skip "postern is not running"
  local p
  p=$(cat "$D/pid")
  # What the terminal sends on Ctrl-C; the services run in sessions of their own, so
  # only the supervisor gets it, and it stops them in order. (It was started as a
  # background job, with SIGINT ignored: the service code takes it back.)
  kill -INT "$p"
  for _ in $(seq 300); do [ -f "$D/exit" ] && break; sleep 0.1; done
  [ -f "$D/exit" ] || { echo "postern run did not stop" >&2; return 1; }
  [ "$(cat "$D/exit")" = 0 ]
  local c
  while read -r c; do
    ! kill -0 "$c" 2>/dev/null || { echo "service $c is still running" >&2; return 1; }
  done < "$D/children"
  [ ! -e "$D/var/postern.sock" ]
  rm -f "$D/pid"
}

@test "a second set-up reuses var/: same keys, same password, no new account" {
  [ -f "$D/setup1.out" ] || skip "the set-up failed"
  run --separate-stderr setup_only
  echo "$stderr" >&2
  assert_status 0
  [[ "$output" != *"password: "* ]]
  assert_output_contains "Reusing var/"
  cmp "$D/var/dkim/example.test.pem" "$D/dkim.first"
  cmp "$D/var/tls/key.pem" "$D/tlskey.first"
  cd "$D" || return
  run account-ctl -c examples/postern.yaml verify demo@example.test < "$D/password"
  assert_status 0
  run account-ctl -c examples/postern.yaml list
  assert_status 0
  [ "$(printf '%s\n' "$output" | grep -c '@')" -eq 1 ]
  # The mail delivered before is still there.
  run account-ctl -c examples/postern.yaml show demo@example.test
  assert_output_contains "messages:      2"
}
