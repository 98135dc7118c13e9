#!/usr/bin/env bats
# tests/tap-counts, with which tests/run-tests counts each bats tier: on the TAP that bats
# itself prints for a file with passing, failing and skipped tests (a skip in a test and
# one in setup, which skips every test of its file), and on a log cut off before the plan
# was done. (Not a skip in setup_file: Debian 12's bats 1.8.2 reports that as a failure,
# bats-core issue 686, fixed in 1.9.0.)

bats_require_minimum_version 1.5.0
load common

COUNT="$SRC_DIR/tests/tap-counts"

setup() {
  cd "$BATS_TEST_TMPDIR" || return
}

@test "tap-counts: skipped tests are counted apart, not as passed" {
  # printf, not a here-document: bats would take the @test lines of one for this file's.
  printf '%s\n' \
    '@test "passes" { true; }' \
    '@test "passes too" { true; }' \
    '@test "fails" { false; }' \
    '@test "no peer here" { skip "the peer is not installed"; }' \
    '@test "skips without a reason" { skip; }' > mixed.bats
  printf '%s\n' \
    'setup() { skip "no NSD"; }' \
    '@test "needs NSD" { true; }' \
    '@test "needs NSD too" { true; }' > skipped-file.bats
  # A bats of its own, outside this one's environment (whose PATH leads to bats' insides).
  local path
  path=$(tr ':' '\n' <<<"$PATH" | grep -v bats-core | paste -sd:)
  env -i PATH="$path" HOME="$HOME" TMPDIR="$BATS_TEST_TMPDIR" \
    bats --tap mixed.bats skipped-file.bats > tap.log || true
  grep -q '^ok 4 no peer here # skip' tap.log || { cat tap.log >&2; false; }
  run "$COUNT" tap.log
  assert_status 0
  [ "$output" = "2 1 4 0" ] || { echo "got: $output" >&2; cat tap.log >&2; false; }
  # From stdin too.
  run "$COUNT" < tap.log
  [ "$output" = "2 1 4 0" ]
}

@test "tap-counts: tests the plan announces but the log never reports count as failed" {
  printf '1..5\nok 1 a\nok 2 b # skip no peer\nnot ok 3 c\n# (in test file x.bats, line 3)\n' > cut.log
  run "$COUNT" cut.log
  assert_status 0
  [ "$output" = "1 3 1 2" ] || { echo "got: $output" >&2; false; }
  # A test whose name merely mentions skipping passed; a SKIP directive in capitals skipped.
  printf '1..2\nok 1 does not skip # of itself\nok 2 x # SKIP\n' > names.log
  run "$COUNT" names.log
  [ "$output" = "1 0 1 0" ] || { echo "got: $output" >&2; false; }
  # Nothing at all.
  run "$COUNT" /dev/null
  [ "$output" = "0 0 0 0" ]
}
