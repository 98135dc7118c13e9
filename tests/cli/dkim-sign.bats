#!/usr/bin/env bats
# dkim-sign: signatures that dkim-verify accepts, several keys, options, line endings.

load common

# Runs a command with its log lines (standard error) dropped.
quiet() { "$@" 2>/dev/null; }

setup() {
  cd "$BATS_TEST_TMPDIR"
  D="$FIXTURES/dkim"
  ZONE="file:$D/example.org.zone"
}

@test "dkim-sign: RSA and Ed25519 at once, both verify" {
  run dkim-sign --sign "example.org:rsa2048:$D/rsa2048.private" --sign "example.org:ed:$D/ed.private" \
    "$D/plain.eml"
  assert_status 0
  printf '%s\n' "$output" > signed.eml
  [ "$(grep -c '^DKIM-Signature:' signed.eml)" -eq 2 ]
  head -n1 signed.eml | grep -q 'a=rsa-sha256'
  run quiet dkim-verify --resolver "$ZONE" --results-only signed.eml
  assert_status 0
  [ "$output" = "pass pass" ]
}

@test "dkim-sign: output keeps the message bytes and its line ending" {
  dkim-sign -d example.org -s ed -k "$D/ed.private" "$D/plain.eml" > lf.eml
  tail -c +"$(( $(grep -n '^From:' lf.eml | head -n1 | cut -d: -f1) ))" lf.eml >/dev/null
  # Everything after the signature is the input, byte for byte.
  n=$(wc -c < "$D/plain.eml")
  cmp <(tail -c "$n" lf.eml) "$D/plain.eml"
  ! grep -q $'\r' lf.eml || false
  dkim-sign -d example.org -s ed -k "$D/ed.private" "$D/crlf.eml" > crlf.eml
  head -n1 crlf.eml | grep -q $'\r$'
  run quiet dkim-verify --resolver "$ZONE" --results-only lf.eml crlf.eml
  [ "$output" = $'lf.eml: pass\ncrlf.eml: pass' ]
}

@test "dkim-sign: fields folded under 78 columns with b= last" {
  run dkim-sign -d example.org -s rsa2048 -k "$D/rsa2048.private" --headers-only "$D/plain.eml"
  assert_status 0
  awk '{ if (length($0) > 78) exit 1 }' <<<"$output"
  tail -n +2 <<<"$output" | grep -q '^ b='
  ! grep -q '^From:' <<<"$output" || false
}

@test "dkim-sign: --headers, --canon, --expire, --timestamp, --identity, --body-length" {
  run dkim-sign -d example.org -s ed -k "$D/ed.private" --headers from:subject:subject:date \
    --canon simple/simple --timestamp 1700000000 --expire 3600 --identity joe@example.org \
    --body-length --headers-only "$D/plain.eml"
  assert_status 0
  sig=$(tr -d '\r\n ' <<<"$output")
  [[ "$sig" == *"c=simple/simple;"* ]]
  [[ "$sig" == *"t=1700000000;x=1700003600;"* ]]
  [[ "$sig" == *"h=from:subject:subject:date;"* ]]
  [[ "$sig" == *"i=joe@example.org;"* ]]
  [[ "$sig" == *"l="* ]]
  { printf '%s\n' "$output"; cat "$D/plain.eml"; } > m.eml
  run quiet dkim-verify --resolver "$ZONE" --now 1700000100 --results-only m.eml
  [ "$output" = pass ]
  run quiet dkim-verify --resolver "$ZONE" --now 1700009999 --results-only m.eml
  [ "$output" = permerror ]
}

@test "dkim-sign: empty body and standard input" {
  run bash -c "dkim-sign -d example.org -s ed -k '$D/ed.private' < '$D/empty-body.eml' | dkim-verify --resolver '$ZONE' --results-only"
  assert_status 0
  [ "$output" = pass ]
}

@test "dkim-sign: errors" {
  run dkim-sign -d example.org -s ed "$D/plain.eml"
  assert_status 64
  run dkim-sign --sign nonsense "$D/plain.eml"
  assert_status 64
  echo "not a key" > bad.key
  run dkim-sign -d example.org -s x -k bad.key "$D/plain.eml"
  assert_status 75   # delivery path: configuration errors are temporary
  run dkim-sign -d example.org -s x -k "$D/ed.private" --canon fancy/simple "$D/plain.eml"
  assert_status 64
}

@test "dkim-sign --output-dir and --in-place: each message to its own file" {
  mkdir out in
  cp "$D/plain.eml" in/a.eml
  cp "$D/crlf.eml" in/b.eml
  run dkim-sign -d example.org -s ed -k "$D/ed.private" -o out in/a.eml in/b.eml
  assert_status 0
  [ -z "$output" ]
  run quiet dkim-verify --resolver "$ZONE" --results-only out/a.eml out/b.eml
  [ "$output" = "$(printf 'out/a.eml: pass\nout/b.eml: pass')" ]
  cmp in/a.eml "$D/plain.eml"                      # the inputs are untouched
  tail -n +3 out/b.eml | grep -q $'\r$'            # CRLF input stays CRLF
  run dkim-sign -d example.org -s ed -k "$D/ed.private" --in-place in/a.eml in/missing.eml
  [ "$status" -ne 0 ]
  [ "$(head -c 15 in/a.eml)" = "DKIM-Signature:" ]
  run quiet dkim-verify --resolver "$ZONE" --results-only in/a.eml
  [ "$output" = pass ]
  # Refused: stdin, two inputs for one output name, with --headers-only, both modes.
  run dkim-sign -d example.org -s ed -k "$D/ed.private" -i < "$D/plain.eml"
  assert_status 64
  cp in/b.eml a.eml
  run dkim-sign -d example.org -s ed -k "$D/ed.private" -o out in/a.eml a.eml
  assert_status 64
  run dkim-sign -d example.org -s ed -k "$D/ed.private" -o out --headers-only in/a.eml
  assert_status 64
  run dkim-sign -d example.org -s ed -k "$D/ed.private" -o out -i in/a.eml
  assert_status 64
}
