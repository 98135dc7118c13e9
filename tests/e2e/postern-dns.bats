#!/usr/bin/env bats
# postern-dns check against a real authoritative server: Debian's NSD on a free loopback
# port serves two zones built from `postern-dns records` itself — good.test with exactly
# those records, bad.test with the DMARC policy changed, the DKIM record missing, the
# MTA-STS id stale, an extra MX and the autodiscover SRV on another port — and a UDP socket that never answers stands for a
# DNS outage. Postern forwards to NSD (--dns-server) through its libunbound engine.
# Nothing leaves 127.0.0.1.

bats_require_minimum_version 1.5.0
load ../cli/common
source "$SRC_DIR/tests/e2e/nsd.sh"

# POSTERN_BUILD alone (as in `POSTERN_BUILD=build-dns bats ...`) names the build to test.
if [ -z "${POSTERN_BIN:-}" ] && [ -n "${POSTERN_BUILD:-}" ]; then
  case $POSTERN_BUILD in
    /*) BUILD_DIR=$POSTERN_BUILD ;;
    *) BUILD_DIR=$SRC_DIR/$POSTERN_BUILD ;;
  esac
  BIN=$BUILD_DIR/bin
  PATH="$BIN:$PATH"
fi

setup_file() {
  [ -x /usr/sbin/nsd ] || skip "NSD is not installed"
  command -v openssl >/dev/null || skip "openssl is not installed"
  local d="$BATS_FILE_TMPDIR"
  export NSD_DIR="$d/nsd" NSD_PORT CONF="$d/postern.yaml"
  mkdir -p "$NSD_DIR"
  (
    cd "$d"
    dkim-keygen -d good.test -s r1 -o good.pem >good.txt
    dkim-keygen -t ed25519 -d bad.test -s s1 -o bad.pem >bad.txt
  )
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=mail.good.test" -keyout "$d/tls.key" -out "$d/tls.crt" 2>/dev/null
  cat >"$CONF" <<EOF
server:
  hostname: mail.good.test
tls:
  certificate: tls.crt
  key: tls.key
delivery:
  dkim:
    - {domain: good.test, selector: r1, key: good.pem}
    - {domain: bad.test, selector: s1, key: bad.pem}
listeners:
  - {name: mx, address: "127.0.0.1:2525", mode: mx}
  - {name: submission, address: "127.0.0.1:2587", mode: submission}
  - {name: submissions, address: "127.0.0.1:2465", mode: submissions}
EOF
  {
    nsd_soa good.test
    postern-dns records -c "$CONF" --domain good.test
    echo 'mail.good.test. IN A 127.0.0.1'
  } >"$NSD_DIR/good.test.zone"
  # bad.test: the DMARC policy changed, no DKIM record, a stale MTA-STS id, an extra MX,
  # autodiscover on port 8443; the TLSA record belongs to good.test's zone.
  {
    nsd_soa bad.test
    postern-dns records -c "$CONF" --domain bad.test |
      grep -v -e '_domainkey' -e '^_25\._tcp' |
      sed -e 's/p=quarantine/p=none/' -e 's/id=[0-9a-f]*/id=20200101/' \
        -e 's/^\(_autodiscover\._tcp\..* SRV 0 1\) 443 /\1 8443 /'
    echo 'bad.test. IN MX 20 mx.other.test.'
  } >"$NSD_DIR/bad.test.zone"
  NSD_PORT=$(free_udp_port)
  nsd_conf "$NSD_DIR" "$NSD_PORT" good.test bad.test >&2
  nsd_start "$NSD_DIR" "$NSD_PORT" good.test
  swallow_start "$d"
}

teardown_file() {
  nsd_stop "${NSD_DIR:-/nonexistent}"
  swallow_stop "$BATS_FILE_TMPDIR"
}

check() {
  postern-dns check -c "$CONF" --dns-server "127.0.0.1:$NSD_PORT" --dns-timeout 3000 "$@"
}

@test "a zone with exactly the records: every one ok, exit 0" {
  run --separate-stderr check --domain good.test
  echo "$output"
  assert_status 0
  n=$(postern-dns records -c "$CONF" --domain good.test | grep -c '^[^;]')
  [ "${#lines[@]}" -eq "$n" ]
  for l in "${lines[@]}"; do [[ "$l" == "ok "* ]]; done
  grep -qx 'ok      _25._tcp.mail.good.test. TLSA' <<<"$output"
  grep -qx 'ok      _imaps._tcp.good.test. SRV' <<<"$output"
  grep -qx 'ok      _autodiscover._tcp.good.test. SRV' <<<"$output"
  grep -qx 'ok      r1._domainkey.good.test. TXT' <<<"$output"
}

@test "a broken zone: each problem named with the expected value, exit 1" {
  run --separate-stderr check --domain bad.test
  echo "$output"
  assert_status 1
  grep -qx 'wrong   _dmarc.bad.test. TXT: published "v=DMARC1; p=none; rua=mailto:postmaster@bad.test"; expected "v=DMARC1; p=quarantine; rua=mailto:postmaster@bad.test" (p=none, expected p=quarantine)' <<<"$output"
  # The missing DKIM record, with the value dkim-keygen printed.
  value=$(sed 's/^[^"]*"//; s/"$//' "$BATS_FILE_TMPDIR/bad.txt")
  grep -q "^missing s1._domainkey.bad.test. TXT: expected \"$value\" (NXDOMAIN)\$" <<<"$output"
  id=$(postern-dns records -c "$CONF" --domain bad.test --json |
    /usr/bin/python3 -c 'import json, sys; print(next(r["value"] for r in json.load(sys.stdin) if "policy" in r))')
  grep -q "^wrong   _mta-sts.bad.test. TXT: published \"v=STSv1; id=20200101\"; expected \"$id\" (.*stale.*)\$" <<<"$output"
  grep -q '^wrong   bad.test. MX: published .*20 mx.other.test..*; expected 10 mail.good.test. (MX hosts besides this server: mx.other.test)$' <<<"$output"
  # The rest is fine.
  grep -qx 'ok      bad.test. TXT' <<<"$output"
  grep -qx 'ok      _smtp._tls.bad.test. TXT' <<<"$output"
  grep -qx 'ok      mta-sts.bad.test. CNAME' <<<"$output"
  grep -qx 'ok      _25._tcp.mail.good.test. TLSA' <<<"$output"
  grep -qx 'wrong   _autodiscover._tcp.bad.test. SRV: published 0 1 8443 mail.good.test.; expected 0 1 443 mail.good.test. (port and target should be 443 mail.good.test)' <<<"$output"
  grep -qx 'ok      _submission._tcp.bad.test. SRV' <<<"$output"
  [ "$(grep -vc '^ok ' <<<"$output")" -eq 5 ]
  # The same as JSON.
  run --separate-stderr check --domain bad.test --json
  assert_status 1
  /usr/bin/python3 -c 'import json, sys
r = {(x["name"], x["type"]): x for x in json.loads(sys.argv[1])}
assert r[("s1._domainkey.bad.test.", "TXT")]["status"] == "missing"
assert r[("_dmarc.bad.test.", "TXT")]["status"] == "wrong"
assert sorted(r[("bad.test.", "MX")]["published"]) == ["10 mail.good.test.", "20 mx.other.test."]' "$output"
}

@test "a DNS server that does not answer: every record an error, exit 75" {
  SECONDS=0
  run --separate-stderr postern-dns check -c "$CONF" --domain good.test \
    --dns-server "127.0.0.1:$(cat "$BATS_FILE_TMPDIR/swallow.port")" --dns-timeout 1000
  echo "$output"
  assert_status 75
  for l in "${lines[@]}"; do [[ "$l" == "error "* ]]; done
  grep -q '^error   good.test. MX: expected 10 mail.good.test. (timeout' <<<"$output"
  # All lookups ran at once: one time-out, not one per record.
  [ "$SECONDS" -lt 5 ]
}
