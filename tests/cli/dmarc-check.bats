#!/usr/bin/env bats
# CLI tests for dmarc-check(1), against the zone in tests/fixtures/dmarc/ (plus the DKIM
# keys of tests/fixtures/dkim/), alone and in a pipe after spf-check and dkim-verify.

bats_require_minimum_version 1.5.0
load common

F="$FIXTURES/dmarc"

setup() {
  cd "$BATS_TEST_TMPDIR"
  cat "$F/example.zone" "$FIXTURES/dkim/example.org.zone" > zone
  Z="--resolver file:$BATS_TEST_TMPDIR/zone"
}

json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

@test "prints the result word from --spf / --dkim-pass and exits 0 whatever the result" {
  run --separate-stderr dmarc-check $Z --spf pass --spf-domain bounce.example.org "$F/alice.eml"
  assert_status 0
  [ "$output" = "pass" ]
  run --separate-stderr dmarc-check $Z --dkim-pass mail.example.org < "$F/alice.eml"
  [ "$output" = "pass" ]
  run --separate-stderr dmarc-check $Z --spf pass --spf-domain example.net --dkim-pass example.net "$F/alice.eml"
  assert_status 0
  [ "$output" = "fail" ]
  run --separate-stderr dmarc-check $Z --spf softfail --spf-domain example.org "$F/alice.eml"
  [ "$output" = "fail" ]
}

@test "none, multiple records, permerror, temperror, and the From rules" {
  run --separate-stderr dmarc-check $Z "$F/nodmarc.eml"
  [ "$output" = "none" ]
  run --separate-stderr dmarc-check $Z "$F/two.eml"
  [ "$output" = "none" ]
  run --separate-stderr dmarc-check $Z "$F/bad.eml"
  [ "$output" = "permerror" ]
  run --separate-stderr dmarc-check $Z "$F/broken.eml"
  [ "$output" = "temperror" ]
  run --separate-stderr dmarc-check $Z "$F/two-from.eml"
  [ "$output" = "permerror" ]
  [[ "$stderr" == *"more than one From field"* ]]
  run --separate-stderr dmarc-check $Z "$F/nodmarc.eml" "$F/bad.eml"
  [ "${lines[0]}" = "$F/nodmarc.eml: none" ]
  [ "${lines[1]}" = "$F/bad.eml: permerror" ]
}

@test "--json: the subdomain policy from the organizational domain's record" {
  run --separate-stderr dmarc-check $Z --json "$F/news.eml"
  assert_status 0
  [ "$(echo "$output" | json 'd["result"], d["policy"], d["org_domain"], d["record_domain"]')" = \
    "fail quarantine example.org example.org" ]
  [ "$(echo "$output" | json 'd["subdomain_policy"], d["spf"]["aligned"], d["dkim"]["mode"]')" = \
    "True False r" ]
  assert_output_contains 'policy.dmarc=quarantine'
}

@test "--check: 1 when the policy is reject, 0 for quarantine, 75 on temperror" {
  run --separate-stderr dmarc-check --check $Z "$F/alice.eml"
  assert_status 1
  [ "$output" = "fail" ]
  run --separate-stderr dmarc-check --check $Z "$F/news.eml"
  assert_status 0
  run --separate-stderr dmarc-check --check $Z "$F/broken.eml"
  assert_status 75
  run --separate-stderr dmarc-check --check $Z --spf pass --spf-domain example.org "$F/alice.eml"
  assert_status 0
}

@test "pct sampling: outside the sample, reject becomes quarantine" {
  run --separate-stderr dmarc-check --check --pct-roll 10 $Z --json "$F/half.eml"
  assert_status 1
  [ "$(echo "$output" | json 'd["policy"]')" = "reject" ]
  run --separate-stderr dmarc-check --check --pct-roll 50 $Z --json "$F/half.eml"
  assert_status 0
  [ "$(echo "$output" | json 'd["policy"], d["requested_policy"], d["sampled"]')" = \
    "quarantine reject False" ]
}

@test "--ar: our forged results are used, then replaced; other fields kept" {
  run --separate-stderr dmarc-check $Z --authserv-id mx.example --ar "$F/forged.eml"
  assert_status 0
  [ "${lines[0]}" = "Authentication-Results: mx.example;" ]
  assert_output_contains "dmarc=pass (p=reject sp=quarantine pct=100) header.from=example.org policy.dmarc=none"
  assert_output_contains "Authentication-Results: other.example; dmarc=pass"
  [ "$(grep -c '^Authentication-Results: mx.example' <<<"$output")" = 1 ]
  run --separate-stderr dmarc-check $Z --authserv-id other.example --headers-only "$F/forged.eml"
  [ "$output" = "$(printf 'Authentication-Results: other.example;\n\tdmarc=fail (p=reject sp=quarantine pct=100) header.from=example.org policy.dmarc=reject')" ]
}

@test "pipe: spf-check | dkim-verify | dmarc-check under one authserv-id" {
  dkim-sign --sign "example.org:rsa2048:$FIXTURES/dkim/rsa2048.private" "$F/alice.eml" > signed.eml
  # SPF fails (a foreign bounce domain from an unlisted IP), the signature aligns: pass.
  run --separate-stderr bash -c "spf-check $Z --ip 203.0.113.9 --helo h.example.net \
      --mail-from x@bounce.example.net --authserv-id mx.example - < signed.eml |
    dkim-verify $Z --authserv-id mx.example | dmarc-check $Z --authserv-id mx.example"
  assert_status 0
  [ "$output" = "pass" ]
  # Unsigned, but SPF passes for the From domain: pass through SPF alignment.
  run --separate-stderr bash -c "spf-check $Z --ip 192.0.2.9 --helo h.example.net \
      --mail-from x@example.org --authserv-id mx.example - < '$F/alice.eml' |
    dkim-verify $Z --authserv-id mx.example | dmarc-check $Z --authserv-id mx.example --json"
  [ "$(echo "$output" | json 'd["result"], d["spf"]["result"], d["spf"]["aligned"]')" = "pass pass True" ]
  # Signed then altered, SPF fails: fail, reject; --ar carries the dkim and spf clauses.
  sed 's/^body$/changed body/' signed.eml > altered.eml
  run --separate-stderr bash -c "spf-check $Z --ip 203.0.113.9 --helo h.example.net \
      --mail-from x@example.org --authserv-id mx.example - < altered.eml |
    dkim-verify $Z --authserv-id mx.example |
    dmarc-check $Z --authserv-id mx.example --ar --check > out.eml"
  assert_status 1
  run cat out.eml
  assert_output_contains "dkim=fail"
  assert_output_contains "spf=fail smtp.mailfrom=example.org"
  assert_output_contains "dmarc=fail (p=reject sp=quarantine pct=100) header.from=example.org policy.dmarc=reject"
  assert_output_contains "changed body"
}

@test "usage and configuration errors" {
  run --separate-stderr dmarc-check $Z --spf maybe "$F/alice.eml"
  assert_status 64
  run --separate-stderr dmarc-check $Z --json --ar "$F/alice.eml"
  assert_status 64
  run --separate-stderr dmarc-check $Z --psl /nonexistent/list.dat "$F/alice.eml"
  assert_status 75
  run --separate-stderr dmarc-check $Z "$BATS_TEST_TMPDIR/missing.eml"
  [ "$status" -ne 0 ]
}
