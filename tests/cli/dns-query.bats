#!/usr/bin/env bats
# dns-query against the zone-file resolver (no network); the real-server tests are in
# tests/e2e/dns-nsd.bats.

load common

ZONE="$FIXTURES/dns/example.zone"

q() { dns-query --resolver "file:$ZONE" "$@"; }

@test "prints records in zone-file syntax with the status as a comment" {
  run q example.org MX
  assert_status 0
  [ "${lines[0]}" = "example.org 300 MX 10 mail.example.org" ]
  [ "${lines[1]}" = "example.org 300 MX 20 backup.example.org" ]
  [ "${lines[2]}" = "; example.org MX ok insecure" ]
}

@test "A is the default type; several types in the order asked" {
  run q mail.example.org
  assert_status 0
  [ "${lines[0]}" = "mail.example.org 3600 A 192.0.2.25" ]
  run q mail.example.org aaaa a
  assert_status 0
  [ "${lines[0]}" = "mail.example.org 3600 AAAA 2001:db8::25" ]
  [ "${lines[2]}" = "mail.example.org 3600 A 192.0.2.25" ]
}

@test "TXT strings are quoted and escaped; CNAMEs are followed; PTR and TLSA" {
  run q quoted.example.org TXT
  [ "${lines[0]}" = 'quoted.example.org 3600 TXT "say \"hi\"" "back\\slash"' ]
  run q www.example.org TXT
  assert_output_contains '"v=spf1 ip4:192.0.2.0/24" " -all"'
  run q 25.2.0.192.in-addr.arpa PTR
  assert_output_contains "PTR mail.example.org"
  run q _25._tcp.mail.example.org TLSA
  assert_output_contains "TLSA 3 1 1 00ff"
}

@test "the output is a zone file the resolver reads back" {
  q example.org TXT MX >"$BATS_TEST_TMPDIR/copy.zone"
  run dns-query --resolver "file:$BATS_TEST_TMPDIR/copy.zone" example.org TXT MX
  assert_status 0
  [ "$output" = "$(q example.org TXT MX)" ]
}

@test "NXDOMAIN and NODATA are answers: exit 0" {
  run q nothere.example.org A
  assert_status 0
  [ "$output" = "; nothere.example.org A nxdomain insecure" ]
  run q mail.example.org MX
  assert_status 0
  [ "$output" = "; mail.example.org MX nodata insecure" ]
}

@test "SERVFAIL and timeout exit 75, after printing every answer" {
  run q broken.example.org A
  assert_status 75
  assert_output_contains "; broken.example.org A servfail insecure"
  run q slow.example.org A TXT
  assert_status 75
  [ "${lines[0]}" = "slow.example.org 3600 A 192.0.2.11" ]
  [ "${lines[1]}" = "; slow.example.org A ok insecure" ]
  assert_output_contains "; slow.example.org TXT timeout"
}

@test "secure answers are marked" {
  run q signed.example.org
  assert_status 0
  assert_output_contains "; signed.example.org A ok secure"
}

@test "--json prints one object per type" {
  run q --json example.org MX TXT
  assert_status 0
  [ "${#lines[@]}" -eq 2 ]
  python3 -c '
import json, sys
mx, txt = (json.loads(l) for l in sys.stdin)
assert mx["status"] == "ok" and mx["type"] == "MX" and mx["secure"] is False, mx
assert mx["records"][0] == {"name": "example.org", "type": "MX", "ttl": 300, "data": "10 mail.example.org"}, mx
assert txt["records"][0]["text"] == "v=spf1 ip4:192.0.2.0/24 -all", txt
' <<<"$output"
  run q --json broken.example.org
  assert_status 75
  assert_output_contains '"status":"servfail"'
}

@test "usage errors exit 64" {
  run q example.org BOGUS
  assert_status 64
  assert_output_contains "unknown record type BOGUS"
  run dns-query
  assert_status 64
  run dns-query --resolver nonsense example.org
  assert_status 64
  run dns-query --dns-server not-an-ip:53 example.org
  assert_status 64
}

@test "a missing zone file or trust anchor is reported" {
  run dns-query --resolver "file:$BATS_TEST_TMPDIR/missing.zone" example.org
  assert_status 69
  assert_output_contains "missing.zone"
  run dns-query --dns-server 127.0.0.1:9 --trust-anchor "$BATS_TEST_TMPDIR/none.ds" example.org
  assert_status 78
  assert_output_contains "none.ds"
}

@test "dns.servers and dns.timeout come from the configuration; options override" {
  # Port 9 (discard) on loopback: nothing answers, so only the timeout shows.
  cat >"$BATS_TEST_TMPDIR/p.yaml" <<YAML
dns:
  servers: ["127.0.0.1:9"]
  timeout: 1s
YAML
  run dns-query -c "$BATS_TEST_TMPDIR/p.yaml" --dns-timeout 200 example.org
  assert_status 75
  assert_output_contains "within 200 ms"
  run dns-query -c "$BATS_TEST_TMPDIR/p.yaml" --resolver "file:$ZONE" example.org
  assert_status 0
}
