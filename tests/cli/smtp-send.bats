#!/usr/bin/env bats
# smtp-send against a real smtp-listen on free loopback ports (fresh SQLite store): a
# message reaches the queue with --server, and through an MX lookup (zone-file resolver;
# a null MX is permanent); per-recipient results (--json); 69 with the server's reply for
# an unknown recipient; 75 when nothing listens; STARTTLS verified against the test
# certificate, and a wrong name deferred without sending; AUTH after STARTTLS and over
# implicit TLS; usage errors 64, an empty message 65. Then a private Postfix smtpd (root
# only; skipped without Postfix) as the peer, relaying on to smtp-listen.

bats_require_minimum_version 1.5.0
load common
source "$SRC_DIR/tests/e2e/postfix.sh"

PY=/usr/bin/python3

setup_file() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=mx.example.org -addext subjectAltName=DNS:mx.example.org \
    -keyout "$BATS_FILE_TMPDIR/key.pem" -out "$BATS_FILE_TMPDIR/cert.pem" 2>/dev/null
}

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null
  account-ctl "${STORE[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  account-ctl "${STORE[@]}" add bob@example.org --password-stdin <<<hunter2 >/dev/null
  read -r MX CLOSED SUB SUBS < <(free_ports 4)
  cat > postern.yaml <<YAML
server:
  hostname: mx.example.org
listeners:
  - name: mx
    address: 127.0.0.1:$MX
    mode: mx
  - name: submission
    address: 127.0.0.1:$SUB
    mode: submission
  - name: submissions
    address: 127.0.0.1:$SUBS
    mode: submissions
tls:
  certificate: $BATS_FILE_TMPDIR/cert.pem
  key: $BATS_FILE_TMPDIR/key.pem
YAML
  printf 'From: carol@remote.test\nTo: ann@example.org\nSubject: out\n\n.a dotted line\nbody\n' > msg.eml
  : > ready
  smtp-listen -c postern.yaml "${STORE[@]}" --notify-fd 3 3>ready >/dev/null 2>>server.log &
  SERVER_PID=$!
  for _ in $(seq 100); do
    [ -s ready ] && break
    sleep 0.05
  done
  [ -s ready ] || { cat server.log >&2; return 1; }
}

teardown() {
  pf_stop
  if [ -n "${SERVER_PID:-}" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
}

send() { smtp-send --helo client.test --timeout 10 "$@" < msg.eml; }
queued() { queue-ctl "${STORE[@]}" list --json; }

@test "smtp-send: --server delivers to smtp-listen; the queue holds the message as sent" {
  run send -f carol@remote.test --server "127.0.0.1:$MX" ann@example.org bob@example.org
  assert_status 0
  [ -z "$output" ]
  run queued
  assert_status 0
  [ "$(grep -c . <<<"$output")" -eq 1 ]
  assert_output_contains '"sender":"carol@remote.test"'
  assert_output_contains 'ann@example.org'
  assert_output_contains 'bob@example.org'
  id=$(grep -o '"id":"[0-9A-Z]*"' <<<"$output" | cut -d'"' -f4)
  queue-ctl "${STORE[@]}" show --raw "$id" > q.eml
  grep -q $'^\\.a dotted line\r$' q.eml
  grep -q 'from client.test' q.eml
}

@test "smtp-send: an unknown recipient exits 69 with the server's reply; --json per recipient" {
  run --separate-stderr send -f carol@remote.test --server "127.0.0.1:$MX" --json \
    ann@example.org nobody@example.org
  assert_status 69
  [ "$(grep -c . <<<"$output")" -eq 2 ]
  grep '"recipient":"ann@example.org"' <<<"$output" | grep -q '"status":"sent"'
  grep '"recipient":"nobody@example.org"' <<<"$output" | grep -q '"status":"failed","code":550,"enhanced":"5.1.1"'
  [[ "$stderr" == *"<nobody@example.org>: 550 5.1.1"* ]]
  [[ "$stderr" != *"ann@example.org>"* ]]
  # The accepted recipient's copy is queued all the same.
  run queued
  [ "$(grep -c . <<<"$output")" -eq 1 ]
}

@test "smtp-send: nothing listening exits 75" {
  run send --server "127.0.0.1:$CLOSED" ann@example.org
  assert_status 75
  assert_output_contains "127.0.0.1"
}

@test "smtp-send: STARTTLS verified by PKIX; a wrong name defers and sends nothing" {
  # The name the certificate carries, resolved by a zone of our own to 127.0.0.1.
  printf 'mx.example.org A 127.0.0.1\n' > zone
  run send --resolver file:zone --server "mx.example.org:$MX" --tls required --verify \
    --ca-file "$BATS_FILE_TMPDIR/cert.pem" --json ann@example.org
  assert_status 0
  assert_output_contains '"used":true'
  assert_output_contains '"verified":true,"how":"pkix"'
  printf 'other.example.org A 127.0.0.1\n' > zone
  run send --resolver file:zone --server "other.example.org:$MX" --verify \
    --ca-file "$BATS_FILE_TMPDIR/cert.pem" ann@example.org
  assert_status 75
  assert_output_contains "verification failed"
  run queued
  [ "$(grep -c . <<<"$output")" -eq 1 ]
}

@test "smtp-send: AUTH after STARTTLS on submission; a wrong password or no TLS fails for good" {
  printf 'mx.example.org A 127.0.0.1\n' > zone
  echo secret > pw
  echo wrong > bad
  sed -i 's/^From: .*/From: ann@example.org/' msg.eml   # submission: From: must be the login's
  TLS=(--resolver file:zone --server "mx.example.org:$SUB" --tls required --verify --ca-file "$BATS_FILE_TMPDIR/cert.pem")
  run send "${TLS[@]}" -f ann@example.org --auth-user ann@example.org --auth-password-file pw carol@far.test
  assert_status 0
  # Implicit TLS (RFC 8314) on the submissions port.
  run send --resolver file:zone --server "mx.example.org:$SUBS" --tls implicit --verify \
    --ca-file "$BATS_FILE_TMPDIR/cert.pem" -f ann@example.org --auth-user ann@example.org \
    --auth-password-file pw --json carol@far.test
  assert_status 0
  assert_output_contains '"verified":true,"how":"pkix"'
  run send "${TLS[@]}" -f ann@example.org --auth-user ann@example.org --auth-password-file bad carol@far.test
  assert_status 69
  assert_output_contains "535 5.7.8"
  # --tls none: the server offers AUTH only under TLS, so there is no way to log in.
  run send --server "127.0.0.1:$SUB" --tls none -f ann@example.org --auth-user ann@example.org --auth-password-file pw carol@far.test
  assert_status 69
  assert_output_contains "offers neither AUTH PLAIN nor LOGIN"
  run queued
  [ "$(grep -c . <<<"$output")" -eq 2 ]
  [ "$(grep -c '"auth_user":"ann@example.org"' <<<"$output")" -eq 2 ]
}

@test "smtp-send: recipients' domains are looked up (MX); a null MX is permanent" {
  printf 'example.org MX 10 mx.example.org\nmx.example.org A 127.0.0.1\nnull.test MX 0 .\n' > zone
  run send --resolver file:zone --port "$MX" -f carol@remote.test ann@example.org
  assert_status 0
  run send --resolver file:zone --port "$MX" someone@null.test
  assert_status 69
  assert_output_contains "null MX"
  run queued
  [ "$(grep -c . <<<"$output")" -eq 1 ]
}

@test "smtp-send: usage errors exit 64, an empty message 65" {
  run smtp-send --server "127.0.0.1:$MX" < msg.eml
  assert_status 64
  run smtp-send --server "127.0.0.1:$MX" --tls sometimes ann@example.org < msg.eml
  assert_status 64
  run smtp-send --server "127.0.0.1:$MX" --auth-user ann@example.org ann@example.org < msg.eml
  assert_status 64
  run smtp-send --server "127.0.0.1:$MX" 'not a mailbox@' < msg.eml
  assert_status 64
  run smtp-send --server "127.0.0.1:99999" ann@example.org < msg.eml
  assert_status 64
  run smtp-send --server "127.0.0.1:$MX" ann@example.org < /dev/null
  assert_status 65
  run queued
  [ -z "$output" ]
}

# A private Postfix (tests/e2e/postfix.sh) whose smtpd listens on a free loopback port
# with STARTTLS, relays to our smtp-listen, and refuses one address.
start_postfix() {
  pf_init
  cp "$BATS_FILE_TMPDIR/cert.pem" "$BATS_FILE_TMPDIR/key.pem" "$PF_DIR/etc/"
  PF_PORT=$(free_ports 1)
  pf_start "127.0.0.1:$PF_PORT" myhostname=mx.example.org mydomain=example.org myorigin=example.org \
    mynetworks=127.0.0.0/8 relayhost="[127.0.0.1]:$MX" smtp_tls_security_level=none \
    smtpd_tls_security_level=may smtpd_tls_cert_file="$PF_DIR/etc/cert.pem" \
    smtpd_tls_key_file="$PF_DIR/etc/key.pem" \
    "smtpd_recipient_restrictions=check_recipient_access inline:{{refused@example.org=REJECT no thanks}}, permit_mynetworks, reject_unauth_destination"
}

@test "smtp-send: to a real Postfix smtpd over STARTTLS, which relays to smtp-listen" {
  start_postfix
  printf 'mx.example.org A 127.0.0.1\n' > zone
  run --separate-stderr send --resolver file:zone --server "mx.example.org:$PF_PORT" --tls required \
    --verify --ca-file "$BATS_FILE_TMPDIR/cert.pem" --json -f carol@remote.test \
    ann@example.org refused@example.org bob@example.org
  assert_status 69
  grep '"recipient":"ann@example.org"' <<<"$output" | grep -q '"status":"sent"'
  grep '"recipient":"bob@example.org"' <<<"$output" | grep -q '"status":"sent"'
  grep '"recipient":"refused@example.org"' <<<"$output" | grep -q '"code":554,"enhanced":"5.7.1"'
  grep -q '"verified":true,"how":"pkix"' <<<"$output"
  [[ "$stderr" == *"<refused@example.org>: 554 5.7.1"*"no thanks"* ]]
  # Postfix passes the message on to smtp-listen.
  for _ in $(seq 100); do
    [ "$(queued | grep -c .)" -ge 1 ] && break
    sleep 0.1
  done
  run queued
  [ "$(grep -c . <<<"$output")" -eq 1 ] || { cat "$PF_DIR/postfix.log"; false; }
  assert_output_contains 'ann@example.org'
  assert_output_contains 'bob@example.org'
  id=$(grep -o '"id":"[0-9A-Z]*"' <<<"$output" | cut -d'"' -f4)
  queue-ctl "${STORE[@]}" show --raw "$id" | grep -q $'^\\.a dotted line\r$'
}
