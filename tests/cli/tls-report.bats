#!/usr/bin/env bats
# tls-report: list (text, JSON), show (the RFC 8460 JSON), send (mailto: queued with the
# counts removed in one go, a domain without a TLS-RPT record dropped, an https: POST
# that fails keeps the counts and exits 75, counts older than three days then dropped),
# --dry-run, usage and config errors. The counts are put into a fresh SQLite store
# with sqlite3(1), as queue-run would have written them; DNS comes from a zone file.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  DB="$BATS_TEST_TMPDIR/store.db"
  STORE=(--store "sqlite:$DB")
  account-ctl "${STORE[@]}" domain add example.org >/dev/null   # creates the store
  cat >postern.yaml <<'YAML'
server:
  hostname: out.example.net
delivery:
  tls_rpt:
    organization: Example Net
YAML
  # Nothing listens on this port: POSTs to it fail.
  PORT=$(free_ports 1)
  cat >zone <<ZONE
_smtp._tls.rpt.example   TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.org"
_smtp._tls.web.example   TXT "v=TLSRPTv1; rua=https://127.0.0.1:$PORT/tlsrpt"
_smtp._tls.bad.example   TXT "v=TLSRPTv1; rux=mailto:x@example.org"
_smtp._tls.down.example  TXT SERVFAIL
ZONE
  YESTERDAY=$(date -u -d yesterday +%F)
  Y=$(date -u -d "$YESTERDAY" +%s)
  OLD=$(date -u -d "$YESTERDAY - 4 days" +%F)
  O=$(date -u -d "$OLD" +%s)
  TR=(tls-report -c postern.yaml "${STORE[@]}")
}

sql() { sqlite3 -bail "$DB" "$@"; }

# row DAY DOMAIN TYPE POLICY HOST IP RESULT REASON SESSIONS
row() {
  sql "INSERT INTO tls_result VALUES ($1, '$2', '$3', '$4', '$5', '$6', '$7', '$8', $9)"
}

sts_policy=$'version: STSv1\nmode: enforce\nmx: mail.rpt.example\nmax_age: 86400'

fill() {
  row "$Y" rpt.example sts "$sts_policy" mail.rpt.example 192.0.2.25 '' '' 5
  row "$Y" rpt.example sts "$sts_policy" mail.rpt.example 192.0.2.25 certificate-host-mismatch 'hostname mismatch' 2
  row "$Y" rpt.example no-policy-found '' mx2.rpt.example 192.0.2.26 starttls-not-supported 'STARTTLS not offered' 1
  row "$Y" nobody.example no-policy-found '' mx.nobody.example 192.0.2.30 '' '' 3
  row "$Y" bad.example tlsa '3 1 1 00ff' mx.bad.example 192.0.2.31 validation-failure 'no TLSA record matched' 1
}

@test "tls-report: nothing recorded" {
  run "${TR[@]}" list
  assert_status 0
  [ "$output" = "nothing recorded" ]
  run "${TR[@]}" list --json
  assert_status 0
  [ -z "$output" ]
  run "${TR[@]}" send --resolver "file:zone"
  assert_status 0
  [ -z "$output" ]
  run "${TR[@]}" show --domain rpt.example
  assert_status 69
}

@test "tls-report: list sums sessions per day, domain and policy type" {
  fill
  run "${TR[@]}" list
  assert_status 0
  assert_output_contains "$YESTERDAY  rpt.example  sts  successful=5 failed=2"
  assert_output_contains "$YESTERDAY  rpt.example  no-policy-found  successful=0 failed=1"
  assert_output_contains "$YESTERDAY  nobody.example  no-policy-found  successful=3 failed=0"
  [ "${#lines[@]}" -eq 4 ]
  run "${TR[@]}" list --json --domain RPT.example
  assert_status 0
  [ "${#lines[@]}" -eq 2 ]
  /usr/bin/python3 -c 'import json, sys
rows = [json.loads(l) for l in sys.stdin]
sts = [r for r in rows if r["policy_type"] == "sts"][0]
assert sts == {"day": sys.argv[1], "domain": "rpt.example", "policy_type": "sts", "successful": 5, "failed": 2}, sts' "$YESTERDAY" <<<"$output"
}

@test "tls-report: show prints the RFC 8460 report" {
  fill
  run "${TR[@]}" show --domain rpt.example --day "$YESTERDAY"
  assert_status 0
  /usr/bin/python3 -c 'import json, sys
r = json.loads(sys.stdin.read())
day = sys.argv[1]
assert r["organization-name"] == "Example Net", r
assert r["contact-info"] == "postmaster@out.example.net", r
assert r["report-id"] == day + "T00:00:00Z_rpt.example@out.example.net", r
assert r["date-range"] == {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"}, r
pol = {p["policy"]["policy-type"]: p for p in r["policies"]}
sts = pol["sts"]
assert sts["policy"]["policy-string"] == ["version: STSv1", "mode: enforce", "mx: mail.rpt.example", "max_age: 86400"]
assert sts["policy"]["mx-host"] == ["mail.rpt.example"]
assert sts["summary"] == {"total-successful-session-count": 5, "total-failure-session-count": 2}
d = sts["failure-details"][0]
assert d["result-type"] == "certificate-host-mismatch" and d["failed-session-count"] == 2, d
assert d["receiving-mx-hostname"] == "mail.rpt.example" and d["receiving-ip"] == "192.0.2.25", d
assert d["failure-reason-code"] == "hostname mismatch", d
n = pol["no-policy-found"]
assert n["failure-details"][0]["result-type"] == "starttls-not-supported"' "$YESTERDAY" <<<"$output"
  # show takes nothing away.
  run "${TR[@]}" list --domain rpt.example
  [ "${#lines[@]}" -eq 2 ]
}

@test "tls-report: send queues the mailto: report, drops what nobody asked for, once" {
  fill
  run "${TR[@]}" send --resolver "file:zone" --dry-run
  assert_status 0
  assert_output_contains "dry-run $YESTERDAY rpt.example rua=mailto:tlsrpt@example.org sessions=8"
  [ "$(sql 'SELECT sum(sessions) FROM tls_result')" -eq 12 ]
  run queue-ctl "${STORE[@]}" list
  [ "$output" = "queue is empty" ]

  run "${TR[@]}" send --resolver "file:zone"
  assert_status 0
  assert_output_contains "queued $YESTERDAY rpt.example rua=mailto:tlsrpt@example.org sessions=8 queue_id="
  assert_output_contains "dropped $YESTERDAY nobody.example sessions=3"
  assert_output_contains "dropped $YESTERDAY bad.example sessions=1"
  [ "$(sql 'SELECT count(*) FROM tls_result')" -eq 0 ]
  run queue-ctl "${STORE[@]}" list --json
  assert_status 0
  [ "${#lines[@]}" -eq 1 ]
  assert_output_contains '"sender":"noreply-tlsrpt@out.example.net"'
  assert_output_contains 'tlsrpt@example.org'
  assert_output_contains '"listener":"tlsrpt"'
  id=$(/usr/bin/python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["id"])' <<<"$output")
  run queue-ctl "${STORE[@]}" show --raw "$id"
  assert_output_contains 'Content-Type: multipart/report; report-type="tlsrpt"'
  assert_output_contains "TLS-Report-Domain: rpt.example"
  assert_output_contains "TLS-Report-Submitter: out.example.net"
  assert_output_contains "application/tlsrpt+gzip"
  # Again: nothing is due any more.
  run "${TR[@]}" send --resolver "file:zone"
  assert_status 0
  [ -z "$output" ]
}

@test "tls-report: today waits unless --day names it" {
  T=$(date -u +%F)
  row "$(date -u -d "$T" +%s)" rpt.example tlsa '3 1 1 00ff' mx.rpt.example 192.0.2.25 '' '' 4
  run "${TR[@]}" send --resolver "file:zone"
  assert_status 0
  [ -z "$output" ]
  run "${TR[@]}" send --resolver "file:zone" --day "$T"
  assert_status 0
  assert_output_contains "queued $T rpt.example"
  assert_output_contains "sessions=4"
}

@test "tls-report: a failed POST keeps the counts (75); after three days they are dropped" {
  row "$Y" web.example sts "$sts_policy" mail.web.example 192.0.2.40 '' '' 6
  row "$O" web.example sts "$sts_policy" mail.web.example 192.0.2.40 '' '' 2
  row "$Y" down.example sts "$sts_policy" mail.down.example 192.0.2.41 '' '' 1
  run "${TR[@]}" send --resolver "file:zone"
  assert_status 75
  assert_output_contains "failed $YESTERDAY web.example rua=https://127.0.0.1:$PORT/tlsrpt sessions=6"
  assert_output_contains "failed $YESTERDAY down.example sessions=1"
  assert_output_contains "dropped $OLD web.example rua=https://127.0.0.1:$PORT/tlsrpt sessions=2"
  [ "$(sql "SELECT sessions FROM tls_result WHERE policy_domain = 'web.example' AND day = $Y")" -eq 6 ]
  [ "$(sql "SELECT count(*) FROM tls_result WHERE day = $O")" -eq 0 ]
  [ "$(sql "SELECT count(*) FROM tls_result WHERE policy_domain = 'down.example'")" -eq 1 ]
}

@test "tls-report: usage and configuration errors" {
  run "${TR[@]}"
  assert_status 64
  run "${TR[@]}" show
  assert_status 64
  run "${TR[@]}" send --day 2026-13-01
  assert_status 64
  run "${TR[@]}" list --day yesterday
  assert_status 64
  printf 'delivery:\n  tls_rpt:\n    enabled: maybe\n' >bad.yaml
  run tls-report -c bad.yaml "${STORE[@]}" list
  assert_status 78
  run tls-report --help
  assert_status 0
  assert_output_contains "list"
  assert_output_contains "send"
}
