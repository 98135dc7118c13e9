#!/usr/bin/env bats
# `make install` layout: programs, library, man pages, completions and the configuration,
# installed into a staging directory (DESTDIR) and run from there. And the user the
# services run as: `make install` (its install-user step) creates it on the machine itself
# (as root, no DESTDIR). Tested under a throwaway name and state directory, so that no
# user is left behind; the defaults are checked against the configuration schema.

bats_require_minimum_version 1.5.0
load ../cli/common

setup() {
  STAGE="$BATS_TEST_TMPDIR/stage"
  PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
}

teardown() {
  # Only the user this test created.
  if [ -f "$BATS_TEST_TMPDIR/created-user" ]; then
    local u
    u=$(cat "$BATS_TEST_TMPDIR/created-user")
    userdel "$u" 2>/dev/null || true
    groupdel "$u" 2>/dev/null || true
  fi
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

@test "make install with DESTDIR stages the files and leaves the user to the target machine" {
  run make -C "$SRC_DIR" --no-print-directory install BUILD="$BUILD_DIR" DESTDIR="$STAGE"
  assert_status 0
  assert_output_contains "install: DESTDIR is set: not creating the user postern nor /var/lib/postern"
  [ -x "$STAGE$PREFIX/bin/postern" ]
  [ -f "$STAGE/etc/postern/postern.yaml" ]
  [ ! -e "$STAGE/var/lib/postern" ]
}

@test "make install-user as root: a system user without a login shell, its state directory 0750" {
  [ "$(id -u)" -eq 0 ] || skip "creating a user needs root"
  command -v useradd >/dev/null || skip "useradd is not installed"
  local u="pstrt$$" state="$BATS_TEST_TMPDIR/state"
  if getent passwd "$u" >/dev/null; then skip "a user $u exists already"; fi
  echo "$u" > "$BATS_TEST_TMPDIR/created-user"
  run make -C "$SRC_DIR" --no-print-directory install-user POSTERN_USER="$u" STATE_DIR="$state"
  assert_status 0
  assert_output_contains "install: creating the system user $u (server.user)"
  IFS=: read -r _ _ uid gid _ home shell < <(getent passwd "$u")
  # A system uid (Debian's SYS_UID_MAX is 999), a group of its own, no shell, no home made.
  [ "$uid" -lt 1000 ]
  [ "$(getent group "$gid" | cut -d: -f1)" = "$u" ]
  [ "$shell" = /usr/sbin/nologin ]
  [ "$home" = "$state" ]
  [ -z "$(ls -A "$state")" ]
  [ "$(stat -c '%U %G %a' "$state")" = "$u $u 750" ]
  # Again: the user is kept as it is, the directory given back to it.
  chown root:root "$state"
  run make -C "$SRC_DIR" --no-print-directory install-user POSTERN_USER="$u" STATE_DIR="$state"
  assert_status 0
  assert_output_contains "install: the user $u exists"
  [ "$(getent passwd "$u" | cut -d: -f3)" = "$uid" ]
  [ "$(stat -c '%U %a' "$state")" = "$u 750" ]
}

@test "make install-user: by default the user and directory the configuration defaults to" {
  printf 'server:\n  hostname: mx.example.org\n' > "$BATS_TEST_TMPDIR/min.yaml"
  run --separate-stderr postern config show -c "$BATS_TEST_TMPDIR/min.yaml"
  assert_status 0
  user=$(sed -n 's/^  user: *//p' <<<"$output" | head -n 1)
  data_dir=$(sed -n 's/^  data_dir: *//p' <<<"$output" | head -n 1)
  [ "$user" = postern ] && [ "$data_dir" = /var/lib/postern ] || { echo "$output" >&2; false; }
  run make -n -C "$SRC_DIR" --no-print-directory install-user
  assert_status 0
  assert_output_contains "useradd --system --user-group --no-create-home --home-dir $data_dir"
  assert_output_contains "--shell /usr/sbin/nologin $user"
  assert_output_contains "install -d -m 0750 -o $user"
}

@test "make install-user as another user than root: says so and creates nothing" {
  [ "$(id -u)" -eq 0 ] || skip "needs root to become another user"
  runuser -u nobody -- test -r "$SRC_DIR/Makefile" || skip "user nobody cannot read the Makefile"
  local u="pstrn$$"
  run runuser -u nobody -- make -f "$SRC_DIR/Makefile" -C / --no-print-directory install-user \
    POSTERN_USER="$u" STATE_DIR="$BATS_TEST_TMPDIR/none"
  assert_status 0
  assert_output_contains "install: not root: not creating the user $u"
  run ! getent passwd "$u"
  [ ! -e "$BATS_TEST_TMPDIR/none" ]
}
