#!/usr/bin/env bats
# queue-run's transport security end to end (issue 6): real MX hosts, real DNS, real
# DNSSEC. Each destination domain has its own loopback address, 127.0.0.41-49, port 25,
# where one private Postfix instance (its own config and queue directories under /tmp,
# never the system's) runs an smtpd per address with its own certificate and log name
# and delivers into a Maildir per domain (virtual(8)). Debian's NSD on a free port of
# 127.0.0.1 serves the zones (queue-run-tls-zones.sh): dane.test is signed with
# ldns-signzone and queue-run's dns.trust_anchor holds its DS, so MX, A and TLSA answers
# are validated. The MTA-STS policy comes from tests/e2e/mta-sts-server.py over HTTPS,
# reached at mta-sts.good.sts.test = 127.0.0.45:443 through queue-run-tls-forward.py.
# Certificates come from a test CA made here (trusted through delivery.tls_ca_file) and
# from a second CA nobody trusts. TLS-RPT (RFC 8460): the DANE domains ask for reports by
# mail to a local mailbox, good.sts.test by HTTPS POST to queue-run-tls-rpt-server.py on
# 127.0.0.46; the last test sends them with tls-report and checks what arrived. Each test queues a message with `queue-ctl add` into a
# fresh SQLite store, runs `queue-run --once`, and checks both what arrived at the MX
# (Maildir, Postfix's log) and what queue-run recorded (queue-ctl, its log).
#
# Needs root (port 25 and 443 on 127.0.0.4x, Postfix), and (Debian): postfix, nsd,
# ldnsutils, openssl, python3.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"

PY=/usr/bin/python3

# make_cert NAME ISSUER SAN...: NAME.pem (key and certificate, for smtpd_tls_chain_files)
# and NAME.crt/NAME.key in $TLS, issued by ISSUER (a CA made by make_ca) for the names.
make_cert() {
  local name=$1 ca=$2 san="" n
  shift 2
  for n in "$@"; do san="${san:+$san,}DNS:$n"; done
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
    -keyout "$TLS/$name.key" -out "$TLS/$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" >"$TLS/$name.ext"
  openssl x509 -req -in "$TLS/$name.csr" -CA "$TLS/$ca.crt" -CAkey "$TLS/$ca.key" -CAcreateserial \
    -days 2 -extfile "$TLS/$name.ext" -out "$TLS/$name.crt" 2>/dev/null
  cat "$TLS/$name.key" "$TLS/$name.crt" >"$TLS/$name.pem"
  chmod 600 "$TLS/$name.pem"
}

make_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$2" -keyout "$TLS/$1.key" -out "$TLS/$1.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
}

# The SHA-256 of a certificate's SubjectPublicKeyInfo (TLSA 3 1 1).
spki_sha256() {
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

# listening IP PORT: whether something accepts TCP connections there.
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# smtpd_service NAME IP CHAIN [-o ...]: an smtpd on IP:25 that logs as postfix-NAME.
smtpd_service() {
  local name=$1 ip=$2 chain=$3
  shift 3
  postconf -c "$PF_DIR/etc" -M "$ip:25/inet=$ip:25 inet n - n - - smtpd -o syslog_name=postfix-$name -o myhostname=mx.$name.test -o smtpd_tls_chain_files=$chain $*"
}

setup_file() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (port 25 on 127.0.0.4x, a private Postfix)"
  local p
  for p in postfix postconf nsd ldns-signzone ldns-keygen drill openssl; do
    command -v "$p" >/dev/null || [ -x "/usr/sbin/$p" ] || skip "$p is not installed"
  done
  getent passwd postfix >/dev/null || skip "no postfix user"
  [ -x "$PY" ] || skip "$PY is missing"
  local ip
  for ip in 127.0.0.41 127.0.0.42 127.0.0.43 127.0.0.44 127.0.0.47 127.0.0.48 127.0.0.49; do
    ! listening "$ip" 25 || skip "$ip:25 is taken"
  done
  ! listening 127.0.0.45 443 || skip "127.0.0.45:443 is taken"

  # Postfix wants its directories reachable by the postfix user: not under a 0700 bats dir.
  export PF_DIR
  PF_DIR=$(mktemp -d /tmp/qrtls-pf.XXXXXX)
  chmod 755 "$PF_DIR"
  echo "$PF_DIR" >"$BATS_FILE_TMPDIR/pf_dir"
  export TLS="$PF_DIR/tls"
  mkdir -p "$TLS" "$PF_DIR/etc" "$PF_DIR/spool" "$PF_DIR/data" "$PF_DIR/mail"
  chown postfix "$PF_DIR/data"
  chown 65534:65534 "$PF_DIR/mail"

  make_ca ca "Postern queue-run test CA"
  make_ca unknown "A CA nobody trusts"
  # Opportunistic and DANE MX hosts: a certificate no one can verify by PKIX.
  make_cert mx unknown mx.plain.test mx.ok.dane.test mx.bad.dane.test
  make_cert other unknown other.test
  # DANE-TA MX hosts: chains up to the test CA, sent along (TLSA 2 0 1 names its
  # certificate); the second chain names another host.
  make_cert ta ca mx.ta.dane.test
  make_cert tabad ca other.test
  cat "$TLS/ca.crt" >>"$TLS/ta.pem"
  cat "$TLS/ca.crt" >>"$TLS/tabad.pem"
  # The MTA-STS MX: first a trusted certificate for another name, later the right one.
  make_cert sts-wrong ca wrong.sts.test
  make_cert sts-good ca mail.good.sts.test
  cp "$TLS/sts-wrong.pem" "$TLS/sts-mx.pem"
  # The policy host.
  make_cert https ca mta-sts.good.sts.test mta-sts.testing.sts.test
  export CA="$TLS/ca.crt"
  # The TLS-RPT receiver, by address (RFC 8460 5.2: https: destinations verify by PKIX).
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.46" \
    -keyout "$TLS/rpt.key" -out "$TLS/rpt.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.46\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >"$TLS/rpt.ext"
  openssl x509 -req -in "$TLS/rpt.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial \
    -days 2 -extfile "$TLS/rpt.ext" -out "$TLS/rpt.crt" 2>/dev/null
  export RPT_DIR="$BATS_FILE_TMPDIR/rpt"
  mkdir -p "$RPT_DIR"
  "$PY" "$SRC_DIR/tests/e2e/queue-run-tls-rpt-server.py" "$TLS/rpt.crt" "$TLS/rpt.key" 127.0.0.46 \
    "$BATS_FILE_TMPDIR/rpt.port" "$RPT_DIR" 3>&- >"$BATS_FILE_TMPDIR/rpt.err" 2>&1 &
  echo $! >"$BATS_FILE_TMPDIR/rpt.pid"
  for _ in $(seq 50); do [ -s "$BATS_FILE_TMPDIR/rpt.port" ] && break; sleep 0.1; done
  [ -s "$BATS_FILE_TMPDIR/rpt.port" ] || { cat "$BATS_FILE_TMPDIR/rpt.err" >&2; return 1; }
  export RPT_URL="https://127.0.0.46:$(cat "$BATS_FILE_TMPDIR/rpt.port")/tlsrpt/v1"

  # DNS.
  export NSD_DIR="$BATS_FILE_TMPDIR/nsd" NSD_PORT
  NSD_PORT=$(free_udp_port)
  sh "$SRC_DIR/tests/e2e/queue-run-tls-zones.sh" "$NSD_DIR" "$NSD_PORT" \
    "$(spki_sha256 "$TLS/mx.crt")" "$(spki_sha256 "$TLS/other.crt")" "$RPT_URL" \
    "$(openssl x509 -in "$TLS/ca.crt" -outform DER | sha256sum | cut -d' ' -f1)" >&2
  nsd_start "$NSD_DIR" "$NSD_PORT" dane.test
  drill -p "$NSD_PORT" @127.0.0.1 plain.test SOA | grep -q 'rcode: NOERROR'
  drill -p "$NSD_PORT" @127.0.0.1 sts.test SOA | grep -q 'rcode: NOERROR'

  # The MTA-STS policy server, and 127.0.0.45:443 in front of it.
  export HTTPS_LOG="$BATS_FILE_TMPDIR/https.log"
  : >"$HTTPS_LOG"
  "$PY" "$SRC_DIR/tests/e2e/mta-sts-server.py" "$TLS/https.crt" "$TLS/https.key" \
    "$BATS_FILE_TMPDIR/https.port" "$HTTPS_LOG" 3>&- >"$BATS_FILE_TMPDIR/https.err" 2>&1 &
  echo $! >"$BATS_FILE_TMPDIR/https.pid"
  for _ in $(seq 50); do [ -s "$BATS_FILE_TMPDIR/https.port" ] && break; sleep 0.1; done
  [ -s "$BATS_FILE_TMPDIR/https.port" ] || { cat "$BATS_FILE_TMPDIR/https.err" >&2; return 1; }
  "$PY" "$SRC_DIR/tests/e2e/queue-run-tls-forward.py" 127.0.0.45 443 \
    "$(cat "$BATS_FILE_TMPDIR/https.port")" "$BATS_FILE_TMPDIR/fwd.ready" 3>&- \
    >"$BATS_FILE_TMPDIR/fwd.err" 2>&1 &
  echo $! >"$BATS_FILE_TMPDIR/fwd.pid"
  for _ in $(seq 50); do [ -s "$BATS_FILE_TMPDIR/fwd.ready" ] && break; sleep 0.1; done
  [ -s "$BATS_FILE_TMPDIR/fwd.ready" ] || { cat "$BATS_FILE_TMPDIR/fwd.err" >&2; return 1; }

  # The MX hosts: one private Postfix, an smtpd per address.
  cp /etc/postfix/main.cf /etc/postfix/master.cf "$PF_DIR/etc/"
  local C=(postconf -c "$PF_DIR/etc")
  "${C[@]}" -e queue_directory="$PF_DIR/spool" data_directory="$PF_DIR/data" \
    maillog_file="$PF_DIR/postfix.log" maillog_file_prefixes="$PF_DIR" \
    myhostname=mx.postfix.test mydomain=postfix.test myorigin=postfix.test mydestination= \
    alias_maps= alias_database= inet_interfaces=127.0.0.1 inet_protocols=ipv4 relayhost= \
    smtpd_tls_security_level=may smtpd_tls_loglevel=1 smtpd_tls_received_header=yes \
    smtpd_tls_cert_file= smtpd_tls_key_file= smtp_tls_security_level=none \
    virtual_mailbox_domains="plain.test ok.dane.test bad.dane.test good.sts.test testing.sts.test ta.dane.test tabad.dane.test" \
    virtual_mailbox_base="$PF_DIR/mail" \
    "virtual_mailbox_maps=inline:{bob@plain.test=plain/, bob@ok.dane.test=ok.dane/, bob@bad.dane.test=bad.dane/, bob@good.sts.test=good.sts/, bob@testing.sts.test=testing.sts/, bob@ta.dane.test=ta.dane/, bob@tabad.dane.test=tabad.dane/}" \
    virtual_uid_maps=static:65534 virtual_gid_maps=static:65534 virtual_minimum_uid=100
  "${C[@]}" -F '*/*/chroot=n'
  "${C[@]}" -M# smtp/inet
  # plain.test's MX offers no 8BITMIME (queue-run must convert 8-bit bodies).
  smtpd_service plain 127.0.0.41 "$TLS/mx.pem" -o smtpd_discard_ehlo_keywords=8bitmime
  smtpd_service dane-ok 127.0.0.42 "$TLS/mx.pem"
  smtpd_service dane-bad 127.0.0.43 "$TLS/mx.pem"
  # max_use=1: every connection gets a fresh smtpd, which reads the chain file anew.
  smtpd_service sts 127.0.0.44 "$TLS/sts-mx.pem" -o max_use=1
  smtpd_service dane-ta 127.0.0.47 "$TLS/ta.pem"
  smtpd_service dane-tabad 127.0.0.48 "$TLS/tabad.pem"
  postfix -c "$PF_DIR/etc" check 3>&- >&2 || { echo "postfix check failed" >&2; return 1; }
  postfix -c "$PF_DIR/etc" start 3>&- >/dev/null 2>&1 || {
    echo "postfix start failed" >&2; cat "$PF_DIR/postfix.log" >&2; return 1; }
  for ip in 127.0.0.41 127.0.0.42 127.0.0.43 127.0.0.44 127.0.0.47 127.0.0.48; do
    for _ in $(seq 50); do listening "$ip" 25 && break; sleep 0.1; done
    listening "$ip" 25 || { cat "$PF_DIR/postfix.log" >&2; return 1; }
  done
}

teardown_file() {
  local pf
  pf=$(cat "$BATS_FILE_TMPDIR/pf_dir" 2>/dev/null || true)
  if [ -n "$pf" ] && [ -d "$pf/etc" ]; then
    local master
    master=$(tr -d ' ' <"$pf/spool/pid/master.pid" 2>/dev/null || true)
    postfix -c "$pf/etc" stop 3>&- >/dev/null 2>&1 || true
    if [ -n "$master" ]; then
      for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
    fi
    case $pf in /tmp/qrtls-pf.*) rm -rf "$pf" ;; esac
  fi
  nsd_stop "${NSD_DIR:-/nonexistent}"
  local f
  for f in fwd https rpt; do
    if [ -s "$BATS_FILE_TMPDIR/$f.pid" ]; then kill "$(cat "$BATS_FILE_TMPDIR/$f.pid")" 2>/dev/null || true; fi
  done
}

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null
  account-ctl "${STORE[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  cat >postern.yaml <<YAML
server:
  hostname: out.example.org
dns:
  servers: ["127.0.0.1:$NSD_PORT"]
  timeout: 3s
  trust_anchor: $NSD_DIR/anchors.ds
delivery:
  retry: [1s]
  connect_timeout: 5s
  command_timeout: 10s
  tls_ca_file: $CA
YAML
}

teardown() {
  [ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
  echo "--- queue-run.log" >&2
  cat "$BATS_TEST_TMPDIR/queue-run.log" >&2 2>/dev/null || true
  echo "--- postfix.log (tail)" >&2
  tail -n 40 "$PF_DIR/postfix.log" >&2 || true
}

# queue MESSAGE-TOKEN RCPT: queues a message from ann@example.org; its id in $QID.
queue() {
  printf 'From: Ann <ann@example.org>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nbody of %s\r\n' \
    "$2" "$1" "$1" "$1" >"$1.eml"
  QID=$(queue-ctl "${STORE[@]}" add -f ann@example.org "$2" <"$1.eml")
  [[ "$QID" =~ ^[0-9A-Z]{16}$ ]] || { echo "queue-ctl add: $QID" >&2; return 1; }
}

# One pass of queue-run; the summary in $output, its log appended to queue-run.log.
run_once() {
  run --separate-stderr timeout 60 queue-run -c postern.yaml "${STORE[@]}" --once
  printf '%s\n' "$stderr" >>queue-run.log
  [ "$status" -eq 0 ] || { echo "queue-run exit $status: $stderr" >&2; return 1; }
}

# arrived DIR TOKEN: waits (5 s at most) for a message with Subject TOKEN in the Maildir
# $PF_DIR/mail/DIR/new; its path in $MSG.
arrived() {
  MSG=
  for _ in $(seq 50); do
    MSG=$(grep -l "^Subject: $2" "$PF_DIR/mail/$1/new/"* 2>/dev/null | head -n 1 || true)
    [ -n "$MSG" ] && return 0
    sleep 0.1
  done
  echo "nothing with Subject $2 in $PF_DIR/mail/$1/new" >&2
  return 1
}

# in_maildir DIR TOKEN: how many messages with Subject TOKEN the Maildir holds (now).
in_maildir() {
  cat "$PF_DIR"/mail/"$1"/new/* "$PF_DIR"/mail/"$1"/cur/* 2>/dev/null | grep -c "^Subject: $2" || true
}

# pflog NAME: the lines the smtpd logging as postfix-NAME wrote.
pflog() { grep " postfix-$1/" "$PF_DIR/postfix.log" || true; }

@test "queue-run-tls: opportunistic STARTTLS to an MX whose certificate no CA vouches for" {
  queue plain-1 bob@plain.test
  before=$(pflog plain | grep -c 'TLS connection established' || true)
  run_once
  [ "$output" = "attempts=1 delivered=1 deferred=0 bounced=0 dsns=0 forwarded=0" ]
  grep -q "event=delivered queue_id=$QID .*to=bob@plain.test .*relay=mx.plain.test" queue-run.log
  arrived plain plain-1
  # Postfix's own Received: says the hop was TLS; its log agrees.
  grep -q 'by mx.plain.test (Postfix) with ESMTPS' "$MSG"
  grep -q '(using TLSv1\.[23] with cipher' "$MSG"
  grep -q '^body of plain-1' "$MSG"
  [ "$(pflog plain | grep -c 'TLS connection established')" -gt "$before" ]
  # Settled: nothing is left in the queue.
  run queue-ctl "${STORE[@]}" list
  [ "$output" = "queue is empty" ]
}

@test "queue-run-tls: an MX without 8BITMIME gets 8-bit bodies in 7 bit; 8-bit header fields are returned (5.6.3)" {
  printf 'From: <ann@example.org>\r\nTo: bob@plain.test\r\nSubject: eight-1\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e\r\n' >eight-1.eml
  ok=$(queue-ctl "${STORE[@]}" add -f ann@example.org bob@plain.test <eight-1.eml)
  printf 'From: <ann@example.org>\r\nTo: bob@plain.test\r\nSubject: eight-2 \xc3\xa9t\xc3\xa9\r\n\r\nplain\r\n' >eight-2.eml
  bad=$(queue-ctl "${STORE[@]}" add -f ann@example.org bob@plain.test <eight-2.eml)
  run_once
  grep -q "event=delivered queue_id=$ok .*to=bob@plain.test" queue-run.log
  grep "event=bounced queue_id=$bad " queue-run.log | grep -q 'reply="554 5.6.3 .*lacks 8BITMIME'
  arrived plain eight-1
  # Postfix got no BODY=8BITMIME and 7-bit bytes only, and the text decodes back.
  ! LC_ALL=C grep -q $'[\x80-\xff]' "$MSG" || false
  grep -qi '^Content-Transfer-Encoding: quoted-printable' "$MSG"
  "$PY" -c 'import email,sys; m=email.message_from_binary_file(open(sys.argv[1],"rb")); assert m.get_payload(decode=True).decode("utf-8").strip()=="Café crème brûlée", m.get_payload()' "$MSG"
  [ "$(in_maildir plain eight-2)" -eq 0 ]
}

@test "queue-run-tls: DANE — a matching TLSA 3 1 1 in the signed zone: delivered over verified TLS" {
  # The rig: MX, A and TLSA all validate from the anchor queue-run uses (RFC 7672 2.2:
  # DANE applies only then), and the TLSA record is the MX key's.
  local q=(dns-query --dns-server "127.0.0.1:$NSD_PORT" --trust-anchor "$NSD_DIR/anchors.ds")
  run "${q[@]}" ok.dane.test MX
  assert_output_contains "; ok.dane.test MX ok secure"
  run "${q[@]}" mx.ok.dane.test A
  assert_output_contains "; mx.ok.dane.test A ok secure"
  run "${q[@]}" _25._tcp.mx.ok.dane.test TLSA
  assert_status 0
  assert_output_contains "TLSA 3 1 1 $(spki_sha256 "$TLS/mx.crt")"
  assert_output_contains "ok secure"
  queue dane-1 bob@ok.dane.test
  run_once
  [ "$output" = "attempts=1 delivered=1 deferred=0 bounced=0 dsns=0 forwarded=0" ]
  grep -q "event=delivered queue_id=$QID .*to=bob@ok.dane.test .*relay=mx.ok.dane.test" queue-run.log
  # queue-run says how the certificate was authenticated: by the TLSA record.
  grep "event=delivered queue_id=$QID " queue-run.log | grep -q 'tls="TLSv1.[23] dane-ee"'
  arrived ok.dane dane-1
  grep -q 'by mx.dane-ok.test (Postfix) with ESMTPS' "$MSG"
  grep -q '(using TLSv1\.[23] with cipher' "$MSG"
  # The certificate comes from a CA nobody trusts: only the TLSA record can have
  # authenticated it (the next test shows a wrong one is refused).
  pflog dane-ok | grep -q 'TLS connection established'
  run queue-ctl "${STORE[@]}" list
  [ "$output" = "queue is empty" ]
}

@test "queue-run-tls: DANE — a TLSA digest that does not match: deferred, nothing sent, in clear or at all" {
  queue danebad-1 bob@bad.dane.test
  run_once
  [ "$output" = "attempts=1 delivered=0 deferred=1 bounced=0 dsns=0 forwarded=0" ]
  grep "event=deferred queue_id=$QID " queue-run.log | grep -q 'DANE verification failed'
  run queue-ctl "${STORE[@]}" show "$QID"
  assert_status 0
  assert_output_contains "recipient: bob@bad.dane.test  pending"
  assert_output_contains "451 4.4.1 mx.bad.dane.test[127.0.0.43]"
  assert_output_contains "DANE verification failed: no matching DANE TLSA records"
  # Again after the retry time: still deferred, still nothing sent.
  sleep 1.2
  run_once
  [ "$output" = "attempts=1 delivered=0 deferred=1 bounced=0 dsns=0 forwarded=0" ]
  run queue-ctl "${STORE[@]}" list
  assert_output_contains "$QID  active"
  assert_output_contains "bob@bad.dane.test  pending"
  # At the MX: TLS was set up (then dropped by queue-run), and no session ever got as
  # far as MAIL FROM — neither inside TLS nor in clear after it.
  sleep 0.5
  log=$(pflog dane-bad)
  [ "$(grep -c 'TLS connection established' <<<"$log")" -ge 2 ]
  [ "$(grep -c 'disconnect from' <<<"$log")" -ge 2 ]
  ! grep 'disconnect from' <<<"$log" | grep -Eq ' (mail|rcpt|data|bdat)=' || false
  ! grep -q 'from=<ann@example.org>' <<<"$log" || false
  [ "$(in_maildir bad.dane danebad-1)" -eq 0 ]
}

@test "queue-run-tls: MTA-STS enforce — a certificate for another name defers; the right one delivers" {
  cp "$TLS/sts-wrong.pem" "$TLS/sts-mx.pem"
  fetched=$(grep -c '^mta-sts.good.sts.test /.well-known/mta-sts.txt$' "$HTTPS_LOG" || true)
  queue sts-1 bob@good.sts.test
  run_once
  [ "$output" = "attempts=1 delivered=0 deferred=1 bounced=0 dsns=0 forwarded=0" ]
  # The policy was fetched over HTTPS (through 127.0.0.45:443), and enforced.
  [ "$(grep -c '^mta-sts.good.sts.test /.well-known/mta-sts.txt$' "$HTTPS_LOG")" -gt "$fetched" ]
  grep "event=deferred queue_id=$QID " queue-run.log | grep -q 'certificate verification failed'
  run queue-ctl "${STORE[@]}" show "$QID"
  assert_output_contains "recipient: bob@good.sts.test  pending"
  assert_output_contains "451 4.4.1 mail.good.sts.test[127.0.0.44]"
  assert_output_contains "certificate verification failed: hostname mismatch"
  sleep 0.5
  log=$(pflog sts)
  grep -q 'TLS connection established' <<<"$log"
  ! grep 'disconnect from' <<<"$log" | grep -Eq ' (mail|rcpt|data|bdat)=' || false
  [ "$(in_maildir good.sts sts-1)" -eq 0 ]

  # The MX gets a certificate for its name from the trusted CA: delivered on the retry.
  cp "$TLS/sts-good.pem" "$TLS/sts-mx.pem"
  sleep 1.2
  run_once
  [ "$output" = "attempts=1 delivered=1 deferred=0 bounced=0 dsns=0 forwarded=0" ]
  grep -q "event=delivered queue_id=$QID .*to=bob@good.sts.test .*relay=mail.good.sts.test" queue-run.log
  arrived good.sts sts-1
  grep -q '(using TLSv1\.[23] with cipher' "$MSG"
  [ "$(in_maildir good.sts sts-1)" -eq 1 ]
  run queue-ctl "${STORE[@]}" list
  [ "$output" = "queue is empty" ]
}

@test "queue-run-tls: a null MX bounces at once; the DSN reaches the sender's mailbox" {
  queue nullmx-1 bob@nomail.plain.test
  run_once
  # The bounce and its DSN in one pass (the DSN is local: delivered in the same run or
  # the next).
  grep -q "event=bounced queue_id=$QID .*to=bob@nomail.plain.test .*reply=\"556 5.1.10" queue-run.log
  grep -q "event=dsn queue_id=$QID .*kind=failure .*to=ann@example.org" queue-run.log
  run queue-ctl "${STORE[@]}" list
  if [ "$output" != "queue is empty" ]; then run_once; fi
  run queue-ctl "${STORE[@]}" list
  [ "$output" = "queue is empty" ]
  run store-export "${STORE[@]}" -a ann@example.org -f eml out
  assert_status 0
  dsn=$(grep -rl 'nomail.plain.test' out/INBOX)
  [ "$(wc -l <<<"$dsn")" -eq 1 ]
  grep -q '^Content-Type: multipart/report; report-type=delivery-status' "$dsn"
  grep -q '^Final-Recipient: rfc822; *bob@nomail.plain.test' "$dsn"
  grep -q '^Action: failed' "$dsn"
  grep -q '^Status: 5.1.10' "$dsn"
  grep -q 'null MX' "$dsn"
  # Nothing was sent anywhere.
  ! grep -q 'nomail' "$PF_DIR/postfix.log" || false
}

# report_json FILE: the JSON of a TLS-RPT report mail (its application/tlsrpt+gzip part,
# gunzipped), or of a gzip'd POST body.
report_json() {
  "$PY" -c 'import email, email.policy, gzip, sys
data = open(sys.argv[1], "rb").read()
if data[:2] != b"\x1f\x8b":
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", msg.get_content_type()
    assert msg.get_param("report-type") == "tlsrpt", msg.get_param("report-type")
    parts = [p for p in msg.walk() if p.get_content_type() == "application/tlsrpt+gzip"]
    assert len(parts) == 1, [p.get_content_type() for p in msg.walk()]
    data = parts[0].get_payload(decode=True)
sys.stdout.write(gzip.decompress(data).decode())' "$1"
}

@test "queue-run-tls: DANE-TA — TLSA 2 0 1 of the CA: a chain to it for the MX name delivers; for another name defers" {
  queue ta-1 bob@ta.dane.test
  queue tabad-1 bob@tabad.dane.test
  bad=$QID
  run_once
  [ "$output" = "attempts=2 delivered=1 deferred=1 bounced=0 dsns=0 forwarded=0" ]
  grep "event=delivered .*to=bob@ta.dane.test .*relay=mx.ta.dane.test" queue-run.log | grep -q 'tls="TLSv1.[23] dane-ta"'
  arrived ta.dane ta-1
  grep -q 'by mx.dane-ta.test (Postfix) with ESMTPS' "$MSG"
  # RFC 7672 3.2.2: under DANE-TA the certificate must name the MX host.
  grep "event=deferred queue_id=$bad " queue-run.log | grep -q 'DANE verification failed'
  [ "$(in_maildir tabad.dane tabad-1)" -eq 0 ]
  ! pflog dane-tabad | grep -q 'from=<ann@example.org>' || false
}

@test "queue-run-tls: a transport to a named host keeps DANE — its own TLSA records are checked" {
  # Each domain is sent by a transport rule to the other domain's MX host by name, so no
  # MX lookup happens: the TLSA records at _25._tcp.HOST still apply (RFC 7672 3).
  cat >>postern.yaml <<YAML
  transports:
    - domain: ok.dane.test
      via: "smtp:[mx.bad.dane.test]:25"
    - domain: bad.dane.test
      via: "smtp:[mx.ok.dane.test]"
YAML
  queue tr-good bob@bad.dane.test
  good=$QID
  queue tr-bad bob@ok.dane.test
  bad=$QID
  run_once
  [ "$output" = "attempts=2 delivered=1 deferred=1 bounced=0 dsns=0 forwarded=0" ]
  grep "event=delivered queue_id=$good .*to=bob@bad.dane.test .*relay=mx.ok.dane.test" queue-run.log |
    grep -q 'tls="TLSv1.[23] dane-ee"'
  arrived bad.dane tr-good
  grep -q 'by mx.dane-ok.test (Postfix) with ESMTPS' "$MSG"
  # The host whose TLSA record does not match its key: deferred, nothing sent.
  grep "event=deferred queue_id=$bad " queue-run.log | grep -q 'DANE verification failed'
  [ "$(in_maildir ok.dane tr-bad)" -eq 0 ]
  ! pflog dane-bad | grep 'disconnect from' | grep -Eq ' (mail|rcpt)=' || false
  run queue-ctl "${STORE[@]}" show "$bad"
  assert_output_contains "recipient: bob@ok.dane.test  pending"
}

@test "queue-run-tls: MTA-STS testing — a certificate for another name is reported, and the mail goes anyway" {
  # RFC 8461 5.2: in testing mode the failure is counted for TLS-RPT, not enforced.
  cp "$TLS/sts-good.pem" "$TLS/sts-mx.pem"
  fetched=$(grep -c '^mta-sts.testing.sts.test /.well-known/mta-sts.txt$' "$HTTPS_LOG" || true)
  queue stst-1 bob@testing.sts.test
  run_once
  [ "$output" = "attempts=1 delivered=1 deferred=0 bounced=0 dsns=0 forwarded=0" ]
  [ "$(grep -c '^mta-sts.testing.sts.test /.well-known/mta-sts.txt$' "$HTTPS_LOG")" -gt "$fetched" ]
  grep -q "event=delivered queue_id=$QID .*to=bob@testing.sts.test .*relay=mail.testing.sts.test" queue-run.log
  arrived testing.sts stst-1
  grep -q '(using TLSv1\.[23] with cipher' "$MSG"
  run tls-report -c postern.yaml "${STORE[@]}" list
  assert_status 0
  assert_output_contains "$(date -u +%F)  testing.sts.test  sts  successful=0 failed=1"
}

@test "queue-run-tls: REQUIRETLS — verified TLS without REQUIRETLS is returned (5.7.30); unverifiable TLS defers" {
  # RFC 8689 4.2.1: only over TLS verified by DANE or PKIX, to a server that offers
  # REQUIRETLS. Postfix offers no REQUIRETLS.
  cp "$TLS/sts-good.pem" "$TLS/sts-mx.pem"
  queue_rt() {
    printf 'From: <ann@example.org>\r\nTo: %s\r\nSubject: %s\r\n\r\nsecret %s\r\n' "$2" "$1" "$1" >"$1.eml"
    QID=$(queue-ctl "${STORE[@]}" add --requiretls -f ann@example.org "$2" <"$1.eml")
  }
  queue_rt rt-sts bob@good.sts.test
  sts=$QID
  queue_rt rt-plain bob@plain.test
  plain=$QID
  run queue-ctl "${STORE[@]}" show --json "$sts"
  assert_output_contains '"requiretls":true'
  run_once
  # good.sts.test: verified TLS, but no REQUIRETLS: returned with 5.7.30 and a DSN.
  grep "event=bounced queue_id=$sts " queue-run.log | grep -q 'reply="550 5.7.30 .*REQUIRETLS (RFC 8689): the server does not offer REQUIRETLS'
  # plain.test: a certificate nobody vouches for is no verified TLS: deferred.
  grep "event=deferred queue_id=$plain " queue-run.log | grep -q 'certificate verification failed'
  run queue-ctl "${STORE[@]}" show "$plain"
  assert_output_contains "recipient: bob@plain.test  pending"
  # Neither went anywhere.
  sleep 0.5
  [ "$(in_maildir good.sts rt-sts)" -eq 0 ]
  [ "$(in_maildir plain rt-plain)" -eq 0 ]
  # The DSN reaches ann with the RFC 8689 status.
  run queue-ctl "${STORE[@]}" list
  [[ "$output" == *"$plain"* ]]
  run_once
  run store-export "${STORE[@]}" -a ann@example.org -f eml out
  dsn=$(grep -rl 'bob@good.sts.test' out/INBOX | xargs grep -l '^Status: 5.7.30' || true)
  [ "$(wc -l <<<"$dsn")" -eq 1 ] && [ -n "$dsn" ]
}

@test "queue-run-tls: an MX list that names ourselves — only the preferred hosts; as the best MX, a loop is returned" {
  # RFC 5321 5.1: as relay.plain.test (backup.plain.test's MX 20) only MX 10 is tried,
  # although relay.plain.test's address would take the mail.
  sed -i 's/^  hostname: out.example.org$/  hostname: relay.plain.test/' postern.yaml
  queue backup-1 bob@backup.plain.test
  backup=$QID
  queue loop-1 bob@loop.plain.test
  run_once
  # (the third attempt delivers the DSN to ann)
  [ "$output" = "attempts=3 delivered=1 deferred=1 bounced=1 dsns=1 forwarded=0" ]
  grep "event=deferred queue_id=$backup " queue-run.log | grep -q 'relay=down.plain.test'
  ! grep "queue_id=$backup " queue-run.log | grep -q 'relay.plain.test\[\|127\.0\.0\.41' || false
  grep "event=bounced .*to=bob@loop.plain.test" queue-run.log | grep -q '554 5.4.6 mail for loop.plain.test loops back to myself'
  [ "$(in_maildir plain backup-1)" -eq 0 ]
}

@test "queue-run-tls: TLS-RPT — the day's reports by mail (DANE) and HTTPS POST (MTA-STS)" {
  account-ctl "${STORE[@]}" add tlsrpt@example.org --password-stdin <<<secret >/dev/null
  cat >>postern.yaml <<YAML
  tls_rpt:
    organization: Postern e2e
YAML
  posts_before=$(ls "$RPT_DIR"/*.meta 2>/dev/null | wc -l)
  cp "$TLS/sts-wrong.pem" "$TLS/sts-mx.pem"
  queue rpt-dane-ok bob@ok.dane.test
  queue rpt-dane-bad bob@bad.dane.test
  BAD=$QID
  queue rpt-sts bob@good.sts.test
  run_once
  [ "$output" = "attempts=3 delivered=1 deferred=2 bounced=0 dsns=0 forwarded=0" ]
  # The MX gets the right certificate: the retry delivers (and DANE fails again).
  cp "$TLS/sts-good.pem" "$TLS/sts-mx.pem"
  sleep 1.2
  run_once
  [ "$output" = "attempts=2 delivered=1 deferred=1 bounced=0 dsns=0 forwarded=0" ]
  queue-ctl "${STORE[@]}" drop "$BAD"
  today=$(date -u +%F)

  # What queue-run counted.
  run tls-report -c postern.yaml "${STORE[@]}" list
  assert_status 0
  assert_output_contains "$today  ok.dane.test  tlsa  successful=1 failed=0"
  assert_output_contains "$today  bad.dane.test  tlsa  successful=0 failed=2"
  assert_output_contains "$today  good.sts.test  sts  successful=1 failed=1"

  run --separate-stderr tls-report -c postern.yaml "${STORE[@]}" send --day "$today"
  printf '%s\n' "$stderr" >>queue-run.log
  [ "$status" -eq 0 ] || { echo "tls-report send: $status $output $stderr" >&2; false; }
  assert_output_contains "queued $today ok.dane.test rua=mailto:tlsrpt@example.org sessions=1"
  assert_output_contains "queued $today bad.dane.test rua=mailto:tlsrpt@example.org sessions=2"
  assert_output_contains "posted $today good.sts.test rua=$RPT_URL sessions=2"
  grep -q "event=tlsrpt_posted domain=good.sts.test day=$today" queue-run.log
  # Taken: a second run has nothing to send.
  run tls-report -c postern.yaml "${STORE[@]}" send --day "$today"
  assert_status 0
  [ -z "$output" ]

  # The mailed reports reach the local mailbox.
  run_once
  run store-export "${STORE[@]}" -a tlsrpt@example.org -f eml out
  assert_status 0
  ok=$(grep -rl '^TLS-Report-Domain: ok.dane.test' out/INBOX)
  bad=$(grep -rl '^TLS-Report-Domain: bad.dane.test' out/INBOX)
  [ "$(wc -l <<<"$ok")" -eq 1 ]
  [ "$(wc -l <<<"$bad")" -eq 1 ]
  grep -q '^TLS-Report-Submitter: out.example.org' "$ok"
  grep -q '^From: noreply-tlsrpt@out.example.org' "$ok"
  tlsa=$(spki_sha256 "$TLS/mx.crt")
  wrong=$(spki_sha256 "$TLS/other.crt")
  report_json "$ok" >ok.json
  report_json "$bad" >bad.json
  "$PY" -c 'import json, sys
day, ok_tlsa, wrong_tlsa = sys.argv[1:4]
ok = json.load(open("ok.json"))
bad = json.load(open("bad.json"))
for r, d in ((ok, "ok.dane.test"), (bad, "bad.dane.test")):
    assert r["organization-name"] == "Postern e2e", r
    assert r["report-id"] == day + "T00:00:00Z_" + d + "@out.example.org", r
    assert r["date-range"]["start-datetime"] == day + "T00:00:00Z", r
    assert len(r["policies"]) == 1, r
p = ok["policies"][0]
assert p["policy"]["policy-type"] == "tlsa", p
assert p["policy"]["policy-domain"] == "ok.dane.test", p
assert p["policy"]["policy-string"] == ["3 1 1 " + ok_tlsa], p
assert p["summary"] == {"total-successful-session-count": 1, "total-failure-session-count": 0}, p
p = bad["policies"][0]
assert p["policy"]["policy-string"] == ["3 1 1 " + wrong_tlsa], p
assert p["summary"] == {"total-successful-session-count": 0, "total-failure-session-count": 2}, p
(f,) = p["failure-details"]
assert f["result-type"] == "validation-failure", f
assert f["receiving-mx-hostname"] == "mx.bad.dane.test" and f["receiving-ip"] == "127.0.0.43", f
assert f["failed-session-count"] == 2, f
' "$today" "$tlsa" "$wrong"

  # The MTA-STS domain's report was POSTed once, gzip'd, as application/tlsrpt+gzip.
  [ "$(ls "$RPT_DIR"/*.meta | wc -l)" -eq $((posts_before + 1)) ]
  n=$((posts_before + 1))
  [ "$(sed -n 1p "$RPT_DIR/$n.meta")" = "/tlsrpt/v1" ]
  [ "$(sed -n 2p "$RPT_DIR/$n.meta")" = "application/tlsrpt+gzip" ]
  report_json "$RPT_DIR/$n.body" >sts.json
  "$PY" -c 'import json
r = json.load(open("sts.json"))
(p,) = r["policies"]
assert p["policy"]["policy-type"] == "sts", p
assert p["policy"]["policy-domain"] == "good.sts.test", p
assert p["policy"]["policy-string"] == ["version: STSv1", "mode: enforce", "mx: mail.good.sts.test",
                                        "mx: *.good.sts.test", "max_age: 86400"], p
assert p["policy"]["mx-host"] == ["mail.good.sts.test", "*.good.sts.test"], p
assert p["summary"] == {"total-successful-session-count": 1, "total-failure-session-count": 1}, p
(f,) = p["failure-details"]
assert f["result-type"] == "certificate-host-mismatch", f
assert f["receiving-mx-hostname"] == "mail.good.sts.test" and f["receiving-ip"] == "127.0.0.44", f
assert f["failure-reason-code"] == "hostname mismatch", f
'
}
