#!/usr/bin/env bats
# Completions are generated from each program's CLI definition at build time; these
# tests load them into real shells.

load common

# Runs the bash completion function of $1 for the words that follow; prints COMPREPLY.
complete_bash() {
  local tool=$1
  shift
  bash -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
    fn=$(complete -p "$1" | sed -E "s/.*-F ([^ ]+) .*/\1/")
    "$fn"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$BUILD_DIR/completions/bash/$tool" "$tool" "$@"
}

@test "bash completes msg-parse --he to --header" {
  run complete_bash msg-parse --he
  assert_status 0
  [ "$output" = "--header" ]
}

@test "bash completes the value of --attachments with directories" {
  cd "$BATS_TEST_TMPDIR"
  mkdir -p saved-dir
  touch saved-file
  run complete_bash msg-parse --attachments sa
  assert_status 0
  [ "$output" = "saved-dir" ]
}

@test "bash completes --log-format values" {
  run complete_bash msg-parse --log-format j
  assert_status 0
  [ "$output" = "json" ]
}

@test "every generated completion script is valid bash, zsh and fish" {
  for src in "$SRC_DIR"/cmd/*.cpp; do
    tool=$(basename "$src" .cpp)
    bash -n "$BUILD_DIR/completions/bash/$tool"
    zsh -n "$BUILD_DIR/completions/zsh/_$tool"
    fish --no-execute "$BUILD_DIR/completions/fish/$tool.fish"
    grep -q -- "--header\|-l header\|--config" "$BUILD_DIR/completions/bash/$tool"
  done
}

@test "fish completion offers msg-parse options" {
  run fish -c "source $BUILD_DIR/completions/fish/msg-parse.fish; complete -C 'msg-parse --hea'"
  assert_status 0
  assert_output_contains "--header"
}

@test "zsh completion defines its function" {
  run zsh -c "autoload -Uz compinit; compinit -u -D; source $BUILD_DIR/completions/zsh/_msg-parse 2>/dev/null; whence -w _msg_parse"
  assert_output_contains "function"
}
