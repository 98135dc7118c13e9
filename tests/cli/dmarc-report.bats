#!/usr/bin/env bats
# CLI tests for dmarc-report(1): generate reports from the records of
# tests/fixtures/dmarc-report/records.jsonl (two days of example.org, one of example.com,
# one record without a DMARC record, one without rua), and parse our own reports and the
# stalwartlabs/mail-auth samples in $TESTDATA/stalwart-mail-auth/dmarc-feedback.

bats_require_minimum_version 1.5.0
load common

F="$FIXTURES/dmarc-report"
S="$TESTDATA/stalwart-mail-auth/dmarc-feedback"
NOW=1700200000  # 2023-11-17 05:46:40 UTC: 15 and 16 November are over
ORG=(--org-name "Example Net" --email dmarc@example.net)
DAY1='example.net!example.org!1700006400!1700092799'

setup() {
  cd "$BATS_TEST_TMPDIR"
}

json() { /usr/bin/python3 -c "import json,sys
for l in sys.stdin:
    d=json.loads(l); print($1)"; }

@test "--help, and a subcommand is required" {
  run dmarc-report --help
  assert_status 0
  assert_output_contains "generate"
  assert_output_contains "parse"
  run dmarc-report generate --help
  assert_status 0
  assert_output_contains "--org-name"
  run --separate-stderr dmarc-report
  assert_status 64
}

@test "generate: one gzip'd Appendix C report per domain and day, rows counted" {
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" --now $NOW --out-dir out
  assert_status 0
  [ "${#lines[@]}" -eq 3 ]
  [ "${lines[0]}" = 'out/example.net!example.com!1700006400!1700092799.xml.gz' ]
  [ "${lines[1]}" = "out/$DAY1.xml.gz" ]
  [ "${lines[2]}" = 'out/example.net!example.org!1700092800!1700179199.xml.gz' ]
  [[ "$stderr" == *'records skipped count=1 reason="no DMARC record"'* ]]
  [[ "$stderr" == *'records skipped count=1 reason="no rua in the DMARC record"'* ]]
  gzip -t "out/$DAY1.xml.gz"
  zcat "out/$DAY1.xml.gz" > day1.xml
  grep -q '<org_name>Example Net</org_name>' day1.xml
  grep -q '<domain>example.org</domain>' day1.xml
  [ "$(grep -c '<record>' day1.xml)" = 4 ]
  grep -q '<count>3</count>' day1.xml
  grep -q '<type>sampled_out</type>' day1.xml
  # The same input gives the same report (stable report_id).
  dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" --now $NOW --out-dir again 2>/dev/null
  cmp "out/$DAY1.xml.gz" "again/$DAY1.xml.gz"
}

@test "generate: the XML validates against the RFC 7489 Appendix C schema" {
  command -v xmllint >/dev/null || skip "xmllint (libxml2-utils) not installed"
  dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" --now $NOW --out-dir out 2>/dev/null
  for f in out/*.xml.gz; do
    zcat "$f" | xmllint --noout --schema "$F/rua.xsd" -
  done
}

@test "generate: periods not over yet wait; --period hour; --begin/--end" {
  run --separate-stderr dmarc-report generate --records - "${ORG[@]}" --now 1700100000 --out-dir out < "$F/records.jsonl"
  assert_status 0
  [ "${#lines[@]}" -eq 2 ]
  [[ "$stderr" == *'records skipped count=1 reason="period not over yet"'* ]]
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" --now $NOW --period hour --out-dir hours
  [ "${#lines[@]}" -eq 3 ]
  [ "${lines[1]}" = 'hours/example.net!example.org!1700006400!1700009999.xml.gz' ]
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" \
    --begin 1700006400 --end 1700006700 --out-dir win --json
  assert_status 0
  [ "$(echo "$output" | json 'd["domain"], d["records"], d["messages"], d["end"]')" = "example.org 1 3 1700006699" ]
  [[ "$stderr" == *'reason="outside --begin/--end"'* ]]
}

@test "generate --mail: a report message per report, parseable, rua limits honoured" {
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" --now $NOW \
    --out-dir out --mail --from "DMARC Reports <reports@example.net>"
  assert_status 0
  [ "${#lines[@]}" -eq 6 ]
  [ "${lines[3]}" = "out/$DAY1.eml" ]
  [[ "$stderr" == *'uri=mailto:big@example.com!100 reason="report of '*' bytes is over the size limit of 100"'* ]]
  [[ "$stderr" == *'uri=https://example.com/rua reason="only mailto: URIs are supported"'* ]]
  run --separate-stderr msg-parse --header To "out/$DAY1.eml"
  [ "$output" = "dmarc@example.org" ]
  run --separate-stderr msg-parse --header To 'out/example.net!example.com!1700006400!1700092799.eml'
  [ "$output" = "agg@example.com" ]
  run --separate-stderr msg-parse --header Subject "out/$DAY1.eml"
  [[ "$output" =~ ^"Report Domain: example.org Submitter: example.net Report-ID: <"[0-9a-f]{32}">"$ ]]
  run --separate-stderr msg-parse --header From "out/$DAY1.eml"
  [ "$output" = "DMARC Reports <reports@example.net>" ]
  mkdir att && msg-parse --attachments att "out/$DAY1.eml" >/dev/null
  cmp "att/$DAY1.xml.gz" "out/$DAY1.xml.gz"
  # The message reads back as the report it carries.
  id=$(zcat "out/$DAY1.xml.gz" | sed -n 's:.*<report_id>\(.*\)</report_id>.*:\1:p')
  run --separate-stderr dmarc-report parse "out/$DAY1.eml"
  assert_status 0
  [ "$(echo "$output" | json 'd["report_metadata"]["report_id"], len(d["record"])')" = "$id 4" ]
}

@test "generate --mail: rua outside the policy domain only when authorized (RFC 7489 7.1)" {
  head -1 "$F/records.jsonl" | sed 's|"rua":\["mailto:dmarc@example.org"\]|"rua":["mailto:dmarc@example.org","mailto:agg@reports.example.net","mailto:x@other.example","mailto:y@broken.example"]|' > rec.jsonl
  printf '%s\n' 'example.org._report._dmarc.reports.example.net TXT "v=DMARC1"' \
    'example.org._report._dmarc.other.example TXT "v=spf1 -all"' \
    'example.org._report._dmarc.broken.example SERVFAIL' > zone
  run --separate-stderr dmarc-report generate --records rec.jsonl "${ORG[@]}" --now $NOW \
    --out-dir out --mail --resolver file:zone
  assert_status 75
  [[ "$stderr" == *"x@other.example"*"not authorized"* ]]
  [[ "$stderr" == *"y@broken.example"*"DNS failure"* ]]
  run bash -c "grep '^To:' 'out/$DAY1.eml' | tr -d '\\r'"
  [ "$output" = "To: dmarc@example.org, agg@reports.example.net" ]
  run grep -c 'other.example\|broken.example' "out/$DAY1.eml"
  [ "$output" = 0 ]
}

@test "generate --json" {
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" --now $NOW --out-dir out --json --mail
  assert_status 0
  [ "$(echo "${lines[1]}" | json 'd["domain"], d["records"], d["messages"], d["to"], d["mail"]')" = \
    "example.org 4 6 ['dmarc@example.org'] out/$DAY1.eml" ]
}

@test "generate: usage errors, unreadable and bad records" {
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" --email a@example.net
  assert_status 64
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" --period fortnight
  assert_status 64
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" "${ORG[@]}" --begin 5
  assert_status 64
  run --separate-stderr dmarc-report generate --records "$F/records.jsonl" --org-name X --email nobody
  assert_status 64
  run --separate-stderr dmarc-report generate --records missing.jsonl "${ORG[@]}"
  assert_status 69
  [[ "$stderr" == *"missing.jsonl"* ]]
  # A bad line is reported with its line number; the good ones still make reports; exit 65.
  { head -n 2 "$F/records.jsonl"; echo '{"v":1,"truncated'; } > bad.jsonl
  run --separate-stderr dmarc-report generate --records bad.jsonl "${ORG[@]}" --now $NOW --out-dir out
  assert_status 65
  [[ "$stderr" == *"file=bad.jsonl problem=\"line 3: not a JSON record"* ]]
  [ "$output" = "out/$DAY1.xml.gz" ]
}

@test "parse: the stalwart samples (XML, gzip, zip, report messages)" {
  run --separate-stderr dmarc-report parse "$S"/00?.xml "$S"/10?.eml
  assert_status 0
  [ "${#lines[@]}" -eq 10 ]
  [ "$(echo "${lines[5]}" | json 'd["report_metadata"]["org_name"], d["record"][0]["row"]["source_ip"]')" = \
    "google.com 2a01:4f9:c011:b43c::1" ]
  [ "$(echo "${lines[2]}" | json 'd["record"][0]["row"]["policy_evaluated"]["reason"][0]["type"]')" = "trusted_forwarder" ]
  [ "$(echo "${lines[8]}" | json 'd["record"][0]["identifiers"]["envelope_to"], len(d["record"][0]["auth_results"]["dkim"])')" = "outlook.com 3" ]
  # From standard input too, and a gzip file by itself.
  run --separate-stderr dmarc-report parse < "$S/002.xml"
  [ "$(echo "$output" | json 'd["file"], d["policy_published"]["p"]')" = "<stdin> none" ]
  gzip -c "$S/003.xml" > r.xml.gz
  run --separate-stderr dmarc-report parse r.xml.gz
  [ "$(echo "$output" | json 'sum(r["row"]["count"] for r in d["record"])')" = 9 ]
}

@test "parse: bad input is exit 65 with the file name; other files still read" {
  printf '<feedback>\n  <report_metadata>\n</feedback>\n' > broken.xml
  run --separate-stderr dmarc-report parse broken.xml "$S/002.xml"
  assert_status 65
  [[ "$stderr" == *"broken.xml: line 3 col 3: mismatched tag"* ]]
  [ "${#lines[@]}" -eq 1 ]
  echo "hello" > words.txt
  run --separate-stderr dmarc-report parse words.txt
  assert_status 65
  [[ "$stderr" == *"words.txt: not a DMARC aggregate report"* ]]
  run --separate-stderr dmarc-report parse "$FIXTURES/dmarc/alice.eml"
  assert_status 65
  [[ "$stderr" == *"no aggregate report in the message"* ]]
  run --separate-stderr dmarc-report parse nothing-here.xml
  assert_status 69
  /usr/bin/python3 -c "
import zipfile
with zipfile.ZipFile('bz.zip', 'w', zipfile.ZIP_BZIP2) as z: z.write('$S/002.xml', 'r.xml')"
  run --separate-stderr dmarc-report parse bz.zip
  assert_status 65
  [[ "$stderr" == *"bz.zip: ZIP member r.xml uses compression method 12"* ]]
  # A bomb: 50 MB of spaces is 50 kB gzip'd; --max-size stops it.
  /usr/bin/python3 -c "
import gzip
open('bomb.xml.gz','wb').write(gzip.compress(b'<feedback>' + b' ' * 50_000_000 + b'</feedback>'))"
  run --separate-stderr dmarc-report parse --max-size 1000000 bomb.xml.gz
  assert_status 65
  [[ "$stderr" == *"bomb.xml.gz: decompressed data larger than the limit of 1000000 bytes"* ]]
}
