#!/usr/bin/env bats
# smtp-listen --stdio: the SMTP protocol driven without sockets — extensions, relay
# denial, AUTH and submission rules, the smuggling policy, BDAT, limits, filter stages,
# DSN parameters kept in the queue, LMTP.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null
  account-ctl "${STORE[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  account-ctl "${STORE[@]}" add bob@example.org --password-stdin <<<hunter2 >/dev/null
  account-ctl "${STORE[@]}" alias add sales@example.org ann@example.org >/dev/null
  cat > postern.yaml <<'YAML'
server:
  hostname: mx.example.org
listeners:
  - name: mx
    address: 127.0.0.1:1
    mode: mx
  - name: submission
    address: 127.0.0.1:2
    mode: submission
  - name: lmtp
    address: 127.0.0.1:3
    mode: lmtp
YAML
  CONFIG=postern.yaml
}

# Runs one session; $1 is the client's bytes (printf %b escapes), further arguments go to
# smtp-listen. The replies are in $output.
session() {
  local input="$1"
  shift
  run bash -c 'printf "%b" "$1" | TCPREMOTEIP=192.0.2.5 smtp-listen --stdio "${@:2}" 2>>server.log' \
    _ "$input" -c "$CONFIG" "${STORE[@]}" "$@"
}

queued_ids() { grep -o 'queued as [0-9A-Z]*' <<<"$output" | cut -d' ' -f3; }
raw() { queue-ctl "${STORE[@]}" show --raw "$1"; }

@test "smtp-listen: EHLO announces the extensions; HELO takes no parameters" {
  session 'EHLO client.test\r\nQUIT\r\n'
  assert_status 0
  for ext in PIPELINING 'SIZE 36700160' 8BITMIME SMTPUTF8 CHUNKING BINARYMIME DSN ENHANCEDSTATUSCODES; do
    grep -Eq "^250[- ]$ext" <<<"$output"
  done
  [[ "$output" == "220 mx.example.org ESMTP Postern"* ]]
  [[ "$output" != *STARTTLS* ]]   # no certificate configured (and never on --stdio)
  [[ "$output" != *AUTH* ]]       # AUTH needs TLS by default
  session 'HELO client.test\r\nMAIL FROM:<a@remote.test> SIZE=10\r\nMAIL FROM:<a@remote.test>\r\nQUIT\r\n'
  assert_output_contains "250 mx.example.org"
  assert_output_contains "555 5.5.4"
  assert_output_contains "250 2.1.0"
}

@test "smtp-listen: a message is queued with Received, unstuffed, CRLF, and its queue id logged" {
  session 'EHLO client.test\r\nMAIL FROM:<carol@remote.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nSubject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\nQUIT\r\n'
  assert_status 0
  assert_output_contains "354 "
  id=$(queued_ids)
  [ -n "$id" ]
  raw "$id" > q.eml
  head -n 1 q.eml | grep -q '^Received: from client.test (\[192.0.2.5\])'
  grep -q "with ESMTP id $id" q.eml
  grep -q 'for <ann@example.org>;' q.eml
  grep -q $'^\\.leading dot\r$' q.eml
  [ "$(grep -c $'[^\r]$' q.eml)" -eq 0 ]
  grep -q "event=queued queue_id=$id" server.log
  grep -q "event=mail queue_id=$id" server.log
  run queue-ctl "${STORE[@]}" show --json "$id"
  assert_output_contains '"sender":"carol@remote.test"'
  assert_output_contains '"client_ip":"192.0.2.5"'
}

@test "smtp-listen: no open relay; unknown local users are refused at RCPT" {
  session 'EHLO c\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<victim@elsewhere.test>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<sales@example.org>\r\nRCPT TO:<ann+tag@example.org>\r\nRCPT TO:<postmaster>\r\nQUIT\r\n'
  assert_output_contains "554 5.7.1 <victim@elsewhere.test>: relay access denied"
  assert_output_contains "550 5.1.1 <nobody@example.org>"
  [ "$(grep -c '^250 2.1.5' <<<"$output")" -eq 2 ]   # alias and +detail; postmaster unknown here
  # A relay domain is accepted; a catch-all takes any local part.
  account-ctl "${STORE[@]}" alias add @example.org bob@example.org >/dev/null
  session 'EHLO c\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<victim@backup.test>\r\nRCPT TO:<anyone@example.org>\r\nQUIT\r\n' \
    --set 'smtp.relay_domains=[backup.test]'
  [ "$(grep -c '^250 2.1.5' <<<"$output")" -eq 2 ]
}

@test "smtp-listen: submission needs AUTH; AUTH needs TLS unless configured; PLAIN and LOGIN" {
  session 'EHLO c\r\nMAIL FROM:<ann@example.org>\r\nAUTH PLAIN AGFubkBleGFtcGxlLm9yZwBzZWNyZXQ=\r\nQUIT\r\n' --listener submission
  assert_output_contains "530 5.7.0"
  assert_output_contains "538 5.7.11"
  plain=$(printf 'ann@example.org\0ann@example.org\0secret' | base64 -w0)
  wrong=$(printf '\0ann@example.org\0wrong' | base64 -w0)
  user=$(printf ann@example.org | base64 -w0)
  pass=$(printf secret | base64 -w0)
  session "EHLO c\r\nAUTH PLAIN $wrong\r\nAUTH PLAIN $plain\r\nQUIT\r\n" --listener submission --set smtp.auth_requires_tls=false
  assert_output_contains "250 AUTH PLAIN LOGIN SCRAM-SHA-256"
  assert_output_contains "535 5.7.8"
  assert_output_contains "235 2.7.0"
  session "EHLO c\r\nAUTH LOGIN\r\n$user\r\n$pass\r\nQUIT\r\n" --listener submission --set smtp.auth_requires_tls=false
  assert_output_contains "334 VXNlcm5hbWU6"
  assert_output_contains "235 2.7.0"
  session "EHLO c\r\nAUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\nQUIT\r\n" --listener submission --set smtp.auth_requires_tls=false
  assert_output_contains "501 5.0.0"
  assert_output_contains "504 5.5.4"
  grep -q 'event=auth .*user=ann@example.org' server.log
  grep -q 'event=auth_failed' server.log
}

@test "smtp-listen: submission is tied to the login: MAIL FROM and From: must be owned" {
  plain=$(printf '\0ann@example.org\0secret' | base64 -w0)
  S=(--listener submission --set smtp.auth_requires_tls=false)
  session "EHLO c\r\nAUTH PLAIN $plain\r\nMAIL FROM:<bob@example.org>\r\nMAIL FROM:<sales@example.org>\r\nRCPT TO:<someone@far.test>\r\nDATA\r\nFrom: Bob <bob@example.org>\r\n\r\nhi\r\n.\r\nQUIT\r\n" "${S[@]}"
  assert_output_contains "553 5.7.1 <bob@example.org>: sender address not owned by ann@example.org"
  assert_output_contains "250 2.1.0"
  assert_output_contains "553 5.7.1 <bob@example.org>: From: address not owned"
  [ -z "$(queued_ids)" ]
  session "EHLO c\r\nAUTH PLAIN $plain\r\nMAIL FROM:<ann@example.org>\r\nRCPT TO:<someone@far.test>\r\nDATA\r\nFrom: Ann <sales@example.org>\r\n\r\nhi\r\n.\r\nQUIT\r\n" "${S[@]}"
  id=$(queued_ids)
  [ -n "$id" ]
  raw "$id" > q.eml
  grep -q '^Message-ID: <.*@mx.example.org>' q.eml   # added (RFC 6409 8.3)
  grep -q '^Date: ' q.eml
  grep -q 'with ESMTPA id' q.eml
  # smtp.send_as lets a login use other addresses.
  cat >> postern.yaml <<'YAML'
smtp:
  auth_requires_tls: false
  send_as:
    - login: ann@example.org
      addresses: ["@lists.example.org"]
YAML
  session "EHLO c\r\nAUTH PLAIN $plain\r\nMAIL FROM:<news@lists.example.org>\r\nQUIT\r\n" --listener submission
  assert_output_contains "250 2.1.0"
}

# The smuggling variants: each hides "MAIL FROM..." behind a sequence some server might
# take for the end of data. Exactly one message may come out, and what is queued must
# hold no lone-dot line and no bare CR or LF.
smuggle() {
  session "EHLO c\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nSubject: s\r\n\r\nfirst$1MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\nQUIT\r\n" "${@:2}"
}

@test "smtp-listen: SMTP smuggling — bare-LF variants stay inside one message (normalize)" {
  for seq in '\n.\n' '\n.\r\n' '\r\n.\n'; do
    smuggle "$seq"
    assert_status 0
    [ "$(grep -c '^250 2.0.0 ok: queued' <<<"$output")" -eq 1 ] || { echo "$seq: $output"; false; }
    [[ "$output" != *"503"* ]]
    id=$(queued_ids)
    raw "$id" > q.eml
    grep -q 'Subject: smuggled' q.eml          # the smuggled text is content
    [ "$(grep -c $'[^\r]$' q.eml)" -eq 0 ]     # no bare LF left
    ! grep -q $'^\\.\r$' q.eml || false  # no line a next hop could end on
  done
  [ "$(queue-ctl "${STORE[@]}" list --json | grep -c .)" -eq 3 ]
}

@test "smtp-listen: SMTP smuggling — bare CR, NUL and strict bare-LF variants are refused" {
  for seq in '\r.\r' '\r\n.\r' '\r\n\0.\r\n'; do
    smuggle "$seq"
    [ -z "$(queued_ids)" ] || { echo "$seq queued: $output"; false; }
    assert_output_contains "550 5."
  done
  smuggle '\n.\n' --set smtp.bare_lf=reject
  assert_output_contains "550 5.5.2 message refused: bare LF"
  [ -z "$(queued_ids)" ]
  run queue-ctl "${STORE[@]}" list
  assert_output_contains "empty"
}

@test "smtp-listen: BDAT chunks, a dot line inside a chunk, BINARYMIME only with BDAT" {
  body=$'Subject: b\r\n\r\nline\r\n.\r\nMAIL FROM:<evil@x>\r\n'
  n=${#body}
  session "EHLO c\r\nMAIL FROM:<x@remote.test> BODY=BINARYMIME\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nBDAT 8\r\nSubject:BDAT $((n - 8)) LAST\r\n${body:8}QUIT\r\n"
  assert_output_contains "503 5.5.1 BODY=BINARYMIME requires BDAT"
  assert_output_contains "250 2.0.0 8 octets received"
  [ "$(grep -c '^250 2.0.0 ok: queued' <<<"$output")" -eq 1 ]
  raw "$(queued_ids)" | grep -q '^MAIL FROM:<evil@x>'
  # BDAT without MAIL still reads its chunk, so the session stays in step.
  session 'EHLO c\r\nBDAT 5\r\nhelloNOOP\r\nQUIT\r\n'
  assert_output_contains "503 5.5.1 need MAIL"
  assert_output_contains "250 2.0.0 ok"
}

@test "smtp-listen: limits — recipients, line length, errors, size, commands" {
  session 'EHLO c\r\nMAIL FROM:<x@r.test>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<bob@example.org>\r\nRCPT TO:<sales@example.org>\r\nQUIT\r\n' --set smtp.max_recipients=2
  assert_output_contains "452 4.5.3"
  long=$(head -c 5000 /dev/zero | tr '\0' a)
  session "EHLO c\r\nNOOP $long\r\nNOOP\r\nQUIT\r\n"
  assert_output_contains "500 5.5.6 line too long"
  assert_output_contains "250 2.0.0 ok"
  session 'EHLO c\r\nFOO\r\nBAR\r\nBAZ\r\nNOOP\r\n' --set smtp.max_errors=3
  assert_output_contains "421 4.7.0 too many errors"
  [[ "$output" != *"250 2.0.0 ok"* ]]
  big=$(head -c 3000 /dev/zero | tr '\0' b)
  session "EHLO c\r\nMAIL FROM:<x@r.test> SIZE=5000\r\nMAIL FROM:<x@r.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n$big\r\n.\r\nNOOP\r\nQUIT\r\n" --set smtp.max_message_size=2K
  assert_output_contains "552 5.3.4"
  [ "$(grep -c '^552' <<<"$output")" -eq 2 ]
  assert_output_contains "250 2.0.0 ok"   # the session goes on
  session 'EHLO c\r\nNOOP\r\nNOOP\r\nNOOP\r\n' --set smtp.max_commands=3
  assert_output_contains "421 4.7.0 too many commands"
  m='MAIL FROM:<x@r.test>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nSubject: r\r\n\r\nx\r\n.\r\n'
  session "EHLO c\r\n$m$m$m""QUIT\r\n" --set smtp.messages_per_ip_per_minute=2
  [ "$(grep -c '^250 2.0.0 ok: queued' <<<"$output")" -eq 2 ]
  assert_output_contains "450 4.7.1 too many messages from your address"
  session "EHLO c\r\n$m$m""QUIT\r\n" --set smtp.messages_per_sender_per_minute=1
  [ "$(grep -c '^250 2.0.0 ok: queued' <<<"$output")" -eq 1 ]
  assert_output_contains "450 4.7.1 too many messages from this sender"
}

@test "smtp-listen: DSN and SMTPUTF8 parameters are kept in the queue" {
  session 'EHLO c\r\nMAIL FROM:<x@r.test> RET=HDRS ENVID=abc+2Bdef SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<ann@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;ann+2B1@example.org\r\nDATA\r\nSubject: x\r\n\r\ny\r\n.\r\nQUIT\r\n'
  id=$(queued_ids)
  run queue-ctl "${STORE[@]}" show --json "$id"
  assert_output_contains '"envid":"abc+def"'
  assert_output_contains '"ret":"HDRS"'
  assert_output_contains '"smtputf8":true'
  assert_output_contains 'rfc822;ann+1@example.org'
  session 'EHLO c\r\nMAIL FROM:<jos\xc3\xa9@r.test>\r\nMAIL FROM:<jos\xc3\xa9@r.test> SMTPUTF8\r\nQUIT\r\n'
  assert_output_contains "553 5.6.7"
  assert_output_contains "250 2.1.0"
}

@test "smtp-listen: exec filter stages reject, tempfail, rewrite, time out, or accept on error" {
  cat > filter.sh <<'SH'
#!/bin/sh
case "$1" in
  reject) echo "looks like spam to me" >&2; exit 1 ;;
  tempfail) exit 75 ;;
  tag) printf 'X-Filtered: %s %s\r\n' "$POSTERN_QUEUE_ID" "$(echo $POSTERN_RECIPIENTS)"; cat ;;
  slow) sleep 5 ;;
  rcpt) [ "$POSTERN_RECIPIENT" = "bob@example.org" ] && { echo "bob is away" >&2; exit 1; }; exit 0 ;;
esac
SH
  chmod +x filter.sh
  msg='EHLO c\r\nMAIL FROM:<x@r.test>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: f\r\n\r\nbody\r\n.\r\nQUIT\r\n'
  stage() { printf 'smtp:\n  filters:\n    - name: f\n      stage: %s\n      exec: [./filter.sh, %s]\n      timeout: %s\n      on_error: %s\n' "$1" "$2" "${3:-30s}" "${4:-tempfail}" > f.yaml; cat postern.yaml f.yaml > all.yaml; }
  CONFIG=all.yaml
  stage data reject;   session "$msg"; assert_output_contains "550 5.7.1 looks like spam to me"
  stage data tempfail; session "$msg"; assert_output_contains "451 4.7.1"
  stage data slow 1s;  session "$msg"; assert_output_contains "451 4.7.1"
  stage data slow 1s accept; session "$msg"; assert_output_contains "250 2.0.0 ok: queued"
  stage rcpt rcpt;     session "$msg"; assert_output_contains "550 5.7.1 bob is away"
  assert_output_contains "250 2.0.0 ok: queued"
  stage data tag;      session "$msg"
  id=$(queued_ids)
  raw "$id" | head -n 1 | grep -q "^X-Filtered: $id ann@example.org"
  stage connect reject; session "$msg"
  [[ "$output" == "554 5.7.1 "* ]]
  printf '      listeners: [submission]\n' >> all.yaml   # the connect stage, now not on mx
  session "$msg"
  assert_output_contains "250 2.0.0 ok: queued"
  grep -q 'event=filter .*stage=f' server.log
}

@test "smtp-listen: LMTP delivers during DATA with one reply per recipient" {
  account-ctl "${STORE[@]}" quota bob@example.org 1K >/dev/null
  big=$(head -c 3000 /dev/zero | tr '\0' z)
  session "LHLO c\r\nMAIL FROM:<x@r.test>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nSubject: l\r\n\r\n$big\r\n.\r\nQUIT\r\n" --listener lmtp
  assert_output_contains "220 mx.example.org LMTP Postern"
  assert_output_contains "550 5.1.1 <nobody@example.org>"
  assert_output_contains "250 2.0.0 <ann@example.org> delivered"
  assert_output_contains "452 4.2.2 <bob@example.org>"
  run store-search "${STORE[@]}" -a ann@example.org zzzz
  [ -n "$output" ]
  run queue-ctl "${STORE[@]}" list
  assert_output_contains "empty"
  session 'EHLO c\r\nQUIT\r\n' --listener lmtp
  assert_output_contains "500 5.5.1 this is LMTP: use LHLO"
}

@test "smtp-listen: bad configuration exits 78; --check validates" {
  run smtp-listen -c postern.yaml "${STORE[@]}" --check
  assert_status 0
  run smtp-listen -c postern.yaml "${STORE[@]}" --check --set tls.certificate=/nonexistent.pem --set tls.key=/nonexistent.pem
  assert_status 78
  assert_output_contains "tls certificate"
  printf 'smtp:\n  filters:\n    - name: x\n      builtin: nope\n' >> postern.yaml
  run smtp-listen -c postern.yaml "${STORE[@]}" --check
  assert_status 78
  assert_output_contains "unknown builtin nope"
}

@test "smtp-listen: a local listener needs unix:/path, and unix: is only for mode local" {
  printf '  - name: local\n    address: unix:%s/submit.sock\n    mode: local\n' "$BATS_TEST_TMPDIR" >> postern.yaml
  run smtp-listen -c postern.yaml "${STORE[@]}" --check
  assert_status 0
  sed -i 's|address: unix:.*|address: 127.0.0.1:4|' postern.yaml
  run smtp-listen -c postern.yaml "${STORE[@]}" --check
  assert_status 78
  assert_output_contains "mode local needs address unix:/absolute/path.sock"
  sed -i 's|address: 127.0.0.1:1$|address: unix:/tmp/x.sock|' postern.yaml
  sed -i 's|address: 127.0.0.1:4|address: unix:/tmp/y.sock|' postern.yaml
  run smtp-listen -c postern.yaml "${STORE[@]}" --check
  assert_status 78
  assert_output_contains "mode mx needs host:port"
  sed -i 's|address: unix:/tmp/x.sock|address: unix:relative.sock|' postern.yaml
  run smtp-listen -c postern.yaml "${STORE[@]}" --check
  assert_status 78
  assert_output_contains "expected host:port"
}

@test "smtp-listen: --stdio as a local listener — the caller's uid, no AUTH, any recipient, local Received" {
  printf '  - name: local\n    address: unix:%s/submit.sock\n    mode: local\n' "$BATS_TEST_TMPDIR" >> postern.yaml
  session 'EHLO me\r\nAUTH PLAIN AGFubkBleGFtcGxlLm9yZwBzZWNyZXQ=\r\nMAIL FROM:<anyone@elsewhere.test>\r\nRCPT TO:<far@away.test>\r\nDATA\r\nFrom: x@elsewhere.test\r\nSubject: local\r\n\r\nhi\r\n.\r\nQUIT\r\n' --listener local
  assert_status 0
  [[ "$output" != *AUTH\ PLAIN\ LOGIN* ]]
  assert_output_contains "502 5.5.1"          # no AUTH on a local listener
  assert_output_contains "250 2.1.5"          # relays out, like an authenticated user
  id=$(queued_ids)
  [ -n "$id" ]
  raw "$id" | head -n 1 | grep -q "^Received: from local (uid $(id -u), user $(id -un))"
  raw "$id" | grep -q '^Message-ID: <'
  run queue-ctl "${STORE[@]}" show --json "$id"
  assert_output_contains '"listener":"local"'
  assert_output_contains "\"auth_user\":\"$(id -un)\""
  assert_output_contains '"client_ip":"local"'
  grep -q "event=connect .*listener=local uid=$(id -u) pid=[0-9]* user=$(id -un)" server.log
  # Missing From: is refused here (postern-sendmail adds one).
  session 'EHLO me\r\nMAIL FROM:<root@mx.example.org>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\nSubject: no from\r\n\r\nhi\r\n.\r\nQUIT\r\n' --listener local
  assert_output_contains "550 5.6.0 message refused: no From: field"
}
