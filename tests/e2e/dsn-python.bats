#!/usr/bin/env bats
# Delivery reports (lib/mail/dsn.h) and 8BITMIME down-conversion (lib/mail/downconvert.h)
# read by an independent parser, Python's email package (Debian's python3). The unit
# tests write the samples (DsnOut / DowncvtOut, when POSTERN_DSN_OUT is set);
# dsn-python.py reads them back.

load ../cli/common

setup() {
  export POSTERN_DSN_OUT="$BATS_TEST_TMPDIR"
}

@test "delivery reports parse in Python: multipart/report, status fields, original header byte for byte" {
  run "$BUILD_DIR/tests/mail_dsn_test" --gtest_filter='DsnOut.*' --gtest_brief=1
  assert_status 0
  ls "$POSTERN_DSN_OUT"/*.eml >/dev/null
  run /usr/bin/python3 "$SRC_DIR/tests/e2e/dsn-python.py" dsn "$POSTERN_DSN_OUT"
  echo "$output"
  assert_status 0
  assert_output_contains "5/5 reports read back"
}

@test "down-converted messages decode in Python to the same text and bytes" {
  run "$BUILD_DIR/tests/mail_downconvert_test" --gtest_filter='DowncvtOut.*' --gtest_brief=1
  assert_status 0
  run /usr/bin/python3 "$SRC_DIR/tests/e2e/dsn-python.py" downconvert "$POSTERN_DSN_OUT"
  echo "$output"
  assert_status 0
  assert_output_contains "4/4 messages decode the same"
}
