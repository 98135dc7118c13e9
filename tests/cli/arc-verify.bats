#!/usr/bin/env bats
# arc-verify: seal/verify round trips over several hops, tampering, JSON, --check.

load common

quiet() { "$@" 2>/dev/null; }

setup() {
  cd "$BATS_TEST_TMPDIR"
  D="$FIXTURES/dkim"
  ZONE="file:$D/example.org.zone"
  { printf 'Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=a@example.com\n'
    cat "$D/plain.eml"; } > in.eml
  arc-seal --resolver "$ZONE" -d example.org -s rsa2048 -k "$D/rsa2048.private" \
    --authserv-id mx.example.org in.eml > hop1.eml
  arc-seal --resolver "$ZONE" -d example.org -s ed -k "$D/ed.private" \
    --authserv-id mx.example.org hop1.eml > hop2.eml
  arc-seal --resolver "$ZONE" -d example.org -s rsa2048 -k "$D/rsa2048.private" \
    --authserv-id mx.example.org hop2.eml > hop3.eml
}

@test "arc-verify: prepends Authentication-Results with arc=pass and oldest-pass" {
  run arc-verify --resolver "$ZONE" --authserv-id mx.test --remote-ip 192.0.2.1 hop1.eml
  assert_status 0
  [[ "${lines[0]}" == "Authentication-Results: mx.test;" ]]
  assert_output_contains "arc=pass (i=1 as.d=example.org) smtp.remote-ip=192.0.2.1 header.oldest-pass=0"
  arc-verify --resolver "$ZONE" --authserv-id mx.test hop1.eml > out.eml
  cmp <(tail -n +3 out.eml) hop1.eml
}

@test "arc-verify: chains of several hops pass" {
  for f in hop1.eml hop2.eml hop3.eml; do
    run quiet arc-verify --resolver "$ZONE" --check --results-only "$f"
    assert_status 0
    [ "$output" = pass ]
  done
  run arc-verify --resolver "$ZONE" --json hop3.eml
  assert_output_contains '"result":"pass"'
  assert_output_contains '"instances":3'
}

@test "arc-verify: a tampered body fails with a reason; --check exits 1" {
  sed 's/Hello/Jello/' hop2.eml > bad.eml
  run quiet arc-verify --resolver "$ZONE" --check --results-only bad.eml
  assert_status 1
  [ "$output" = fail ]
  run quiet arc-verify --resolver "$ZONE" --headers-only --authserv-id mx.test bad.eml
  assert_output_contains 'arc=fail (i=2 as.d=example.org) reason="ARC-Message-Signature i=2: body hash mismatch"'
}

@test "arc-verify: a removed set or a tampered seal fails" {
  # Drop the ARC-Seal of instance 1 (keep the rest).
  awk '/^ARC-Seal:/ && ++n == 2 {skip=1; next} skip && /^[ \t]/ {next} {skip=0; print}' \
    hop2.eml > missing.eml
  run quiet arc-verify --resolver "$ZONE" --results-only missing.eml
  [ "$output" = fail ]
  sed 's/^ARC-Authentication-Results: i=1; mx.example.org;/&  dkim=pass;/' hop2.eml > aar.eml
  run quiet arc-verify --resolver "$ZONE" --json aar.eml
  assert_output_contains '"result":"fail"'
  assert_output_contains 'ARC-Seal i=2: signature mismatch'
}

@test "arc-verify: no ARC fields is none; DNS failure is temperror (75 with --check)" {
  run quiet arc-verify --resolver "$ZONE" --check --results-only in.eml
  assert_status 1
  [ "$output" = none ]
  arc-seal --resolver "$ZONE" -d example.org -s broken -k "$D/rsa2048.private" \
    --authserv-id mx.example.org in.eml > broken.eml
  run quiet arc-verify --resolver "$ZONE" --check --results-only broken.eml
  assert_status 75
  [ "$output" = temperror ]
}
