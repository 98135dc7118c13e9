#!/usr/bin/env bats
# dns-query and auth-check (Postern's libunbound engine) against a real authoritative server: Debian's
# NSD on a free loopback port, serving a zone signed with ldns-signzone, an unsigned zone,
# and an unsigned zone under a trust anchor (see dns-nsd-zones.sh). Postern forwards to
# NSD (--dns-server), which answers authoritatively for its zones; validation starts from
# the DS records in anchors.ds (--trust-anchor). Nothing leaves 127.0.0.1.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"

setup_file() {
  [ -x /usr/sbin/nsd ] || skip "NSD is not installed"
  command -v ldns-signzone >/dev/null || skip "ldnsutils is not installed"
  export NSD_DIR="$BATS_FILE_TMPDIR/nsd"
  export NSD_PORT
  NSD_PORT=$(free_udp_port)
  sh "$SRC_DIR/tests/e2e/dns-nsd-zones.sh" "$NSD_DIR" "$NSD_PORT" >&2
  # NSD daemonizes and writes its pid file; running as root it keeps root (username "").
  nsd_start "$NSD_DIR" "$NSD_PORT" signed.test
  swallow_start "$BATS_FILE_TMPDIR"
  export SWALLOW_PORT_FILE="$BATS_FILE_TMPDIR/swallow.port"
}

teardown_file() {
  nsd_stop "${NSD_DIR:-/nonexistent}"
  swallow_stop "$BATS_FILE_TMPDIR"
}

# dns-query through NSD, validating from the test anchors.
q() {
  dns-query --dns-server "127.0.0.1:$NSD_PORT" --trust-anchor "$NSD_DIR/anchors.ds" \
    --dns-timeout 3000 "$@"
}

@test "records of every type come back from NSD, validated" {
  run q signed.test A AAAA MX TXT
  assert_status 0
  [ "${lines[0]}" = "signed.test 300 A 192.0.2.1" ]
  [ "${lines[1]}" = "; signed.test A ok secure" ]
  [ "${lines[2]}" = "signed.test 300 AAAA 2001:db8::1" ]
  [ "${lines[4]}" = "signed.test 300 MX 10 mail.signed.test" ]
  [ "${lines[6]}" = 'signed.test 300 TXT "v=spf1 ip4:192.0.2.0/24" " -all"' ]
  [ "${lines[7]}" = "; signed.test TXT ok secure" ]
  run q _25._tcp.mail.signed.test TLSA
  assert_status 0
  assert_output_contains "TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  assert_output_contains "ok secure"
}

@test "CNAMEs are followed by the resolver" {
  run q www.signed.test MX
  assert_status 0
  [ "${lines[0]}" = "signed.test 300 MX 10 mail.signed.test" ]
  [ "${lines[1]}" = "; www.signed.test MX ok secure" ]
}

@test "NXDOMAIN and NODATA are distinguished, and proven secure (NSEC)" {
  run q nothere.signed.test A
  assert_status 0
  [ "$output" = "; nothere.signed.test A nxdomain secure" ]
  run q mail.signed.test TXT
  assert_status 0
  [ "$output" = "; mail.signed.test TXT nodata secure" ]
  run q nothere.unsigned.test A
  assert_status 0
  [ "$output" = "; nothere.unsigned.test A nxdomain insecure" ]
  run q mail.unsigned.test MX
  assert_status 0
  [ "$output" = "; mail.unsigned.test MX nodata insecure" ]
}

@test "an unsigned zone outside the anchors answers insecure" {
  run q unsigned.test MX
  assert_status 0
  [ "${lines[0]}" = "unsigned.test 300 MX 10 mail.unsigned.test" ]
  [ "${lines[1]}" = "; unsigned.test MX ok insecure" ]
  run q --json mail.unsigned.test AAAA
  assert_status 0
  assert_output_contains '"status":"ok","secure":false'
  assert_output_contains '"data":"2001:db8::26"'
}

@test "without the trust anchor the signed zone is not validated" {
  run dns-query --dns-server "127.0.0.1:$NSD_PORT" signed.test A
  assert_status 0
  [ "${lines[1]}" = "; signed.test A ok insecure" ]
  # Not even the tampered record is noticed: only validation catches it.
  run dns-query --dns-server "127.0.0.1:$NSD_PORT" tampered.signed.test A
  assert_status 0
  assert_output_contains "192.0.2.67"
}

@test "a tampered record under the anchor is bogus: SERVFAIL, exit 75" {
  run q tampered.signed.test A
  assert_status 75
  assert_output_contains "; tampered.signed.test A servfail"
  assert_output_contains "DNSSEC validation failed"
  [[ "$output" != *192.0.2.67* ]]
}

@test "an unsigned zone under the anchor is bogus: SERVFAIL, exit 75" {
  run q anchored-unsigned.test A
  assert_status 75
  assert_output_contains "; anchored-unsigned.test A servfail"
  assert_output_contains "no DNSKEY"
  run q --json anchored-unsigned.test A
  assert_status 75
  assert_output_contains '"status":"servfail"'
}

@test "the configuration file names the server and the anchor" {
  cat >"$BATS_TEST_TMPDIR/p.yaml" <<YAML
dns:
  servers: ["127.0.0.1:$NSD_PORT"]
  timeout: 3s
  trust_anchor: $NSD_DIR/anchors.ds
YAML
  run dns-query -c "$BATS_TEST_TMPDIR/p.yaml" signed.test MX
  assert_status 0
  assert_output_contains "; signed.test MX ok secure"
}

@test "a server that swallows queries: timeout, exit 75, within the timeout" {
  local port start end
  port=$(cat "$SWALLOW_PORT_FILE")
  start=$(date +%s%N)
  run dns-query --dns-server "127.0.0.1:$port" --dns-timeout 700 example.test A MX
  end=$(date +%s%N)
  assert_status 75
  [ "${lines[0]}" = "; example.test A timeout insecure (no answer within 700 ms)" ]
  [ "${lines[1]}" = "; example.test MX timeout insecure (no answer within 700 ms)" ]
  # Both lookups run at once: about 0.7 s in all.
  [ $(((end - start) / 1000000)) -ge 650 ]
  [ $(((end - start) / 1000000)) -lt 2500 ]
}

@test "a port with nothing listening: exit 75 within the timeout" {
  local port start end
  port=$(free_udp_port)
  start=$(date +%s%N)
  run dns-query --dns-server "127.0.0.1:$port" --dns-timeout 700 example.test
  end=$(date +%s%N)
  assert_status 75
  assert_output_contains "; example.test A "
  [ $(((end - start) / 1000000)) -lt 2500 ]
}

# The receiving stage against NSD: SPF, the DKIM key and the DMARC policy come from the
# signed zone, validated from the anchors (auth-check(1) uses the same resolver options).
auth() {
  auth-check --dns-server "127.0.0.1:$NSD_PORT" --trust-anchor "$NSD_DIR/anchors.ds" \
    --dns-timeout 3000 --authserv-id mx.example --helo mail.example "$@"
}

@test "auth-check: SPF, DKIM and DMARC from the DNSSEC-signed zone" {
  cd "$BATS_TEST_TMPDIR"
  printf 'From: Alice <alice@signed.test>\nTo: bob@example.net\nSubject: hi\n\nbody\n' > msg.eml
  dkim-sign -d signed.test -s ed -k "$FIXTURES/dkim/ed.private" msg.eml > signed.eml
  run --separate-stderr auth --ip 192.0.2.9 --mail-from alice@signed.test --results-only signed.eml
  assert_status 0
  [ "$output" = "spf=pass dkim=pass arc=none dmarc=pass policy=none" ]
  # From elsewhere, altered in transit: everything fails, and p=reject applies.
  sed 's/^body$/altered/' signed.eml > altered.eml
  run --separate-stderr auth --ip 203.0.113.9 --mail-from alice@signed.test --check \
    --headers-only altered.eml
  assert_status 1
  assert_output_contains "spf=fail"
  assert_output_contains "dkim=fail"
  assert_output_contains "policy.dmarc=reject"
  # A resolver that never answers: temperror, 75 so that the client retries.
  run --separate-stderr auth-check --dns-server "127.0.0.1:$(cat "$SWALLOW_PORT_FILE")" \
    --dns-timeout 500 --ip 192.0.2.9 --helo h --mail-from alice@signed.test --check \
    --results-only signed.eml
  assert_status 75
  [ "$output" = "spf=temperror dkim=temperror arc=none dmarc=temperror policy=none" ]
}
