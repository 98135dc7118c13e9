#!/usr/bin/env bats
# dkim-verify: Authentication-Results, result words, JSON, --check, the RFC 8301 policy.

load common

# Runs a command with its log lines (standard error) dropped.
quiet() { "$@" 2>/dev/null; }

setup() {
  cd "$BATS_TEST_TMPDIR"
  D="$FIXTURES/dkim"
  ZONE="file:$D/example.org.zone"
  dkim-sign --sign "example.org:rsa2048:$D/rsa2048.private" --sign "example.org:ed:$D/ed.private" \
    "$D/plain.eml" > signed.eml
}

@test "dkim-verify: prepends one Authentication-Results with a clause per signature" {
  run dkim-verify --resolver "$ZONE" --authserv-id mx.test signed.eml
  assert_status 0
  [[ "${lines[0]}" == "Authentication-Results: mx.test;" ]]
  assert_output_contains "dkim=pass header.d=example.org header.s=rsa2048 header.a=rsa-sha256 header.b="
  assert_output_contains "dkim=pass header.d=example.org header.s=ed header.a=ed25519-sha256"
  # The message follows unchanged.
  dkim-verify --resolver "$ZONE" --authserv-id mx.test signed.eml > out.eml
  cmp <(tail -n +4 out.eml) signed.eml
}

@test "dkim-verify: removes forged results claiming our authserv-id, keeps others" {
  { printf 'Authentication-Results: mx.test; dkim=pass header.d=evil.example\n'
    printf 'Authentication-Results: other.example; dkim=fail\n'; cat signed.eml; } > forged.eml
  run dkim-verify --resolver "$ZONE" --authserv-id mx.test --headers-only forged.eml
  assert_status 0
  ! grep -q evil <<<"$output" || false
  run dkim-verify --resolver "$ZONE" --authserv-id mx.test forged.eml
  [ "$(grep -c '^Authentication-Results: mx.test' <<<"$output")" -eq 1 ]
  assert_output_contains "Authentication-Results: other.example; dkim=fail"
}

@test "dkim-verify: tampering gives fail with a reason" {
  sed 's/Hello/Jello/' signed.eml > body.eml
  run dkim-verify --resolver "$ZONE" --authserv-id mx.test --headers-only body.eml
  assert_output_contains 'dkim=fail reason="body hash mismatch"'
  sed 's/^Subject: A folded/Subject: A forged/' signed.eml > subj.eml
  run quiet dkim-verify --resolver "$ZONE" --results-only subj.eml
  [ "$output" = "fail fail" ]
}

@test "dkim-verify: no signature is none; --check exits 1" {
  run dkim-verify --resolver "$ZONE" --authserv-id mx.test --headers-only "$D/plain.eml"
  assert_status 0
  assert_output_contains "dkim=none"
  run quiet dkim-verify --resolver "$ZONE" --check --results-only "$D/plain.eml"
  assert_status 1
  [ "$output" = none ]
  run quiet dkim-verify --resolver "$ZONE" --check --results-only signed.eml
  assert_status 0
}

@test "dkim-verify: DNS failures are temperror (exit 75 with --check), missing keys permerror" {
  dkim-sign -d example.org -s broken -k "$D/ed.private" "$D/plain.eml" > broken.eml
  run quiet dkim-verify --resolver "$ZONE" --check --results-only broken.eml
  assert_status 75
  [ "$output" = temperror ]
  dkim-sign -d example.org -s slow -k "$D/ed.private" "$D/plain.eml" > slow.eml
  run quiet dkim-verify --resolver "$ZONE" --results-only slow.eml
  [ "$output" = temperror ]
  dkim-sign -d example.org -s nokey -k "$D/ed.private" "$D/plain.eml" > nokey.eml
  run quiet dkim-verify --resolver "$ZONE" --check --results-only nokey.eml
  assert_status 1
  [ "$output" = permerror ]
  dkim-sign -d example.org -s revoked -k "$D/rsa2048.private" "$D/plain.eml" > revoked.eml
  run dkim-verify --resolver "$ZONE" --json revoked.eml
  assert_output_contains '"result":"fail","reason":"key revoked"'
}

@test "dkim-verify: RFC 8301 policy: RSA keys under 1024 bits never pass unless --legacy" {
  openssl genrsa -out k512.pem 512 2>/dev/null
  p=$(openssl rsa -in k512.pem -pubout -outform DER 2>/dev/null | base64 -w0)
  printf 'small._domainkey.example.org TXT "v=DKIM1; k=rsa; p=%s"\n' "$p" > z
  dkim-sign -d example.org -s small -k k512.pem "$D/plain.eml" > small.eml
  run dkim-verify --resolver file:z --json small.eml
  assert_output_contains '"result":"policy"'
  assert_output_contains "RFC 8301"
  run quiet dkim-verify --resolver file:z --legacy --results-only small.eml
  [ "$output" = pass ]
}

@test "dkim-verify: the RFC 8463 example verifies" {
  awk '{ printf "%s._domainkey TXT \"%s\"\n", $1, substr($0, index($0, " ") + 1) }' \
    "$TESTDATA/dkim-rfc8463/dns.txt" | sed 's/\._domainkey\._domainkey/._domainkey/' > z
  sed -i 's/^\([^ ]*\)\._domainkey TXT/\1 TXT/' z
  run dkim-verify --resolver file:z --json "$TESTDATA/dkim-rfc8463/signed.eml"
  assert_status 0
  assert_output_contains '"result":"pass"'
  [ "$(grep -o '"result":"pass"' <<<"$output" | wc -l)" -eq 3 ]
}

@test "dkim-verify: JSON and several files" {
  run dkim-verify --resolver "$ZONE" --json signed.eml "$D/plain.eml"
  assert_status 0
  [ "${#lines[@]}" -eq 2 ]
  python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]' <<<"$output"
  assert_output_contains '"key_bits":2048'
}

@test "dkim-verify: unreadable file is reported, others still processed" {
  run quiet dkim-verify --resolver "$ZONE" --results-only missing.eml signed.eml
  [ "$status" -ne 0 ]
  assert_output_contains "signed.eml: pass pass"
}
