#!/usr/bin/env bats
# postern-dns: the records a domain must publish (zone fragment and JSON) from a temp
# config with DKIM keys made by dkim-keygen and a certificate made by openssl, usage and
# config errors, and `check` against the zone-file resolver. The real-server test is
# tests/e2e/postern-dns.bats.

bats_require_minimum_version 1.5.0
load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  dkim-keygen -t ed25519 -d example.net -s ed1 -o ed1.pem >ed1.txt
  dkim-keygen -d example.org -s rsa1 -o rsa1.pem >rsa1.txt
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=mail.example.org" -keyout tls.key -out tls.crt 2>/dev/null
  cat >postern.yaml <<'EOF'
server:
  hostname: mail.example.org
tls:
  certificate: tls.crt
  key: tls.key
delivery:
  dkim:
    - {domain: example.net, selector: ed1, key: ed1.pem}
    - {domain: example.org, selector: rsa1, key: rsa1.pem}
listeners:
  - {name: mx, address: "0.0.0.0:25", mode: mx}
  - {name: submissions, address: "0.0.0.0:465", mode: submissions}
dmarc:
  policy: reject
EOF
}

# The record value dkim-keygen printed: its quoted strings joined.
keygen_value() { sed 's/^[^"]*//' "$1" | grep -o '"[^"]*"' | tr -d '"\n'; }

@test "postern-dns --help lists both subcommands" {
  run postern-dns --help
  assert_status 0
  assert_output_contains "records"
  assert_output_contains "check"
  assert_output_contains "--config"
  run postern-dns records --help
  assert_status 0
  assert_output_contains "--domain"
}

@test "postern-dns: no subcommand, no --domain, a bad domain: exit 64" {
  run postern-dns
  assert_status 64
  run postern-dns records -c postern.yaml
  assert_status 64
  assert_output_contains "domain"
  run postern-dns check -c postern.yaml
  assert_status 64
  run postern-dns records -c postern.yaml --domain 'not a domain'
  assert_status 64
}

@test "postern-dns records: a zone fragment with a comment per record" {
  run --separate-stderr postern-dns records -c postern.yaml --domain example.org
  assert_status 0
  grep -qx 'example.org. IN MX 10 mail.example.org.' <<<"$output"
  grep -qx 'example.org. IN TXT "v=spf1 mx -all"' <<<"$output"
  grep -qx '_dmarc.example.org. IN TXT "v=DMARC1; p=reject; rua=mailto:postmaster@example.org"' <<<"$output"
  grep -qx 'mta-sts.example.org. IN CNAME mail.example.org.' <<<"$output"
  grep -qx '_smtp._tls.example.org. IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.org"' <<<"$output"
  grep -qx '_submissions._tcp.example.org. IN SRV 0 1 465 mail.example.org.' <<<"$output"
  grep -qx '_submission._tcp.example.org. IN SRV 0 0 0 .' <<<"$output"
  grep -qx 'autoconfig.example.org. IN CNAME mail.example.org.' <<<"$output"
  grep -qx 'autodiscover.example.org. IN CNAME mail.example.org.' <<<"$output"
  grep -qx '_autodiscover._tcp.example.org. IN SRV 0 1 443 mail.example.org.' <<<"$output"
  grep -qx ';   mode: testing' <<<"$output"
  grep -qx ';   max_age: 604800' <<<"$output"
  grep -qx ';   mx: mail.example.org' <<<"$output"
  # The DKIM record is the one dkim-keygen printed (the same strings); not example.net's.
  grep -qxF "$(cat rsa1.txt)" <<<"$output"
  ! grep -q ed1._domainkey <<<"$output" || false
  # TLSA: SHA-256 of the certificate's SubjectPublicKeyInfo, as openssl computes it.
  spki=$(openssl x509 -in tls.crt -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
  grep -qx "_25._tcp.mail.example.org. IN TLSA 3 1 1 $spki" <<<"$output"
  # Each record line follows a comment line.
  awk '!/^;/ && NF { if (prev !~ /^; /) { print "no comment before: " $0; bad = 1 } } { prev = $0 } END { exit bad }' <<<"$output"
  # The MTA-STS id is the SHA-256 of the policy text (CRLF lines).
  id=$(printf 'version: STSv1\r\nmode: testing\r\nmx: mail.example.org\r\nmax_age: 604800\r\n' | sha256sum | cut -c1-16)
  grep -qx "_mta-sts.example.org. IN TXT \"v=STSv1; id=$id\"" <<<"$output"
  # The keys and the output hold no DKIM private key.
  ! grep -q PRIVATE <<<"$output" || false
}

@test "postern dns records (the supervisor's spelling) prints the same as postern-dns records" {
  run --separate-stderr postern-dns records -c postern.yaml --domain example.org
  assert_status 0
  want=$output
  run --separate-stderr postern dns records -c postern.yaml --domain example.org
  assert_status 0
  [ "$output" = "$want" ]
  run postern dns check
  assert_status 64
}

@test "postern-dns records --json: an array of name/type/value/purpose, and the policy" {
  run --separate-stderr postern-dns records -c postern.yaml --domain example.org --json --set mta_sts.mode=enforce
  assert_status 0
  printf '%s' "$output" >out.json
  /usr/bin/python3 - out.json "$(keygen_value rsa1.txt)" <<'EOF'
import json, sys
recs = json.load(open(sys.argv[1]))
assert all(set(r) >= {"name", "type", "value", "purpose"} for r in recs), recs
by = {(r["name"], r["type"]): r for r in recs}
assert by[("example.org.", "MX")]["value"] == "10 mail.example.org."
assert by[("rsa1._domainkey.example.org.", "TXT")]["value"] == sys.argv[2]
sts = by[("_mta-sts.example.org.", "TXT")]
assert sts["policy"] == "version: STSv1\r\nmode: enforce\r\nmx: mail.example.org\r\nmax_age: 604800\r\n", sts
import hashlib
assert sts["value"] == "v=STSv1; id=" + hashlib.sha256(sts["policy"].encode()).hexdigest()[:16]
assert sum(1 for r in recs if "policy" in r) == 1
assert by[("_autodiscover._tcp.example.org.", "SRV")]["value"] == "0 1 443 mail.example.org."
assert len(recs) == 15, len(recs)
EOF
}

@test "postern-dns records: an unreadable key or certificate is a config error naming the file" {
  sed -i 's/key: rsa1.pem/key: gone.pem/' postern.yaml
  run postern-dns records -c postern.yaml --domain example.org
  assert_status 78
  assert_output_contains "gone.pem"
  # A domain that does not use that key is fine.
  run postern-dns records -c postern.yaml --domain example.net
  assert_status 0
  echo 'not a key' >ed1.pem
  run postern-dns records -c postern.yaml --domain example.net
  assert_status 78
  assert_output_contains "ed1.pem"
  sed -i 's/certificate: tls.crt/certificate: nocert.pem/' postern.yaml
  run postern-dns records -c postern.yaml --domain example.com
  assert_status 78
  assert_output_contains "nocert.pem"
}

@test "postern-dns check: against a zone file, missing and wrong records exit 1, SERVFAIL 75" {
  postern-dns records -c postern.yaml --domain example.org | grep -v '^;' | grep -v ' SRV ' |
    sed 's/p=reject/p=none/' >zone
  run --separate-stderr postern-dns check -c postern.yaml --domain example.org --resolver file:zone
  assert_status 1
  grep -qx 'ok      example.org. MX' <<<"$output"
  grep -qx 'ok      rsa1._domainkey.example.org. TXT' <<<"$output"
  grep -qx 'wrong   _dmarc.example.org. TXT: published "v=DMARC1; p=none; rua=mailto:postmaster@example.org"; expected "v=DMARC1; p=reject; rua=mailto:postmaster@example.org" (p=none, expected p=reject)' <<<"$output"
  grep -q '^missing _submissions._tcp.example.org. SRV: expected 0 1 465 mail.example.org.' <<<"$output"
  grep -q '^missing _autodiscover._tcp.example.org. SRV: expected 0 1 443 mail.example.org.' <<<"$output"
  echo '_smtp._tls.example.org SERVFAIL' >>zone
  run --separate-stderr postern-dns check -c postern.yaml --domain example.org --resolver file:zone --json
  assert_status 75
  /usr/bin/python3 -c 'import json, sys
r = {(x["name"], x["type"]): x for x in json.loads(sys.argv[1])}
assert r[("_smtp._tls.example.org.", "TXT")]["status"] == "error"
assert r[("example.org.", "MX")]["status"] == "ok"' "$output"
}
