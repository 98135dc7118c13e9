#!/usr/bin/env bats
# CLI tests for spf-check(1), against the zone in tests/fixtures/spf/.

bats_require_minimum_version 1.5.0
load common

F="$FIXTURES/spf"
Z="--resolver file:$FIXTURES/spf/example.zone"

@test "prints the result word and exits 0 whatever the result" {
  run --separate-stderr spf-check $Z --ip 192.0.2.5 --helo h.example.net --mail-from a@example.org
  assert_status 0
  [ "$output" = "pass" ]
  run --separate-stderr spf-check $Z --ip 203.0.113.5 --helo h.example.net --mail-from a@example.org
  assert_status 0
  [ "$output" = "fail" ]
  run --separate-stderr spf-check $Z --ip 2001:db8::7 --helo h.example.net --mail-from a@example.org
  [ "$output" = "pass" ]
  run --separate-stderr spf-check $Z --ip 192.0.2.99 --helo h --mail-from a@soft.example.org
  [ "$output" = "softfail" ]
  run --separate-stderr spf-check $Z --ip 192.0.2.99 --helo h --mail-from a@neutral.example.org
  [ "$output" = "neutral" ]
  run --separate-stderr spf-check $Z --ip 192.0.2.99 --helo h --mail-from a@nospf.example.org
  [ "$output" = "none" ]
  run --separate-stderr spf-check $Z --ip 192.0.2.99 --helo h --mail-from a@two.example.org
  [ "$output" = "permerror" ]
}

@test "mx mechanism and an IPv4-mapped client" {
  run --separate-stderr spf-check $Z --ip ::ffff:198.51.100.25 --helo h --mail-from a@example.org
  assert_status 0
  [ "$output" = "pass" ]
}

@test "empty MAIL FROM checks postmaster@HELO" {
  run --separate-stderr spf-check $Z --ip 198.51.100.25 --helo mail.example.org --mail-from ""
  [ "$output" = "pass" ]
  run --separate-stderr spf-check $Z --ip 198.51.100.26 --helo mail.example.org
  [ "$output" = "fail" ]
}

@test "--identity helo checks the HELO name" {
  run --separate-stderr spf-check $Z --ip 198.51.100.25 --helo mail.example.org --mail-from a@two.example.org --identity helo --json
  assert_status 0
  assert_output_contains '"result":"pass"'
  assert_output_contains 'smtp.helo=mail.example.org'
}

@test "--check: 1 on fail, 75 on temperror, 0 otherwise" {
  run --separate-stderr spf-check --check $Z --ip 203.0.113.5 --helo h --mail-from a@example.org
  assert_status 1
  [ "$output" = "fail" ]
  run --separate-stderr spf-check --check $Z --ip 203.0.113.5 --helo h --mail-from a@slow.example.org
  assert_status 75
  [ "$output" = "temperror" ]
  run --separate-stderr spf-check --check $Z --ip 203.0.113.5 --helo h --mail-from a@inc.example.org
  assert_status 75
  run --separate-stderr spf-check --check $Z --ip 192.0.2.99 --helo h --mail-from a@soft.example.org
  assert_status 0
  run --separate-stderr spf-check --check $Z --ip 192.0.2.99 --helo h --mail-from a@broken.example.org
  assert_status 0
  [ "$output" = "permerror" ]
}

@test "--json carries the mechanism and the expanded explanation" {
  run --separate-stderr spf-check --json $Z --ip 203.0.113.5 --helo h --mail-from a@example.org
  assert_status 0
  [ "$(echo "$output" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["result"], d["mechanism"])')" = "fail -all" ]
  [ "$(echo "$output" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["explanation"])')" = "203.0.113.5 is not allowed to send mail as a@example.org" ]
}

@test "a message gets both fields; our forged A-R is removed, others kept" {
  run --separate-stderr spf-check $Z --ip 192.0.2.5 --helo h.example.net --mail-from a@example.org \
      --authserv-id mx.example.net "$F/message.eml"
  assert_status 0
  [ "${lines[0]}" = "Received-SPF: pass (mx.example.net: domain of a@example.org designates 192.0.2.5 as permitted sender)" ]
  assert_output_contains "Authentication-Results: mx.example.net;"
  assert_output_contains "spf=pass (mechanism ip4:192.0.2.0/24 matched) smtp.mailfrom=a@example.org"
  assert_output_contains "Authentication-Results: other.example; spf=fail"
  case "$output" in *forged@*) false ;; esac
  [ "${lines[${#lines[@]}-1]}" = "body" ]
}

@test "body and other fields are kept byte for byte (CRLF too)" {
  tmp="$(mktemp)"
  printf 'From: a@example.org\r\nSubject: x\r\n\r\nline\r\n' > "$tmp"
  spf-check $Z --ip 192.0.2.5 --helo h --mail-from a@example.org --authserv-id mx --ar < "$tmp" > "$tmp.out"
  printf 'Authentication-Results: mx;\r\n\tspf=pass (mechanism ip4:192.0.2.0/24 matched) smtp.mailfrom=a@example.org\r\nFrom: a@example.org\r\nSubject: x\r\n\r\nline\r\n' > "$tmp.want"
  cmp "$tmp.out" "$tmp.want"
  rm -f "$tmp" "$tmp.out" "$tmp.want"
}

@test "--headers-only --received-spf prints just that field" {
  run --separate-stderr spf-check $Z --ip 203.0.113.9 --helo h --mail-from a@broken.example.org \
      --authserv-id mx --received-spf --headers-only < "$F/message.eml"
  assert_status 0
  [ "${lines[0]}" = "Received-SPF: permerror (mx: permanent error in processing domain of a@broken.example.org)" ]
  assert_output_contains 'problem="SPF record of broken.example.org: bad address in ip4:192.0.2.300";'
  case "$output" in *Authentication-Results*|*From:*) false ;; esac
}

@test "usage errors exit 64" {
  run spf-check --ip not-an-ip --helo h
  assert_status 64
  run --separate-stderr spf-check --helo h
  assert_status 64
  run --separate-stderr spf-check $Z --ip 192.0.2.1 --json --ar
  assert_status 64
}

@test "an unreadable zone file is a temporary failure for the MTA" {
  run --separate-stderr spf-check --resolver file:/nonexistent/zone --ip 192.0.2.1 --helo h --mail-from a@example.org
  assert_status 75
}

@test "--batch: one answer per envelope line, in order, with 'invalid' for bad lines" {
  cd "$BATS_TEST_TMPDIR"
  printf '%s\n' '192.0.2.9 h.example a@example.org' '# a comment' '' \
    '203.0.113.1 h a@example.org' '198.51.100.25 mail.example.org <>' \
    'not-an-ip h a@example.org' '192.0.2.11 h a@soft.example.org' > envelopes
  run --separate-stderr spf-check $Z --batch envelopes
  assert_status 65
  [ "$output" = "$(printf 'pass\nfail\npass\ninvalid\nsoftfail')" ]
  [[ "$stderr" == *"envelopes:6: expected IP HELO [MAIL-FROM]"* ]]
  run --separate-stderr spf-check $Z --batch - --json < <(head -1 envelopes)
  assert_status 0
  [[ "$output" == '{"result":"pass",'* ]]
  run --separate-stderr spf-check $Z --batch - --check < <(head -4 envelopes)
  assert_status 1
  run --separate-stderr spf-check $Z --batch envelopes --ip 192.0.2.1
  assert_status 64
}
