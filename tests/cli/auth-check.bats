#!/usr/bin/env bats
# CLI tests for auth-check(1): SPF + DKIM + ARC + DMARC in one pass over the zones of
# tests/fixtures/dmarc/ and tests/fixtures/dkim/, the one field it writes, --record lines,
# the trusted-forwarder override and exit codes; and the --merge rule of the single-method
# filters (spf-check | dkim-verify --merge | arc-verify --merge keeps one field).

bats_require_minimum_version 1.5.0
load common

F="$FIXTURES/dmarc"
D="$FIXTURES/dkim"

setup() {
  cd "$BATS_TEST_TMPDIR"
  cat "$F/example.zone" "$D/example.org.zone" > zone
  # A mailing list that re-seals with ARC under its own name (the test key again).
  sed -n 's/^rsa2048\._domainkey\.example\.org\./rsa2048._domainkey.lists.example./p' \
    "$D/example.org.zone" >> zone
  Z="--resolver file:$BATS_TEST_TMPDIR/zone"
  dkim-sign --timestamp 1700000000 --sign "example.org:rsa2048:$D/rsa2048.private" \
    "$F/alice.eml" > signed.eml
}

json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# A foreign client and bounce domain: SPF fails, DKIM alone can align.
foreign() { auth-check $Z --ip 203.0.113.9 --helo h.example.net --mail-from x@bounce.example.net \
  --authserv-id mx.example "$@"; }

@test "one field with spf, dkim, arc and dmarc clauses, prepended to the message" {
  run --separate-stderr foreign signed.eml
  assert_status 0
  [ "${lines[0]}" = "Authentication-Results: mx.example;" ]
  [[ "${lines[1]}" == *"spf=fail (mechanism -all matched) smtp.mailfrom=x@bounce.example.net;" ]]
  [[ "${lines[2]}" == *"dkim=pass header.d=example.org header.s=rsa2048 header.a=rsa-sha256 header.b="* ]]
  [[ "${lines[3]}" == *"arc=none smtp.remote-ip=203.0.113.9;" ]]
  [[ "${lines[4]}" == *"dmarc=pass (p=reject sp=quarantine pct=100) header.from=example.org policy.dmarc=none" ]]
  [ "${lines[5]%%:*}" = "DKIM-Signature" ]
  # The message follows unchanged.
  [ "$(tail -n +6 <<<"$output")" = "$(cat signed.eml)" ]
}

@test "--results-only, several files, and the SPF path to DMARC pass" {
  run --separate-stderr auth-check $Z --ip 192.0.2.9 --helo h --mail-from x@example.org \
    --results-only "$F/alice.eml" signed.eml
  assert_status 0
  [ "${lines[0]}" = "$F/alice.eml: spf=pass dkim=none arc=none dmarc=pass policy=none" ]
  [ "${lines[1]}" = "signed.eml: spf=pass dkim=pass arc=none dmarc=pass policy=none" ]
}

@test "forged results claiming our authserv-id are removed before evaluation" {
  run --separate-stderr foreign --headers-only "$F/forged.eml"
  assert_status 0
  assert_output_contains "dmarc=fail"
  assert_output_contains "policy.dmarc=reject"
  run --separate-stderr foreign "$F/forged.eml"
  [ "$(grep -c '^Authentication-Results: mx.example;' <<<"$output")" = 1 ]
  assert_output_contains "Authentication-Results: other.example; dmarc=pass"
}

@test "--check: 1 for reject, 75 when DNS failed, 0 for pass and quarantine" {
  sed 's/^body$/changed body/' signed.eml > altered.eml
  run --separate-stderr foreign --check --results-only altered.eml
  assert_status 1
  [ "$output" = "spf=fail dkim=fail arc=none dmarc=fail policy=reject" ]
  [[ "$stderr" == *"dmarc=fail policy=reject"* ]]
  run --separate-stderr foreign --check --results-only signed.eml
  assert_status 0
  run --separate-stderr foreign --check --results-only "$F/news.eml"
  assert_status 0
  [[ "$output" == *"policy=quarantine" ]]
  run --separate-stderr foreign --check --results-only "$F/broken.eml"
  assert_status 75
  [[ "$output" == *"dmarc=temperror"* ]]
  # A DKIM key lookup that times out while DMARC fails: a retry could pass.
  sed 's/s=rsa2048;/s=slow;/' altered.eml > slow.eml
  run --separate-stderr foreign --check --results-only slow.eml
  assert_status 75
}

@test "--record appends one JSON line per message in the documented format" {
  foreign --rcpt-to bob@example.net --record rec.jsonl --now 1700000000 signed.eml >/dev/null
  sed 's/^body$/changed body/' signed.eml > altered.eml
  foreign --record rec.jsonl --now 1700000100 --results-only altered.eml "$F/nodmarc.eml" >/dev/null
  [ "$(wc -l < rec.jsonl)" = 3 ]
  run json 'd["v"], d["time"], d["reporter"], d["source_ip"], d["envelope_from"], d["envelope_to"], d["header_from"]' < <(sed -n 1p rec.jsonl)
  [ "$output" = "1 1700000000 mx.example 203.0.113.9 bounce.example.net example.net example.org" ]
  run json 'd["spf"]["result"], d["spf"]["scope"], d["dkim"][0]["selector"], d["dkim"][0]["result"], d["dmarc"]["result"], d["dmarc"]["disposition"], d["dmarc"]["dkim_aligned"], d["dmarc"]["spf_aligned"]' < <(sed -n 1p rec.jsonl)
  [ "$output" = "fail mfrom rsa2048 pass pass none True False" ]
  run json 'd["dmarc"]["policy"]["domain"], d["dmarc"]["policy"]["p"], d["dmarc"]["policy"]["sp"], d["dmarc"]["policy"]["rua"]' < <(sed -n 1p rec.jsonl)
  [ "$output" = "example.org reject quarantine ['mailto:dmarc@example.org']" ]
  run json 'd["dkim"][0]["human_result"], d["dmarc"]["disposition"]' < <(sed -n 2p rec.jsonl)
  [ "$output" = "body hash mismatch reject" ]
  run json 'd["dmarc"]["result"], d["dmarc"]["policy"]' < <(sed -n 3p rec.jsonl)
  [ "$output" = "none None" ]
  # A record file that cannot be opened is a configuration error: 75 on the delivery path.
  run --separate-stderr foreign --record /nonexistent/dir/rec.jsonl signed.eml
  assert_status 75
}

@test "--json carries the record's members and the field" {
  run --separate-stderr foreign --json signed.eml
  assert_status 0
  [ "$(echo "$output" | json 'd["file"], d["dmarc"]["result"], d["arc"], d["dkim"][0]["domain"]')" = \
    "signed.eml pass none example.org" ]
  [[ "$(echo "$output" | json 'd["authentication_results"]')" == "Authentication-Results: mx.example;"* ]]
}

@test "null sender: SPF checks the HELO name, scope helo" {
  run --separate-stderr auth-check $Z --ip 192.0.2.9 --helo example.org --mail-from "" \
    --record rec.jsonl --results-only "$F/alice.eml"
  assert_status 0
  [ "$output" = "spf=pass dkim=none arc=none dmarc=pass policy=none" ]
  [ "$(json 'd["spf"]["scope"], d["spf"]["domain"], d["envelope_from"]' < rec.jsonl)" = "helo example.org " ]
}

@test "--trusted-arc-sealer: a list that broke DKIM but sealed with ARC is not rejected" {
  # The list authenticates what it received, tags the Subject (which breaks the author's
  # DKIM signature) and seals: its ARC-Authentication-Results vouch for dkim=pass.
  auth-check $Z --ip 192.0.2.9 --helo h --mail-from x@example.org --authserv-id lists.example \
    signed.eml | sed 's/^Subject: hello/Subject: [list] hello/' > tagged.eml
  arc-seal --resolver file:zone -d lists.example -s rsa2048 -k "$D/rsa2048.private" \
    --authserv-id lists.example tagged.eml > sealed.eml
  run --separate-stderr auth-check $Z --ip 198.51.100.7 --helo lists.example \
    --mail-from list-bounces@lists.example --results-only --check sealed.eml
  assert_status 1
  [ "$output" = "spf=none dkim=fail arc=pass dmarc=fail policy=reject" ]
  run --separate-stderr auth-check $Z --ip 198.51.100.7 --helo lists.example \
    --mail-from list-bounces@lists.example --trusted-arc-sealer lists.example \
    --record rec.jsonl --check sealed.eml
  assert_status 0
  assert_output_contains "policy.dmarc=none"
  assert_output_contains "trusted_forwarder"
  [ "$(json 'd["dmarc"]["disposition"], d["dmarc"]["reasons"][0]["type"], d["arc"]' < rec.jsonl)" = \
    "none trusted_forwarder pass" ]
  # An untrusted sealer does not count.
  run --separate-stderr auth-check $Z --ip 198.51.100.7 --helo lists.example \
    --mail-from list-bounces@lists.example --trusted-arc-sealer other.example --check sealed.eml
  assert_status 1
}

@test "--merge: single-method filters in a pipe keep one field with every stage's results" {
  run --separate-stderr bash -c "spf-check $Z --ip 203.0.113.9 --helo h.example.net --ar \
      --mail-from x@bounce.example.net --authserv-id mx.example - < signed.eml |
    dkim-verify $Z --authserv-id mx.example --merge |
    arc-verify $Z --authserv-id mx.example --merge --headers-only"
  assert_status 0
  [ "$(grep -c '^Authentication-Results' <<<"$output")" = 1 ]
  assert_output_contains "spf=fail"
  assert_output_contains "dkim=pass header.d=example.org"
  assert_output_contains "arc=none"
  # Without --merge a stage starts afresh: the earlier spf clause is gone.
  run --separate-stderr bash -c "spf-check $Z --ip 203.0.113.9 --helo h.example.net --ar \
      --mail-from x@bounce.example.net --authserv-id mx.example - < signed.eml |
    dkim-verify $Z --authserv-id mx.example --headers-only"
  [[ "$output" != *"spf="* ]]
  # A stage replaces only its own method: dkim-verify --merge twice keeps one dkim clause.
  run --separate-stderr bash -c "dkim-verify $Z --authserv-id mx.example < signed.eml |
    dkim-verify $Z --authserv-id mx.example --merge --headers-only"
  [ "$(grep -c 'dkim=' <<<"$output")" = 1 ]
}

@test "usage errors" {
  run --separate-stderr auth-check $Z signed.eml
  assert_status 64
  run --separate-stderr auth-check $Z --ip 300.1.1.1 signed.eml
  assert_status 64
  run --separate-stderr auth-check $Z --ip 192.0.2.1 --json --headers-only signed.eml
  assert_status 64
  run --separate-stderr auth-check $Z --ip 192.0.2.1 --psl /nonexistent/list.dat signed.eml
  assert_status 75
  run --separate-stderr auth-check $Z --ip 192.0.2.1 missing.eml
  [ "$status" -ne 0 ]
  [[ "$stderr" == *"missing.eml"* ]]
  run auth-check --help
  assert_status 0
  assert_output_contains "--trusted-arc-sealer"
}
