# Shared set-up for the CLI tier (bats). Each tests/cli/<tool>.bats starts with
#   load common
# and then runs "$BIN/<tool>". Paths come from the environment that tests/run-tests
# sets; the defaults work from a plain `bats tests/cli` in the source tree.

SRC_DIR="$(cd "$(dirname "${BATS_TEST_FILENAME}")/../.." && pwd)"
BIN="${POSTERN_BIN:-$SRC_DIR/build/bin}"
BUILD_DIR="${POSTERN_BUILD:-$(dirname "$BIN")}"
TESTDATA="${POSTERN_TESTDATA:-$SRC_DIR/../shared/testdata}"
FIXTURES="$SRC_DIR/tests/fixtures"
PATH="$BIN:$PATH"
export PATH

# Fails the test with a message unless "$status" equals $1.
assert_status() {
  if [ "$status" -ne "$1" ]; then
    echo "expected exit $1, got $status; output:" >&2
    echo "$output" >&2
    return 1
  fi
}

# Fails unless "$output" contains $1.
assert_output_contains() {
  case "$output" in
    *"$1"*) ;;
    *) echo "expected output to contain: $1" >&2; echo "got: $output" >&2; return 1 ;;
  esac
}
