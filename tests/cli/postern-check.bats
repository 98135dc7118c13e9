#!/usr/bin/env bats
# postern check and postern config show: every problem of a configuration and of the
# files it names, each as file:line:col, exit 0 or 78; the effective configuration,
# which loads again.

bats_require_minimum_version 1.5.0
load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  chmod 755 "$BATS_TEST_TMPDIR"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=mx.example.org -keyout key.pem -out cert.pem 2>/dev/null
  chmod 600 key.pem
  dkim-keygen -d example.org -s s1 -o dkim.key >/dev/null
  account-ctl --store "sqlite:$PWD/store.db" domain add example.org >/dev/null
  U=$([ "$(id -u)" -eq 0 ] && echo root || id -un)
  cat > postern.yaml <<YAML
server:
  hostname: mx.example.org
  user: $U
  data_dir: $PWD
store:
  path: $PWD/store.db
tls:
  certificate: cert.pem
  key: key.pem
delivery:
  dkim:
    - domain: example.org
      selector: s1
      key: dkim.key
YAML
}

@test "postern check: a good configuration passes (exit 0, nothing said)" {
  run postern check -c postern.yaml
  assert_status 0
  [ "$output" = "" ] || { echo "$output"; false; }
}

@test "postern check: every YAML problem at once, each as file:line:col, exit 78" {
  printf 'server:\n  hostname: mx.example.org\n  colour: blue\nsmtp:\n  max_recipients: many\n' > bad.yaml
  run postern check -c bad.yaml
  assert_status 78
  assert_output_contains "bad.yaml:3:3: error: unknown key server.colour"
  assert_output_contains "bad.yaml:5:19: error: smtp.max_recipients: expected an integer"
  assert_output_contains "2 errors, 0 warnings"
}

@test "postern check: files behind the keys — a key that does not match, a broken DKIM key, a loose mode" {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=other -keyout other.key -out other.crt 2>/dev/null
  echo 'not a key' > dkim.key
  chmod 644 key.pem
  run postern check -c postern.yaml --set tls.key=other.key
  assert_status 78
  assert_output_contains "--set tls.key=other.key: error: tls.key $PWD/other.key does not match tls.certificate $PWD/cert.pem"
  assert_output_contains "postern.yaml:14:12: error: DKIM key $PWD/dkim.key"
  run postern check -c postern.yaml
  assert_output_contains "warning: tls.key $PWD/key.pem may be read by anyone"
}

@test "postern check: a store that cannot be opened is an error where store.path is set" {
  run postern check -c postern.yaml --set store.path=/nonexistent/store.db
  assert_status 78
  assert_output_contains "--set store.path=/nonexistent/store.db: error: the store cannot be opened"
  run postern check -c postern.yaml --set store.path=/nonexistent/store.db --no-store
  assert_status 0
}

@test "postern config show: every key with its value, and the output loads again" {
  run --separate-stderr postern config show -c postern.yaml
  assert_status 0
  assert_output_contains "hostname: mx.example.org"
  assert_output_contains "max_recipients: "
  printf '%s\n' "$output" > shown.yaml
  run postern check -c shown.yaml --no-store
  assert_status 0
}
