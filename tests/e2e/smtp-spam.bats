#!/usr/bin/env bats
# smtp-listen's spam builtins (smtp-listen(8), FILTERS): spam-score at DATA (the fields
# are byte for byte what spam-score(1) writes for the same message and envelope; reject
# and junk thresholds; forged X-Spam-* fields removed), dnsbl at connect against a real
# DNS server (Debian's NSD on a loopback port serving tests/e2e/dnsbl-zones.sh), and
# greylist at RCPT with its state in the store. Each test drives `smtp-listen --stdio`
# with the client address in TCPREMOTEIP. Nothing leaves 127.0.0.1.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"
source "$SRC_DIR/tests/e2e/dnsbl-zones.sh"

setup_file() {
  export NSD_DIR="$BATS_FILE_TMPDIR/nsd" NSD_PORT=""
  if [ -x /usr/sbin/nsd ]; then
    NSD_PORT=$(free_udp_port)
    dnsbl_test_zones "$NSD_DIR" "$NSD_PORT" >&2
    nsd_start "$NSD_DIR" "$NSD_PORT" zen.dnsbl.test || NSD_PORT=""
  fi
}

teardown_file() {
  [ -z "$NSD_PORT" ] || nsd_stop "$NSD_DIR"
}

setup() {
  cd "$BATS_TEST_TMPDIR"
  export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
  STORE=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null
  account-ctl "${STORE[@]}" add ann@example.org --password-stdin <<<secret >/dev/null
  printf 'From: Bob <bob@example.net>\r\nTo: ann@example.org\r\nSubject: lunch\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <b1@example.net>\r\n\r\nLunch at noon?\r\n' > plain.eml
  # The same with X-Spam-* fields a sender wrote (they must not file it anywhere).
  { printf 'X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=99.0\r\n\ttests=FORGED\r\n'; cat plain.eml; } > forged.eml
  # An invoice that is a Windows program, behind a link showing another domain.
  {
    printf 'From: "Billing" <billing@invoices.example>\r\nTo: ann@example.org\r\nSubject: Invoice\r\n'
    printf 'Date: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <inv1@invoices.example>\r\nMIME-Version: 1.0\r\n'
    printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/html\r\n\r\n'
    printf '<p>Pay at <a href="http://203.0.113.9/pay">https://www.paypal.com/invoice</a></p>\r\n'
    printf '<div style="display:none">%s</div>\r\n' "$(printf 'lorem ipsum dolor %.0s' $(seq 20))"
    printf '\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="invoice.pdf.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    printf 'MZ\x90\x00fake program' | base64 | sed 's/$/\r/'
    printf '\r\n--b1--\r\n'
  } > invoice.eml
}

# write_config [STAGE-YAML [EXTRA-YAML]]: postern.yaml with the given filter stages
# (default: spam-score at DATA) and extra top-level settings.
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
  servers: ["127.0.0.1:${NSD_PORT:-9}"]
  timeout: 2s
smtp:
  filters:
${1:-"    - {name: spam, stage: data, builtin: spam-score}"}
${2:-}
YAML
}

# send IP MAIL-FROM MESSAGE-FILE [smtp-listen args...]: one SMTP (LMTP with --listener
# lmtp) transaction to ann@example.org from client IP; the replies in $output.
send() {
  local ip=$1 from=$2 file=$3 greet=EHLO
  shift 3
  [[ " $* " == *" lmtp "* ]] && greet=LHLO
  {
    printf '%s mail.client.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<ann@example.org>\r\nDATA\r\n' "$greet" "$from"
    cat "$file"
    printf '.\r\nQUIT\r\n'
  } > session.in
  run bash -c 'TCPREMOTEIP="$1" smtp-listen --stdio "${@:3}" < "$2" 2>>server.log' \
    _ "$ip" session.in -c postern.yaml "${STORE[@]}" "$@"
}

queued_ids() { grep -o 'queued as [0-9A-Z]*' <<<"$output" | cut -d' ' -f3; }
raw() { queue-ctl "${STORE[@]}" show --raw "$1"; }

same_bytes() {
  cmp "$1" "$2" || { echo "--- $1"; cat -A "$1"; echo "--- $2"; cat -A "$2"; return 1; } >&2
}

@test "spam-score stage: the queued message carries exactly what spam-score writes" {
  write_config
  send 203.0.113.5 bob@example.net plain.eml
  assert_status 0
  assert_output_contains "250 2.0.0 ok: queued as"
  raw "$(queued_ids)" > q.eml
  head -n 4 q.eml > fields
  grep -q '^X-Spam-Score: ' fields
  grep -q '^X-Spam-Status: No, score=' q.eml
  ! grep -q '^X-Spam-Flag' q.eml || false
  # Our fields sit above our Received: field; the tool, given the queued message and the
  # same envelope, removes them and writes them again: the same bytes.
  awk '/^Received:/ { print NR; exit }' q.eml > received_line
  [ "$(cat received_line)" -gt 3 ]
  spam-score -c postern.yaml "${STORE[@]}" --rcpt ann@example.org --ip 203.0.113.5 q.eml > tool.eml
  same_bytes q.eml tool.eml
  grep -q 'event=filter .*stage=spam .*score=' server.log
}

@test "spam-score stage: a sender's X-Spam-* fields are removed and file nothing into Junk" {
  write_config
  send 203.0.113.5 bob@example.net forged.eml --listener lmtp
  assert_status 0
  assert_output_contains "250 2.0.0 <ann@example.org> delivered"
  run store-search "${STORE[@]}" -a ann@example.org -m Inbox lunch
  [ "$(grep -c . <<<"$output")" -eq 1 ]
  store-export "${STORE[@]}" -a ann@example.org -m Inbox -f eml out >/dev/null
  msg=$(find out -type f -name '*.eml' | head -n 1)
  [ -n "$msg" ]
  ! grep -q 'FORGED' "$msg" || false
  ! grep -q '^X-Spam-Flag' "$msg" || false
  [ "$(grep -c '^X-Spam-Status: No' "$msg")" -eq 1 ]
}

@test "spam-score stage: at spam.junk flagged once and filed into Junk; at spam.reject refused" {
  write_config
  send 203.0.113.5 billing@invoices.example invoice.eml --listener lmtp
  assert_status 0
  assert_output_contains "250 2.0.0 <ann@example.org> delivered"
  run store-search "${STORE[@]}" -a ann@example.org -m Junk Invoice
  [ "$(grep -c . <<<"$output")" -eq 1 ]
  store-export "${STORE[@]}" -a ann@example.org -m Junk -f eml out >/dev/null
  msg=$(find out -type f -name '*.eml' | head -n 1)
  [ "$(grep -c '^X-Spam-Flag: YES' "$msg")" -eq 1 ]
  score=$(sed -n 's/^X-Spam-Score: \([0-9.]*\).*/\1/p' "$msg")
  # The same message with spam.reject under its score: 550, nothing queued.
  write_config "" "spam: {reject: \"5.0\"}"
  send 203.0.113.5 billing@invoices.example invoice.eml
  assert_status 0
  assert_output_contains "550 5.7.1 message rejected as spam (score $score)"
  [ -z "$(queue-ctl "${STORE[@]}" list --json)" ]
}

@test "spam-score stage: rules that do not compile stop smtp-listen with 78 and file:line:col" {
  printf 'rules:\n  - name: BROKEN\n    body: "(unclosed"\n    score: 1.0\n' > bad.yaml
  write_config "" "spam: {rules: [$BATS_TEST_TMPDIR/bad.yaml]}"
  send 203.0.113.5 bob@example.net plain.eml
  assert_status 78
  grep -q "bad.yaml:" server.log
}

@test "dnsbl stage: a listed client is refused at the greeting; an unlisted one served" {
  [ -n "$NSD_PORT" ] || skip "NSD is not installed or did not start"
  write_config "    - {name: rbl, stage: connect, builtin: dnsbl}" \
    "spam: {dnsbl: {zones: [spamhaus-zen:zen.dnsbl.test]}}"
  send 192.0.2.2 bob@example.net plain.eml
  assert_status 0
  assert_output_contains "554 5.7.1 Service unavailable; client host [192.0.2.2] blocked using zen.dnsbl.test"
  [[ "$output" != *"220 "* ]]
  send 192.0.2.77 bob@example.net plain.eml
  assert_output_contains "220 mx.example.org ESMTP"
  assert_output_contains "250 2.0.0 ok: queued as"
}

@test "dnsbl stage: listings that add up to less than spam.dnsbl.reject only score, at DATA" {
  [ -n "$NSD_PORT" ] || skip "NSD is not installed or did not start"
  # PBL alone scores 1.5 in Spamhaus's table; weighed down to 1 it no longer refuses.
  write_config "    - {name: rbl, stage: connect, builtin: dnsbl}
    - {name: spam, stage: data, builtin: spam-score}" \
    "spam: {dnsbl: {zones: [spamhaus-zen:zen.dnsbl.test=1], reject: \"1.5\"}}"
  send 192.0.2.10 bob@example.net plain.eml
  assert_output_contains "220 mx.example.org ESMTP"
  assert_output_contains "250 2.0.0 ok: queued as"
  id=$(grep -o 'queued as [0-9A-Z]*' <<<"$output" | cut -d' ' -f3)
  queue-ctl "${STORE[@]}" show --raw "$id" | grep -q 'SPAMHAUS_ZEN_PBL=1'
  # Listed twice over (SBL, XBL and PBL: 3): refused at the greeting.
  send 192.0.2.12 bob@example.net plain.eml
  assert_output_contains "554 5.7.1 Service unavailable; client host [192.0.2.12] blocked using zen.dnsbl.test"
}

@test "dnsbl stage: a DNS server that never answers lets the client in" {
  swallow_start "$BATS_TEST_TMPDIR"
  port=$(cat "$BATS_TEST_TMPDIR/swallow.port")
  NSD_PORT=$port write_config "    - {name: rbl, stage: connect, builtin: dnsbl}" \
    "spam: {dnsbl: {zones: [spamhaus-zen:zen.dnsbl.test], timeout: 1s}}"
  send 192.0.2.2 bob@example.net plain.eml
  swallow_stop "$BATS_TEST_TMPDIR"
  assert_output_contains "220 mx.example.org ESMTP"
  assert_output_contains "250 2.0.0 ok: queued as"
}

@test "greylist stage: a new triplet waits, its retry passes, the network is then allowed" {
  write_config "    - {name: grey, stage: rcpt, builtin: greylist}" \
    "spam: {greylist: {delay: 2s, auto_allow: 1}}"
  send 198.51.100.7 bob@example.net plain.eml
  assert_output_contains "451 4.7.1 greylisted: please try again in 2 seconds"
  [[ "$output" != *"queued as"* ]]
  # Too early: still deferred. Another host of the same /24 is the same client.
  send 198.51.100.8 bob@example.net plain.eml
  assert_output_contains "451 4.7.1 greylisted"
  sleep 2.2
  send 198.51.100.9 bob@example.net plain.eml
  assert_output_contains "250 2.0.0 ok: queued as"
  # With auto_allow 1 the network's other senders pass at once; other networks wait.
  send 198.51.100.7 carol@example.net plain.eml
  assert_output_contains "250 2.0.0 ok: queued as"
  send 203.0.113.7 carol@example.net plain.eml
  assert_output_contains "451 4.7.1 greylisted"
}

@test "per-recipient verdicts: an account's own model files its copy; the others follow the stage" {
  account-ctl "${STORE[@]}" add bob@example.org --password-stdin <<<secret >/dev/null
  write_config "" "spam: {bayes_min_learned: 3}"
  # Ann has taught her own model that lottery mail is spam and meeting notes are not.
  write_lottery_lesson 4
  spam-train "${STORE[@]}" --user ann@example.org --spam s?.eml >/dev/null
  spam-train "${STORE[@]}" --user ann@example.org --ham h?.eml >/dev/null
  {
    printf 'LHLO mail.client.test\r\nMAIL FROM:<x@lottery.example>\r\nRCPT TO:<ann@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n'
    cat lotto.eml
    printf '.\r\nQUIT\r\n'
  } > session.in
  run bash -c 'TCPREMOTEIP=203.0.113.5 smtp-listen --stdio -c postern.yaml "${@:2}" --listener lmtp < "$1" 2>>server.log' \
    _ session.in "${STORE[@]}"
  assert_output_contains "250 2.0.0 <ann@example.org> delivered"
  assert_output_contains "250 2.0.0 <bob@example.org> delivered"
  # Ann's copy: Junk, with $junk; the message itself says nothing of her verdict.
  run store-search "${STORE[@]}" -a ann@example.org -m Junk --json claim
  assert_output_contains '"keywords":["$junk"]'
  store-export "${STORE[@]}" -a ann@example.org -m Junk -f eml ann >/dev/null
  msg=$(find ann -type f -name '*.eml' | head -n 1)
  [ -n "$msg" ]
  ! grep -q '^X-Spam-Flag' "$msg" || false
  # Bob has no model: the stage's verdict (global model, none trained) puts it in Inbox.
  run store-search "${STORE[@]}" -a bob@example.org -m Inbox --json claim
  assert_output_contains '"keywords":[]'
}
