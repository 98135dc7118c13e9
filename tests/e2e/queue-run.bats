#!/usr/bin/env bats
# queue-run's behaviour end to end, against real peers on loopback: retries after a 4xx,
# DSNs after a 5xx (multipart/report read back from the sender's mailbox), expiry with
# one delay warning, two daemons on one PostgreSQL queue delivering 2,000 messages to a
# private Postfix exactly once, the SMTP smuggling variants relayed to a lenient Postfix,
# alias forwarding with SRS and an ARC set that dkimpy verifies, and a smart host over
# implicit TLS with AUTH (another smtp-listen).
#
# DNS is Debian's NSD on a free port (zone test.): far.test, outside.test and down.test
# have MX hosts 127.0.0.50, .51 and .59, and queue-run finds them by MX lookup on port 25,
# where the destination listens: tests/e2e/queue-run-sink.py (aiosmtpd, which can refuse
# or defer chosen recipients) or a private Postfix. Nothing listens on 127.0.0.59 (a
# destination that is down). Nothing leaves 127.0.0.0/8.
#
# Needs (Debian): root, nsd, ldnsutils (drill), python3-aiosmtpd, python3-dkim,
# python3-dnspython, postfix, openssl; PostgreSQL (tests/pg-cluster, POSTERN_PG_URL) for
# the two-worker test.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"
source "$SRC_DIR/tests/e2e/postfix.sh"

PY=/usr/bin/python3
SINK="$SRC_DIR/tests/e2e/queue-run-sink.py"
ARC="$SRC_DIR/tests/e2e/queue-run-arc.py"

setup_file() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (NSD, a private Postfix, 127.0.0.5x)"
  [ -x /usr/sbin/nsd ] || skip "NSD is not installed"
  command -v drill >/dev/null || skip "drill is not installed"
  command -v openssl >/dev/null || skip "openssl is not installed"
  "$PY" -c 'import aiosmtpd, dkim, dns.resolver' 2>/dev/null ||
    skip "python3-aiosmtpd, python3-dkim or python3-dnspython is missing"
  local ip
  for ip in 127.0.0.50 127.0.0.51; do
    ! (exec 3<>"/dev/tcp/$ip/25") 2>/dev/null || skip "$ip:25 is taken"
  done
  local d="$BATS_FILE_TMPDIR"
  cd "$d"
  # The DKIM key of the SRS domain: forwarded mail is ARC-sealed with it.
  dkim-keygen -d fwd.postern.test -s q1 -o "$d/fwd.private" > "$d/fwd.zone"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=relay.test \
    -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
  export NSD_DIR="$d/nsd" NSD_PORT
  NSD_PORT=$(free_udp_port)
  mkdir -p "$NSD_DIR"
  {
    nsd_soa test
    printf 'far IN MX 10 mx.far\nmx.far IN A 127.0.0.50\n'
    printf 'outside IN MX 10 mx.outside\nmx.outside IN A 127.0.0.51\n'
    printf 'down IN MX 10 mx.down\nmx.down IN A 127.0.0.59\n'
    # One MX host with two addresses, one of them down (the resolver's order varies).
    printf 'multi IN MX 10 mx.multi\nmx.multi IN A 127.0.0.59\nmx.multi IN A 127.0.0.50\n'
    # Two MX hosts, the preferred one down.
    printf 'backup IN MX 10 mx.down\nbackup IN MX 20 mx.far\n'
    # dkim-keygen's record, its name made relative to the zone.
    sed 's/\.fwd\.postern\.test\. /.fwd.postern /' "$d/fwd.zone"
  } > "$NSD_DIR/test.zone"
  grep -q '^q1._domainkey.fwd.postern ' "$NSD_DIR/test.zone" || {
    echo "unexpected dkim-keygen output:" >&2; cat "$d/fwd.zone" >&2; return 1; }
  nsd_conf "$NSD_DIR" "$NSD_PORT" test >&2
  nsd_start "$NSD_DIR" "$NSD_PORT" far.test
}

teardown_file() {
  nsd_stop "${NSD_DIR:-/nonexistent}"
}

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null
  account-ctl "${STORE[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  account-ctl "${STORE[@]}" add bob@example.org --password-stdin <<<hunter2 >/dev/null
  SUBS=$(free_ports 1)
  SINK_PID= RELAY_PID= PF_DIR= WORKERS=()
  write_config
}

# Writes postern.yaml; arguments are extra lines for the delivery: section.
write_config() {
  {
    cat <<YAML
server:
  hostname: mx.example.org
dns:
  servers: [127.0.0.1:$NSD_PORT]
  timeout: 2s
listeners:
  - name: mx
    address: 127.0.0.1:1
    mode: mx
  - name: submission
    address: 127.0.0.1:2
    mode: submission
smtp:
  relay_domains: [far.test]
  auth_requires_tls: false
delivery:
  retry: [2s]
  dane: false
  poll: 1s
  connect_timeout: 3s
  command_timeout: 20s
  data_timeout: 20s
  dkim:
    - domain: fwd.postern.test
      selector: q1
      key: $BATS_FILE_TMPDIR/fwd.private
  srs:
    domain: fwd.postern.test
    secrets: [e2e-secret-one]
YAML
    local l
    for l in "$@"; do echo "  $l"; done
  } > postern.yaml.new
  mv postern.yaml.new postern.yaml
}

teardown() {
  local p
  for p in "${WORKERS[@]}" $SINK_PID $RELAY_PID; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${WORKERS[@]}" $SINK_PID $RELAY_PID; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pf_stop
  [ -n "${BATS_TEST_COMPLETED:-}" ] && return 0
  local f
  for f in qr.log qr-*.log relay.log sink.err; do
    [ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
  done
  return 0
}

# The sink on 127.0.0.50 and .51 (far.test's and outside.test's MX), port 25; arguments are
# its rules (--reject ADDR, --defer-once ADDR). Messages land in ./sink.
start_sink() {
  rm -f sink.ready
  "$PY" "$SINK" --listen "127.0.0.50:25" --listen "127.0.0.51:25" --dir sink \
    --ready sink.ready "$@" 3>&- >/dev/null 2>sink.err &
  SINK_PID=$!
  for _ in $(seq 100); do
    [ -s sink.ready ] && return 0
    kill -0 "$SINK_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat sink.err >&2
  return 1
}

# One pass of queue-run; its summary line in $output, its log appended to qr.log.
qrun() { run qrun_logged; }
qrun_logged() { timeout 60 queue-run -c postern.yaml "${STORE[@]}" --once 2>>qr.log; }
# Fails unless the last summary has KEY=VALUE for each argument.
summary_has() {
  local kv
  for kv in "$@"; do
    [[ " $output " == *" $kv "* ]] || { echo "summary lacks $kv: $output" >&2; return 1; }
  done
}

queue_count() { queue-ctl "${STORE[@]}" list --json | grep -c . || true; }

# A message on stdin: "msg ID SUBJECT FROM TO"
msg() {
  printf 'From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@e2e.test>\r\nDate: Sun, 1 Mar 2026 10:00:00 +0000\r\n\r\nbody of %s\r\n' \
    "$3" "$4" "$2" "$1" "$1"
}

# The mail of ACCOUNT as .eml files in DIR (store-export -f eml).
export_eml() {
  rm -rf "$2"
  store-export "${STORE[@]}" -q -a "$1" -f eml "$2" >/dev/null
}

# One SMTP session into the store through smtp-listen --stdio; $1 the client's bytes
# (printf %b), further arguments go to smtp-listen. Replies in $output.
session() {
  local input="$1"
  shift
  run bash -c 'printf "%b" "$1" | TCPREMOTEIP=192.0.2.5 smtp-listen --stdio "${@:2}" 2>>listen.log' \
    _ "$input" -c postern.yaml "${STORE[@]}" "$@"
}

@test "queue-run: a 451 defers the message; after the retry time the next pass delivers it" {
  start_sink --defer-once dave@far.test
  msg retry1 "retry me" ann@example.org dave@far.test | queue-ctl "${STORE[@]}" add -f ann@example.org dave@far.test
  qrun
  assert_status 0
  summary_has attempts=1 delivered=0 deferred=1 bounced=0
  grep 'event=deferred' qr.log | grep 'to=dave@far.test' | grep -q '451 4.3.0'
  [ "$(queue_count)" -eq 1 ]
  [ ! -e sink/1.eml ]
  # Not due again before delivery.retry (2s) has passed.
  qrun
  summary_has attempts=0
  sleep 2.5
  qrun
  assert_status 0
  summary_has attempts=1 delivered=1 deferred=0
  grep 'event=delivered' qr.log | grep 'to=dave@far.test' | grep -q 'relay=mx.far.test'
  [ "$(queue_count)" -eq 0 ]
  run queue-ctl "${STORE[@]}" list
  assert_output_contains "empty"
  # The destination saw RCPT twice (451, then 250) and got the message once, intact.
  [ "$(cat sink/rcpt.log)" = $'451 dave@far.test\n250 dave@far.test' ]
  [ "$(ls sink/*.eml | wc -l)" -eq 1 ]
  [ "$(head -n 1 sink/1.env | cut -d' ' -f1)" = ann@example.org ]
  grep -qx 'dave@far.test' sink/1.env
  grep -q $'^Message-ID: <retry1@e2e.test>\r$' sink/1.eml
  grep -q $'^body of retry1\r$' sink/1.eml
}

@test "queue-run: an address that is down, then the next address; a preferred MX that is down, then the next MX" {
  start_sink
  msg backup1 "two hosts" ann@example.org y@backup.test | queue-ctl "${STORE[@]}" add -f ann@example.org y@backup.test >/dev/null
  qrun
  assert_status 0
  summary_has attempts=1 delivered=1 deferred=0
  grep 'event=connect_failed' qr.log | grep -q 'relay=mx.down.test\[127.0.0.59\]'
  grep 'event=delivered' qr.log | grep 'to=y@backup.test' | grep -q 'relay=mx.far.test'
  grep -qx 'y@backup.test' sink/*.env
  # The resolver hands out mx.multi.test's two addresses in varying order: every message
  # is delivered at the first try, and (within 12 tries, all but surely) one of them got
  # there after the address that is down refused it.
  local i failed_over=0
  for i in $(seq 12); do
    msg "multi$i" "two addresses" ann@example.org x@multi.test |
      queue-ctl "${STORE[@]}" add -f ann@example.org x@multi.test >/dev/null
    : >qr.log
    qrun
    assert_status 0
    summary_has attempts=1 delivered=1 deferred=0
    grep 'event=delivered' qr.log | grep 'to=x@multi.test' | grep -q 'relay=mx.multi.test'
    if grep 'event=connect_failed' qr.log | grep -q 'relay=mx.multi.test\[127.0.0.59\]'; then
      failed_over=1
      break
    fi
  done
  [ "$failed_over" -eq 1 ]
  [ "$(grep -lx 'x@multi.test' sink/*.env | wc -l)" -eq "$i" ]
}

@test "queue-run: one destination — recipients share transactions, connections are reused and limited" {
  start_sink
  write_config "max_per_destination: 2" "max_recipients: 2"
  local i
  for i in 1 2 3 4 5 6; do
    msg "batch$i" "batch $i" ann@example.org a@far.test | queue-ctl "${STORE[@]}" add -f ann@example.org \
      a@far.test b@far.test c@far.test >/dev/null
  done
  qrun
  assert_status 0
  summary_has attempts=6 delivered=18 deferred=0
  # Three recipients, at most two a transaction: 2 + 1 for each message, 12 in all.
  [ "$(ls sink/*.eml | wc -l)" -eq 12 ]
  [ "$(for f in sink/*.env; do echo $(($(wc -l <"$f") - 1)); done | sort | uniq -c | tr -s ' ')" = $' 6 1\n 6 2' ]
  # Twelve transactions over at most two connections (max_per_destination): reused.
  conns=$(cut -d' ' -f2 sink/peers.log | sort -u | wc -l)
  echo "connections: $conns"
  [ "$conns" -ge 1 ] && [ "$conns" -le 2 ]
}

@test "queue-run: RET=FULL returns the whole message; 51 Received: fields are a loop; queue-ctl bounce returns a message" {
  start_sink --reject nobody@far.test
  # RET=FULL through smtp-listen; the 550 of the destination makes a DSN for carol, a
  # remote sender, with the whole message attached.
  session "EHLO mail.far.test\r\nMAIL FROM:<carol@far.test> RET=FULL ENVID=env42\r\nRCPT TO:<nobody@far.test>\r\nDATA\r\nFrom: <carol@far.test>\r\nSubject: full return\r\n\r\nthe whole body comes back\r\n.\r\nQUIT\r\n"
  assert_output_contains "250 2.0.0 ok: queued as"
  # A message that went round more than 50 times.
  { for i in $(seq 51); do printf 'Received: from hop%d.far.test by hop%d.far.test; Sun, 1 Mar 2026 10:00:00 +0000\r\n' "$i" "$i"; done
    msg loop1 "round and round" ann@example.org dave@far.test; } >loop.eml
  loop=$(queue-ctl "${STORE[@]}" add -f ann@example.org dave@far.test <loop.eml)
  # Returned by the postmaster before any attempt.
  msg back1 "take it back" ann@example.org erin@far.test >back.eml
  back=$(queue-ctl "${STORE[@]}" add -f ann@example.org erin@far.test <back.eml)
  run queue-ctl "${STORE[@]}" bounce "$back"
  assert_status 0
  qrun
  assert_status 0
  qrun
  grep "event=bounced queue_id=$loop " qr.log | grep -q 'reply="554 5.4.6'
  grep "event=bounced queue_id=$back " qr.log | grep -q 'reply="550 5.0.0 returned to the sender by the postmaster'
  # Neither the loop nor the returned one reached the destination; the DSN to carol did.
  ! grep -qx 'dave@far.test' sink/*.env || false
  ! grep -qx 'erin@far.test' sink/*.env || false
  dsn=$(grep -lx 'carol@far.test' sink/*.env)
  dsn=${dsn%.env}.eml
  grep -q '^Content-Type: multipart/report; report-type=delivery-status' "$dsn"
  grep -q '^Original-Envelope-Id: env42' "$dsn"
  grep -q '^Content-Type: message/rfc822' "$dsn"
  grep -q '^the whole body comes back' "$dsn"
  # ann's two DSNs are local: 5.4.6 and 5.0.0.
  run store-export "${STORE[@]}" -q -a ann@example.org -f eml out
  grep -rl '^Status: 5.4.6' out/INBOX | xargs grep -l 'dave@far.test'
  grep -rl '^Status: 5.0.0' out/INBOX | xargs grep -l 'erin@far.test'
}

@test "queue-run: a 550 5.1.1 bounces: a DSN for the sender; none for NOTIFY=NEVER or the null sender" {
  start_sink --reject nobody@far.test
  msg bounce1 "will bounce" ann@example.org nobody@far.test |
    queue-ctl "${STORE[@]}" add -f ann@example.org nobody@far.test
  msg bounce0 "null sender" ann@example.org nobody@far.test |
    queue-ctl "${STORE[@]}" add -f "" nobody@far.test
  # bob asks for no DSN at all (RFC 3461 NOTIFY=NEVER), through submission with AUTH.
  plain=$(printf '\0bob@example.org\0hunter2' | base64)
  session "EHLO c\r\nAUTH PLAIN $plain\r\nMAIL FROM:<bob@example.org>\r\nRCPT TO:<nobody@far.test> NOTIFY=NEVER\r\nDATA\r\nFrom: bob@example.org\r\nSubject: never\r\nMessage-ID: <never1@e2e.test>\r\n\r\nx\r\n.\r\nQUIT\r\n" --listener submission
  assert_output_contains "250 2.0.0 ok: queued as"
  [ "$(queue_count)" -eq 3 ]
  qrun
  assert_status 0
  summary_has bounced=3 dsns=1
  [ "$(grep -c 'event=bounced' qr.log)" -eq 3 ]
  [ "$(grep -c 'event=dsn ' qr.log)" -eq 1 ]
  grep 'event=dsn ' qr.log | grep -q 'to=ann@example.org'
  # The DSN went to ann's mailbox (in this pass or the next); the queue is empty then.
  [ "$(queue_count)" -eq 0 ] || { qrun; [ "$(queue_count)" -eq 0 ]; }
  export_eml ann@example.org ann
  files=(ann/*/*.eml)
  [ "${#files[@]}" -eq 1 ] || { ls -R ann; false; }
  dsn=${files[0]}
  [[ "$dsn" == ann/INBOX/* || "$dsn" == ann/Inbox/* ]] || { echo "DSN in $dsn"; false; }
  grep -qi '^Content-Type: multipart/report;' "$dsn"
  grep -qi 'report-type="\?delivery-status' "$dsn"
  grep -qi '^Content-Type: message/delivery-status' "$dsn"
  grep -q '^Action: failed' "$dsn"
  grep -q '^Status: 5\.1\.1' "$dsn"
  grep -qi '^Final-Recipient: rfc822; *nobody@far.test' "$dsn"
  grep -qi '^Remote-MTA: dns; *mx.far.test' "$dsn"
  grep -q '^Diagnostic-Code: smtp; *550 5\.1\.1' "$dsn"
  grep -q '^Reporting-MTA: dns; *mx.example.org' "$dsn"
  # The original's header is attached (RET absent: headers, or the whole message).
  grep -qi '^Content-Type: \(text/rfc822-headers\|message/rfc822\)' "$dsn"
  grep -q '^Message-ID: <bounce1@e2e.test>' "$dsn"
  grep -q '^Subject: will bounce' "$dsn"
  ! grep -q 'never1@e2e.test' "$dsn" || false
  ! grep -q 'bounce0@e2e.test' "$dsn" || false
  # Nothing for bob (NOTIFY=NEVER), nothing queued for the null sender.
  export_eml bob@example.org bob
  [ -z "$(find bob -name '*.eml' 2>/dev/null)" ]
  [ "$(ls sink/*.eml 2>/dev/null | wc -l)" -eq 0 ]
}

@test "queue-run: a destination that is down: one delay warning, then expiry bounces with 4.4.7" {
  # Wide enough apart that a loaded machine still retries between the two.
  write_config "max_lifetime: 6s" "delay_warning: 1s"
  msg late1 "to a dead host" ann@example.org x@down.test |
    queue-ctl "${STORE[@]}" add -f ann@example.org x@down.test
  qrun
  assert_status 0
  # (On a loaded machine a second may pass before this first attempt: then the delay
  # DSN goes out, and is delivered locally, in the same pass — one more attempt.)
  summary_has deferred=1 bounced=0
  grep 'event=connect_failed' qr.log | grep -q 'relay=mx.down.test\[127.0.0.59\]'
  for _ in $(seq 10); do
    queue-ctl "${STORE[@]}" list --json | grep -q 'x@down.test' || break
    sleep 1
    qrun
    assert_status 0
  done
  ! queue-ctl "${STORE[@]}" list --json | grep -q 'x@down.test' || false
  [ "$(grep -c 'event=bounced' qr.log)" -eq 1 ]
  grep 'event=bounced' qr.log | grep 'to=x@down.test' | grep -q '4\.4\.7'
  [ "$(grep -c 'event=dsn .*kind=delay' qr.log)" -eq 1 ]
  [ "$(grep -c 'event=dsn .*kind=failure' qr.log)" -eq 1 ]
  # The warning came first, while the message was still pending.
  [ "$(grep -o 'kind=[a-z]*' qr.log | tr '\n' ' ')" = "kind=delay kind=failure " ]
  [ "$(queue_count)" -eq 0 ] || { qrun; [ "$(queue_count)" -eq 0 ]; }
  export_eml ann@example.org ann
  [ "$(find ann -name '*.eml' | wc -l)" -eq 2 ]
  delayed=$(grep -l '^Action: delayed' ann/*/*.eml)
  failed=$(grep -l '^Action: failed' ann/*/*.eml)
  [ -n "$delayed" ] && [ -n "$failed" ] && [ "$delayed" != "$failed" ]
  grep -q '^Status: 4\.' "$delayed"
  grep -q '^Will-Retry-Until: ' "$delayed"
  grep -qi '^Final-Recipient: rfc822; *x@down.test' "$delayed"
  grep -q '^Status: 4\.4\.7' "$failed"
  grep -q '^Diagnostic-Code: .*expired' "$failed"
  grep -qi '^Final-Recipient: rfc822; *x@down.test' "$failed"
  grep -q '^Message-ID: <late1@e2e.test>' "$failed"
}

# A private Postfix (tests/e2e/postfix.sh): one smtpd on 127.0.0.50:25 (far.test's MX), delivering mail for
# far.test into one Maildir ($PF_DIR/mail/box/) with virtual(8). Its smtpd stays lenient
# about bare LF (smtpd_forbid_bare_newline=no), the kind of next hop an SMTP smuggling
# attack needs. Arguments: more main.cf settings.
start_postfix() {
  pf_init
  mkdir -p "$PF_DIR/mail"
  chown 65534:65534 "$PF_DIR/mail"
  pf_start "127.0.0.50:25" myhostname=mx.far.test mydomain=far.test myorigin=far.test \
    smtpd_tls_security_level=none smtp_tls_security_level=none \
    virtual_mailbox_domains=far.test virtual_mailbox_base="$PF_DIR/mail" \
    virtual_mailbox_maps=static:box/ virtual_uid_maps=static:65534 \
    virtual_gid_maps=static:65534 virtual_destination_concurrency_limit=20 \
    smtpd_forbid_bare_newline=no in_flow_delay=0 "$@"
}
pf_count() { find "$PF_DIR/mail/box/new" -type f 2>/dev/null | wc -l; }
# Waits until Postfix has delivered $1 messages and its queue is empty.
pf_wait() {
  for _ in $(seq "${2:-300}"); do
    if [ "$(pf_count)" -ge "$1" ] && [ -z "$(find "$PF_DIR/spool/active" "$PF_DIR/spool/incoming" \
      "$PF_DIR/spool/deferred" -type f 2>/dev/null)" ]; then
      return 0
    fi
    sleep 0.2
  done
  echo "postfix delivered $(pf_count), want $1"
  return 1
}

# Starts a queue-run daemon on the store given as arguments; its log in qr-N.log.
start_worker() {
  local n=${#WORKERS[@]}
  : > "ready-$n"
  queue-run -c postern.yaml "$@" --notify-fd 3 3>"ready-$n" >/dev/null 2>"qr-$n.log" &
  WORKERS+=($!)
  for _ in $(seq 100); do [ -s "ready-$n" ] && return 0; sleep 0.05; done
  cat "qr-$n.log" >&2
  return 1
}

@test "queue-run: two daemons on one PostgreSQL queue deliver 2,000 messages to Postfix exactly once" {
  require_pg
  start_postfix
  url=$(pg_fresh_url)
  PG=(--store "$url")
  account-ctl "${PG[@]}" domain add example.org >/dev/null
  write_config "batch: 25"
  start_worker "${PG[@]}"
  start_worker "${PG[@]}"
  # 2,000 messages in 10 pipelined sessions of 200, queued while both workers claim.
  "$PY" - <<'PY'
for s in range(10):
    with open("session-%d.txt" % s, "wb") as f:
        f.write(b"EHLO c\r\n")
        for i in range(200):
            n = s * 200 + i
            f.write(b"MAIL FROM:<x@remote.test>\r\nRCPT TO:<user%d@far.test>\r\nDATA\r\n" % (n % 7))
            f.write(b"From: x@remote.test\r\nSubject: bulk %d\r\nMessage-ID: <bulk-%d@e2e.test>\r\n\r\nmessage %d\r\n.\r\n" % (n, n, n))
        f.write(b"QUIT\r\n")
PY
  for s in $(seq 0 9); do
    TCPREMOTEIP=192.0.2.5 smtp-listen --stdio -c postern.yaml "${PG[@]}" \
      --set smtp.messages_per_ip_per_minute=0 < "session-$s.txt" 2>>listen.log > "replies-$s.txt"
    [ "$(grep -c '^250 2.0.0 ok: queued as' "replies-$s.txt")" -eq 200 ] ||
      { grep -v '^250' "replies-$s.txt" | head; false; }
  done
  for _ in $(seq 600); do
    [ "$(queue-ctl "${PG[@]}" list --json | grep -c . || true)" -eq 0 ] && break
    sleep 0.2
  done
  [ "$(queue-ctl "${PG[@]}" list --json | grep -c . || true)" -eq 0 ]
  pf_wait 2000
  # Each Message-ID exactly once at Postfix.
  ids=$(grep -h '^Message-ID: <bulk-' "$PF_DIR"/mail/box/new/* | tr -d '\r' | sort)
  [ "$(wc -l <<<"$ids")" -eq 2000 ]
  [ "$(uniq <<<"$ids" | wc -l)" -eq 2000 ]
  [ "$(pf_count)" -eq 2000 ]
  # Both workers delivered, and together each message once.
  a=$(grep -c 'event=delivered' qr-0.log || true)
  b=$(grep -c 'event=delivered' qr-1.log || true)
  echo "worker 0: $a, worker 1: $b"
  [ $((a + b)) -eq 2000 ]
  [ "$a" -gt 0 ] && [ "$b" -gt 0 ]
  # SIGTERM drains; both exit 0.
  for p in "${WORKERS[@]}"; do kill -TERM "$p"; done
  for p in "${WORKERS[@]}"; do rc=0; wait "$p" || rc=$?; [ "$rc" -eq 0 ]; done
  WORKERS=()
}

# The smuggling variants of tests/cli/smtp-listen.bats: each hides a second transaction
# behind a sequence some server might take for the end of data.
smuggle() {
  session "EHLO c\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<dave@far.test>\r\nDATA\r\nSubject: s $2\r\nMessage-ID: <smuggle-$2@e2e.test>\r\n\r\nfirst$1MAIL FROM:<evil@remote.test>\r\nRCPT TO:<victim@far.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n"
}

@test "queue-run: SMTP smuggling variants relayed to a lenient Postfix arrive as one message each" {
  # Without CHUNKING at Postfix, queue-run must use DATA: the dot-stuffed path.
  start_postfix smtpd_discard_ehlo_keywords=chunking
  write_config
  accepted=0
  n=0
  for seq in '\n.\n' '\n.\r\n' '\r\n.\n' '\r.\r' '\r\n.\r' '\r\n\0.\r\n' '\r\n\0.\n'; do
    n=$((n + 1))
    smuggle "$seq" "$n"
    if [[ "$output" == *"250 2.0.0 ok: queued"* ]]; then
      [ "$(grep -c '^250 2.0.0 ok: queued' <<<"$output")" -eq 1 ] || { echo "$seq: $output"; false; }
      accepted=$((accepted + 1))
    else
      assert_output_contains "550 5."
    fi
  done
  # Dot lines inside BDAT chunks (a lone dot, CRLF.CRLF and a bare-LF dot).
  body=$'Subject: s bdat\r\nMessage-ID: <smuggle-bdat@e2e.test>\r\n\r\nline\r\n.\r\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<victim@far.test>\r\nDATA\r\n\n.\nSubject: smuggled\r\n\r\n'
  c1=${body:0:40}
  c2=${body:40}
  session "EHLO c\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<dave@far.test>\r\nBDAT ${#c1}\r\n${c1}BDAT ${#c2} LAST\r\n${c2}QUIT\r\n"
  [ "$(grep -c '^250 2.0.0 ok: queued' <<<"$output")" -eq 1 ] || { echo "bdat: $output"; false; }
  accepted=$((accepted + 1))
  echo "accepted $accepted"
  [ "$accepted" -ge 4 ]   # the bare-LF variants (normalized) and BDAT at least
  [ "$(queue_count)" -eq "$accepted" ]
  qrun
  assert_status 0
  summary_has delivered="$accepted" deferred=0 bounced=0
  pf_wait "$accepted"
  sleep 1
  [ "$(pf_count)" -eq "$accepted" ]
  # No second message: every delivered one is dave's and from x@remote.test; Postfix
  # never saw a transaction for victim or from evil.
  ! grep -q 'victim@far.test' <(grep -h '^Delivered-To:\|^X-Original-To:' "$PF_DIR"/mail/box/new/*) || false
  ! grep -q '^Return-Path: <evil@remote.test>' "$PF_DIR"/mail/box/new/* || false
  ! grep -q 'from=<evil@remote.test>\|to=<victim@far.test>' "$PF_DIR/postfix.log" || false
  [ "$(grep -c 'to=<dave@far.test>.*status=sent' "$PF_DIR/postfix.log")" -eq "$accepted" ]
  # Each arrived with its own Message-ID, once, and the smuggled text inside it.
  [ "$(grep -h '^Message-ID: <smuggle-' "$PF_DIR"/mail/box/new/* | sort -u | wc -l)" -eq "$accepted" ]
  [ "$(grep -l '^Subject: smuggled' "$PF_DIR"/mail/box/new/* | wc -l)" -eq "$accepted" ]
}

@test "queue-run: an alias forwards outside with an SRS sender and an ARC set dkimpy verifies" {
  start_sink
  account-ctl "${STORE[@]}" alias add ann@example.org someone@outside.test >/dev/null
  # Through smtp-listen's MX listener, so the Authentication-Results it adds are sealed.
  session "EHLO mail.far.test\r\nMAIL FROM:<carol@far.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nFrom: Carol <carol@far.test>\r\nTo: ann@example.org\r\nSubject: forward me\r\nMessage-ID: <fwd1@e2e.test>\r\nDate: Sun, 1 Mar 2026 10:00:00 +0000\r\n\r\nplease pass this on\r\n.\r\nQUIT\r\n"
  assert_output_contains "250 2.0.0 ok: queued as"
  qrun
  assert_status 0
  summary_has forwarded=1
  [ "$(queue_count)" -eq 0 ] || { sleep 0.5; qrun; [ "$(queue_count)" -eq 0 ]; }
  grep 'event=delivered' qr.log | grep 'to=someone@outside.test' | grep -q 'relay=mx.outside.test'
  [ "$(ls sink/*.eml | wc -l)" -eq 1 ]
  sender=$(head -n 1 sink/1.env | cut -d' ' -f1)
  echo "sender $sender"
  [[ "$sender" == SRS0=*=far.test=carol@fwd.postern.test ]]
  grep -qx 'someone@outside.test' sink/1.env
  # One ARC set (instance 1, cv=none), sealed for the SRS domain with its key.
  [ "$(grep -c '^ARC-Seal:' sink/1.eml)" -eq 1 ]
  [ "$(grep -c '^ARC-Message-Signature:' sink/1.eml)" -eq 1 ]
  grep -q '^ARC-Authentication-Results: i=1;' sink/1.eml
  "$PY" - sink/1.eml <<'PY'
import email, re, sys
m = email.message_from_binary_file(open(sys.argv[1], "rb"))
for f in ("ARC-Seal", "ARC-Message-Signature"):
    tags = dict(t.strip().split("=", 1) for t in re.sub(r"\s+", "", m[f]).split(";") if t.strip())
    assert tags["i"] == "1" and tags["d"] == "fwd.postern.test" and tags["s"] == "q1", (f, tags)
assert "cv=none" in re.sub(r"\s+", "", m["ARC-Seal"])
PY
  grep -q $'^please pass this on\r$' sink/1.eml
  run --separate-stderr "$PY" "$ARC" "127.0.0.1:$NSD_PORT" sink/1.eml
  assert_status 0
  [ "$output" = pass ] || { echo "dkimpy: $output $stderr"; false; }
  # The destination bounces it: the bounce to the SRS address, from anyone, finds its
  # way back to carol@far.test. A forged or altered SRS address is refused at RCPT.
  forged=${sender/=far.test=carol@/=far.test=mallory@}
  session "EHLO mx.outside.test\r\nMAIL FROM:<>\r\nRCPT TO:<$forged>\r\nRCPT TO:<SRS0=AAAA=AA=far.test=carol@fwd.postern.test>\r\nRCPT TO:<$sender>\r\nDATA\r\nFrom: MAILER-DAEMON@mx.outside.test\r\nTo: $sender\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\nsomeone@outside.test: no such user\r\n.\r\nQUIT\r\n"
  [ "$(grep -c '550 5.1.1 .*invalid or expired SRS address' <<<"$output")" -eq 2 ]
  assert_output_contains "250 2.1.5"
  assert_output_contains "250 2.0.0 ok: queued as"
  grep 'event=srs_reversed' listen.log | grep -q "orig_to=carol@far.test"
  qrun
  assert_status 0
  [ "$(ls sink/*.eml | wc -l)" -eq 2 ]
  grep -qx 'carol@far.test' sink/2.env
  first=$(head -n 1 sink/2.env)
  echo "bounce envelope: $first"
  [[ "$first" == "<>" || "$first" == "<> "* || "$first" == "" || "$first" == " "* ]]  # the null sender
  grep -q '^Subject: Undelivered Mail Returned to Sender' sink/2.eml
  grep 'event=delivered' qr.log | grep 'to=carol@far.test' | grep -q 'relay=mx.far.test'
}

@test "queue-run: submitted mail is DKIM-signed (a subdomain's with its parent's key); dkimpy verifies it" {
  start_sink
  account-ctl "${STORE[@]}" domain add fwd.postern.test >/dev/null
  account-ctl "${STORE[@]}" domain add news.fwd.postern.test >/dev/null
  account-ctl "${STORE[@]}" add joe@fwd.postern.test --password-stdin <<<pw1 >/dev/null
  account-ctl "${STORE[@]}" add kim@news.fwd.postern.test --password-stdin <<<pw2 >/dev/null
  local who pw n=0
  for who in joe@fwd.postern.test:pw1 kim@news.fwd.postern.test:pw2; do
    pw=${who#*:} who=${who%%:*} n=$((n + 1))
    session "EHLO client.far.test\r\nAUTH PLAIN $(printf '\0%s\0%s' "$who" "$pw" | base64 -w0)\r\nMAIL FROM:<$who>\r\nRCPT TO:<dave@outside.test>\r\nDATA\r\nFrom: <$who>\r\nTo: dave@outside.test\r\nSubject: signed $n\r\nMessage-ID: <dkim$n@e2e.test>\r\nDate: Sun, 1 Mar 2026 10:00:00 +0000\r\n\r\nsigned body $n\r\n.\r\nQUIT\r\n" \
      --listener submission
    assert_output_contains "235 2.7.0"
    assert_output_contains "250 2.0.0 ok: queued as"
  done
  # Mail from outside, delivered to a local mailbox, is not signed.
  session "EHLO mail.far.test\r\nMAIL FROM:<carol@far.test>\r\nRCPT TO:<joe@fwd.postern.test>\r\nDATA\r\nFrom: <carol@far.test>\r\nSubject: inbound\r\n\r\nhi\r\n.\r\nQUIT\r\n"
  assert_output_contains "250 2.0.0 ok: queued as"
  qrun
  assert_status 0
  [ "$(ls sink/*.eml | wc -l)" -eq 2 ]
  local f
  for f in sink/*.eml; do
    [ "$(grep -c '^DKIM-Signature:' "$f")" -eq 1 ]
    run --separate-stderr "$PY" "$ARC" --dkim "127.0.0.1:$NSD_PORT" "$f"
    assert_status 0
    [ "$output" = "pass fwd.postern.test" ] || { echo "dkimpy: $output $stderr"; false; }
  done
  export_eml joe@fwd.postern.test joe
  ! grep -q '^DKIM-Signature:' joe/*/*.eml || false
}

@test "queue-run: smart host over implicit TLS with AUTH (another smtp-listen's submissions)" {
  command -v smtp-listen >/dev/null
  mkdir relay
  R=(--store "sqlite:$BATS_TEST_TMPDIR/relay/relay.db")
  account-ctl "${R[@]}" domain add example.net >/dev/null
  account-ctl "${R[@]}" add relay@example.net --password-stdin <<<'relay pass' >/dev/null
  cat > relay/postern.yaml <<YAML
server:
  hostname: smarthost.example.net
listeners:
  - name: submissions
    address: 127.0.0.1:$SUBS
    mode: submissions
tls:
  certificate: $BATS_FILE_TMPDIR/cert.pem
  key: $BATS_FILE_TMPDIR/key.pem
smtp:
  send_as:
    - login: relay@example.net
      addresses: ["@example.org"]
YAML
  : > relay/ready
  smtp-listen -c relay/postern.yaml "${R[@]}" --notify-fd 3 3>relay/ready >/dev/null 2>relay.log &
  RELAY_PID=$!
  for _ in $(seq 100); do [ -s relay/ready ] && break; sleep 0.05; done
  [ -s relay/ready ]
  write_config "tls_ca_file: $BATS_FILE_TMPDIR/cert.pem" "transports:" '  - domain: "*"' \
    "    via: 'smtp:[127.0.0.1]:$SUBS'" "    tls: implicit" "    auth_user: relay@example.net" \
    "    auth_password: relay pass"
  msg smart1 "via the smart host" ann@example.org dave@far.test |
    queue-ctl "${STORE[@]}" add -f ann@example.org dave@far.test
  qrun
  assert_status 0
  summary_has attempts=1 delivered=1 deferred=0
  grep 'event=delivered' qr.log | grep 'to=dave@far.test' | grep -q 'relay=127.0.0.1'
  [ "$(queue_count)" -eq 0 ]
  # The smart host authenticated us and queued the message for its own delivery.
  grep -q 'event=auth .*user=relay@example.net' relay.log
  run queue-ctl "${R[@]}" list --json
  assert_status 0
  [ "$(grep -c . <<<"$output")" -eq 1 ]
  assert_output_contains '"sender":"ann@example.org"'
  assert_output_contains 'dave@far.test'
  id=$(grep -o '"id":"[0-9A-Z]*"' <<<"$output" | cut -d'"' -f4)
  raw=$(queue-ctl "${R[@]}" show --raw "$id")
  grep -q 'with ESMTPSA id' <<<"$raw"
  grep -q '^Message-ID: <smart1@e2e.test>' <<<"$raw"
}
