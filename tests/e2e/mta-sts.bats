#!/usr/bin/env bats
# MTA-STS policy discovery (RFC 8461) end to end: lib/smtp's current_policy() looks up
# _mta-sts TXT and the policy host's addresses in a real DNS server (Debian's NSD on a free
# loopback port, zone sts.test) and fetches the policy with libcurl from a Python
# http.server over TLS (tests/e2e/mta-sts-server.py) whose certificate comes from a CA made
# here with openssl. There is no command-line tool for this library part: the driver is
# the gtest MtaStsE2e.FetchFromEnvironment in tests/unit/mta_sts_test.cpp, which reads
# MTA_STS_E2E_* (documented there) and writes one line per lookup to $MTA_STS_E2E_OUT.
# The sts.test names exist only in NSD, so a success also shows that libcurl did not use
# the system resolver. Nothing leaves 127.0.0.1.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"

DRIVER="$BUILD_DIR/tests/mta_sts_test"

setup_file() {
  [ -x /usr/sbin/nsd ] || skip "NSD is not installed"
  command -v openssl >/dev/null || skip "openssl is not installed"
  local d="$BATS_FILE_TMPDIR"
  # A test CA, and a server certificate from it for every policy host but badcert's.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Postern MTA-STS test CA" -keyout "$d/ca.key" -out "$d/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Another CA" -keyout "$d/other-ca.key" -out "$d/other-ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=mta-sts.good.sts.test" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  local san="DNS:mta-sts.good.sts.test" l
  for l in html redirect big missing slow; do san="$san,DNS:mta-sts.$l.sts.test"; done
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" >"$d/server.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/server.ext" -out "$d/server.crt" 2>/dev/null
  export CA="$d/ca.crt" OTHER_CA="$d/other-ca.crt" HTTPS_LOG="$d/https.log"
  : >"$HTTPS_LOG"

  /usr/bin/python3 "$SRC_DIR/tests/e2e/mta-sts-server.py" "$d/server.crt" "$d/server.key" \
    "$d/https.port" "$HTTPS_LOG" 3>&- >"$d/https.err" 2>&1 &
  echo $! >"$d/https.pid"
  for _ in $(seq 50); do [ -s "$d/https.port" ] && break; sleep 0.1; done
  [ -s "$d/https.port" ] || { cat "$d/https.err" >&2; return 1; }
  export HTTPS_PORT
  HTTPS_PORT=$(cat "$d/https.port")

  export NSD_DIR="$d/nsd" NSD_PORT
  NSD_PORT=$(free_udp_port)
  mkdir -p "$NSD_DIR"
  {
    nsd_soa sts.test
    for l in good html redirect big missing slow badcert; do
      printf '_mta-sts.%s IN TXT "v=STSv1; id=20260301T000000;"\n' "$l"
      printf 'mta-sts.%s IN A 127.0.0.1\n' "$l"
    done
    # A policy announced, but its host has no address.
    printf '_mta-sts.nohost IN TXT "v=STSv1; id=1;"\n'
    # No _mta-sts record at all; and one that is not valid.
    printf 'nosts IN MX 10 mail.nosts\n'
    printf '_mta-sts.invalid IN TXT "v=STSv1; id=bad id"\n'
    printf 'mta-sts.invalid IN A 127.0.0.1\n'
  } >"$NSD_DIR/sts.test.zone"
  nsd_conf "$NSD_DIR" "$NSD_PORT" sts.test >&2
  nsd_start "$NSD_DIR" "$NSD_PORT" sts.test
}

teardown_file() {
  nsd_stop "${NSD_DIR:-/nonexistent}"
  if [ -s "$BATS_FILE_TMPDIR/https.pid" ]; then kill "$(cat "$BATS_FILE_TMPDIR/https.pid")" 2>/dev/null || true; fi
}

# policy DOMAIN [VAR=VALUE...]: runs the driver for DOMAIN; its lines in $output.
policy() {
  local domain=$1
  shift
  [ -x "$DRIVER" ] || { echo "driver not built: $DRIVER" >&2; return 1; }
  local out="$BATS_TEST_TMPDIR/outcome"
  rm -f "$out"
  env MTA_STS_E2E_DNS="127.0.0.1:$NSD_PORT" MTA_STS_E2E_DOMAIN="$domain" MTA_STS_E2E_CA="$CA" \
    MTA_STS_E2E_PORT="$HTTPS_PORT" MTA_STS_E2E_OUT="$out" "$@" \
    "$DRIVER" --gtest_filter=MtaStsE2e.FetchFromEnvironment >"$BATS_TEST_TMPDIR/driver.log" 2>&1 || {
    cat "$BATS_TEST_TMPDIR/driver.log" >&2
    return 1
  }
  # The driver must have run, not skipped.
  grep -q '\[  PASSED  \] 1 test' "$BATS_TEST_TMPDIR/driver.log" || { cat "$BATS_TEST_TMPDIR/driver.log" >&2; return 1; }
  ! grep -q SKIPPED "$BATS_TEST_TMPDIR/driver.log" || false
  run cat "$out"
}

# fetches HOST: how many requests the HTTPS server has seen for HOST.
fetches() { grep -c "^$1 " "$HTTPS_LOG" || true; }

@test "an enforce policy is found through NSD and fetched over HTTPS" {
  policy good.sts.test
  [ "$output" = "policy mode=enforce max_age=86400 mx=mail.good.sts.test,*.good.sts.test" ]
  grep -q '^mta-sts.good.sts.test /.well-known/mta-sts.txt$' "$HTTPS_LOG"
}

@test "the cache serves later lookups while the TXT id is unchanged" {
  local before
  before=$(fetches mta-sts.good.sts.test)
  policy good.sts.test MTA_STS_E2E_ROUNDS=3
  [ "${#lines[@]}" -eq 3 ]
  for l in "${lines[@]}"; do [ "$l" = "policy mode=enforce max_age=86400 mx=mail.good.sts.test,*.good.sts.test" ]; done
  [ "$(fetches mta-sts.good.sts.test)" -eq $((before + 1)) ]
}

@test "a domain without a _mta-sts record has no policy and nothing is fetched" {
  policy nosts.sts.test
  [ "$output" = "none" ]
  policy invalid.sts.test
  [ "$output" = "none" ]
  [ "$(fetches mta-sts.nosts.sts.test)" -eq 0 ]
  [ "$(fetches mta-sts.invalid.sts.test)" -eq 0 ]
}

@test "a redirect is not followed (RFC 8461 3.3)" {
  local before
  before=$(fetches mta-sts.good.sts.test)
  policy redirect.sts.test
  assert_output_contains "error: "
  assert_output_contains "HTTP status 301"
  [ "$(fetches mta-sts.redirect.sts.test)" -eq 1 ]
  [ "$(fetches mta-sts.good.sts.test)" -eq "$before" ]
}

@test "a policy served as text/html is refused" {
  policy html.sts.test
  assert_output_contains "error: "
  assert_output_contains "Content-Type text/html"
}

@test "a policy over 64 KiB is refused" {
  policy big.sts.test
  assert_output_contains "error: "
  assert_output_contains "larger than 65536 bytes"
}

@test "HTTP 404 leaves the policy unknown" {
  policy missing.sts.test
  assert_output_contains "error: "
  assert_output_contains "HTTP status 404"
}

@test "a certificate that does not name the policy host is refused" {
  policy badcert.sts.test
  assert_output_contains "error: "
  assert_output_contains "certificate subject name"
  [ "$(fetches mta-sts.badcert.sts.test)" -eq 0 ]
}

@test "a certificate from an untrusted CA is refused" {
  local before
  before=$(fetches mta-sts.good.sts.test)
  policy good.sts.test MTA_STS_E2E_CA="$OTHER_CA"
  assert_output_contains "error: "
  assert_output_contains "certificate"
  [ "$(fetches mta-sts.good.sts.test)" -eq "$before" ]
}

@test "a policy host without an address in DNS is an error, not a system lookup" {
  policy nohost.sts.test
  assert_output_contains "error: "
  assert_output_contains "mta-sts.nohost.sts.test has no address"
}

@test "a slow server hits the fetch timeout" {
  policy slow.sts.test MTA_STS_E2E_TIMEOUT=1000
  assert_output_contains "error: "
  assert_output_contains "imed out"
}
