#!/usr/bin/env bats
# DNS blocklists (lib/spam/dnsbl) against a real DNS server: Debian's NSD on a free
# loopback port serves zen.dnsbl.test and dbl.dnsbl.test (tests/e2e/dnsbl-zones.sh), and
# Postern's libunbound engine forwards to it. The zones stand in for Spamhaus ZEN and DBL
# and are checked with their return-code table (default_dnsbl_zones()). There is no
# command-line tool for this library part yet: the driver is the gtest
# DnsblE2e.CheckFromEnvironment in tests/unit/dnsbl_test.cpp, which reads DNSBL_E2E_*
# (documented there) and writes the outcome to $DNSBL_E2E_OUT. Nothing leaves 127.0.0.1.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"
source "$SRC_DIR/tests/e2e/dnsbl-zones.sh"

DRIVER="$BUILD_DIR/tests/dnsbl_test"

setup_file() {
  [ -x /usr/sbin/nsd ] || skip "NSD is not installed"
  command -v drill >/dev/null || skip "ldnsutils is not installed"
  export NSD_DIR="$BATS_FILE_TMPDIR/nsd" NSD_PORT
  NSD_PORT=$(free_udp_port)
  dnsbl_test_zones "$NSD_DIR" "$NSD_PORT" >&2
  nsd_start "$NSD_DIR" "$NSD_PORT" zen.dnsbl.test
  swallow_start "$BATS_FILE_TMPDIR"
  export SWALLOW_PORT
  SWALLOW_PORT=$(cat "$BATS_FILE_TMPDIR/swallow.port")
}

teardown_file() {
  nsd_stop "${NSD_DIR:-/nonexistent}"
  swallow_stop "$BATS_FILE_TMPDIR"
}

# check [VAR=VALUE...]: runs the driver against NSD (DNSBL_E2E_IPS, DNSBL_E2E_DOMAINS...
# given as arguments); its lines in $output, without the elapsed time.
check() {
  [ -x "$DRIVER" ] || { echo "driver not built: $DRIVER" >&2; return 1; }
  local out="$BATS_TEST_TMPDIR/outcome"
  rm -f "$out"
  env DNSBL_E2E_DNS="127.0.0.1:$NSD_PORT" DNSBL_E2E_IP_ZONE=zen.dnsbl.test \
    DNSBL_E2E_DOMAIN_ZONE=dbl.dnsbl.test DNSBL_E2E_OUT="$out" "$@" \
    "$DRIVER" --gtest_filter=DnsblE2e.CheckFromEnvironment >"$BATS_TEST_TMPDIR/driver.log" 2>&1 || {
    cat "$BATS_TEST_TMPDIR/driver.log" >&2
    return 1
  }
  # The driver must have run, not skipped.
  grep -q '\[  PASSED  \] 1 test' "$BATS_TEST_TMPDIR/driver.log" || { cat "$BATS_TEST_TMPDIR/driver.log" >&2; return 1; }
  ! grep -q SKIPPED "$BATS_TEST_TMPDIR/driver.log" || false
  ELAPSED_MS=$(sed -n 's/^elapsed_ms //p' "$out")
  run grep -v '^elapsed_ms ' "$out"
}

expect() {
  if [ "$output" != "$1" ]; then
    printf 'expected:\n%s\ngot:\n%s\n' "$1" "$output" >&2
    return 1
  fi
}

@test "the zones answer as a DNSBL should (RFC 5782 5 test entries, TXT reasons)" {
  run drill -p "$NSD_PORT" @127.0.0.1 2.0.0.127.zen.dnsbl.test A
  assert_output_contains "127.0.0.2"
  run drill -p "$NSD_PORT" @127.0.0.1 1.0.0.127.zen.dnsbl.test A
  assert_output_contains "rcode: NXDOMAIN"
  run drill -p "$NSD_PORT" @127.0.0.1 test.dbl.dnsbl.test A
  assert_output_contains "127.0.0.2"
  run drill -p "$NSD_PORT" @127.0.0.1 2.2.0.192.zen.dnsbl.test TXT
  assert_output_contains '"listed for the tests: 192.0.2.2"'
}

@test "each ZEN return code names its rule, for IPv4 and IPv6 clients" {
  check DNSBL_E2E_IPS=192.0.2.2,192.0.2.3,192.0.2.4,192.0.2.9,192.0.2.10,192.0.2.11,2001:db8::2,192.0.2.1,2001:db8::1
  expect "hit SPAMHAUS_ZEN_SBL 192.0.2.2 127.0.0.2 4
hit SPAMHAUS_ZEN_CSS 192.0.2.3 127.0.0.3 2
hit SPAMHAUS_ZEN_XBL 192.0.2.4 127.0.0.4 4
hit SPAMHAUS_ZEN_DROP 192.0.2.9 127.0.0.9 6
hit SPAMHAUS_ZEN_PBL 192.0.2.10 127.0.0.10 1.5
hit SPAMHAUS_ZEN_PBL 192.0.2.11 127.0.0.11 1.5
hit SPAMHAUS_ZEN_SBL 2001:db8::2 127.0.0.2 4
timed_out no
score 17.5"
}

@test "an address listed under several codes gets one hit per rule" {
  check DNSBL_E2E_IPS=192.0.2.12
  expect "hit SPAMHAUS_ZEN_SBL 192.0.2.12 127.0.0.2 4
hit SPAMHAUS_ZEN_XBL 192.0.2.12 127.0.0.4 4
hit SPAMHAUS_ZEN_PBL 192.0.2.12 127.0.0.10 1.5
timed_out no
score 9.5"
}

@test "URL domains: the registrable domain and the host, each DBL code" {
  check DNSBL_E2E_DOMAINS=www.Spam-Site.co.uk,phish.example,http.malware.example,botnet.example,abused.example,evil.host.shared.example,clean.example,bücher.example
  expect "hit SPAMHAUS_DBL_SPAM spam-site.co.uk 127.0.1.2 5 url
hit SPAMHAUS_DBL_PHISH phish.example 127.0.1.4 6 url
hit SPAMHAUS_DBL_MALWARE malware.example 127.0.1.5 6 url
hit SPAMHAUS_DBL_BOTNET botnet.example 127.0.1.6 5 url
hit SPAMHAUS_DBL_ABUSED_SPAM abused.example 127.0.1.102 1.5 url
hit SPAMHAUS_DBL_SPAM evil.host.shared.example 127.0.1.2 5 url
hit SPAMHAUS_DBL_SPAM xn--bcher-kva.example 127.0.1.2 5 url
timed_out no
score 23.5"
}

@test "IP literals in URLs go to the IP zone, without the sender-only codes" {
  check DNSBL_E2E_DOMAINS=198.51.100.1,[198.51.100.2] DNSBL_E2E_IPS=192.0.2.10
  expect "hit SPAMHAUS_ZEN_PBL 192.0.2.10 127.0.0.10 1.5
hit SPAMHAUS_ZEN_SBL 198.51.100.1 127.0.0.2 4 url
timed_out no
score 5.5"
}

@test "refusal codes and answers outside 127/8 are errors, not listings" {
  check DNSBL_E2E_IPS=192.0.2.20,192.0.2.21,192.0.2.23
  expect "error SPAMHAUS_ZEN: 192.0.2.20: 127.255.255.254: query refused (public or open resolver)
error SPAMHAUS_ZEN: 192.0.2.21: 127.255.255.252: typing error in the DNSBL name
error SPAMHAUS_ZEN: 192.0.2.23: 10.1.2.3: answer outside 127.0.0.0/8
timed_out no
score 0"
}

@test "loopback and private addresses are never looked up, even where a zone lists them" {
  check DNSBL_E2E_IPS=127.0.0.2,::ffff:127.0.0.2,10.0.0.1,fe80::1
  expect "skipped 127.0.0.2: loopback address
skipped 127.0.0.2: loopback address
skipped 10.0.0.1: private address
skipped fe80::1: link-local address
timed_out no
score 0"
}

@test "a DNS server that never answers costs the deadline, not the resolver's timeout" {
  check DNSBL_E2E_DNS="127.0.0.1:$SWALLOW_PORT" DNSBL_E2E_TIMEOUT=500 \
    DNSBL_E2E_IPS=192.0.2.2 DNSBL_E2E_DOMAINS=phish.example
  expect "error SPAMHAUS_ZEN: 192.0.2.2: timeout (no answer within 500 ms)
error SPAMHAUS_DBL: phish.example: timeout (no answer within 500 ms)
timed_out yes
score 0"
  [ "$ELAPSED_MS" -ge 490 ]
  [ "$ELAPSED_MS" -lt 1500 ]
}
