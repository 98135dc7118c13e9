#!/usr/bin/env bats
# pyzor-check: --help, digests of files and standard input, a server that does not
# answer (exit 75, quickly), usage errors. Servers: tests/e2e/pyzor-interop.bats.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  printf 'From: a@example.org\nSubject: one\n\nshort\nThis line is long enough\nand so is this one here\n' > one.eml
  printf 'From: a@example.org\nSubject: two\nContent-Type: text/html\n\n<p>Hello <b>big</b> world</p>\n' > two.eml
}

sha1() { printf '%s' "$1" | sha1sum | cut -d' ' -f1; }

# A UDP port on 127.0.0.1 that nobody listens on (bound, then released).
dead_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "pyzor-check --help lists the commands and options" {
  run pyzor-check --help
  assert_status 0
  for w in digest predigest check report whitelist ping --server --accounts --timeout --retries; do
    assert_output_contains "$w"
  done
}

@test "pyzor-check digest: the SHA-1 of the normalised lines, files and stdin" {
  run pyzor-check digest one.eml
  assert_status 0
  [ "$output" = "$(sha1 'Thislineislongenoughandsoisthisonehere')" ]
  run pyzor-check digest two.eml
  [ "$output" = "$(sha1 'Hellobigworld')" ]
  # stdin, '-' and several files in one run.
  [ "$(pyzor-check digest < one.eml)" = "$(sha1 'Thislineislongenoughandsoisthisonehere')" ]
  run pyzor-check digest one.eml - two.eml < one.eml
  assert_status 0
  [ "${#lines[@]}" -eq 3 ]
  [ "${lines[0]}" = "${lines[1]}" ]
  [ "${lines[2]}" = "$(sha1 'Hellobigworld')" ]
}

@test "pyzor-check predigest shows the hashed lines" {
  run pyzor-check predigest one.eml
  assert_status 0
  [ "${lines[0]}" = "Thislineislongenough" ]
  [ "${lines[1]}" = "andsoisthisonehere" ]
}

@test "pyzor-check digest: a missing file is an error, the others still print" {
  run pyzor-check digest nosuch.eml one.eml
  [ "$status" -ne 0 ]
  assert_output_contains "$(sha1 'Thislineislongenoughandsoisthisonehere')"
}

@test "pyzor-check check: a server that does not answer gives 75, quickly" {
  port=$(dead_port)
  start=$(date +%s)
  run pyzor-check --server "127.0.0.1:$port" --timeout 0.3 --retries 1 check one.eml
  assert_status 75
  assert_output_contains "127.0.0.1:$port	(504, "
  [ $(( $(date +%s) - start )) -le 3 ]
  run pyzor-check --server "127.0.0.1:$port" --timeout 0.3 --retries 0 ping
  assert_status 75
  run pyzor-check --server "127.0.0.1:$port" --timeout 0.3 --retries 0 report one.eml
  assert_status 75
}

@test "pyzor-check check: a server that swallows requests times out with 75" {
  port_file=$BATS_TEST_TMPDIR/port
  /usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(5)' "$port_file" &
  pid=$!
  for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
  run pyzor-check --server "127.0.0.1:$(cat "$port_file")" --timeout 0.2 --retries 1 check one.eml
  kill $pid
  assert_status 75
}

@test "pyzor-check: usage errors exit 64" {
  run pyzor-check
  assert_status 64
  run pyzor-check frobnicate
  assert_status 64
  run pyzor-check --server '::1:24441' check one.eml
  assert_status 64
  run pyzor-check --server 'host:99999' ping
  assert_status 64
  run pyzor-check --timeout 0 --server 127.0.0.1:1 check one.eml
  assert_status 64
  run pyzor-check --retries 50 ping
  assert_status 64
}

@test "pyzor-check: a malformed accounts file is an error, not anonymous" {
  echo 'this is not an accounts line' > accounts
  run pyzor-check --server 127.0.0.1:1 --accounts accounts check one.eml
  assert_status 65
  assert_output_contains "accounts line 1"
  run pyzor-check --server 127.0.0.1:1 --accounts nosuch check one.eml
  [ "$status" -ne 0 ]
}
