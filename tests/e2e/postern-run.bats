#!/usr/bin/env bats
# `postern run` supervising the real stack on loopback: smtp-listen and queue-run as
# children (as user nobody when the test runs as root, unprivileged otherwise) with a
# SQLite store in a temp dir. swaks sends to the MX listener and by submission with AUTH;
# the messages land in the store. Then: a child killed with SIGKILL is restarted; SIGHUP
# with a broken configuration keeps everything running and names file:line:col; SIGHUP
# with a valid one reloads the children; a child exiting 78 is failed, not restarted;
# server.log_file takes every line and is reopened on SIGUSR1 after logrotate's move;
# SIGTERM lets a message in DATA finish, stops everything and removes the sockets.
#
# The tests of this file run in order against one supervisor started in setup_file.
# Needs (Debian): swaks, python3.

bats_require_minimum_version 1.5.0
load ../cli/common

# POSTERN_BUILD alone (POSTERN_BUILD=build-sup bats ...) picks that build's programs too.
if [ -z "${POSTERN_BIN:-}" ] && [ -n "${POSTERN_BUILD:-}" ]; then
  BIN="$(cd "$POSTERN_BUILD" && pwd)/bin"
  PATH="$BIN:$PATH"
fi

PY=/usr/bin/python3

setup_file() {
  command -v swaks >/dev/null || skip "swaks is not installed"
  # A directory user nobody can enter (bats' own temp dirs are private to root).
  D=$(mktemp -d /tmp/postern-run.XXXXXX)
  chmod 755 "$D"
  mkdir -p "$D/data" "$D/out"
  export D CONF="$D/postern.yaml" LOG="$D/supervisor.log" RUN_AS=
  if [ "$(id -u)" -eq 0 ]; then
    RUN_AS=nobody
    # The services, as nobody, must reach the programs and the library of the build.
    runuser -u nobody -- test -x "$BIN/smtp-listen" || skip "user nobody cannot run $BIN/smtp-listen"
  fi
  read -r MX SUB SINK < <(free_ports 3)
  export MX SUB SINK
  # The outside world: Postfix's smtp-sink, dumping each message it takes into a file.
  if command -v smtp-sink >/dev/null && getent passwd postfix >/dev/null; then
    mkdir -p "$D/sink"
    chown postfix "$D/sink"
    smtp-sink -u postfix -h mx.far.test -d "$D/sink/msg." "127.0.0.1:$SINK" 10 3>&- >/dev/null 2>&1 &
    echo $! > "$D/sink.pid"
  fi
  write_config
  account-ctl -c "$CONF" domain add example.org >/dev/null
  account-ctl -c "$CONF" add ann@example.org --password-stdin <<<secret >/dev/null
  account-ctl -c "$CONF" add bob@example.org --password-stdin <<<hunter2 >/dev/null
  # The store was made by root just now: postern run gives data_dir's contents to the user.
  if [ -n "$RUN_AS" ]; then chown -R "$RUN_AS:" "$D/out"; fi
  : > "$D/ready"
  postern run -c "$CONF" --notify-fd 3 3>"$D/ready" >/dev/null 2>"$LOG" &
  echo $! > "$D/supervisor.pid"
  for _ in $(seq 150); do
    [ -s "$D/ready" ] && return 0
    kill -0 "$(cat "$D/supervisor.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "postern run did not get ready:" >&2
  cat "$LOG" >&2
  return 1
}

teardown_file() {
  [ -n "${D:-}" ] || return 0
  local p
  if [ -f "$D/supervisor.pid" ]; then
    p=$(cat "$D/supervisor.pid")
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  if [ -f "$D/sink.pid" ]; then kill "$(cat "$D/sink.pid")" 2>/dev/null || true; fi
  if [ -f "$D/failing.pid" ]; then
    p=$(cat "$D/failing.pid")
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$D"
}

teardown() {
  [ -n "${BATS_TEST_COMPLETED:-}" ] && return 0
  echo "--- supervisor.log" >&2
  tail -n 40 "$LOG" >&2
}

# Writes the configuration; arguments are extra lines for the smtp: section.
write_config() {
  {
    cat <<YAML
server:
  hostname: mx.example.org
  user: ${RUN_AS:-nobody}
  data_dir: $D/data
  stop_timeout: 10s
log:
  format: logfmt
listeners:
  - name: mx
    address: 127.0.0.1:$MX
    mode: mx
  - name: submission
    address: 127.0.0.1:$SUB
    mode: submission
  - name: local
    address: unix:$D/data/submit.sock
    mode: local
smtp:
  auth_requires_tls: false
YAML
    local l
    for l in "$@"; do echo "  $l"; done
    cat <<YAML
delivery:
  poll: 1s
  dane: false
  mta_sts: false
  transports:
    - domain: far.test
      via: smtp:[127.0.0.1]:$SINK
      tls: none
YAML
  } > "$CONF.new"
  mv "$CONF.new" "$CONF"
}

sup_pid() { cat "$D/supervisor.pid"; }

# A process that exists and is not a zombie waiting for its parent.
alive() {
  local st
  st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ "$st" != Z* ]]
}

# FIELD of service NAME from `postern status --json` (asked through the socket: the
# configuration may be broken on purpose).
field() {
  { postern status --json --socket "$D/data/postern.sock" || true; } |
    "$PY" -c 'import json, sys
d = json.load(sys.stdin)
print([s for s in d["services"] if s["name"] == sys.argv[1]][0][sys.argv[2]])' "$1" "$2"
}

# Waits (up to $2 tenths of a second, default 150) until the command $1 succeeds.
wait_for() {
  local n=${2:-150}
  for _ in $(seq "$n"); do
    eval "$1" && return 0
    sleep 0.1
  done
  echo "timed out waiting for: $1" >&2
  return 1
}

as_user() {
  if [ -n "$RUN_AS" ]; then runuser -u "$RUN_AS" -- "$@"; else "$@"; fi
}

# ann's messages, exported as .eml files; prints how many there are.
exported() {
  rm -rf "$D/out/eml"
  # The store itself, not -c: the configuration may be broken on purpose.
  as_user "$BIN/store-export" --store "sqlite:$D/data/store.db" -q -a ann@example.org -f eml \
    "$D/out/eml" >/dev/null 2>&1 || { echo 0; return 0; }
  grep -rl --include='*.eml' "$1" "$D/out/eml" 2>/dev/null | wc -l
}

swaks_mx() {
  timeout 30 swaks --server "127.0.0.1:$MX" --timeout 10 --helo client.test \
    --from x@remote.test --to ann@example.org "$@"
}

@test "postern run: every service ready; status as a table and as JSON" {
  run postern status -c "$CONF"
  assert_status 0
  grep -Eq '^smtp-listen +ready +[0-9]+ ' <<<"$output"
  grep -Eq '^queue-run +ready +[0-9]+ ' <<<"$output"
  run postern status --json -c "$CONF"
  assert_status 0
  "$PY" -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["ok"] and d["ready"], d
names = [s["name"] for s in d["services"]]
assert names == ["smtp-listen", "queue-run"], names
for s in d["services"]:
    assert s["state"] == "ready" and s["pid"] > 0 and s["restarts"] == 0, s
    assert s["last_exit"] is None, s' "$output"
  grep -q 'prog=postern event=ready services=2' "$LOG"
  # The listeners came from the supervisor (LISTEN_FDS), not bound by smtp-listen.
  grep -q 'prog=smtp-listen service=smtp-listen event=listening listener=mx mode=mx address=inherited' "$LOG"
  grep -q 'prog=smtp-listen service=smtp-listen event=listening listener=local mode=local address=inherited' "$LOG"
  [ "$(stat -c %a "$D/data/submit.sock")" = 666 ]
  [ "$(stat -c %a "$D/data/postern.sock")" = 600 ]
  if [ -n "$RUN_AS" ]; then
    [ "$(ps -o user= -p "$(field smtp-listen pid)")" = "$RUN_AS" ]
    [ "$(ps -o user= -p "$(field queue-run pid)")" = "$RUN_AS" ]
    [ "$(stat -c %U "$D/data")" = "$RUN_AS" ]
    [ "$(stat -c %U "$D/data/store.db")" = "$RUN_AS" ]
    [ "$(stat -c %U "$D/data/blobs")" = "$RUN_AS" ]
  fi
}

@test "postern run: mail to the MX listener and by submission with AUTH reaches the store" {
  run swaks_mx --header "Subject: via-mx-one"
  assert_status 0
  assert_output_contains "250 2.0.0 ok: queued as"
  run timeout 30 swaks --server "127.0.0.1:$SUB" --timeout 10 --from bob@example.org \
    --to ann@example.org --auth PLAIN --auth-user bob@example.org --auth-password hunter2 \
    --header "Subject: via-submission-one"
  assert_status 0
  assert_output_contains "235 2.7.0"
  assert_output_contains "250 2.0.0 ok: queued as"
  wait_for '[ "$(exported via-mx-one)" -eq 1 ] && [ "$(exported via-submission-one)" -eq 1 ]'
  grep -q 'prog=queue-run service=queue-run event=delivered' "$LOG"
}

@test "postern run: mail for an outside domain goes out through queue-run to Postfix's smtp-sink" {
  [ -f "$D/sink.pid" ] || skip "Postfix's smtp-sink is not installed"
  run timeout 30 swaks --server "127.0.0.1:$SUB" --timeout 10 --from bob@example.org \
    --to dave@far.test --auth PLAIN --auth-user bob@example.org --auth-password hunter2 \
    --header "Subject: via-queue-run-out"
  assert_status 0
  assert_output_contains "250 2.0.0 ok: queued as"
  wait_for 'grep -l "^Subject: via-queue-run-out" "$D"/sink/msg.* >/dev/null 2>&1'
  grep -q 'prog=queue-run service=queue-run event=delivered .*to=dave@far.test relay=127.0.0.1' "$LOG"
  # Relaying needs the login: the MX listener refuses the same recipient.
  run swaks_mx --to dave@far.test --header "Subject: not-relayed"
  assert_output_contains "554 5.7.1"
}

@test "postern run: smtp-listen killed with SIGKILL is restarted and mail flows again" {
  old=$(field smtp-listen pid)
  qr=$(field queue-run pid)
  kill -KILL "$old"
  wait_for '[ "$(field smtp-listen state)" = ready ] && [ "$(field smtp-listen pid)" != "$old" ]'
  [ "$(field smtp-listen restarts)" = 1 ]
  run postern status -c "$CONF"
  assert_status 0
  grep -Eq '^smtp-listen +ready +[0-9]+ +[0-9]+s +1 +signal 9$' <<<"$output"
  grep -q 'event=exited service=smtp-listen status="signal 9" restart_in=1s' "$LOG"
  [ "$(field queue-run pid)" = "$qr" ]
  run swaks_mx --header "Subject: after-restart"
  assert_status 0
  wait_for '[ "$(exported after-restart)" -eq 1 ]'
}

@test "postern run: SIGHUP with a broken configuration keeps the old one running" {
  smtp=$(field smtp-listen pid)
  qr=$(field queue-run pid)
  write_config "max_recipients: many"
  line=$(grep -n 'max_recipients: many' "$CONF" | cut -d: -f1)
  kill -HUP "$(sup_pid)"
  wait_for 'grep -q "event=reload_failed" "$LOG"'
  grep -q "event=config_error diagnostic=\"$CONF:$line:19: smtp.max_recipients" "$LOG"
  [ "$(field smtp-listen pid)" = "$smtp" ]
  [ "$(field queue-run pid)" = "$qr" ]
  ! grep -q 'service=smtp-listen event=reloaded' "$LOG" || false
  run swaks_mx --header "Subject: after-bad-reload"
  assert_status 0
  wait_for '[ "$(exported after-bad-reload)" -eq 1 ]'
}

@test "postern run: SIGHUP with a valid changed configuration reloads every child; SIGUSR1 passes" {
  smtp=$(field smtp-listen pid)
  qr=$(field queue-run pid)
  write_config "max_recipients: 1"
  run postern reload -c "$CONF"
  assert_status 0
  wait_for 'grep -q "prog=smtp-listen service=smtp-listen event=reloaded" "$LOG" && grep -q "prog=queue-run service=queue-run event=reloaded" "$LOG"'
  [ "$(field smtp-listen pid)" = "$smtp" ]
  [ "$(field queue-run pid)" = "$qr" ]
  # The new limit is in force: the second recipient is refused.
  run swaks_mx --to ann@example.org,bob@example.org --header "Subject: two-rcpts"
  assert_output_contains "452"
  # SIGUSR1 (reopen the logs) is passed on; nobody dies of it.
  kill -USR1 "$(sup_pid)"
  wait_for 'grep -q "prog=postern event=reopen_logs" "$LOG"'
  sleep 0.3
  [ "$(field smtp-listen pid)" = "$smtp" ]
  [ "$(field queue-run pid)" = "$qr" ]
  # A changed listener set needs a restart: said, not done.
  write_config
  sed -i "s/address: 127.0.0.1:$SUB/address: 127.0.0.1:1/" "$CONF"
  kill -HUP "$(sup_pid)"
  wait_for 'grep -q "event=needs_restart what=listeners" "$LOG"'
  [ "$(field smtp-listen pid)" = "$smtp" ]
  write_config
}

@test "postern run: a service that exits 78 is failed, not restarted" {
  F="$D/failing"
  mkdir -p "$F"
  [ -n "$RUN_AS" ] && chown "$RUN_AS:" "$F"
  cat > "$F/postern.yaml" <<YAML
server:
  user: ${RUN_AS:-nobody}
  data_dir: $F
delivery:
  dkim:
    - domain: example.org
      selector: s1
      key: $F/missing.pem
YAML
  postern run -c "$F/postern.yaml" >/dev/null 2>"$F/log" 3>&- &
  echo $! > "$D/failing.pid"
  wait_for '[ "$(postern status --json -c "$F/postern.yaml" 2>/dev/null | "$PY" -c "import json,sys; print(json.load(sys.stdin)[\"services\"][0][\"state\"])")" = failed ]'
  sleep 1.5  # longer than the first backoff: still not restarted
  run postern status -c "$F/postern.yaml"
  assert_status 1
  grep -Eq '^queue-run +failed \(bad configuration\) +- +- +0 +exit 78$' <<<"$output"
  grep -q 'event=failed service=queue-run reason="bad configuration"' "$F/log"
  grep -q 'prog=queue-run service=queue-run .*cannot read the DKIM key' "$F/log"
  [ "$(grep -c 'event=started service=queue-run' "$F/log")" -eq 1 ]
  run postern stop -c "$F/postern.yaml"
  assert_status 0
  wait_for '! alive "$(cat "$D/failing.pid")"'
  rm -f "$D/failing.pid"
}

@test "postern run: READY=1 and STOPPING=1 reach systemd's NOTIFY_SOCKET (an abstract name)" {
  N="$D/notify"
  mkdir -p "$N"
  [ -n "$RUN_AS" ] && chown "$RUN_AS:" "$N"
  account-ctl --store "sqlite:$N/store.db" domain add example.org >/dev/null
  [ -n "$RUN_AS" ] && chown -R "$RUN_AS:" "$N"
  cat > "$N/postern.yaml" <<YAML
server:
  user: ${RUN_AS:-nobody}
  data_dir: $N
YAML
  name="postern-test-$$-$RANDOM"
  "$PY" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1])
open(sys.argv[2] + ".bound", "w").close()
s.settimeout(30)
for _ in range(2):
    print(s.recv(256).decode(), flush=True)' "$name" "$N/got" > "$N/got" 3>&- &
  py=$!
  wait_for '[ -e "$N/got.bound" ]'
  NOTIFY_SOCKET="@$name" postern run -c "$N/postern.yaml" >/dev/null 2>"$N/log" 3>&- &
  echo $! > "$D/failing.pid"
  wait_for 'grep -q "READY=1" "$N/got"' || { cat "$N/log"; false; }
  # Sent once every service was ready; and the services never saw NOTIFY_SOCKET.
  grep -q 'prog=postern event=ready services=1' "$N/log"
  pid=$(postern status --json -c "$N/postern.yaml" | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["services"][0]["pid"])')
  ! tr '\0' '\n' < "/proc/$pid/environ" | grep -q '^NOTIFY_SOCKET=' || false
  run postern stop -c "$N/postern.yaml"
  assert_status 0
  wait_for 'grep -q "STOPPING=1" "$N/got"'
  wait_for '! alive "$(cat "$D/failing.pid")"'
  rm -f "$D/failing.pid"
  wait "$py" || true
}

@test "postern run: server.log_file gets every line; SIGUSR1 reopens it after a move; SIGHUP moves it" {
  L="$D/logfile"
  mkdir -p "$L/data" "$L/logs"
  account-ctl --store "sqlite:$L/data/store.db" domain add example.org >/dev/null
  [ -n "$RUN_AS" ] && chown -R "$RUN_AS:" "$L/data"
  read -r port < <(free_ports 1)
  log_conf() {
    cat > "$L/postern.yaml.new" <<YAML
server:
  hostname: mx.example.org
  user: ${RUN_AS:-nobody}
  data_dir: $L/data
  log_file: $1
log:
  format: logfmt
listeners:
  - name: mx
    address: 127.0.0.1:$port
    mode: mx
YAML
    mv "$L/postern.yaml.new" "$L/postern.yaml"
  }
  log_conf logs/postern.log  # relative to the configuration's directory
  F="$L/logs/postern.log"
  postern run -c "$L/postern.yaml" >/dev/null 2>"$L/stderr" 3>&- &
  echo $! > "$D/failing.pid"
  wait_for 'grep -q "prog=postern event=ready services=2" "$F" 2>/dev/null' || { cat "$L/stderr"; false; }
  # The supervisor's lines and its services' in the file, none on standard error.
  grep -q "prog=postern event=listening listener=mx mode=mx address=127.0.0.1:$port" "$F"
  grep -q 'prog=smtp-listen service=smtp-listen event=listening listener=mx' "$F"
  grep -q 'prog=queue-run service=queue-run event=' "$F"
  [ ! -s "$L/stderr" ] || { cat "$L/stderr"; false; }
  [ "$(stat -c '%a %U' "$F")" = "640 $(id -un)" ]
  # logrotate: the file is moved away, then SIGUSR1 makes a new one at the same path.
  mv "$F" "$F.1"
  kill -USR1 "$(cat "$D/failing.pid")"
  wait_for 'grep -q "prog=postern event=reopen_logs file=$F" "$F" 2>/dev/null'
  [ "$(stat -c %a "$F")" = 640 ]
  # A new SMTP session, logged by smtp-listen: in the new file, not the moved one.
  run timeout 30 swaks --server "127.0.0.1:$port" --timeout 10 --helo client.test --quit-after EHLO
  assert_status 0
  wait_for 'grep -q "prog=smtp-listen service=smtp-listen event=connect .*client=127.0.0.1 listener=mx" "$F"'
  # (`run !`: a bare `! cmd` does not fail a bats test.)
  run ! grep -q 'event=connect ' "$F.1"
  run ! grep -q 'event=reopen_logs' "$F.1"
  grep -q 'prog=postern event=ready services=2' "$F.1"
  # SIGHUP with another log_file: the old file says where the log went, the new one
  # goes on with the reload.
  log_conf "$L/logs/other.log"
  run postern reload --socket "$L/data/postern.sock"
  assert_status 0
  wait_for 'grep -q "prog=smtp-listen service=smtp-listen event=reloaded" "$L/logs/other.log" 2>/dev/null'
  grep -q "prog=postern event=log_file to=$L/logs/other.log" "$F"
  grep -q "prog=postern event=log_file from=$F" "$L/logs/other.log"
  run ! grep -q 'event=reloaded' "$F"
  [ ! -s "$L/stderr" ]
  run postern stop --socket "$L/data/postern.sock"
  assert_status 0
  wait_for '! alive "$(cat "$D/failing.pid")"'
  rm -f "$D/failing.pid"
  grep -q 'prog=postern event=stopped' "$L/logs/other.log"
}

@test "postern run: a server.log_file that cannot be opened is a configuration error (78)" {
  L="$D/nolog"
  mkdir -p "$L"
  cat > "$L/postern.yaml" <<YAML
server:
  user: ${RUN_AS:-nobody}
  data_dir: $L
  log_file: $L/missing-dir/postern.log
YAML
  run -78 postern run -c "$L/postern.yaml" 3>&-
  assert_output_contains "server.log_file: open log $L/missing-dir/postern.log"
  [ ! -e "$L/postern.sock" ]
}

@test "postern run: SIGTERM drains — a message in DATA is finished and kept; children stop in order; exit 0" {
  pid=$(sup_pid)
  smtp=$(field smtp-listen pid)
  qr=$(field queue-run pid)
  # A client half-way through a message when the stop comes.
  rm -f "$D/mid" "$D/go"
  timeout 60 "$PY" "$SRC_DIR/tests/e2e/smtp-clients.py" mid-data "$MX" "$D" >"$D/mid.out" 2>&1 &
  client=$!
  wait_for '[ -e "$D/mid" ]'
  start=$(date +%s)
  kill -TERM "$pid"
  # The supervisor waits for smtp-listen, which waits for the session: still alive.
  sleep 1
  alive "$smtp"
  touch "$D/go"
  wait "$client"
  cat "$D/mid.out"
  grep -q '^250 2.0.0 ok: queued as' "$D/mid.out"
  wait_for '! alive "$pid"' 120
  [ $(( $(date +%s) - start )) -le 10 ]
  ! alive "$smtp" || false
  ! alive "$qr" || false
  [ ! -e "$D/data/postern.sock" ]
  [ ! -e "$D/data/submit.sock" ]
  grep -q 'prog=postern event=stopped' "$LOG"
  # smtp-listen (the front door) was told first.
  first=$(grep -n 'event=stop service=' "$LOG" | head -n1)
  [[ "$first" == *"service=smtp-listen"* ]]
  run postern status -c "$CONF"
  assert_status 69
  rm -f "$D/supervisor.pid"
  # The drained message was kept: delivered to ann, or still queued for the next start.
  queued=$(as_user "$BIN/queue-ctl" --store "sqlite:$D/data/store.db" list --json | grep -c 'x@remote.test' || true)
  [ "$(exported 'finished while draining')" -eq 1 ] || [ "$queued" -eq 1 ]
}
