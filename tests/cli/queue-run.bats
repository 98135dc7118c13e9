#!/usr/bin/env bats
# queue-run on a fresh SQLite store: --check and bad configuration (78); --once delivers
# to local accounts and bounces an unknown local user with a DSN into the sender's Inbox;
# a transport to a second smtp-listen (the "remote" server, its own store) delivers, a
# 550 there bounces, a closed port defers and `queue-ctl retry` brings it back; expiry
# returns what is still pending; the daemon delivers what arrives, counts it on /metrics
# and drains on SIGTERM.

bats_require_minimum_version 1.5.0
load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  A=(--store "sqlite:$BATS_TEST_TMPDIR/a.db")
  R=(--store "sqlite:$BATS_TEST_TMPDIR/r.db")
  account-ctl "${A[@]}" domain add example.org >/dev/null
  account-ctl "${A[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  account-ctl "${A[@]}" add bob@example.org --password-stdin <<<secret >/dev/null
  account-ctl "${R[@]}" domain add remote.test >/dev/null
  account-ctl "${R[@]}" add carol@remote.test --password-stdin <<<secret >/dev/null
  read -r RPORT CLOSED < <(free_ports 2)
  cat > remote.yaml <<YAML
server:
  hostname: mx.remote.test
listeners:
  - name: mx
    address: 127.0.0.1:$RPORT
    mode: mx
YAML
  write_config "$RPORT" 5d
  printf 'From: bob@example.org\r\nTo: someone\r\nSubject: t\r\nMessage-ID: <t1@example.org>\r\n\r\nbody\r\n' > msg.eml
}

teardown() {
  [ -n "${REMOTE_PID:-}" ] && kill "$REMOTE_PID" 2>/dev/null && wait "$REMOTE_PID" 2>/dev/null
  true
}

# write_config PORT MAX_LIFETIME [RETRY]: remote.test goes to 127.0.0.1:PORT
write_config() {
  cat > a.yaml <<YAML
server:
  hostname: mx.example.org
delivery:
  retry: [${3:-1s}]
  max_lifetime: $2
  delay_warning: 0
  connect_timeout: 2s
  transports:
    - domain: remote.test
      via: smtp:[127.0.0.1]:$1
      tls: none
YAML
}

start_remote() {
  : > ready
  smtp-listen -c remote.yaml "${R[@]}" --notify-fd 3 3>ready >/dev/null 2>>remote.log &
  REMOTE_PID=$!
  for _ in $(seq 100); do
    [ -s ready ] && return 0
    sleep 0.05
  done
  echo "remote smtp-listen did not start" >&2
  return 1
}

inbox() {  # inbox STORE-ARGS... ACCOUNT: the messages of its Inbox, concatenated
  local out="$BATS_TEST_TMPDIR/exp.$RANDOM"
  store-export "${@:1:$#-1}" -a "${@: -1}" -f eml "$out" >/dev/null
  cat "$out"/INBOX/*.eml 2>/dev/null || true
}

@test "queue-run: --check, and a bad configuration exits 78 naming the line" {
  run queue-run -c a.yaml "${A[@]}" --check
  assert_status 0
  cat >> a.yaml <<'YAML'
    - domain: bad.test
      via: uucp:somewhere
YAML
  run queue-run -c a.yaml "${A[@]}" --check
  assert_status 78
  assert_output_contains "a.yaml:"
  assert_output_contains "uucp:somewhere"
  run queue-run --bogus
  assert_status 64
}

@test "queue-run --once: local delivery, and an unknown local user bounces to the sender" {
  queue-ctl "${A[@]}" add -f bob@example.org ann@example.org nobody@example.org < msg.eml >/dev/null
  run queue-run -c a.yaml "${A[@]}" --once
  assert_status 0
  assert_output_contains "attempts=2 delivered=2 deferred=0 bounced=1 dsns=1"
  run queue-ctl "${A[@]}" list
  [ "$output" = "queue is empty" ]
  run inbox "${A[@]}" ann@example.org
  assert_output_contains "Message-ID: <t1@example.org>"
  run inbox "${A[@]}" bob@example.org
  assert_output_contains "Content-Type: multipart/report; report-type=delivery-status"
  assert_output_contains "Final-Recipient: rfc822; nobody@example.org"
  assert_output_contains "Status: 5.1.1"
  assert_output_contains "Message-ID: <t1@example.org>"  # the original's header comes back
  assert_output_contains "Return-Path: <>"
}

@test "queue-run --once: local defaults as store-deliver — +detail to its mailbox, our spam verdict to Junk" {
  # The Lists mailbox exists once store-deliver made it.
  store-deliver "${A[@]}" -m Lists --create-mailbox ann@example.org < msg.eml >/dev/null
  printf 'From: bob@example.org\r\nSubject: lists\r\nMessage-ID: <d1@example.org>\r\n\r\nx\r\n' > d1.eml
  queue-ctl "${A[@]}" add -f bob@example.org ann+lists@example.org < d1.eml >/dev/null
  printf 'From: bob@example.org\r\nSubject: nolist\r\nMessage-ID: <d2@example.org>\r\n\r\nx\r\n' > d2.eml
  queue-ctl "${A[@]}" add -f bob@example.org ann+nothing@example.org < d2.eml >/dev/null
  # X-Spam-Flag above the first Received: is our own stage's verdict; below it, a sender's.
  printf 'X-Spam-Flag: YES\r\nReceived: from x by mx.example.org; Sun, 1 Mar 2026 10:00:00 +0000\r\nFrom: bob@example.org\r\nSubject: spam\r\nMessage-ID: <d3@example.org>\r\n\r\nx\r\n' > d3.eml
  queue-ctl "${A[@]}" add -f bob@example.org ann@example.org < d3.eml >/dev/null
  printf 'Received: from x by mx.example.org; Sun, 1 Mar 2026 10:00:00 +0000\r\nX-Spam-Flag: YES\r\nFrom: bob@example.org\r\nSubject: forged\r\nMessage-ID: <d4@example.org>\r\n\r\nx\r\n' > d4.eml
  queue-ctl "${A[@]}" add -f bob@example.org ann@example.org < d4.eml >/dev/null
  run queue-run -c a.yaml "${A[@]}" --once
  assert_status 0
  assert_output_contains "attempts=4 delivered=4"
  store-export "${A[@]}" -a ann@example.org -f eml out >/dev/null
  grep -l 'Message-ID: <d1@example.org>' out/Lists/*.eml
  grep -l 'Message-ID: <d2@example.org>' out/INBOX/*.eml
  grep -l 'Message-ID: <d3@example.org>' out/Junk/*.eml
  grep -l 'Message-ID: <d4@example.org>' out/INBOX/*.eml
}

@test "queue-run --once: a transport delivers, a 550 there bounces with the server's reply" {
  start_remote
  queue-ctl "${A[@]}" add -f bob@example.org carol@remote.test dave@remote.test < msg.eml >/dev/null
  run queue-run -c a.yaml "${A[@]}" --once
  assert_status 0
  assert_output_contains "delivered=2"
  assert_output_contains "bounced=1"
  run queue-ctl "${R[@]}" list --json
  assert_output_contains '"address":"carol@remote.test"'
  run inbox "${A[@]}" bob@example.org
  assert_output_contains "Final-Recipient: rfc822; dave@remote.test"
  assert_output_contains "Remote-MTA: dns; 127.0.0.1"
  assert_output_contains "550 5.1.1"
}

@test "queue-run --once: a closed port defers; retry delivers once the server is up" {
  write_config "$CLOSED" 5d 1h
  id=$(queue-ctl "${A[@]}" add -f bob@example.org carol@remote.test < msg.eml)
  run queue-run -c a.yaml "${A[@]}" --once
  assert_status 0
  assert_output_contains "deferred=1"
  run queue-ctl "${A[@]}" show "$id" --json
  assert_output_contains '"status":"pending"'
  assert_output_contains '"attempts":1'
  # Not due for another hour: a second pass does nothing.
  run queue-run -c a.yaml "${A[@]}" --once
  assert_output_contains "attempts=0"
  start_remote
  write_config "$RPORT" 5d 1h
  queue-ctl "${A[@]}" retry "$id"
  run queue-run -c a.yaml "${A[@]}" --once
  assert_output_contains "delivered=1"
  run queue-ctl "${A[@]}" list
  [ "$output" = "queue is empty" ]
  run queue-ctl "${R[@]}" list
  assert_output_contains "carol@remote.test"
}

@test "queue-run --once: past max_lifetime what is pending is returned (4.4.7)" {
  write_config "$CLOSED" 1s
  queue-ctl "${A[@]}" add -f bob@example.org carol@remote.test < msg.eml >/dev/null
  sleep 1.2
  run queue-run -c a.yaml "${A[@]}" --once
  assert_output_contains "bounced=1"
  assert_output_contains "dsns=1"
  run inbox "${A[@]}" bob@example.org
  assert_output_contains "Action: failed"
  assert_output_contains "expired"
}

@test "queue-run: the daemon delivers what arrives, and SIGTERM stops it cleanly" {
  start_remote
  read -r METRICS < <(free_ports 1)
  sed -i "s/^  retry: \[1s\]/  retry: [1s]\n  poll: 1s\n  metrics: 127.0.0.1:$METRICS/" a.yaml
  : > qready
  queue-run -c a.yaml "${A[@]}" --notify-fd 3 3>qready 2>daemon.log &
  pid=$!
  for _ in $(seq 100); do [ -s qready ] && break; sleep 0.05; done
  [ -s qready ]
  queue-ctl "${A[@]}" add -f bob@example.org carol@remote.test ann@example.org < msg.eml >/dev/null
  for _ in $(seq 100); do
    [ "$(queue-ctl "${A[@]}" list)" = "queue is empty" ] && break
    sleep 0.1
  done
  run queue-ctl "${A[@]}" list
  [ "$output" = "queue is empty" ]
  run curl -fsS --max-time 5 "http://127.0.0.1:$METRICS/metrics"
  assert_status 0
  assert_output_contains 'postern_delivery_recipients_total{domain="remote.test",outcome="delivered"} 1'
  assert_output_contains 'postern_delivery_recipients_total{domain="example.org",outcome="delivered"} 1'
  assert_output_contains 'postern_delivery_attempts_total 1'
  assert_output_contains 'postern_queue_messages{state="active"}'
  kill -TERM "$pid"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" = 0 ]
  grep -q "event=delivered .*to=carol@remote.test" daemon.log
  grep -q "event=delivered .*to=ann@example.org relay=local" daemon.log
  grep -q "event=stopped" daemon.log
}
