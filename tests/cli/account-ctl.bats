#!/usr/bin/env bats
# account-ctl: domains, accounts, passwords (stdin only, imported hashes), quotas,
# enable/disable, aliases, app passwords, verify; exit codes; SQLite and PostgreSQL.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE="sqlite:$BATS_TEST_TMPDIR/store.db"
}

# account-ctl on this test's store; stdin passes through.
ac() { account-ctl --store "$STORE" "$@"; }

json() { /usr/bin/python3 -c "import json,sys; d=json.loads(sys.stdin.readline()); print(d$1)"; }

# A SHA-512-crypt hash of "correct horse" (openssl passwd -6 -salt Vn3bOq2Pc8hQd1Zx).
SHA512='$6$Vn3bOq2Pc8hQd1Zx$N7zi99NH/U6jVFJSdf.qRT/FavO.Dpn2TX.HBICuDPhUjzrl9RO/pSTRw9ZRxc4CR2NZhmE6nb5lBEtNcrB5Z1'
BCRYPT='$2b$05$abcdefghijklmnopqrstuuHNbAKRhpaujgo33bRWs.NLUTJO3lOy2'

@test "account-ctl: domain add, list, duplicate, del, del of a missing domain" {
  run ac domain add Example.ORG
  assert_status 0
  run ac domain add example.net
  assert_status 0
  run ac domain add example.org
  assert_status 65
  assert_output_contains "exists"
  run ac domain list
  assert_status 0
  [ "$output" = "$(printf 'example.net\t0\nexample.org\t0')" ]
  run ac --json domain list
  assert_status 0
  [ "$(head -n1 <<<"$output" | json '["domain"]')" = example.net ]
  run ac domain del example.net
  assert_status 0
  run ac domain del example.net
  assert_status 67
  run ac domain add "not a domain"
  assert_status 65
}

@test "account-ctl: a domain with accounts is deleted only with --cascade" {
  ac domain add example.org
  ac add ann@example.org
  run ac domain del example.org
  assert_status 65
  run ac domain del example.org --cascade
  assert_status 0
  run ac show ann@example.org
  assert_status 67
}

@test "account-ctl: only domain add creates a store; a missing store exits 75" {
  run ac list
  assert_status 75
  [ ! -e store.db ]
  run ac add ann@example.org
  assert_status 75
  run ac domain add example.org
  assert_status 0
  [ -f store.db ]
}

@test "account-ctl: add with --password-stdin, show, verify right and wrong" {
  ac domain add example.org
  run ac add Ann@Example.org --name "Ann Example" --quota 2G --password-stdin <<<"pencil"
  assert_status 0
  run ac show ann@example.org
  assert_status 0
  assert_output_contains "address:       ann@example.org"
  assert_output_contains "Ann Example"
  assert_output_contains "0 used of 2G"
  assert_output_contains "mailboxes:     6"
  assert_output_contains "password:      yescrypt"
  assert_output_contains "scram-sha-256: yes"
  [[ "$output" != *'$y$'* ]]
  run ac --json show ann@example.org
  assert_status 0
  [ "$(json '["quota_bytes"]' <<<"$output")" = 2147483648 ]
  [ "$(json '["scram"]' <<<"$output")" = True ]
  [ "$(json '["password_scheme"]' <<<"$output")" = yescrypt ]
  [ "$(json '["enabled"]' <<<"$output")" = True ]
  [[ "$output" != *'$y$'* ]]
  run ac verify ann@example.org <<<"pencil"
  assert_status 0
  [ "$output" = "match account" ]
  run ac verify ANN@example.org <<<"pencil"
  assert_status 0
  run ac verify ann@example.org <<<"Pencil"
  assert_status 1
  [ "$output" = "no match" ]
  run ac verify nobody@example.org <<<"pencil"
  assert_status 67
}

@test "account-ctl: passwords are never taken from argv and never logged" {
  ac domain add example.org
  run ac add ann@example.org --password pencil
  assert_status 64
  run ac passwd ann@example.org pencil
  assert_status 64
  run ac show ann@example.org
  assert_status 67
  run ac add ann@example.org --password-stdin --log-format json <<<"s3cret-Passw0rd"
  assert_status 0
  [[ "$output" != *s3cret* ]]
  run ac passwd ann@example.org <<<"an0ther-Secret"
  assert_status 0
  [[ "$output" != *an0ther* ]]
  run grep -rlaE "an0ther-Secret|s3cret-Passw0rd" .
  assert_status 1
}

@test "account-ctl: add refuses duplicates, bad addresses and unknown domains" {
  ac domain add example.org
  run ac add ann@example.org
  assert_status 0
  assert_output_contains "no password"
  run ac add ANN@example.org
  assert_status 65
  run ac add "no-at-sign"
  assert_status 65
  run ac add "a b@example.org"
  assert_status 65
  run ac add ann@elsewhere.example
  assert_status 67
  run ac add bob@example.org --quota 12X
  assert_status 64
  run ac add bob@example.org --password-stdin </dev/null
  assert_status 65
  run ac show bob@example.org
  assert_status 67
  run ac add bob@example.org --password-stdin --password-hash "$SHA512" <<<"x"
  assert_status 64
}

@test "account-ctl: --password-hash imports Dovecot and shadow hashes" {
  ac domain add example.org
  run ac add a@example.org --password-hash "$SHA512"
  assert_status 0
  run ac add b@example.org --password-hash "{SHA512-CRYPT}$SHA512"
  assert_status 0
  run ac add c@example.org --password-hash "{BLF-CRYPT}$BCRYPT"
  assert_status 0
  for u in a b c; do
    run ac verify $u@example.org <<<"correct horse"
    assert_status 0
    run ac verify $u@example.org <<<"correct horsE"
    assert_status 1
  done
  run ac show b@example.org
  assert_output_contains "sha512-crypt"
  assert_output_contains "scram-sha-256: no"
  run ac show c@example.org
  assert_output_contains "bcrypt"
  # Setting a password later replaces the hash and adds a SCRAM verifier.
  ac passwd a@example.org <<<"new one"
  run ac --json show a@example.org
  [ "$(json '["scram"]' <<<"$output")" = True ]
  run ac verify a@example.org <<<"correct horse"
  assert_status 1
}

@test "account-ctl: clear-text, digest and locked hashes are refused with a reason" {
  ac domain add example.org
  run ac add a@example.org --password-hash "{PLAIN}pencil"
  assert_status 65
  assert_output_contains "clear-text"
  run ac add a@example.org --password-hash "{SSHA}PTggDCOUPEVj5h7bZjhxfKWQBpey47nF"
  assert_status 65
  assert_output_contains "digest"
  run ac add a@example.org --password-hash "!"
  assert_status 65
  assert_output_contains "locked"
  run ac add a@example.org --password-hash '!!'
  assert_status 65
  run ac add a@example.org --password-hash "pencil"
  assert_status 65
  run ac show a@example.org
  assert_status 67
}

@test "account-ctl: passwd from stdin; two lines must match; missing account" {
  ac domain add example.org
  ac add ann@example.org --password-stdin <<<"old"
  run ac passwd ann@example.org <<<"new pass"
  assert_status 0
  run ac verify ann@example.org <<<"new pass"
  assert_status 0
  run ac verify ann@example.org <<<"old"
  assert_status 1
  run ac passwd ann@example.org < <(printf 'abc\r\nabc\r\n')
  assert_status 0
  run ac verify ann@example.org < <(printf 'abc')
  assert_status 0
  run ac passwd ann@example.org < <(printf 'abc\nabd\n')
  assert_status 65
  run ac passwd ann@example.org < <(printf '\n')
  assert_status 65
  run ac verify ann@example.org <<<"abc"
  assert_status 0
  run ac passwd nobody@example.org <<<"x"
  assert_status 67
}

@test "account-ctl: quota sizes, unlimited, bad sizes" {
  ac domain add example.org
  ac add ann@example.org
  run ac quota ann@example.org 512M
  assert_status 0
  [ "$(ac --json show ann@example.org | json '["quota_bytes"]')" = 536870912 ]
  ac quota ann@example.org 1g
  [ "$(ac --json show ann@example.org | json '["quota_bytes"]')" = 1073741824 ]
  run ac list
  assert_output_contains "$(printf 'ann@example.org\tenabled\t0/1G')"
  ac quota ann@example.org none
  [ "$(ac --json show ann@example.org | json '["quota_bytes"]')" = 0 ]
  run ac show ann@example.org
  assert_output_contains "used of unlimited"
  run ac quota ann@example.org 5Q
  assert_status 64
  run ac quota ann@example.org 99999999999999999999G
  assert_status 64
  run ac quota nobody@example.org 1G
  assert_status 67
}

@test "account-ctl: enable and disable" {
  ac domain add example.org
  ac add ann@example.org
  run ac disable ann@example.org
  assert_status 0
  run ac list
  assert_output_contains "$(printf 'ann@example.org\tdisabled')"
  [ "$(ac --json show ann@example.org | json '["enabled"]')" = False ]
  ac enable ann@example.org
  [ "$(ac --json show ann@example.org | json '["enabled"]')" = True ]
  run ac disable nobody@example.org
  assert_status 67
}

@test "account-ctl: list all or one domain, del" {
  ac domain add example.org
  ac domain add example.net
  ac add ann@example.org
  ac add bob@example.org
  ac add cat@example.net
  run ac list
  [ "$(wc -l <<<"$output")" -eq 3 ]
  run ac list example.org
  [ "$(cut -f1 <<<"$output" | tr '\n' ' ')" = "ann@example.org bob@example.org " ]
  run ac --json list example.net
  [ "$(json '["address"]' <<<"$output")" = cat@example.net ]
  run ac list nowhere.example
  assert_status 67
  run ac del bob@example.org
  assert_status 0
  run ac del bob@example.org
  assert_status 67
  run ac list example.org
  [ "$output" = "$(printf 'ann@example.org\tenabled\t0/unlimited\t')" ]
}

@test "account-ctl: aliases, catch-all, delete one target or all" {
  ac domain add example.org
  ac add ann@example.org
  ac add bob@example.org
  run ac alias add postmaster@example.org ann@example.org
  assert_status 0
  ac alias add postmaster@example.org bob@example.org
  ac alias add @example.org ann@example.org
  run ac alias add postmaster@example.org ann@example.org
  assert_status 65
  run ac alias add info@elsewhere.example ann@example.org
  assert_status 67
  run ac alias add postmaster@example.org "not an address"
  assert_status 65
  run ac alias list
  assert_status 0
  assert_output_contains "$(printf 'postmaster@example.org\tann@example.org')"
  assert_output_contains "$(printf 'postmaster@example.org\tbob@example.org')"
  assert_output_contains "$(printf '@example.org\tann@example.org')"
  run ac --json alias list example.org
  [ "$(wc -l <<<"$output")" -eq 3 ]
  run ac alias del postmaster@example.org bob@example.org
  assert_status 0
  run ac alias del postmaster@example.org bob@example.org
  assert_status 67
  run ac alias del @example.org
  assert_status 0
  run ac alias list example.org
  [ "$output" = "$(printf 'postmaster@example.org\tann@example.org')" ]
  run ac alias del nothing@example.org
  assert_status 67
  run ac alias list nowhere.example
  assert_status 67
}

@test "account-ctl: app passwords are printed once, verify, list, del" {
  ac domain add example.org
  ac add ann@example.org --password-stdin <<<"main password"
  run ac app-password add ann@example.org phone
  assert_status 0
  [[ "$output" =~ ^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$ ]]
  phone="$output"
  run grep -rla "$phone" .
  assert_status 1
  run ac app-password add ann@example.org phone
  assert_status 65
  run ac app-password add ann@example.org laptop
  assert_status 0
  [ "$output" != "$phone" ]
  run ac verify ann@example.org <<<"$phone"
  assert_status 0
  [ "$output" = "match app-password phone" ]
  run ac app-password list ann@example.org
  [ "$(cut -f1 <<<"$output" | sort | tr '\n' ' ')" = "laptop phone " ]
  run ac --json app-password list ann@example.org
  [ "$(head -n1 <<<"$output" | json '["scram"]')" = True ]
  run ac show ann@example.org
  assert_output_contains "app passwords: "
  assert_output_contains "phone"
  run ac app-password del ann@example.org phone
  assert_status 0
  run ac verify ann@example.org <<<"$phone"
  assert_status 1
  run ac app-password del ann@example.org phone
  assert_status 67
  run ac app-password add nobody@example.org x
  assert_status 67
}

@test "account-ctl: usage errors exit 64, config errors 78, config file selects the store" {
  run account-ctl
  assert_status 64
  run ac domain
  assert_status 64
  run ac frobnicate
  assert_status 64
  run ac quota ann@example.org
  assert_status 64
  printf 'store:\n  engine: sqlite\n  path: cfg.db\n' > postern.yaml
  run account-ctl -c postern.yaml domain add example.org
  assert_status 0
  [ -f cfg.db ]
  run account-ctl -c postern.yaml domain list
  [ "$output" = "$(printf 'example.org\t0')" ]
  printf 'store:\n  engin: sqlite\n' > bad.yaml
  run account-ctl -c bad.yaml domain list
  assert_status 78
}

@test "account-ctl: PostgreSQL store" {
  require_pg
  url=$(pg_fresh_url)  # a database of its own: parallel runs do not collide
  STORE="$url"
  run ac domain add example.org
  assert_status 0
  run ac add ann@example.org --quota 1G --password-stdin <<<"pencil"
  assert_status 0
  run ac add ann@example.org
  assert_status 65
  run ac add b@example.org --password-hash "{SHA512-CRYPT}$SHA512"
  assert_status 0
  run ac verify b@example.org <<<"correct horse"
  assert_status 0
  run ac verify ann@example.org <<<"pencil"
  assert_status 0
  run ac verify ann@example.org <<<"pencil2"
  assert_status 1
  ac alias add @example.org ann@example.org
  run ac alias list
  [ "$output" = "$(printf '@example.org\tann@example.org')" ]
  run ac app-password add ann@example.org phone
  assert_status 0
  run ac verify ann@example.org <<<"$output"
  assert_status 0
  run ac --json show ann@example.org
  [ "$(json '["quota_bytes"]' <<<"$output")" = 1073741824 ]
  [ "$(json '["mailboxes"]' <<<"$output")" = 6 ]
  ac disable ann@example.org
  run ac list example.org
  assert_output_contains "$(printf 'ann@example.org\tdisabled\t0/1G')"
  run ac del ann@example.org
  assert_status 0
  run ac show ann@example.org
  assert_status 67
  run ac domain del example.org --cascade
  assert_status 0
  run ac domain list
  [ -z "$output" ]
}

@test "account-ctl: on a terminal passwd prompts twice without echo" {
  ac domain add example.org
  ac add ann@example.org
  # Drive the prompt through a pseudo-terminal; the typed password must not be echoed.
  run /usr/bin/python3 - "$(command -v account-ctl)" "$STORE" <<'PY'
import os, pty, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], ["account-ctl", "--store", sys.argv[2], "passwd", "ann@example.org"])
out = b""
def read():
    global out
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            return
        out += chunk
        if chunk.endswith(b": "):
            return
read(); os.write(fd, b"tty-Secret1\n"); read(); os.write(fd, b"tty-Secret1\n"); read()
_, st = os.waitpid(pid, 0)
sys.stdout.write(out.decode() + "exit=%d\n" % os.waitstatus_to_exitcode(st))
PY
  assert_status 0
  assert_output_contains "Password: "
  assert_output_contains "Retype password: "
  assert_output_contains "exit=0"
  [[ "$output" != *tty-Secret1* ]]
  run ac verify ann@example.org <<<"tty-Secret1"
  assert_status 0
}
