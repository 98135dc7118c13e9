#!/usr/bin/env bats
# msg-parse against an independent parser, Python's email package (Debian's python3):
# decoded Subject, From addresses, Date and Message-ID must agree on every sample of the
# shared corpus and on our fixtures, except the differences explained here.

load ../cli/common

@test "msg-parse agrees with Python's email package on the main header fields" {
  # malformed/019 starts with "Fro :uMmlti ..." (white space before the colon). RFC 5322
  # 4.5.2 obs-optional allows it, so Postern keeps reading the header; Python takes the
  # first line as the start of the body and loses Subject, Date and Message-ID.
  # rfc/001, rfc/004: "From: Whomever" has no '@' and no angle brackets; Postern reads a
  # display name without an address (as mail clients show it), Python an addr-spec.
  run /usr/bin/python3 "$SRC_DIR/tests/e2e/msg-parse-vs-python.py" --bin "$BIN/msg-parse" \
    --expect malformed/019.eml:subject --expect malformed/019.eml:date \
    --expect malformed/019.eml:message-id \
    --expect rfc/001.eml:from --expect rfc/004.eml:from \
    "$TESTDATA"/stalwart-mail-parser/eml/*/*.eml "$FIXTURES"/mail/*.eml \
    "$SRC_DIR/examples/welcome.eml"
  echo "$output"
  assert_status 0
  assert_output_contains "232/232 fields agree"
}
