#!/usr/bin/env bats
# smtp-listen on real TCP sockets against other people's SMTP clients: swaks, Python's
# smtplib, GNU SASL (SCRAM-SHA-256) and a private Postfix instance relaying to it and
# delivering over LMTP; then hostile input, limits, metrics, SIGHUP and SIGTERM. Each test
# starts its own smtp-listen on free loopback ports (mx, submission, submissions, lmtp
# and metrics) with a fresh SQLite store. Nothing leaves 127.0.0.1.
#
# Needs (Debian): swaks, libnet-ssleay-perl (swaks --tls), gsasl, postfix, openssl, curl,
# python3.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/postfix.sh"

PY=/usr/bin/python3
CLIENTS="$SRC_DIR/tests/e2e/smtp-clients.py"

setup_file() {
  command -v swaks >/dev/null || skip "swaks is not installed"
  # A self-signed certificate naming 127.0.0.1, so clients can verify it against itself.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.example.org \
    -addext subjectAltName=IP:127.0.0.1,DNS:mx.example.org \
    -keyout "$BATS_FILE_TMPDIR/key.pem" -out "$BATS_FILE_TMPDIR/cert.pem" 2>/dev/null
}

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null
  account-ctl "${STORE[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  account-ctl "${STORE[@]}" add bob@example.org --password-stdin <<<hunter2 >/dev/null
  account-ctl "${STORE[@]}" alias add sales@example.org ann@example.org >/dev/null
  CERT="$BATS_FILE_TMPDIR/cert.pem"
  read -r MX SUB SUBS LMTP METRICS < <(free_ports 5)
  write_config
  SERVER_PID=
}

# Writes postern.yaml; arguments are extra lines for the smtp: section.
write_config() {
  {
    cat <<YAML
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
  - name: lmtp
    address: 127.0.0.1:$LMTP
    mode: lmtp
tls:
  certificate: $BATS_FILE_TMPDIR/cert.pem
  key: $BATS_FILE_TMPDIR/key.pem
smtp:
  metrics: 127.0.0.1:$METRICS
YAML
    local l
    for l in "$@"; do echo "  $l"; done
  } > postern.yaml.new
  mv postern.yaml.new postern.yaml
}

# Starts smtp-listen in the background (extra arguments: --set ...) and waits for its
# readiness line on --notify-fd.
start_server() {
  : > ready
  smtp-listen -c postern.yaml "${STORE[@]}" --notify-fd 3 "$@" 3>ready >/dev/null 2>>server.log &
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

# Stops the server started by start_server (SIGTERM, then SIGKILL after 5 s).
stop_server() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}

teardown() {
  stop_server
  pf_stop
  if [ -n "${BATS_TEST_COMPLETED:-}" ] || [ ! -f server.log ]; then return 0; fi
  echo "--- server.log" >&2
  tail -n 30 server.log >&2
}

# swaks to the MX listener with the usual envelope; extra arguments follow.
swaks_mx() {
  timeout 30 swaks --server "127.0.0.1:$MX" --timeout 10 --helo client.test \
    --from x@remote.test --to ann@example.org "$@"
}

queued_id() { grep -o 'queued as [0-9A-Z]*' <<<"$1" | tail -n 1 | cut -d' ' -f3; }
raw() { queue-ctl "${STORE[@]}" show --raw "$1"; }
queue_count() { queue-ctl "${STORE[@]}" list --json | grep -c . || true; }

# The queued message without its first field (our Received:, with its folded lines).
without_received() {
  raw "$1" | "$PY" -c 'import re, sys
d = sys.stdin.buffer.read()
m = re.match(rb"Received:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*", d)
assert m, "no Received: field first"
sys.stdout.buffer.write(d[m.end():])'
}

# A normal send still gets 250 (the server kept serving).
assert_still_serving() {
  run swaks_mx --body "still serving"
  assert_status 0
  assert_output_contains "250 2.0.0 ok: queued as"
}

py() { timeout 30 "$PY" "$CLIENTS" "$@"; }

@test "smtp-interop: swaks on mx — plain, pipelined, 8-bit body and STARTTLS, queued byte-intact" {
  start_server
  # The message swaks sends, CRLF, with a leading-dot line (dot-stuffed on the wire).
  printf 'From: x@remote.test\r\nTo: ann@example.org\r\nSubject: plain\r\nMessage-ID: <1@remote.test>\r\n\r\nline one\r\n.leading dot\r\n\r\nend\r\n' > plain.eml
  printf 'From: x@remote.test\r\nTo: ann@example.org\r\nSubject: eight bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe, \xe2\x82\xac and a latin-1 \xe9\r\n' > 8bit.eml
  local mode file id
  for mode in plain pipeline 8bit tls; do
    file=plain.eml
    args=()
    case $mode in
      pipeline) args=(--pipeline) ;;
      8bit) file=8bit.eml ;;
      tls) args=(--tls) ;;
    esac
    run swaks_mx --data "@$file" "${args[@]}"
    assert_status 0
    id=$(queued_id "$output")
    [ -n "$id" ] || { echo "$mode: $output"; false; }
    without_received "$id" > got.eml
    # swaks ends the data with CRLF "." CRLF after the file's last CRLF: one more line.
    { cat "$file"; printf '\r\n'; } > sent.eml
    cmp got.eml sent.eml || { echo "$mode: queued message differs"; od -c got.eml | head -20; false; }
    case $mode in
      pipeline) # MAIL, RCPT and DATA went out together, before any reply.
                grep -A2 -- '-> MAIL FROM' <<<"$output" | tr -d '\n' |
                  grep -q -- '-> MAIL FROM:<x@remote.test> *-> RCPT TO:<ann@example.org> *-> DATA' ;;
      tls) raw "$id" | head -n 3 | grep -q 'with ESMTPS id' ;;
      *) raw "$id" | head -n 3 | grep -q 'with ESMTP id' ;;
    esac
  done
  [ "$(queue_count)" -eq 4 ]
}

@test "smtp-interop: swaks on submission — no AUTH without TLS; PLAIN, LOGIN, app password, 535; submissions" {
  start_server
  S=(--server "127.0.0.1:$SUB" --timeout 10 --from ann@example.org --to dave@far.test)
  # Without TLS: AUTH is not offered, and MAIL gets 530.
  run timeout 30 swaks "${S[@]}"
  [[ "$output" != *"250 AUTH"* ]]
  [[ "$output" != *"250-AUTH"* ]]
  assert_output_contains "530 5.7.0"
  run timeout 30 swaks "${S[@]}" --auth PLAIN --auth-user ann@example.org --auth-password secret
  [ "$status" -ne 0 ]
  assert_output_contains "Host did not advertise authentication"
  # With STARTTLS: PLAIN and LOGIN, with the account password and an app password.
  app=$(account-ctl "${STORE[@]}" app-password add ann@example.org phone)
  [ -n "$app" ]
  for auth in "PLAIN secret" "LOGIN secret" "PLAIN $app" "LOGIN $app"; do
    read -r mech pass <<<"$auth"
    run timeout 30 swaks "${S[@]}" --tls --auth "$mech" --auth-user ann@example.org --auth-password "$pass"
    assert_status 0
    assert_output_contains "235 2.7.0"
    assert_output_contains "250 2.0.0 ok: queued as"
  done
  grep -q 'event=auth .*user=ann@example.org .*mechanism=PLAIN' server.log
  grep -q 'event=auth .*user=ann@example.org .*mechanism=LOGIN' server.log
  run timeout 30 swaks "${S[@]}" --tls --auth PLAIN --auth-user ann@example.org --auth-password wrong
  [ "$status" -ne 0 ]
  assert_output_contains "535 5.7.8"
  [[ "$output" != *"queued as"* ]]
  # Implicit TLS (submissions).
  run timeout 30 swaks --server "127.0.0.1:$SUBS" --timeout 10 --tlsc --from ann@example.org \
    --to dave@far.test --auth LOGIN --auth-user ann@example.org --auth-password secret
  assert_status 0
  id=$(queued_id "$output")
  [ -n "$id" ]
  raw "$id" | head -n 3 | grep -q 'with ESMTPSA id'
  [ "$(queue_count)" -eq 5 ]
}

@test "smtp-interop: Python smtplib — send_message, STARTTLS+login, SMTPUTF8, DSN parameters" {
  start_server
  run py send-message "$MX"
  assert_status 0
  assert_output_contains "refused {}"
  id=$(grep -o 'event=queued queue_id=[0-9A-Z]*' server.log | tail -n 1 | cut -d= -f3)
  raw "$id" | grep -q $'^Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r$'
  run queue-ctl "${STORE[@]}" show --json "$id"
  assert_output_contains '"sender":"carol@remote.test"'

  run py login "$SUB" ann@example.org secret "$CERT"
  assert_status 0
  assert_output_contains "before-tls-auth False"
  assert_output_contains "after-tls-auth  PLAIN LOGIN SCRAM-SHA-256"
  assert_output_contains "login (235,"
  assert_output_contains "refused {}"

  # A UTF-8 sender on MX, and a UTF-8 local part as recipient (an alias of ann).
  account-ctl "${STORE[@]}" alias add $'j\xc3\xbcrgen@example.org' ann@example.org >/dev/null
  run py smtputf8 "$MX" $'jos\xc3\xa9@remote.test' $'j\xc3\xbcrgen@example.org'
  assert_status 0
  assert_output_contains "smtputf8 True"
  assert_output_contains "refused {}"
  id=$(grep -o 'event=queued queue_id=[0-9A-Z]*' server.log | tail -n 1 | cut -d= -f3)
  run queue-ctl "${STORE[@]}" show --json "$id"
  assert_output_contains '"smtputf8":true'
  assert_output_contains $'jos\xc3\xa9@remote.test'
  raw "$id" | grep -q 'with UTF8SMTP'

  run py dsn "$MX"
  assert_status 0
  assert_output_contains "dsn True"
  id=$(grep -o 'event=queued queue_id=[0-9A-Z]*' server.log | tail -n 1 | cut -d= -f3)
  run queue-ctl "${STORE[@]}" show --json "$id"
  assert_output_contains '"envid":"e2e+envid"'
  assert_output_contains '"ret":"FULL"'
  assert_output_contains '"orcpt":"rfc822;sales+x@example.org"'
  assert_output_contains '"notify":"SUCCESS,DELAY"'
}

@test "smtp-interop: BDAT chunks with a lone dot line and CRLF.CRLF inside make one message" {
  start_server
  run py bdat "$MX" sent.eml
  assert_status 0
  [ "$(grep -c '^250 2.0.0 [0-9]* octets received' <<<"$output")" -eq 3 ]
  [ "$(grep -c '^250 2.0.0 ok: queued as' <<<"$output")" -eq 1 ]
  [[ "$output" != *"503"* ]]
  id=$(queued_id "$output")
  without_received "$id" > got.eml
  cmp got.eml sent.eml
  [ "$(queue_count)" -eq 1 ]
}

@test "smtp-interop: SCRAM-SHA-256 with GNU SASL over STARTTLS; a wrong password fails" {
  command -v gsasl >/dev/null || skip "gsasl is not installed"
  start_server
  # --no-cb: gsasl 2.2 gives up on SCRAM (no -PLUS offered) when it has TLS channel
  # binding data; without it, it sends the plain "n,," GS2 header, as RFC 5802 allows.
  G=(--smtp --connect "127.0.0.1:$SUB" --starttls --x509-ca-file "$CERT" --no-cb
     -m SCRAM-SHA-256 -a ann@example.org)
  run timeout 20 gsasl "${G[@]}" -p secret </dev/null
  assert_status 0
  assert_output_contains "235 2.7.0"
  grep -q 'event=auth .*user=ann@example.org .*mechanism=SCRAM-SHA-256' server.log
  run timeout 20 gsasl "${G[@]}" -p wrong </dev/null
  [ "$status" -ne 0 ]
  [[ "$output" != *"235 "* ]]
  grep -q 'event=auth_failed' server.log
  # Over plain TCP (smtp.auth_requires_tls=false) gsasl needs no --no-cb.
  stop_server
  start_server --set smtp.auth_requires_tls=false
  run timeout 20 gsasl --smtp --connect "127.0.0.1:$SUB" --no-starttls -m SCRAM-SHA-256 \
    -a ann@example.org -p secret </dev/null
  assert_status 0
  assert_output_contains "235 2.7.0"
  [ "$(grep -c 'event=auth .*mechanism=SCRAM-SHA-256' server.log)" -eq 2 ]
}

# A private Postfix (tests/e2e/postfix.sh) with one smtpd on a free loopback port. $1 is
# the next hop: relayhost=[127.0.0.1]:PORT or an LMTP transport.
start_postfix() {
  pf_init
  PF_PORT=$(free_ports 1)
  pf_start "127.0.0.1:$PF_PORT" myhostname=client.test mydomain=client.test myorigin=client.test \
    default_transport=smtp smtp_tls_security_level=may smtpd_tls_security_level=none \
    smtp_tls_CAfile="$CERT" "$@"
}

# Submits a message to the private Postfix with its sendmail.
postfix_send() {
  printf 'From: root@client.test\nTo: ann@example.org\nSubject: %s\nMessage-ID: <%s@client.test>\n\n%s\n' \
    "$1" "$1" "$2" | sendmail -C "$PF_DIR/etc" -f root@client.test ann@example.org 3>&-
}

@test "smtp-interop: a private Postfix relays to smtp-listen (mx) and delivers over LMTP" {
  start_server
  start_postfix "relayhost=[127.0.0.1]:$MX"
  postfix_send relayed "relayed by postfix"
  for _ in $(seq 200); do [ "$(queue_count)" -ge 1 ] && break; sleep 0.1; done
  [ "$(queue_count)" -eq 1 ] || { cat "$PF_DIR/postfix.log"; false; }
  id=$(grep -o 'event=queued queue_id=[0-9A-Z]*' server.log | tail -n 1 | cut -d= -f3)
  raw "$id" > q.eml
  grep -q '^Message-ID: <relayed@client.test>' q.eml
  grep -q $'^relayed by postfix\r$' q.eml
  grep -q 'with ESMTPS id' q.eml   # Postfix's smtp_tls_security_level=may took STARTTLS
  run queue-ctl "${STORE[@]}" show --json "$id"
  assert_output_contains '"sender":"root@client.test"'
  grep -q 'status=sent (250 2.0.0 ok: queued as' "$PF_DIR/postfix.log"
  # Also through Postfix's own smtpd on its loopback port.
  run timeout 30 swaks --server "127.0.0.1:$PF_PORT" --timeout 10 --helo far.test \
    --from someone@far.test --to ann@example.org --header 'Subject: via postfix smtpd'
  assert_status 0
  for _ in $(seq 200); do [ "$(queue_count)" -ge 2 ] && break; sleep 0.1; done
  [ "$(queue_count)" -eq 2 ] || { cat "$PF_DIR/postfix.log"; false; }
  id=$(grep -o 'event=queued queue_id=[0-9A-Z]*' server.log | tail -n 1 | cut -d= -f3)
  raw "$id" | grep -q '^Subject: via postfix smtpd'

  # Second run: Postfix delivers into the store through the LMTP listener.
  postconf -c "$PF_DIR/etc" -e relayhost= "default_transport=lmtp:inet:127.0.0.1:$LMTP"
  postfix -c "$PF_DIR/etc" reload 3>&- >/dev/null 2>&1
  postfix_send lmtp "xylophonic delivery over lmtp"
  for _ in $(seq 200); do
    grep -q 'status=sent (250 2.0.0 <ann@example.org> delivered)' "$PF_DIR/postfix.log" && break
    sleep 0.1
  done
  grep -q 'status=sent (250 2.0.0 <ann@example.org> delivered)' "$PF_DIR/postfix.log" ||
    { cat "$PF_DIR/postfix.log"; false; }
  run store-search "${STORE[@]}" -a ann@example.org xylophonic
  assert_status 0
  assert_output_contains "lmtp"
  [ "$(queue_count)" -eq 2 ]   # LMTP makes no queue row
}

@test "smtp-interop: hostile input — long lines, NUL, 8-bit headers, NOOP floods; the server keeps serving" {
  start_server
  # An overlong command line (100 KB), then a normal command on the same connection.
  { printf 'EHLO c\r\nNOOP '; head -c 100000 /dev/zero | tr '\0' a; printf '\r\nNOOP\r\nQUIT\r\n'; } > long.bin
  run py raw "$MX" long.bin
  assert_output_contains $'500 5.5.6 line too long\n250 2.0.0 ok\n221 '
  assert_still_serving
  # NUL bytes in commands.
  printf 'EHLO c\r\nNOOP\0x\r\nMAIL FROM:<a\0b@remote.test>\r\nMAIL FROM:<x@remote.test>\r\nQUIT\r\n' > nul.bin
  run py raw "$MX" nul.bin
  assert_output_contains "500 5.5.2"               # NOOP<NUL>x is no command
  assert_output_contains "501 5.1.7"               # an address with a NUL is refused
  [ "$(grep -c '^250 2.1.0' <<<"$output")" -eq 1 ] # the clean MAIL after it is taken
  assert_output_contains "221 "
  assert_still_serving
  # 8-bit bytes in headers without SMTPUTF8: accepted and queued intact.
  printf 'From: Jos\xc3\xa9 <x@remote.test>\r\nTo: ann@example.org\r\nSubject: caf\xc3\xa9 \xff\xfe\r\n\r\nbody\r\n' > 8hdr.eml
  run swaks_mx --data @8hdr.eml
  assert_status 0
  without_received "$(queued_id "$output")" > got.eml
  { cat 8hdr.eml; printf '\r\n'; } > sent.eml
  cmp got.eml sent.eml
  # 10,000 pipelined NOOPs: cut off at smtp.max_commands (default 1000) with 421.
  run py noops "$MX" 10000
  assert_status 0
  assert_output_contains "421 4.7.0 too many commands"
  ok=$(awk '/^ok /{print $2}' <<<"$output")
  [ "$ok" -le 1000 ]
  assert_still_serving
}

# smtp.command_timeout bounds the wait for a whole command line (RFC 5321 4.5.3.2.7: the
# server awaits "the next command"), so a byte a second cannot hold a session open.
@test "smtp-interop: hostile input — slowloris is cut off at smtp.command_timeout" {
  start_server --set smtp.command_timeout=2s
  SECONDS=0
  run py slowloris "$MX" 15   # 15 bytes of "EHLO slow.client.test", one a second
  assert_status 0
  slow=$output
  took=$SECONDS
  assert_still_serving
  output=$slow
  assert_output_contains "closed"
  [ "$took" -lt 10 ]
  grep -q 'event=timeout' server.log
}

@test "smtp-interop: hostile input — garbage on the implicit-TLS port, then TLS still works" {
  start_server
  run py garbage-tls "$SUBS"
  assert_status 0
  grep -q 'event=tls_failed' server.log
  run timeout 30 swaks --server "127.0.0.1:$SUBS" --timeout 10 --tlsc --from ann@example.org \
    --to dave@far.test --auth PLAIN --auth-user ann@example.org --auth-password secret
  assert_status 0
  assert_output_contains "queued as"
  assert_still_serving
}

@test "smtp-interop: hostile input — smtp.max_message_size gives 552, then 250 again" {
  start_server --set smtp.max_message_size=10K
  head -c 30000 /dev/zero | tr '\0' x | fold -w 70 > big.txt
  run swaks_mx --body @big.txt
  [ "$status" -ne 0 ]
  assert_output_contains "552 5.3.4"
  [[ "$output" != *"queued as"* ]]
  [ "$(queue_count)" -eq 0 ]
  assert_still_serving
}

@test "smtp-interop: hostile input — connections over smtp.max_connections_per_ip get 421 4.7.0" {
  start_server --set smtp.max_connections_per_ip=3
  run py hold "$MX" 3
  assert_status 0
  [ "$(grep -c '^220 ' <<<"$output")" -eq 3 ]
  assert_output_contains "extra: 421 4.7.0"
  # The held connections are closed now; a new one is served.
  for _ in $(seq 50); do
    run swaks_mx --body again
    [[ "$output" == *"queued as"* ]] && break
    sleep 0.1
  done
  assert_still_serving
}

@test "smtp-interop: /metrics counts messages and relay rejects" {
  start_server
  metric() {
    curl -fsS --max-time 5 "http://127.0.0.1:$METRICS/metrics" |
      awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'
  }
  run curl -fsS --max-time 5 "http://127.0.0.1:$METRICS/metrics"
  assert_status 0
  assert_output_contains "postern_smtp_messages_total"
  assert_output_contains "postern_queue_checkpoint_seconds_count"
  m0=$(metric postern_smtp_messages_total)
  r0=$(metric 'postern_smtp_rejects_total{reason="relay"')
  swaks_mx >/dev/null
  swaks_mx >/dev/null
  run swaks_mx --to victim@elsewhere.test
  assert_output_contains "554 5.7.1"
  m1=$(metric postern_smtp_messages_total)
  r1=$(metric 'postern_smtp_rejects_total{reason="relay"')
  [ "$m1" -eq $((m0 + 2)) ] || { echo "messages $m0 -> $m1"; false; }
  [ "$r1" -eq $((r0 + 1)) ] || { echo "relay rejects $r0 -> $r1"; false; }
}

@test "smtp-interop: a reload compiles new spam rules off the event loop; mail flows meanwhile" {
  write_config "filters: [{name: spam, stage: data, builtin: spam-score}]"
  printf 'spam:\n  cache_dir: %s\n  rules: [%s]\n' "$BATS_TEST_TMPDIR/cache" "$BATS_TEST_TMPDIR/rules" >> postern.yaml
  mkdir rules
  start_server
  # Some 1,500 regex rules nobody has compiled: seconds of work for Hyperscan.
  /usr/bin/python3 -c '
import random
random.seed(7)
print("rules:")
print("  - {name: NEW_RULE, body: \x27test mailing\x27, score: 0.1}")
for i in range(1500):
    w = "".join(random.choice("abcdefghijklmnop") for _ in range(8))
    print(f"  - {{name: GEN_{i}, body: \x27{w}[a-z]{{2,40}}(foo|bar|baz)+\\d{{1,5}}\x27, score: 0.1}}")
' > rules/many.yaml
  kill -HUP "$SERVER_PID"
  for _ in $(seq 100); do grep -q 'event=reloading' server.log && break; sleep 0.05; done
  # While the new set compiles, a message is taken and scored with the old rules.
  run swaks_mx
  assert_output_contains "queued as"
  grep -q 'event=reloading' server.log
  ! grep -q 'event=reloaded' server.log || false
  for _ in $(seq 1200); do grep -q 'event=reloaded' server.log && break; sleep 0.05; done
  grep -q 'event=reloaded' server.log
  run swaks_mx
  assert_output_contains "queued as"
  # The first message was scored with the old set, the second with the new.
  grep 'event=filter' server.log | head -n 1 | grep -q 'score=0.0 '
  grep 'event=filter' server.log | tail -n 1 | grep -q 'score=0.1 '
}

@test "smtp-interop: SIGHUP reloads limits without dropping a session; a bad file keeps the old" {
  write_config "max_recipients: 5"
  start_server
  rm -f held go
  py hold-session "$MX" "$BATS_TEST_TMPDIR" > held.out 2>&1 &
  holder=$!
  for _ in $(seq 100); do [ -e held ] && break; sleep 0.05; done
  [ -e held ]
  write_config "max_recipients: 2"
  kill -HUP "$SERVER_PID"
  for _ in $(seq 100); do grep -q 'event=reloaded' server.log && break; sleep 0.05; done
  grep -q 'event=reloaded' server.log
  # A new session sees the new limit.
  run timeout 30 swaks --server "127.0.0.1:$MX" --timeout 10 --from x@remote.test \
    --to ann@example.org,bob@example.org,sales@example.org
  assert_output_contains "452 4.5.3"
  # The session opened before the reload is still served to the end.
  touch go
  wait "$holder"
  cat held.out
  grep -q '^250 2.0.0 ok: queued as' held.out
  [ "$(grep -c '^250 2.1.5' held.out)" -ge 2 ]
  # An invalid file is logged; the server keeps running with the old settings.
  printf 'smtp:\n  max_recipients: [not, a, number\n' > postern.yaml
  kill -HUP "$SERVER_PID"
  for _ in $(seq 100); do grep -q 'reload_failed' server.log && break; sleep 0.05; done
  grep 'event=reload_failed' server.log | grep -q 'postern.yaml:'
  kill -0 "$SERVER_PID"
  run timeout 30 swaks --server "127.0.0.1:$MX" --timeout 10 --from x@remote.test \
    --to ann@example.org,bob@example.org,sales@example.org
  assert_output_contains "452 4.5.3"
  assert_output_contains "queued as"
}

@test "smtp-interop: SIGTERM answers 421 4.3.2 to an idle session and exits 0" {
  start_server
  rm -f idle
  py idle "$MX" "$BATS_TEST_TMPDIR" > idle.out 2>&1 &
  client=$!
  for _ in $(seq 100); do [ -e idle ] && break; sleep 0.05; done
  [ -e idle ]
  kill -TERM "$SERVER_PID"
  wait "$client"
  cat idle.out
  grep -q '^421 4.3.2' idle.out
  rc=0
  wait "$SERVER_PID" || rc=$?
  [ "$rc" -eq 0 ]
  SERVER_PID=
  grep -q 'event=stopped' server.log
}

@test "smtp-interop: SIGTERM lets a message in DATA finish, then closes; new connections are refused" {
  start_server
  rm -f mid go
  py mid-data "$MX" "$BATS_TEST_TMPDIR" > mid.out 2>&1 &
  client=$!
  for _ in $(seq 100); do [ -e mid ] && break; sleep 0.05; done
  [ -e mid ]
  kill -TERM "$SERVER_PID"
  # The listener is closed at once: nobody new gets in.
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$MX") 2>/dev/null || break; sleep 0.1; done
  ! (exec 3<>"/dev/tcp/127.0.0.1/$MX") 2>/dev/null || false
  # The session in DATA is still served: its message is queued.
  touch go
  wait "$client"
  cat mid.out
  grep -q '^250 2.0.0 ok: queued as' mid.out
  grep -Eq '^(421 4.3.2|<closed>)' mid.out
  rc=0
  wait "$SERVER_PID" || rc=$?
  [ "$rc" -eq 0 ]
  SERVER_PID=
  run queue-ctl "${STORE[@]}" list
  assert_output_contains "x@remote.test"
}

@test "smtp-interop: SIGHUP takes a renewed certificate for STARTTLS and implicit TLS" {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=renewed.example.org \
    -keyout new-key.pem -out new-cert.pem 2>/dev/null
  start_server
  subject() {  # subject PORT [starttls]: the CN the server presents
    timeout 20 openssl s_client -connect "127.0.0.1:$1" ${2:+-starttls smtp} </dev/null 2>/dev/null |
      openssl x509 -noout -subject 2>/dev/null
  }
  [[ "$(subject "$MX" starttls)" == *"CN = mx.example.org"* ]]
  [[ "$(subject "$SUBS")" == *"CN = mx.example.org"* ]]
  # The renewed pair (acme-renew's job): the configuration names the new files.
  sed -i "s|$BATS_FILE_TMPDIR/cert.pem|$BATS_TEST_TMPDIR/new-cert.pem|; s|$BATS_FILE_TMPDIR/key.pem|$BATS_TEST_TMPDIR/new-key.pem|" postern.yaml
  grep -q new-cert.pem postern.yaml
  kill -HUP "$SERVER_PID"
  for _ in $(seq 100); do grep -q 'event=reloaded' server.log && break; sleep 0.05; done
  grep -q 'event=reloaded' server.log
  [[ "$(subject "$MX" starttls)" == *"CN = renewed.example.org"* ]]
  [[ "$(subject "$SUBS")" == *"CN = renewed.example.org"* ]]
  # Mail still flows over the new certificate.
  run timeout 30 swaks --server "127.0.0.1:$MX" --timeout 10 --tls --from x@remote.test --to ann@example.org
  assert_output_contains "queued as"
}
