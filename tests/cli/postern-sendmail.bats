#!/usr/bin/env bats
# postern-sendmail against a real smtp-listen serving a local listener (a Unix socket in a
# temp dir) and a SQLite store: the sendmail options (-f, -F, -t, -i, -bs, -bp, DSN), the
# sender rules for root and for an unprivileged user (runuser -u nobody), and the exit
# codes when the server refuses or cannot be reached.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null
  account-ctl "${STORE[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  # The socket's directory must be reachable by nobody; bats' own temp dir is not.
  SOCKDIR=$(mktemp -d /tmp/postern-sendmail.XXXXXX)
  chmod 0755 "$SOCKDIR"
  SOCK="$SOCKDIR/submit.sock"
  cat > postern.yaml <<YAML
server:
  hostname: mx.example.org
store:
  path: $BATS_TEST_TMPDIR/store.db
  blob_dir: $BATS_TEST_TMPDIR/blobs
listeners:
  - name: local
    address: unix:$SOCK
    mode: local
YAML
  SERVER_PID=
  start_server
  export POSTERN_SENDMAIL_SOCKET="$SOCK"
}

teardown() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  [ -n "${SOCKDIR:-}" ] && rm -rf "$SOCKDIR"
  if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -f server.log ]; then
    echo "--- server.log" >&2
    tail -n 30 server.log >&2
  fi
  return 0
}

start_server() {
  : > ready
  smtp-listen -c postern.yaml --notify-fd 3 3>ready >/dev/null 2>>server.log &
  SERVER_PID=$!
  for _ in $(seq 100); do
    [ -s ready ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "smtp-listen did not get ready:" >&2
  cat server.log >&2
  return 1
}

ids() { queue-ctl -c postern.yaml list --json | grep -o '"id":"[^"]*"' | cut -d'"' -f4; }
count() { ids | grep -c . || true; }
raw() { queue-ctl -c postern.yaml show --raw "$1"; }
show() { queue-ctl -c postern.yaml show --json "$1"; }
# Runs postern-sendmail as nobody, from a directory nobody may enter.
as_nobody() { (cd / && runuser -u nobody -- "$BIN/postern-sendmail" "$@"); }

@test "postern-sendmail: root's message is queued with From:, Date:, Message-ID: and a local Received:" {
  run postern-sendmail ann@example.org <<<$'Subject: cron output\n\nall good'
  assert_status 0
  [ "$(count)" -eq 1 ]
  id=$(ids)
  run show "$id"
  assert_output_contains '"sender":"root@mx.example.org"'
  assert_output_contains '"listener":"local"'
  assert_output_contains '"auth_user":"root"'
  assert_output_contains '"client_ip":"local"'
  assert_output_contains '"address":"ann@example.org"'
  raw "$id" > q.eml
  head -n 1 q.eml | grep -q '^Received: from local (uid 0, user root)'
  grep -q "with ESMTP id $id" q.eml
  grep -q '^From: .*<root@mx.example.org>' q.eml
  grep -q '^Date: ' q.eml
  grep -q '^Message-ID: <.*@mx.example.org>' q.eml
  grep -q $'^all good\r$' q.eml
  [ "$(grep -c $'[^\r]$' q.eml)" -eq 0 ]   # CRLF everywhere
  grep -q 'event=connect .*listener=local uid=0 pid=[0-9]* user=root' server.log
}

@test "postern-sendmail: -f and -F set the envelope sender and the added From:; -r too" {
  run postern-sendmail -f boss@example.net -F "The Boss" ann@example.org <<<$'Subject: x\n\nbody'
  assert_status 0
  id=$(ids)
  run show "$id"
  assert_output_contains '"sender":"boss@example.net"'
  raw "$id" | grep -q '^From: The Boss <boss@example.net>'
  # An existing From: is left alone; -r is -f; "<>" is the null sender (root is trusted).
  run postern-sendmail -r '<>' ann@example.org <<<$'From: Someone <s@example.net>\n\nbody'
  assert_status 0
  [ "$(count)" -eq 2 ]
  run queue-ctl -c postern.yaml list --json
  assert_output_contains '"sender":""'
  id=$(queue-ctl -c postern.yaml list --json | grep '"sender":""' | grep -o '"id":"[^"]*"' | cut -d'"' -f4)
  raw "$id" | grep -q '^From: Someone <s@example.net>'
  [ "$(raw "$id" | grep -c '^From:')" -eq 1 ]
}

@test "postern-sendmail: -t takes To, Cc and Bcc (plus arguments) and strips Bcc" {
  printf 'To: Ann <ann@example.org>\nCc: carol@example.net, "D, E" <de@example.net>\nBcc: secret@example.net\nSubject: t\n\nhi\n' > m.txt
  run postern-sendmail -t extra@example.net < m.txt
  assert_status 0
  id=$(ids)
  run show "$id"
  for r in ann@example.org carol@example.net de@example.net secret@example.net extra@example.net; do
    assert_output_contains "\"address\":\"$r\""
  done
  raw "$id" > q.eml
  ! grep -qi '^Bcc:' q.eml || false
  ! grep -q 'secret@example.net' q.eml || false
  grep -q '^To: Ann <ann@example.org>' q.eml
  # Without -t and without arguments there is nobody to send to.
  run postern-sendmail < m.txt
  assert_status 64
  assert_output_contains "no recipients"
}

@test "postern-sendmail: a lone dot ends the input unless -i (or -oi)" {
  printf 'Subject: dots\n\nbefore\n.\nafter\n' > m.txt
  run postern-sendmail ann@example.org < m.txt
  assert_status 0
  id=$(ids)
  raw "$id" > first.eml
  grep -q $'^before\r$' first.eml
  ! grep -q 'after' first.eml || false
  queue-ctl -c postern.yaml drop "$id"
  run postern-sendmail -i ann@example.org < m.txt
  assert_status 0
  id=$(ids)
  raw "$id" > second.eml
  grep -q $'^\\.\r$' second.eml
  grep -q $'^after\r$' second.eml
  queue-ctl -c postern.yaml drop "$id"
  run postern-sendmail -oi ann@example.org < m.txt
  assert_status 0
  raw "$(ids)" | grep -q $'^after\r$'
}

@test "postern-sendmail: -bs relays an SMTP session (here-document with LF line ends)" {
  run postern-sendmail -bs <<'EOF'
EHLO me.test
MAIL FROM:<root@mx.example.org>
RCPT TO:<ann@example.org>
DATA
From: root@mx.example.org
Subject: via -bs

..dot-stuffed
.
QUIT
EOF
  assert_status 0
  assert_output_contains "220 mx.example.org ESMTP Postern"
  assert_output_contains "354 "
  assert_output_contains "queued as"
  assert_output_contains "221 "
  [[ "$output" != *AUTH* ]]
  [[ "$output" != *STARTTLS* ]]
  id=$(ids)
  raw "$id" | grep -q $'^\\.dot-stuffed\r$'
  raw "$id" | head -n 1 | grep -q 'from local (uid 0, user root)'
}

@test "postern-sendmail: -bp lists the queue for root" {
  run postern-sendmail -bp -C postern.yaml
  assert_status 0
  assert_output_contains "queue is empty"
  postern-sendmail ann@example.org <<<$'Subject: x\n\ny'
  id=$(ids)
  run postern-sendmail -bp -C postern.yaml
  assert_status 0
  assert_output_contains "$id"
  assert_output_contains "root@mx.example.org"
}

@test "postern-sendmail: DSN options and 8-bit content reach the queue" {
  run postern-sendmail -N success,failure -R hdrs -V 'env id+1' ann@example.org <<<$'Subject: caf\xc3\xa9\n\nna\xc3\xafve'
  assert_status 0
  run show "$(ids)"
  assert_output_contains '"ret":"HDRS"'
  assert_output_contains '"envid":"env id+1"'   # sent as xtext, stored decoded
  assert_output_contains '"body":"8BITMIME"'
  assert_output_contains '"smtputf8":true'
  assert_output_contains '"notify":"SUCCESS,FAILURE"'
}

@test "postern-sendmail: an unprivileged user sends as itself only" {
  command -v runuser >/dev/null || skip "runuser is not installed"
  run as_nobody ann@example.org <<<$'Subject: from nobody\n\nhi'
  assert_status 0
  id=$(ids)
  run show "$id"
  assert_output_contains '"sender":"nobody@mx.example.org"'
  assert_output_contains '"auth_user":"nobody"'
  raw "$id" | head -n 1 | grep -q "from local (uid $(id -u nobody), user nobody)"
  raw "$id" | grep -q '^From: .*nobody@mx.example.org'
  # Another envelope sender, the null sender, or a forged From: are refused: 553, exit 69.
  run as_nobody -f someone@else.test ann@example.org <<<$'Subject: x\n\ny'
  assert_status 69
  assert_output_contains "NOT accepted"
  assert_output_contains "553 5.7.1 <someone@else.test>"
  run as_nobody -f '<>' ann@example.org <<<$'Subject: x\n\ny'
  assert_status 69
  run as_nobody ann@example.org <<<$'From: The CEO <ceo@example.org>\nSubject: x\n\ny'
  assert_status 69
  assert_output_contains "553 5.7.1 <ceo@example.org>: From: address not owned by nobody"
  [ "$(count)" -eq 1 ]
  # smtp.local_senders lets it use more.
  printf 'smtp:\n  local_senders:\n    - user: nobody\n      addresses: ["@example.org"]\n' >> postern.yaml
  kill -HUP "$SERVER_PID"
  for _ in $(seq 50); do grep -q 'event=reloaded' server.log && break; sleep 0.1; done
  run as_nobody -f ceo@example.org ann@example.org <<<$'From: The CEO <ceo@example.org>\nSubject: x\n\ny'
  assert_status 0
  [ "$(count)" -eq 2 ]
}

@test "postern-sendmail: -bp needs read access to the store: 77 for nobody" {
  command -v runuser >/dev/null || skip "runuser is not installed"
  run as_nobody -bp -C "$BATS_TEST_TMPDIR/postern.yaml"
  assert_status 77
  assert_output_contains "only users who can read"
}

@test "postern-sendmail: refusals and an unreachable service give the table's exit codes" {
  # Unknown local user: 550 5.1.1 → 67, nothing queued (all or nothing).
  run postern-sendmail ann@example.org nosuch@example.org <<<$'Subject: x\n\ny'
  assert_status 67
  assert_output_contains "550 5.1.1 <nosuch@example.org>"
  [ "$(count)" -eq 0 ]
  # The socket is missing: 75, and the message was not accepted.
  POSTERN_SENDMAIL_SOCKET="$SOCKDIR/missing.sock" run postern-sendmail ann@example.org <<<$'Subject: x\n\ny'
  assert_status 75
  assert_output_contains "NOT accepted"
  [ "$(count)" -eq 0 ]
  # The server stopped: 75 as well.
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=
  run postern-sendmail ann@example.org <<<$'Subject: x\n\ny'
  assert_status 75
  [ "$(count)" -eq 0 ]
  # The socket from the configuration when the environment does not name one.
  start_server
  unset POSTERN_SENDMAIL_SOCKET
  run postern-sendmail -C postern.yaml ann@example.org <<<$'Subject: x\n\ny'
  assert_status 0
  [ "$(count)" -eq 1 ]
}

@test "postern-sendmail: usage errors exit 64; legacy options are accepted" {
  run postern-sendmail --no-such-option ann@example.org </dev/null
  assert_status 64
  run postern-sendmail -oQ/var/spool ann@example.org </dev/null
  assert_status 64
  run postern-sendmail -bd </dev/null
  assert_status 64
  run postern-sendmail -R everything ann@example.org </dev/null
  assert_status 64
  run postern-sendmail -oem -odi -oi -h 17 -- ann@example.org <<<$'Subject: legacy\n\nx'
  assert_status 0
  [ "$(count)" -eq 1 ]
}

@test "postern-sendmail: smtp-listen serves a local socket inherited by name (LISTEN_FDS)" {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
  : > ready
  # Bind as a supervisor would, then exec smtp-listen with the socket as fd 3.
  /usr/bin/python3 -c 'import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(16)
os.dup2(s.fileno(), 3); os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="local")
os.execvp(sys.argv[2], sys.argv[2:])' "$SOCKDIR/inherited.sock" smtp-listen -c postern.yaml --notify-fd 4 4>ready >/dev/null 2>>server.log &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s ready ] && break; sleep 0.05; done
  [ -s ready ]
  grep -q 'event=listening listener=local mode=local address=inherited' server.log
  POSTERN_SENDMAIL_SOCKET="$SOCKDIR/inherited.sock" run postern-sendmail ann@example.org <<<$'Subject: x\n\ny'
  assert_status 0
  [ "$(count)" -eq 1 ]
}
