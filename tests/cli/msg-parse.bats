#!/usr/bin/env bats
# CLI tests for msg-parse(1).

load common

M="$FIXTURES/mail"

setup() {
  WORK="$(mktemp -d)"
}

teardown() {
  rm -rf "$WORK"
}

# Runs python on stdin JSON: $1 is an expression over `d` (the parsed object).
json_expr() {
  /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.stdin.readline()); print(eval(sys.argv[1]))' "$1"
}

@test "JSON output parses and describes the structure" {
  run msg-parse "$M/attachments.eml"
  assert_status 0
  [ "$(echo "$output" | json_expr 'd["body"]["content_type"]')" = "multipart/mixed" ]
  [ "$(echo "$output" | json_expr 'len(d["body"]["parts"])')" = "4" ]
  [ "$(echo "$output" | json_expr 'd["text_body"]')" = "['1']" ]
  [ "$(echo "$output" | json_expr 'd["attachments"]')" = "['2', '3', '4']" ]
  [ "$(echo "$output" | json_expr 'd["body"]["parts"][2]["size"]')" = "13" ]
  [ "$(echo "$output" | json_expr 'd["body"]["parts"][2]["filename"]')" = "report.txt" ]
}

@test "headers are decoded and typed" {
  run msg-parse "$M/simple.eml"
  assert_status 0
  [ "$(echo "$output" | json_expr '[h["value"] for h in d["headers"] if h["name"]=="Subject"][0]')" = "Notes on the engine — draft" ]
  [ "$(echo "$output" | json_expr '[h["addresses"][1]["address"] for h in d["headers"] if h["name"]=="To"][0]')" = "bob@example.net" ]
  [ "$(echo "$output" | json_expr '[h["ids"] for h in d["headers"] if h["name"]=="Message-ID"][0]')" = "['notes-1@example.org']" ]
}

@test "--pretty prints indented JSON that parses" {
  run msg-parse --pretty "$M/simple.eml"
  assert_status 0
  assert_output_contains '  "headers": ['
  echo "$output" | /usr/bin/python3 -c 'import json,sys; json.load(sys.stdin)'
}

@test "--header prints decoded values, repeatable" {
  run msg-parse --header subject -H To "$M/simple.eml"
  assert_status 0
  [ "${lines[0]}" = "Notes on the engine — draft" ]
  [ "${lines[1]}" = "Charles Babbage <charles@example.org>, bob@example.net" ]
}

@test "--text on a text/plain message decodes quoted-printable" {
  run msg-parse --text "$M/simple.eml"
  assert_status 0
  [ "${lines[0]}" = "The engine weaves algebraic patterns " ]
  assert_output_contains "Café."
}

@test "--text on an HTML-only message converts HTML to text" {
  run msg-parse --text "$M/html-only.eml"
  assert_status 0
  assert_output_contains "Weekly digest"
  assert_output_contains "Café opens at 9:00 & closes late."
  assert_output_contains "- First item"
  assert_output_contains "Line one"
  [[ "$output" != *"alert"* ]]
  [[ "$output" != *"color"* ]]
  [[ "$output" != *"Ignore me"* ]]
  [[ "$output" != *"<p>"* ]]
}

@test "--text prefers text/plain in multipart/alternative" {
  run msg-parse --text "$M/alternative.eml"
  assert_status 0
  [ "$output" = "plain version" ]
}

@test "--part writes decoded content, --raw the raw bytes" {
  run msg-parse --part 3 "$M/attachments.eml"
  assert_status 0
  [ "$output" = "first report" ]
  run msg-parse --part 3 --raw "$M/attachments.eml"
  assert_status 0
  assert_output_contains "Content-Transfer-Encoding: base64"
  assert_output_contains "Zmlyc3QgcmVwb3J0Cg=="
}

@test "--part with an unknown id is a usage error" {
  run msg-parse --part 9.9 "$M/attachments.eml"
  assert_status 64
  assert_output_contains "no part 9.9"
}

@test "--attachments saves safely: no traversal, no overwrite, de-duplicated" {
  mkdir "$WORK/out"
  echo "keep me" > "$WORK/out/passwd"
  run msg-parse --attachments "$WORK/out" "$M/attachments.eml"
  assert_status 0
  [ "$(cat "$WORK/out/passwd")" = "keep me" ]
  [ "$(cat "$WORK/out/passwd-1")" = "root:x:0:0" ]
  [ "$(cat "$WORK/out/report.txt")" = "first report" ]
  [ "$(cat "$WORK/out/report-1.txt")" = "second report" ]
  [ ! -e "$WORK/etc/passwd" ]
  [ "$(ls "$WORK/out" | wc -l)" = "4" ]
}

@test "--attachments on a missing directory is a usage error" {
  run msg-parse --attachments "$WORK/nope" "$M/attachments.eml"
  assert_status 64
}

@test "many files in one run give one JSON object per line" {
  run msg-parse "$M/simple.eml" "$M/html-only.eml" "$M/attachments.eml"
  assert_status 0
  [ "${#lines[@]}" = "3" ]
  [ "$(echo "${lines[1]}" | json_expr 'd["file"]')" = "$M/html-only.eml" ]
}

@test "reads standard input with no file or -" {
  run bash -c "msg-parse < '$M/simple.eml'"
  assert_status 0
  [ "$(echo "$output" | json_expr 'd["file"]')" = "<stdin>" ]
  run bash -c "msg-parse -H subject - < '$M/simple.eml'"
  assert_status 0
  [ "$output" = "Notes on the engine — draft" ]
}

@test "empty input exits 65 with a one-line error" {
  : > "$WORK/empty.eml"
  run msg-parse "$WORK/empty.eml"
  assert_status 65
  assert_output_contains "empty.eml: not a message (empty input)"
  [ "${#lines[@]}" = "1" ]
}

@test "binary junk exits 65, other files still print, exit reflects the worst" {
  head -c 4096 /dev/urandom | tr -d ':' > "$WORK/junk.bin"
  printf '\x89PNG\r\n\x1a\n' >> "$WORK/junk.bin"
  run msg-parse "$WORK/junk.bin" "$M/simple.eml"
  assert_status 65
  assert_output_contains "junk.bin: not a message"
  assert_output_contains '"file":"'"$M/simple.eml"'"'
}

@test "a bad flag exits 64" {
  run msg-parse --no-such-flag
  assert_status 64
}

@test "--raw without --part exits 64" {
  run msg-parse --raw "$M/simple.eml"
  assert_status 64
}

@test "--help describes the options" {
  run msg-parse --help
  assert_status 0
  assert_output_contains "--attachments"
  assert_output_contains "--header"
  assert_output_contains "--text"
}

@test "a missing file is reported and does not stop the run" {
  run msg-parse "$WORK/missing.eml" "$M/simple.eml"
  [ "$status" -ne 0 ]
  assert_output_contains "missing.eml"
  assert_output_contains '"file":"'"$M/simple.eml"'"'
}

@test "-c and --set: a bad configuration exits 78 with file:line:col" {
  printf 'log:\n  level: loud\n' > "$WORK/postern.yaml"
  run msg-parse -c "$WORK/postern.yaml" "$M/simple.eml"
  assert_status 78
  assert_output_contains "postern.yaml:2:10: log.level"
  run msg-parse --set log.lvl=debug "$M/simple.eml"
  assert_status 78
  assert_output_contains "did you mean log.level?"
}

@test "-c: the configured log format applies to error lines" {
  printf 'log:\n  format: json\n' > "$WORK/postern.yaml"
  run msg-parse -c "$WORK/postern.yaml" "$WORK/missing.eml"
  [ "$status" -ne 0 ]
  echo "$output" | /usr/bin/python3 -c 'import json,sys; e=json.loads(sys.stdin.readline()); assert e["level"]=="error" and "missing.eml" in e["msg"], e'
  # --log-format on the command line wins over the file.
  run msg-parse -c "$WORK/postern.yaml" --log-format logfmt "$WORK/missing.eml"
  assert_output_contains "level=error prog=msg-parse"
}
