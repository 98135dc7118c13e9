#!/usr/bin/env bats
# smtp-listen's builtin auth-check stage (smtp-listen(8), Filters) against a real DNS
# server: Debian's NSD on a free loopback port serves SPF, a DKIM key and DMARC policies
# (see smtp-auth-check-zones.sh). Each test drives `smtp-listen --stdio` with the stage at
# DATA and checks the reply, the queued (or LMTP-delivered) message, and that the
# Authentication-Results field is byte for byte what auth-check(1) writes for the same
# message and envelope. Nothing leaves 127.0.0.1.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"

setup_file() {
  [ -x /usr/sbin/nsd ] || skip "NSD is not installed"
  export NSD_DIR="$BATS_FILE_TMPDIR/nsd"
  export NSD_PORT
  NSD_PORT=$(free_udp_port)
  sh "$SRC_DIR/tests/e2e/smtp-auth-check-zones.sh" "$NSD_DIR" "$NSD_PORT" >&2
  nsd_start "$NSD_DIR" "$NSD_PORT" sender.test
  drill -p "$NSD_PORT" @127.0.0.1 s1._domainkey.sender.test TXT | grep -q 'rcode: NOERROR'
  swallow_start "$BATS_FILE_TMPDIR"
  export SWALLOW_PORT_FILE="$BATS_FILE_TMPDIR/swallow.port"
  [ -s "$SWALLOW_PORT_FILE" ]
}

teardown_file() {
  nsd_stop "${NSD_DIR:-/nonexistent}"
  swallow_stop "$BATS_FILE_TMPDIR"
}

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null
  account-ctl "${STORE[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  DNS="127.0.0.1:$NSD_PORT"
  write_config enforce
}

# write_config DMARC-MODE [DNS-SERVER [TIMEOUT]]: postern.yaml with the auth stage.
write_config() {
  cat > postern.yaml <<YAML
server:
  hostname: mx.example.org
listeners:
  - name: mx
    address: 127.0.0.1:1
    mode: mx
  - name: lmtp
    address: 127.0.0.1:3
    mode: lmtp
dns:
  servers: ["${2:-$DNS}"]
  timeout: ${3:-3s}
smtp:
  dmarc: $1
  filters:
    - name: auth
      stage: data
      builtin: auth-check
YAML
}

# A CRLF message From: FROM with SUBJECT, written to FILE; extra header lines may follow.
make_message() { # FILE FROM SUBJECT [HEADER...]
  local file=$1 from=$2 subject=$3
  shift 3
  {
    local h
    for h in "$@"; do printf '%s\r\n' "$h"; done
    printf 'From: Sender <%s>\r\nTo: ann@example.org\r\nSubject: %s\r\n' "$from" "$subject"
    printf 'Date: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <%s@test>\r\n\r\n' "$subject"
    printf 'Hello Ann,\r\n\r\nthe %s body.\r\n' "$subject"
  } > "$file"
}

# send IP MAIL-FROM MESSAGE-FILE [smtp-listen args...]: one SMTP (or, with --listener
# lmtp, LMTP) transaction from client IP with HELO mail.client.test; replies in $output.
HELO=mail.client.test
send() {
  local ip=$1 from=$2 file=$3 greet=EHLO
  shift 3
  [[ " $* " == *" lmtp "* ]] && greet=LHLO
  {
    printf '%s %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n' "$greet" "$HELO" "$from"
    cat "$file"
    printf '.\r\nQUIT\r\n'
  } > session.in
  run bash -c 'TCPREMOTEIP="$1" smtp-listen --stdio "${@:3}" < "$2" 2>>server.log' \
    _ "$ip" session.in -c postern.yaml "${STORE[@]}" "$@"
}

queued_ids() { grep -o 'queued as [0-9A-Z]*' <<<"$output" | cut -d' ' -f3; }
raw() { queue-ctl "${STORE[@]}" show --raw "$1"; }

# The first Authentication-Results field of a message file (with its folded lines).
first_ar() {
  awk 'inar && /^[ \t]/ { print; next } inar { exit }
       /^Authentication-Results:/ { inar = 1; print }' "$1"
}

# What auth-check(1) writes for MESSAGE-FILE with the same envelope: --headers-only.
tool_ar() { # IP MAIL-FROM MESSAGE-FILE [DNS-SERVER [TIMEOUT-MS]]
  auth-check --headers-only --ip "$1" --helo "$HELO" --mail-from "$2" \
    --authserv-id mx.example.org --dns-server "${4:-$DNS}" --dns-timeout "${5:-3000}" "$3"
}

# Fails when the command succeeds (a bare `! cmd` does not fail a bats test).
refute() {
  if "$@"; then echo "unexpectedly true: $*" >&2; return 1; fi
}

# Fails unless the two files hold the same bytes, showing both.
same_bytes() {
  cmp "$1" "$2" || { echo "--- $1"; cat -A "$1"; echo "--- $2"; cat -A "$2"; return 1; } >&2
}

@test "a DKIM-signed message from the SPF host: spf, dkim, dmarc pass; a forged field is removed" {
  make_message plain.eml alice@sender.test signed \
    "Authentication-Results: mx.example.org; dmarc=pass header.from=sender.test" \
    "Authentication-Results: other.example; spf=pass smtp.mailfrom=sender.test"
  dkim-sign -d sender.test -s s1 -k "$NSD_DIR/sender.test.private" plain.eml > msg.eml
  send 192.0.2.10 alice@sender.test msg.eml
  assert_status 0
  assert_output_contains "250 2.0.0 ok: queued as"
  id=$(queued_ids)
  [ -n "$id" ]
  raw "$id" > q.eml
  [ "$(head -n 1 q.eml)" = $'Authentication-Results: mx.example.org;\r' ]
  first_ar q.eml > server.ar
  grep -q 'spf=pass' server.ar
  grep -q 'dkim=pass header.d=sender.test header.s=s1' server.ar
  grep -q 'dmarc=pass' server.ar
  grep -q 'policy.dmarc=none' server.ar
  # Exactly one field claims our authserv-id: the forged one is gone; others stay.
  [ "$(grep -c '^Authentication-Results: mx.example.org;' q.eml)" -eq 1 ]
  refute grep -q 'mx.example.org; dmarc=pass' q.eml
  grep -q '^Authentication-Results: other.example; spf=pass' q.eml
  # The field comes before our Received:, and the signed message follows untouched.
  [[ "$(sed -n 's/\r$//; /^[A-Za-z-]*:/p' q.eml | sed -n 2p)" == "Received: from $HELO ([192.0.2.10])"* ]]
  grep -q '^DKIM-Signature:' q.eml
  # Byte-identical to the tool, for the message as sent (forged field and all).
  tool_ar 192.0.2.10 alice@sender.test msg.eml > tool.ar
  same_bytes server.ar tool.ar
  # The server never logged a DNS problem.
  refute grep -qi 'temperror' server.log
}

@test "p=reject from a wrong IP, unsigned: 550 5.7.1 under enforce, dmarc=fail under tag" {
  make_message msg.eml alice@sender.test rejected
  send 203.0.113.66 alice@sender.test msg.eml
  assert_status 0
  assert_output_contains "550 5.7.1 "
  [[ "$output" != *"queued as"* ]]
  run queue-ctl "${STORE[@]}" list
  assert_output_contains "empty"
  grep -q 'event=filter .*stage=auth .*dmarc reject' server.log
  write_config tag
  send 203.0.113.66 alice@sender.test msg.eml
  assert_output_contains "250 2.0.0 ok: queued as"
  id=$(queued_ids)
  raw "$id" > q.eml
  [ "$(head -n 1 q.eml)" = $'Authentication-Results: mx.example.org;\r' ]
  refute grep -q '^X-Spam-Flag' q.eml
  first_ar q.eml > server.ar
  grep -q 'spf=fail' server.ar
  grep -q 'dkim=none' server.ar
  grep -q 'dmarc=fail' server.ar
  grep -q 'policy.dmarc=reject' server.ar
  tool_ar 203.0.113.66 alice@sender.test msg.eml > tool.ar
  same_bytes server.ar tool.ar
  # The tool's exit status agrees with the server's enforce verdict.
  run --separate-stderr auth-check --check --results-only --ip 203.0.113.66 --helo "$HELO" \
    --mail-from alice@sender.test --dns-server "$DNS" msg.eml
  assert_status 1
  [ "$output" = "spf=fail dkim=none arc=none dmarc=fail policy=reject" ]
}

@test "authenticated submission is not judged by the DMARC policy of its own domain" {
  account-ctl "${STORE[@]}" domain add sender.test >/dev/null
  account-ctl "${STORE[@]}" add dave@sender.test --password-stdin <<<pw >/dev/null
  cat >> postern.yaml <<YAML
  auth_requires_tls: false
YAML
  sed -i 's/^listeners:/listeners:\n  - name: submission\n    address: 127.0.0.1:2\n    mode: submission/' postern.yaml
  make_message msg.eml dave@sender.test outgoing
  plain=$(printf '\0dave@sender.test\0pw' | base64 -w0)
  {
    printf 'EHLO laptop\r\nAUTH PLAIN %s\r\nMAIL FROM:<dave@sender.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n' "$plain"
    cat msg.eml
    printf '.\r\nQUIT\r\n'
  } > session.in
  run bash -c 'TCPREMOTEIP=203.0.113.7 smtp-listen --stdio --listener submission -c postern.yaml "${@:2}" < "$1" 2>>server.log' \
    _ session.in "${STORE[@]}"
  assert_output_contains "235 2.7.0"
  assert_output_contains "250 2.0.0 ok: queued as"
  refute grep -q '^Authentication-Results: mx.example.org' <(raw "$(queued_ids)")
  grep -q 'event=filter .*stage=auth .*skipped: authenticated' server.log
}

@test "p=quarantine failing under enforce: queued with X-Spam-Flag: YES; over LMTP into Junk" {
  make_message msg.eml bob@quarantine.test quarantined
  send 203.0.113.66 bob@quarantine.test msg.eml
  assert_status 0
  assert_output_contains "250 2.0.0 ok: queued as"
  id=$(queued_ids)
  raw "$id" > q.eml
  [ "$(head -n 1 q.eml)" = $'X-Spam-Flag: YES\r' ]
  [ "$(sed -n 2p q.eml)" = $'Authentication-Results: mx.example.org;\r' ]
  first_ar q.eml > server.ar
  grep -q 'dmarc=fail' server.ar
  grep -q 'policy.dmarc=quarantine' server.ar
  tool_ar 203.0.113.66 bob@quarantine.test msg.eml > tool.ar
  same_bytes server.ar tool.ar
  grep -q 'event=filter .*stage=auth .*dmarc quarantine' server.log

  # The same message over LMTP is delivered at once, into Junk.
  send 203.0.113.66 bob@quarantine.test msg.eml --listener lmtp
  assert_status 0
  assert_output_contains "250 2.0.0 <ann@example.org> delivered"
  # Nothing more in the queue than the mx message above.
  [ "$(queue-ctl "${STORE[@]}" list --json | grep -c .)" -eq 1 ]
  run account-ctl "${STORE[@]}" show ann@example.org
  assert_output_contains "messages:      1"
  run store-search "${STORE[@]}" -a ann@example.org -m Junk quarantined
  assert_status 0
  [ "$(grep -c . <<<"$output")" -eq 1 ]
  run store-search "${STORE[@]}" -a ann@example.org -m Inbox quarantined
  assert_status 0
  [ -z "$output" ]
  store-export "${STORE[@]}" -a ann@example.org -m Junk -f eml out >/dev/null
  delivered=$(find out -type f -name '*.eml')
  [ "$(echo "$delivered" | grep -c .)" -eq 1 ]
  grep -q '^X-Spam-Flag: YES' "$delivered"
  # (store-export writes .eml files with LF line ends.)
  first_ar "$delivered" | tr -d '\r' > lmtp.ar
  tr -d '\r' < tool.ar > tool-lf.ar
  same_bytes lmtp.ar tool-lf.ar
  # A passing message over LMTP stays in the Inbox.
  make_message ok.eml bob@quarantine.test welcome
  send 192.0.2.10 bob@quarantine.test ok.eml --listener lmtp
  assert_output_contains "250 2.0.0 <ann@example.org> delivered"
  run store-search "${STORE[@]}" -a ann@example.org -m Inbox welcome
  assert_status 0
  [ "$(grep -c . <<<"$output")" -eq 1 ]
  run store-search "${STORE[@]}" -a ann@example.org -m Junk welcome
  [ -z "$output" ]
}

@test "smtp.dmarc_record: one JSON line per message, the tool's record, read by dmarc-report" {
  write_config tag
  printf '  dmarc_record: %s\n' "$BATS_TEST_TMPDIR/records.jsonl" >> postern.yaml
  make_message pass.eml alice@sender.test first
  dkim-sign -d sender.test -s s1 -k "$NSD_DIR/sender.test.private" pass.eml > signed.eml
  make_message fail.eml alice@sender.test second
  make_message none.eml carol@relaxed.test third
  send 192.0.2.10 alice@sender.test signed.eml
  assert_output_contains "queued as"
  send 203.0.113.66 alice@sender.test fail.eml
  assert_output_contains "queued as"
  send 203.0.113.66 carol@relaxed.test none.eml
  assert_output_contains "queued as"
  [ "$(wc -l < records.jsonl)" -eq 3 ]
  # Each line is JSON; apart from its time, the same record as auth-check --record writes.
  auth-check --record tool.jsonl --headers-only --ip 192.0.2.10 --helo "$HELO" \
    --mail-from alice@sender.test --rcpt-to ann@example.org --authserv-id mx.example.org \
    --dns-server "$DNS" signed.eml >/dev/null
  auth-check --record tool.jsonl --headers-only --ip 203.0.113.66 --helo "$HELO" \
    --mail-from alice@sender.test --rcpt-to ann@example.org --authserv-id mx.example.org \
    --dns-server "$DNS" fail.eml >/dev/null
  auth-check --record tool.jsonl --headers-only --ip 203.0.113.66 --helo "$HELO" \
    --mail-from carol@relaxed.test --rcpt-to ann@example.org --authserv-id mx.example.org \
    --dns-server "$DNS" none.eml >/dev/null
  untimed() {
    /usr/bin/python3 -c 'import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line); t = d.pop("time")
    assert isinstance(t, int) and t > 1700000000, t
    print(json.dumps(d, sort_keys=True))' "$1"
  }
  untimed records.jsonl > server.rec
  untimed tool.jsonl > tool.rec
  same_bytes server.rec tool.rec
  grep -q '192.0.2.10' server.rec
  grep -q 'relaxed.test' server.rec
  # dmarc-report accepts the file: one report per policy domain with a rua.
  now=$(date +%s)
  run --separate-stderr dmarc-report generate --records records.jsonl --org-name "Example Org" \
    --email postmaster@example.org --begin $((now - 3600)) --end $((now + 3600)) --out-dir reports
  assert_status 0
  [ "$(grep -c '\.xml\.gz$' <<<"$output")" -eq 2 ]
  sender=$(grep '!sender.test!' <<<"$output")
  relaxed=$(grep '!relaxed.test!' <<<"$output")
  [ -s "$sender" ] && [ -s "$relaxed" ]
  run dmarc-report parse "$sender"
  assert_status 0
  assert_output_contains '"domain":"sender.test"'
  assert_output_contains '"p":"reject"'
  assert_output_contains '"source_ip":"192.0.2.10"'
  assert_output_contains '"source_ip":"203.0.113.66"'
  assert_output_contains '"disposition":"reject"'
  run dmarc-report parse "$relaxed"
  assert_output_contains '"header_from":"relaxed.test"'
  assert_output_contains '"disposition":"none"'
}

@test "DNS down: accepted with temperror results, even under enforce" {
  swallow="127.0.0.1:$(cat "$SWALLOW_PORT_FILE")"
  write_config enforce "$swallow" 1s
  make_message msg.eml alice@sender.test outage
  start=$(date +%s)
  send 203.0.113.66 alice@sender.test msg.eml
  end=$(date +%s)
  assert_status 0
  assert_output_contains "250 2.0.0 ok: queued as"
  [ $((end - start)) -lt 10 ]
  id=$(queued_ids)
  raw "$id" > q.eml
  [ "$(head -n 1 q.eml)" = $'Authentication-Results: mx.example.org;\r' ]
  first_ar q.eml > server.ar
  grep -q 'spf=temperror' server.ar
  grep -q 'dmarc=temperror' server.ar
  refute grep -q 'X-Spam-Flag' q.eml
  tool_ar 203.0.113.66 alice@sender.test msg.eml "$swallow" 1000 > tool.ar
  same_bytes server.ar tool.ar
  # A port with nothing listening at all: the same.
  write_config enforce "127.0.0.1:$(free_udp_port)" 1s
  send 203.0.113.66 alice@sender.test msg.eml
  assert_output_contains "250 2.0.0 ok: queued as"
  raw "$(queued_ids)" > q2.eml
  first_ar q2.eml | grep -q 'dmarc=temperror'
}
