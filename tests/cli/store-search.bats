#!/usr/bin/env bats
# store-search: substring (IMAP) and word (JMAP) matching, fields, --queries timing, and
# the same answers on PostgreSQL.

load common

setup() {
  cd "$BATS_TEST_TMPDIR"
}

# Fills the store given as arguments with three messages.
fill() {
  account-ctl "$@" domain add example.org
  account-ctl "$@" add ann@example.org
  printf 'From: Bob <bob@example.net>\nTo: ann@example.org\nSubject: asdfghjkl test\nList-Id: <dev.lists.example.org>\n\nThe meetings are on Monday.\n' |
    store-deliver "$@" ann@example.org >/dev/null
  printf 'From: Carol <carol@example.net>\nTo: ann@example.org\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus Z\xc3\xbcrich\nMIME-Version: 1.0\nContent-Type: text/html; charset=utf-8\n\n<p>One <b>meeting</b> tomorrow</p>\n' |
    store-deliver "$@" ann@example.org >/dev/null
  printf 'From: Dan <dan@example.net>\nTo: ann@example.org\nSubject: report\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nsee attached\n--b\nContent-Type: application/pdf; name="quarterly-budget.pdf"\nContent-Disposition: attachment; filename="quarterly-budget.pdf"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n--b--\n' |
    store-deliver "$@" -m Work --create-mailbox ann@example.org >/dev/null
}

# The subjects of what "$@" finds, sorted, one per line.
subjects() { store-search "$@" | cut -f4 | sort; }

check_answers() {
  [ "$(subjects "$@" -a ann@example.org sdfghjk)" = "asdfghjkl test" ]
  [ "$(subjects "$@" -a ann@example.org MEETING)" = $'Grüße aus Zürich\nasdfghjkl test' ]
  [ "$(subjects "$@" -a ann@example.org --words meeting)" = "Grüße aus Zürich" ]
  [ "$(subjects "$@" -a ann@example.org -f subject grüße)" = "Grüße aus Zürich" ]
  [ "$(subjects "$@" -a ann@example.org -f attachment budget)" = "report" ]
  [ "$(subjects "$@" -a ann@example.org -f header:List-Id dev.lists)" = "asdfghjkl test" ]
  [ "$(subjects "$@" -a ann@example.org -f from carol)" = "Grüße aus Zürich" ]
  [ "$(subjects "$@" -a ann@example.org -m Work report)" = "report" ]
  [ "$(subjects "$@" -a ann@example.org -m Inbox report)" = "" ]
  # Two conditions must both match; a two-letter needle is answered too.
  [ "$(subjects "$@" -a ann@example.org meeting Monday)" = "asdfghjkl test" ]
  [ "$(subjects "$@" -a ann@example.org -f subject rt)" = "report" ]
  # HTML was turned into text: no tag names are found.
  [ "$(subjects "$@" -a ann@example.org -f body '<b>')" = "" ]
}

@test "store-search: substrings, words, fields and mailboxes on SQLite" {
  S=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  fill "${S[@]}"
  check_answers "${S[@]}"
}

@test "store-search: the same answers on PostgreSQL" {
  require_pg
  url=$(pg_fresh_url)
  S=(--store "$url" --blob-dir db)
  fill "${S[@]}"
  check_answers "${S[@]}"
}

@test "store-search: --queries prints hits and milliseconds, then p50/p99" {
  S=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  fill "${S[@]}"
  printf 'meeting\nsdfghjk\nnothing-like-this\n' > q
  run store-search "${S[@]}" -a ann@example.org --queries q
  assert_status 0
  [ "$(sed -n 1p <<<"$output" | cut -f1,3)" = $'2\tmeeting' ]
  [ "$(sed -n 3p <<<"$output" | cut -f1)" = 0 ]
  [[ "$(tail -n 1 <<<"$output")" == "# 3 queries: p50 "*" ms, p99 "*" ms" ]]
}

@test "store-search: errors — unknown account 67, unknown mailbox 65, no query 64" {
  S=(--store "sqlite:$BATS_TEST_TMPDIR/store.db")
  fill "${S[@]}"
  run store-search "${S[@]}" -a nobody@example.org x
  assert_status 67
  run store-search "${S[@]}" -a ann@example.org -m Nope x
  assert_status 65
  run store-search "${S[@]}" -a ann@example.org
  assert_status 64
  run store-search "${S[@]}" -a ann@example.org -f nosuchfield x
  assert_status 64
}
