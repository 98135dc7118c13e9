#!/usr/bin/env bats
# dkim-keygen: key files (mode 0600, never overwritten), TXT records, size policy.

load common

setup() { cd "$BATS_TEST_TMPDIR"; }

@test "dkim-keygen: RSA 2048 by default, key 0600, record split into 255-byte strings" {
  run dkim-keygen -d example.org -s s1
  assert_status 0
  [ "$(stat -c %a s1.private)" = 600 ]
  grep -q "BEGIN PRIVATE KEY" s1.private
  [[ "$output" == 's1._domainkey.example.org. IN TXT "v=DKIM1; k=rsa; p=MIIB'* ]]
  # Every quoted string at most 255 bytes, and there are two of them.
  n=$(grep -o '"[^"]*"' <<<"$output" | awk '{ if (length($0) - 2 > 255) bad = 1; n++ } END { print bad ? -1 : n }')
  [ "$n" -eq 2 ]
  openssl pkey -in s1.private -noout -text | grep -q "2048 bit"
}

@test "dkim-keygen: Ed25519 record carries the raw 32-byte key" {
  run dkim-keygen -t ed25519 -d example.org -s ed -o ed.key
  assert_status 0
  p=$(sed 's/.*p=\([^"]*\)".*/\1/' <<<"$output")
  [ "$(printf %s "$p" | base64 -d | wc -c)" -eq 32 ]
  [ "$(stat -c %a ed.key)" = 600 ]
}

@test "dkim-keygen: small RSA keys need an explicit --bits, below 1024 refused" {
  run dkim-keygen -d example.org -s a --bits 1024
  assert_status 0
  assert_output_contains "k=rsa"
  run dkim-keygen -d example.org -s b --bits 512
  assert_status 64
  assert_output_contains "RFC 8301"
}

@test "dkim-keygen: an existing key file is not overwritten without --force" {
  echo keep > s1.private
  run dkim-keygen -t ed25519 -d example.org -s s1
  assert_status 64
  [ "$(cat s1.private)" = keep ]
  run dkim-keygen -t ed25519 -d example.org -s s1 --force
  assert_status 0
  grep -q "BEGIN PRIVATE KEY" s1.private
}

@test "dkim-keygen: usage errors exit 64" {
  run dkim-keygen -d example.org
  assert_status 64
  run dkim-keygen -t dsa -d example.org -s x
  assert_status 64
}

@test "dkim-keygen: the printed record is a zone file dkim-verify reads (keygen, sign, verify)" {
  dkim-keygen -t ed25519 -d example.org -s k1 > zone
  dkim-keygen -d example.org -s k2 >> zone
  printf 'From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n' > msg
  run bash -c "dkim-sign --sign example.org:k1:k1.private --sign example.org:k2:k2.private msg | dkim-verify --resolver file:zone --check"
  assert_status 0
  [ "$(grep -o 'dkim=pass' <<<"$output" | wc -l)" -eq 2 ]
}
