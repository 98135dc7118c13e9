#!/usr/bin/env bats
# Every man page renders without a warning; every program has a page with the sections a
# reader expects, a bats file, and generated completions.

load common

@test "every man page renders with man --warnings and no warning" {
  for src in "$SRC_DIR"/man/*.scd; do
    page=$(basename "$src" .scd)
    [ -f "$BUILD_DIR/man/man${page##*.}/$page" ] || { echo "not built: $page"; return 1; }
  done
  # Also the generated pages (postern.yaml.5 from the config schema).
  [ -f "$BUILD_DIR/man/man5/postern.yaml.5" ]
  local n=0
  for out in "$BUILD_DIR"/man/man*/*; do
    warnings=$(MANWIDTH=80 man --warnings -l "$out" 2>&1 >/dev/null)
    [ -z "$warnings" ] || { echo "$(basename "$out"): $warnings"; return 1; }
    n=$((n + 1))
  done
  [ "$n" -ge 4 ]
}

@test "postern.yaml(5) documents every key of the example configuration" {
  page=$(MANWIDTH=200 man -l "$BUILD_DIR/man/man5/postern.yaml.5" 2>/dev/null)
  for key in server.hostname log.format dns.servers store.engine listeners; do
    grep -q "$key" <<<"$page" || { echo "missing $key"; return 1; }
  done
}

@test "every program has a man page with the required sections" {
  for src in "$SRC_DIR"/cmd/*.cpp; do
    tool=$(basename "$src" .cpp)
    page=$(ls "$SRC_DIR"/man/"$tool".[18].scd 2>/dev/null | head -n1)
    [ -n "$page" ] || { echo "$tool has no man page"; return 1; }
    for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO" STANDARDS; do
      grep -q "^# $section\$" "$page" || { echo "$page lacks $section"; return 1; }
    done
  done
}

@test "every program has a bats file and --help" {
  for src in "$SRC_DIR"/cmd/*.cpp; do
    tool=$(basename "$src" .cpp)
    [ -f "$SRC_DIR/tests/cli/$tool.bats" ] || { echo "no tests/cli/$tool.bats"; return 1; }
    run "$BIN/$tool" --help
    assert_status 0
    assert_output_contains "--config"
  done
}
