#!/usr/bin/env bats
# `make install` layout: programs, library, man pages, completions and the configuration,
# installed into a staging directory (DESTDIR) and run from there.

load ../cli/common

setup() {
  STAGE="$BATS_TEST_TMPDIR/stage"
  PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
}

@test "install puts every piece in its Debian place and the programs run" {
  run env DESTDIR="$STAGE" cmake --install "$BUILD_DIR"
  assert_status 0
  [ -x "$STAGE$PREFIX/bin/msg-parse" ]
  ls "$STAGE$PREFIX"/lib*/libpostern.so* >/dev/null
  [ -f "$STAGE$PREFIX/share/man/man1/msg-parse.1" ]
  [ -f "$STAGE$PREFIX/share/man/man7/postern.7" ]
  [ -f "$STAGE$PREFIX/share/bash-completion/completions/msg-parse" ]
  [ -f "$STAGE$PREFIX/share/zsh/vendor-completions/_msg-parse" ]
  [ -f "$STAGE$PREFIX/share/fish/vendor_completions.d/msg-parse.fish" ]
  [ -f "$STAGE/etc/postern/postern.yaml" ]
  [ ! -e "$STAGE$PREFIX/etc" ]
  [ ! -e "$STAGE/usr/etc" ]
  # The installed program finds the installed library (RPATH $ORIGIN/../lib).
  run env -u LD_LIBRARY_PATH "$STAGE$PREFIX/bin/msg-parse" --header Subject "$SRC_DIR/examples/welcome.eml"
  assert_status 0
  assert_output_contains "Welcome to Postern"
}

@test "reinstalling keeps an admin's edited configuration" {
  env DESTDIR="$STAGE" cmake --install "$BUILD_DIR" >/dev/null
  echo "# edited by the admin" >> "$STAGE/etc/postern/postern.yaml"
  env DESTDIR="$STAGE" cmake --install "$BUILD_DIR" >/dev/null
  grep -q "edited by the admin" "$STAGE/etc/postern/postern.yaml"
}
