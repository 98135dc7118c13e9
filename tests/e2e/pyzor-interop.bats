#!/usr/bin/env bats
# Pyzor interoperability with Debian's pyzor (client `pyzor`, server `pyzord`):
#   pyzor-check report → Debian's `pyzor check` sees count 1; Debian's `pyzor report` →
#   pyzor-check check sees count 2; whitelist both ways (signed with a real account, so
#   pyzord verifies our signature); digests equal to Debian's on a corpus: every mail
#   message under ../shared/testdata plus the messages tests/e2e/pyzor-gen.py writes.
# pyzord runs on a loopback port with its own home directory and a gdbm database, and is
# stopped in teardown. Skipped when pyzor (or python3-gdbm) is not installed.

load ../cli/common

# POSTERN_BUILD alone (POSTERN_BUILD=build-pyzor bats ...) names the build to test.
if [ -z "${POSTERN_BIN:-}" ] && [ -n "${POSTERN_BUILD:-}" ]; then
  case $POSTERN_BUILD in
    /*) BIN=$POSTERN_BUILD/bin ;;
    *) BIN=$SRC_DIR/$POSTERN_BUILD/bin ;;
  esac
  PATH="$BIN:$PATH"
fi

KEY=3a1f0c9e5b7d2468ace013579bdf2468ace01357

setup() {
  [ -x /usr/bin/pyzord ] && [ -x /usr/bin/pyzor ] || skip "pyzor is not installed"
  /usr/bin/python3 -c 'import dbm.gnu' 2>/dev/null || skip "python3-gdbm is not installed"
  cd "$BATS_TEST_TMPDIR"
  mkdir -p home client
  PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  SERVER=127.0.0.1:$PORT
  # alice may whitelist; anonymous keeps pyzord's defaults.
  printf 'alice : %s\n' "$KEY" > home/pyzord.passwd
  printf 'check report ping pong info : anonymous : allow\n' > home/pyzord.access
  printf 'check report ping pong info whitelist : alice : allow\n' >> home/pyzord.access
  printf '127.0.0.1 : %s : alice : ,%s\n' "$PORT" "$KEY" > accounts
  echo "$SERVER" > client/servers
  cp accounts client/accounts
  /usr/bin/python3 /usr/bin/pyzord --homedir "$PWD/home" -a 127.0.0.1 -p "$PORT" -e gdbm \
    --dsn "$PWD/home/pyzord.db" --password-file "$PWD/home/pyzord.passwd" \
    --access-file "$PWD/home/pyzord.access" >home/log 2>&1 &
  echo $! > pyzord.pid
  for _ in $(seq 50); do
    pyzor-check --server "$SERVER" --timeout 0.2 --retries 0 ping >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat home/log >&2
  return 1
}

teardown() {
  [ -f pyzord.pid ] && kill "$(cat pyzord.pid)" 2>/dev/null
  true
}

# Debian's client, with its home here (servers, accounts).
debian_pyzor() { /usr/bin/python3 /usr/bin/pyzor --homedir "$PWD/client" "$@"; }

message() {  # NAME → a message unique to this test run
  printf 'From: a@example.org\nTo: b@example.net\nSubject: %s\n\n' "$1"
  printf 'This is the body of the %s message\nsent on run %s to test pyzor\n' "$1" "$PORT"
  printf 'with a third line of text in it\n'
}

@test "pyzor-check report is seen by Debian's pyzor check; Debian's report by pyzor-check" {
  message spam > spam.eml
  run pyzor-check --server "$SERVER" check spam.eml
  assert_status 1
  [ "$output" = "$SERVER	(200, 'OK')	0	0" ]
  run pyzor-check --server "$SERVER" report spam.eml
  assert_status 0
  [ "$output" = "$SERVER	(200, 'OK')" ]
  run debian_pyzor check < spam.eml
  assert_status 0
  [ "$output" = "$SERVER	(200, 'OK')	1	0" ]
  run debian_pyzor report < spam.eml
  assert_status 0
  run pyzor-check --server "$SERVER" check spam.eml
  assert_status 0
  [ "$output" = "$SERVER	(200, 'OK')	2	0" ]
}

@test "whitelist both ways, signed with an account pyzord verifies" {
  message ham > ham.eml
  run pyzor-check --server "$SERVER" --accounts accounts whitelist ham.eml
  assert_status 0
  [ "$output" = "$SERVER	(200, 'OK')" ]
  run debian_pyzor check < ham.eml
  [ "$output" = "$SERVER	(200, 'OK')	0	1" ]
  run debian_pyzor whitelist < ham.eml
  assert_status 0
  run pyzor-check --server "$SERVER" check ham.eml
  assert_status 1  # whitelisted: not listed
  [ "$output" = "$SERVER	(200, 'OK')	0	2" ]
}

@test "anonymous whitelist is refused; a wrong key fails pyzord's signature check" {
  message other > other.eml
  run pyzor-check --server "$SERVER" whitelist other.eml
  assert_status 69
  assert_output_contains "(403, "
  printf '127.0.0.1 : %s : alice : ,%s\n' "$PORT" 0000000000000000000000000000000000000000 > bad
  run pyzor-check --server "$SERVER" --accounts bad whitelist other.eml
  assert_status 69
  assert_output_contains "(401, "
}

@test "ping answers like Debian's" {
  run pyzor-check --server "$SERVER" ping
  assert_status 0
  [ "$output" = "$SERVER	(200, 'OK')" ]
  run debian_pyzor ping
  [ "$output" = "$SERVER	(200, 'OK')" ]
}

@test "digests equal Debian's pyzor digest on the test-data corpus and generated messages" {
  mkdir gen
  /usr/bin/python3 "$SRC_DIR/tests/e2e/pyzor-gen.py" gen >/dev/null
  # Mail messages among the shared test data (see each folder's SOURCE.txt).
  : > corpus.list
  for d in stalwart-mail-parser/eml stalwart-mail-auth dkim-perl-mail-dkim/corpus dkim-rfc8463; do
    [ -d "$TESTDATA/$d" ] && find "$TESTDATA/$d" -type f \( -name '*.eml' -o -name '*.msg' \
      -o -path '*/dkim-perl-mail-dkim/corpus/*' \) | sort >> corpus.list
  done
  ls gen/*.eml >> corpus.list
  # Debian's rules in one Python process; `pyzor digest` itself on a sample below.
  xargs /usr/bin/python3 "$SRC_DIR/tests/e2e/pyzor-digests.py" < corpus.list > theirs
  : > ours
  while read -r f; do
    printf '%s\t%s\n' "$(pyzor-check digest "$f")" "$f" >> ours
  done < corpus.list
  n=$(wc -l < corpus.list)
  echo "# compared $n digests" >&3
  [ "$n" -gt 150 ]
  diff theirs ours
  # pyzor-check over many files in one run prints the same digests, in order.
  xargs pyzor-check digest < corpus.list > batch
  diff <(cut -f1 theirs) batch
  # And `pyzor digest` itself (stdin) agrees on a sample.
  for f in $(sed -n '1~20p' corpus.list); do
    [ "$(debian_pyzor digest < "$f")" = "$(pyzor-check digest < "$f")" ]
  done
}

@test "spam-score adds PYZOR_CHECK once a digest has spam.pyzor.min_count reports" {
  export XDG_CACHE_HOME="$BATS_TEST_TMPDIR/cache"
  message pyzored > m.eml
  set_pyzor=(--set "spam.pyzor.servers=[127.0.0.1:9, $SERVER]" --set spam.pyzor.min_count=2
             --set spam.pyzor.timeout=1s)
  # A dead first server (the discard port: no answer) costs its timeout, then the next.
  run spam-score --explain m.eml "${set_pyzor[@]}"
  assert_status 0
  [[ "$output" != *PYZOR_CHECK* ]]
  debian_pyzor report < m.eml
  run spam-score --explain m.eml "${set_pyzor[@]}"
  [[ "$output" != *PYZOR_CHECK* ]]
  debian_pyzor report < m.eml
  run spam-score --explain m.eml "${set_pyzor[@]}"
  assert_status 0
  assert_output_contains "2.0  PYZOR_CHECK  (reported 2 times to $SERVER)"
}
