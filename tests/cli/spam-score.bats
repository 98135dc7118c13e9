#!/usr/bin/env bats
# spam-score: the X-Spam-* fields (forged ones removed), --explain, --json, --check, the
# builtin checks on crafted messages, rule files (new rules, score overrides, errors with
# file:line:col), both regex engines agreeing over the fixture set, the rule-set cache.
# The classifier: tests/cli/spam-train.bats. Accuracy on the SpamAssassin corpus:
# tests/e2e/spam-accuracy.bats.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
  # A plain, well-formed message.
  printf 'From: Ann <ann@example.net>\r\nTo: bob@example.org\r\nSubject: lunch\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <a1@example.net>\r\n\r\nLunch at noon?\r\n' > plain.eml
  # The same with forged verdict fields, one folded.
  printf 'X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=99\r\n\ttests=FORGED\r\nFrom: Ann <ann@example.net>\r\nTo: bob@example.org\r\nSubject: lunch\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <a1@example.net>\r\n\r\nLunch at noon?\r\n' > forged.eml
  # An invoice that is a Windows program, link text showing another domain.
  {
    printf 'From: "Billing" <billing@invoices.example>\r\nTo: bob@example.org\r\nSubject: Invoice\r\n'
    printf 'Date: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <inv1@invoices.example>\r\nMIME-Version: 1.0\r\n'
    printf 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/html\r\n\r\n'
    printf '<p>Pay at <a href="http://203.0.113.9/pay">https://www.paypal.com/invoice</a></p>\r\n'
    printf '<div style="display:none">%s</div>\r\n' "$(printf 'lorem ipsum dolor %.0s' $(seq 20))"
    printf '\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="invoice.pdf.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    printf 'MZ\x90\x00fake program' | base64
    printf '\r\n--b1--\r\n'
  } > invoice.eml
  # Display name claiming the recipient's domain.
  printf 'From: "example.org IT desk" <it@helpdesk-mail.example>\r\nTo: bob@example.org\r\nSubject: mailbox\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <x@helpdesk-mail.example>\r\n\r\nhello\r\n' > spoof.eml
}

json_field() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())[sys.argv[1]])' "$1"; }

@test "spam-score --help lists its options" {
  run spam-score --help
  assert_status 0
  for w in --json --explain --headers-only --check --rules --rcpt --no-bayes --tokens --files-from --store; do
    assert_output_contains "$w"
  done
}

@test "spam-score: a plain message gets X-Spam-Status No and its bytes unchanged" {
  run spam-score plain.eml
  assert_status 0
  assert_output_contains "X-Spam-Status: No, score="
  assert_output_contains "X-Spam-Score: "
  [[ "$output" != *"X-Spam-Flag"* ]]
  # Everything after our fields is the message as it was.
  spam-score plain.eml | tail -c "$(wc -c < plain.eml)" | cmp - plain.eml
}

@test "spam-score: incoming X-Spam-* fields are removed, folded lines too" {
  run spam-score --headers-only forged.eml
  assert_status 0
  [[ "$output" != *"FORGED"* ]]
  [[ "$output" != *"X-Spam-Flag"* ]]
  [ "$(spam-score forged.eml | grep -c '^X-Spam-Status')" -eq 1 ]
  [ "$(spam-score forged.eml | grep -c 'FORGED')" -eq 0 ]
}

@test "spam-score: an executable invoice with a misleading link is spam, explained" {
  run spam-score --explain invoice.eml
  assert_status 0
  assert_output_contains "spam score="
  assert_output_contains "ATTACH_EXECUTABLE"
  assert_output_contains "ATTACH_DOUBLE_EXT"
  assert_output_contains "URL_TEXT_MISMATCH"
  assert_output_contains "shows www.paypal.com, goes to 203.0.113.9"
  assert_output_contains "URL_IP_HOST"
  assert_output_contains "HTML_HIDDEN_TEXT"
  run spam-score invoice.eml
  assert_output_contains "X-Spam-Flag: YES"
  assert_output_contains "X-Spam-Status: Yes, score="
  assert_output_contains "ATTACH_EXECUTABLE=5.0"
  run spam-score --check invoice.eml
  assert_status 1
  run spam-score --check plain.eml
  assert_status 0
}

@test "spam-score --json: one object per message, in order, stdin too" {
  run spam-score --json plain.eml invoice.eml - < plain.eml
  assert_status 0
  [ "${#lines[@]}" -eq 3 ]
  [ "$(echo "${lines[0]}" | json_field spam)" = "False" ]
  [ "$(echo "${lines[1]}" | json_field spam)" = "True" ]
  [ "$(echo "${lines[1]}" | json_field action)" = "junk" ]
  [ "$(echo "${lines[2]}" | json_field file)" = "<stdin>" ]
  printf '%s\n' plain.eml invoice.eml > list
  run spam-score --json --files-from list
  [ "${#lines[@]}" -eq 2 ]
}

@test "spam-score: a display name claiming the recipient's domain" {
  run spam-score --explain --rcpt bob@example.org spoof.eml
  assert_status 0
  assert_output_contains "FROM_NAME_SPOOFS_LOCAL"
  run spam-score --explain spoof.eml
  [[ "$output" != *"FROM_NAME_SPOOFS_LOCAL"* ]]
  run spam-score --explain spoof.eml --set 'spam.protected_domains=[example.org]'
  assert_output_contains "FROM_NAME_SPOOFS_LOCAL"
}

@test "spam-score: links through URL shorteners (the default list, or spam.shorteners)" {
  printf 'From: a@parcel.example\r\nTo: bob@example.org\r\nSubject: parcel\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <p1@parcel.example>\r\n\r\nUpdate your address: https://bit.ly/3Xk9PqZ\r\n' > short.eml
  run spam-score --explain short.eml
  assert_status 0
  assert_output_contains "URL_SHORTENER  (https://bit.ly/3Xk9PqZ)"
  run spam-score --explain plain.eml
  [[ "$output" != *"URL_SHORTENER"* ]]
  # A list of one's own replaces the default one.
  run spam-score --explain short.eml --set 'spam.shorteners=[sho.rt]'
  [[ "$output" != *"URL_SHORTENER"* ]]
}

@test "spam-score: advance-fee fraud, padded Subject tags and adult lures; not their honest look-alikes" {
  hdr() { printf 'From: %s\r\nTo: bob@example.org\r\nSubject: %s\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\nMessage-ID: <m%s@example.net>\r\n\r\n' "$1" "$2" "$RANDOM"; }
  { hdr 'Mr. Kargbo <k@post.example>' 'CONFIDENTIAL'
    printf 'I am the chief auditor of a bank in Lagos. Our late client died in a plane crash,\r\n'
    printf 'leaving US$12.5 million. I seek a foreign partner for the transfer of the fund;\r\n'
    printf 'you keep 20%% of the total sum. Reply urgently to my private email.\r\n'; } > af.eml
  run spam-score --explain af.eml
  assert_status 0
  assert_output_contains "ADVANCE_FEE_3"
  assert_output_contains "ADVANCE_FEE_4"
  # A news item about such fraud has one or two of the signs, not three.
  { hdr 'News <news@paper.example>' 'Fraud ring arrested'
    printf 'Police in Lagos arrested a ring of e-mail fraudsters on Monday.\r\n'; } > news.eml
  run spam-score --explain news.eml
  [[ "$output" != *"ADVANCE_FEE"* ]]
  hdr 'Deals <d@deals.example>' 'Lose 20 Pounds In 10 Days                  27540' > padded.eml
  printf 'Order now.\r\n' >> padded.eml
  run spam-score --explain padded.eml
  assert_output_contains "SUBJ_PADDED_TAG"
  hdr 'Ann <ann@example.net>' 'Minutes of the meeting, part 2' > subj.eml
  printf 'Attached.\r\n' >> subj.eml
  run spam-score --explain subj.eml
  [[ "$output" != *"SUBJ_PADDED_TAG"* ]]
  { hdr 'Kelly <k@site-personals.example>' 'hi'
    printf 'Catch me live, my webcam is on.\r\n'; } > adult.eml
  run spam-score --explain adult.eml
  assert_output_contains "BODY_ADULT"
  run spam-score --explain plain.eml
  [[ "$output" != *"BODY_ADULT"* ]]
}

@test "spam-score --rules: new rules, score overrides, metas" {
  cat > mine.yaml <<'YAML'
rules:
  - {name: LUNCH, body: '\blunch\b', flags: i, score: 2.5, description: "talks about lunch"}
  - {name: NOON, body: 'noon', score: 1}
  - {name: LUNCH_AT_NOON, meta: 'LUNCH && NOON', score: 3}
  - {name: ATTACH_EXECUTABLE, score: 0.5}
YAML
  run spam-score --explain --rules mine.yaml plain.eml
  assert_status 0
  assert_output_contains "LUNCH_AT_NOON"
  assert_output_contains "   2.5  LUNCH"
  assert_output_contains "spam score=6.5"
  run spam-score --explain --rules mine.yaml invoice.eml
  assert_output_contains "   0.5  ATTACH_EXECUTABLE"
  # A directory of rule files, and spam.rules from --set.
  mkdir d && cp mine.yaml d/10.yaml
  run spam-score --explain plain.eml --set "spam.rules=[$PWD/d]"
  assert_output_contains "LUNCH_AT_NOON"
}

@test "spam-score: a bad rule file names file:line:col and exits 75" {
  printf 'rules:\n  - {name: X, body: "a(", score: 1}\n' > bad-regex.yaml
  run spam-score --rules bad-regex.yaml plain.eml
  assert_status 75
  assert_output_contains "bad-regex.yaml:2:5"
  printf 'rules:\n  - {name: X, check: no_such_check, score: 1}\n' > bad-check.yaml
  run spam-score --rules bad-check.yaml plain.eml
  assert_status 75
  assert_output_contains "no builtin check named no_such_check"
  printf 'rules:\n  - {name: X, meta: "A && ", score: 1}\n' > bad-meta.yaml
  run spam-score --rules bad-meta.yaml plain.eml
  assert_status 75
  assert_output_contains "bad-meta.yaml:2:5"
  printf 'rules:\n  - {name: X, bodyy: "x", score: 1}\n' > bad-key.yaml
  run spam-score --rules bad-key.yaml plain.eml
  assert_status 75
  assert_output_contains "unknown rule key"
  printf 'rules:\n  - {name: A, meta: "B", score: 1}\n  - {name: B, meta: "A", score: 1}\n' > cycle.yaml
  run spam-score --rules cycle.yaml plain.eml
  assert_status 75
  assert_output_contains "cycle"
}

@test "spam-score: not a message exits 65, the other files are still scored" {
  printf '\x00\x01\x02' > junk.bin
  run spam-score --json junk.bin plain.eml
  assert_status 65
  assert_output_contains '"file":"plain.eml"'
}

@test "spam-score: Hyperscan and PCRE2 give the same verdicts over the fixture set" {
  ls "$FIXTURES"/spam/spam/*.eml "$FIXTURES"/spam/ham/*.eml > list
  spam-score --json --files-from list --set spam.cache_dir="$PWD/c" > hs.json
  spam-score --json --files-from list --set spam.regex_engine=pcre2 > pcre.json
  [ "$(wc -l < hs.json)" -eq "$(wc -l < list)" ]
  diff hs.json pcre.json
  # The compiled Hyperscan sets were cached; a second run reads them and agrees.
  ls c/hs-*.db > /dev/null
  spam-score --json --files-from list --set spam.cache_dir="$PWD/c" | diff hs.json -
}

# The accuracy floor: the modern fixture set (tests/fixtures/spam) scored by the rules and
# checks alone (no classifier), through the bench's own evaluation code. The limits are
# the figures measured now (21 of 122 spam, 17.2%): a change that flags fewer of the 122
# spam messages, or any of the 113 ham, fails here before it reaches the bench.
@test "spam-score: the fixture set, rules alone: at least 21 of 122 spam flagged, no ham" {
  py=/usr/bin/python3
  bench="$SRC_DIR/tests/bench"
  "$py" "$bench/spam_bench.py" fixture-list "$SRC_DIR/tests/fixtures/spam/MANIFEST.tsv" > fixtures.lst
  [ "$(wc -l < fixtures.lst)" -eq 235 ]
  cut -f1 fixtures.lst > paths
  spam-score --json --files-from paths --set "spam.cache_dir=$BATS_TEST_TMPDIR/cache" > out.json
  "$py" "$bench/spam_bench.py" verdicts postern fixtures.lst out.json > verdicts.tsv
  run "$py" "$bench/spam_eval.py" check verdicts.tsv --min-recall 17.2 --max-easy-fp 0 --max-hard-fp 0
  echo "$output"
  assert_status 0
}
