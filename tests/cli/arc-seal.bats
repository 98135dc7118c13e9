#!/usr/bin/env bats
# arc-seal: new sets over our Authentication-Results, numbering, cv, refusal after cv=fail.

load common

quiet() { "$@" 2>/dev/null; }

setup() {
  cd "$BATS_TEST_TMPDIR"
  D="$FIXTURES/dkim"
  ZONE="file:$D/example.org.zone"
  { printf 'Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=a@example.com;\n'
    printf '  dkim=none\n'
    printf 'Authentication-Results: other.example; spf=fail\n'
    cat "$D/plain.eml"; } > in.eml
}

seal() {
  arc-seal --resolver "$ZONE" -d example.org -s "$1" -k "$D/$1.private" --authserv-id "$2" \
    --now 1700000000 "${@:3}"
}

@test "arc-seal: the first set is i=1 with cv=none and copies our results only" {
  run seal rsa2048 mx.example.org in.eml
  assert_status 0
  [[ "${lines[0]}" == "ARC-Seal: a=rsa-sha256;" ]]
  assert_output_contains "cv=none; d=example.org; i=1; s=rsa2048; t=1700000000"
  assert_output_contains "ARC-Authentication-Results: i=1; mx.example.org;"
  assert_output_contains "spf=pass smtp.mailfrom=a@example.com;"
  assert_output_contains "arc=none"
  ! grep -q "spf=fail" <(seal rsa2048 mx.example.org in.eml | sed -n '/^ARC-Auth/,/^[A-Z]/p' | head -5) || false
  # The message follows byte for byte.
  seal rsa2048 mx.example.org in.eml > out.eml
  cmp <(tail -n "$(wc -l < in.eml)" out.eml) in.eml
}

@test "arc-seal: sealing twice gives i=2 with cv=pass (Ed25519 too)" {
  seal rsa2048 mx.example.org in.eml > one.eml
  run seal ed mx.example.org one.eml
  assert_status 0
  assert_output_contains "a=ed25519-sha256"
  assert_output_contains "cv=pass; d=example.org; i=2; s=ed"
  assert_output_contains "ARC-Authentication-Results: i=2; mx.example.org;"
}

@test "arc-seal: a failing chain is sealed cv=fail, then never extended" {
  seal rsa2048 mx.example.org in.eml | sed 's/Hello/Jello/' > bad.eml
  seal rsa2048 mx.example.org bad.eml > failed.eml
  grep -q "cv=fail; d=example.org; i=2" failed.eml
  run quiet seal rsa2048 mx.example.org failed.eml
  assert_status 0
  [ "$output" = "$(cat failed.eml)" ]
  run seal rsa2048 mx.example.org failed.eml
  assert_output_contains "cv=fail"
}

@test "arc-seal: --cv and --headers are honoured; bad usage exits 64" {
  run seal rsa2048 mx.example.org --cv pass --headers from:subject in.eml
  assert_status 0
  assert_output_contains "cv=none"   # the first set is always cv=none
  assert_output_contains "h=from:subject;"
  run seal rsa2048 mx.example.org --cv maybe in.eml
  assert_status 64
  run arc-seal -d example.org -s rsa2048 in.eml
  assert_status 64
}
