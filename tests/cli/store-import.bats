#!/usr/bin/env bats
# store-import: a Maildir laid out the way Dovecot writes it (flags, dovecot-keywords,
# new/, Maildir++ folders, modified UTF-7 names, subscriptions), mbox files (mboxrd
# quoting, Status/X-Status/X-Keywords), .eml files; idempotence; bad files; exit codes.

load common
load dovecot

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE="sqlite:$BATS_TEST_TMPDIR/store.db"
  account-ctl --store "$STORE" domain add example.org >/dev/null
  account-ctl --store "$STORE" add ann@example.org >/dev/null 2>&1
  account-ctl --store "$STORE" add bob@example.org >/dev/null 2>&1
}

imp() { store-import --store "$STORE" "$@"; }
exp() { store-export --store "$STORE" "$@"; }

# One message file: dovecot_msg DIR NAME-WITHOUT-TIME TIME TEXT. The file's mtime is the
# received time, as Dovecot keeps it; S= is the file size.
dovecot_msg() {
  local dir=$1 time=$2 info=$3 text=$4 size
  size=$(printf '%b' "$text" | wc -c)
  local name="$time.M1P$RANDOM.mail.example.org,S=$size$info"
  printf '%b' "$text" >"$dir/$name"
  touch -d "@$time" "$dir/$name"
}

# A Maildir the way Dovecot lays it out.
make_maildir() {
  local m=$1
  mkdir -p "$m"/{cur,new,tmp} "$m"/.Sent/{cur,new,tmp} "$m"/.Lists.Work/{cur,new,tmp} \
    "$m"/.Lists/{cur,new,tmp} "$m/.&ZeVnLIqe-"/{cur,new,tmp}
  touch "$m/.Sent/maildirfolder" "$m/.Lists.Work/maildirfolder"
  printf '0 $Forwarded\n1 Junk\n' >"$m/dovecot-keywords"
  printf 'Sent\nLists.Work\n' >"$m/subscriptions"
  dovecot_msg "$m/cur" 1700000000 ':2,S' 'Subject: seen\nMessage-ID: <1@example.org>\n\nhello\n'
  dovecot_msg "$m/cur" 1700000100 ':2,RS' 'Subject: replied\n\nFrom the start of a line\n>From quoted\n'
  dovecot_msg "$m/cur" 1700000200 ':2,F' 'Subject: flagged\n\nx\n'
  dovecot_msg "$m/cur" 1700000300 ':2,Sab' 'Subject: keywords\n\nforwarded and junk\n'
  dovecot_msg "$m/new" 1700000400 '' 'Subject: new\n\nnot yet seen\n'
  dovecot_msg "$m/.Sent/cur" 1700000500 ':2,S' 'Subject: sent\n\nsent\n'
  dovecot_msg "$m/.Lists.Work/cur" 1700000600 ':2,' 'Subject: list\n\nlist mail\n'
  dovecot_msg "$m/.&ZeVnLIqe-/cur" 1700000700 ':2,S' 'Subject: nihongo\n\nx\n'
}

@test "store-import: a Dovecot Maildir with flags, keywords, new/, folders and dates" {
  make_maildir M
  run imp -a ann@example.org M
  assert_status 0
  [ "$output" = "$(printf 'mailboxes 5 (3 created)\nmessages 8 imported, 0 already present, 0 bad\nbytes 281\nindexed 8')" ]
  run exp -a ann@example.org -f mbox out
  assert_status 0
  # Received dates from the mtimes, flags from the names and dovecot-keywords; the
  # stored size counts CRLF line ends (281 = 255 bytes of files + 26 line ends).
  grep -q '^From MAILER-DAEMON Tue Nov 14 22:13:20 2023$' out/INBOX.mbox
  run cat out/INBOX.mbox
  assert_output_contains "$(printf 'Status: RO\nSubject: seen\n')"
  assert_output_contains "$(printf 'Status: RO\nX-Status: A\nSubject: replied\n\n>From the start of a line\n>>From quoted\n')"
  assert_output_contains "$(printf 'Status: O\nX-Status: F\nSubject: flagged\n')"
  assert_output_contains "$(printf 'Status: RO\nX-Keywords: $Forwarded junk\nSubject: keywords\n')"
  assert_output_contains "$(printf 'From MAILER-DAEMON Tue Nov 14 22:20:00 2023\nStatus: O\nSubject: new\n')"
  # Sent went to the account's Sent mailbox; folders by path, names decoded from mUTF-7.
  grep -q 'Subject: sent' out/Sent.mbox
  grep -q 'Subject: list' out/Lists/Work.mbox
  grep -q 'Subject: nihongo' "out/日本語.mbox"
  [ ! -s out/Lists.mbox ]
}

@test "store-import: a second import of the same source adds nothing" {
  make_maildir M
  run imp -a ann@example.org M
  assert_status 0
  run imp -a ann@example.org M
  assert_status 0
  assert_output_contains "messages 0 imported, 8 already present, 0 bad"
  # One new message arrives in the old server: only that one is imported.
  dovecot_msg M/new 1700000800 '' 'Subject: later\n\n'
  run imp -a ann@example.org M
  assert_status 0
  assert_output_contains "messages 1 imported, 8 already present, 0 bad"
  run exp -a ann@example.org -f eml out
  [ "$(ls out/INBOX | wc -l)" -eq 6 ]
}

@test "store-import: Maildir -> store -> Maildir and mbox -> another account: same bytes, flags, dates" {
  make_maildir M
  imp -a ann@example.org M >/dev/null
  run exp -a ann@example.org -f maildir --host h ann-maildir
  assert_status 0
  [ "$output" = "$(printf 'mailboxes 9\nmessages 8\nbytes 255')" ]
  # Dovecot's layout: names with S=/W= and sorted flags, dovecot-keywords, mtimes.
  ls ann-maildir/cur | grep -q '^1700000300\.P[0-9]*Q[0-9]*\.h,S=38,W=41:2,PSab$'
  [ "$(cat ann-maildir/dovecot-keywords)" = "$(printf '0 $Forwarded\n1 junk')" ]
  [ -d "ann-maildir/.&ZeVnLIqe-/cur" ]
  [ -f ann-maildir/.Lists.Work/maildirfolder ]
  # Folders the import created are subscribed as the source's subscriptions file said.
  [ "$(sort ann-maildir/subscriptions | tr '\n' ' ')" = "Archive Drafts Junk Lists.Work Sent Trash " ]
  f=$(ls ann-maildir/cur/1700000000.*)
  [ "$(stat -c %Y "$f")" -eq 1700000000 ]
  [ "$(cat "$f")" = "$(printf 'Subject: seen\nMessage-ID: <1@example.org>\n\nhello')" ]

  run imp -a bob@example.org ann-maildir
  assert_status 0
  exp -a ann@example.org -f mbox ann-mbox >/dev/null
  exp -a bob@example.org -f mbox bob-mbox >/dev/null
  diff -r ann-mbox bob-mbox

  account-ctl --store "$STORE" add carol@example.org >/dev/null 2>&1
  run imp -a carol@example.org ann-mbox
  assert_status 0
  assert_output_contains "messages 8 imported"
  exp -a carol@example.org -f mbox carol-mbox >/dev/null
  diff -r ann-mbox carol-mbox
  exp -a carol@example.org -f maildir --host h carol-maildir >/dev/null
  # Same flags, sizes and received times (names differ only in the unique part).
  summary() { (cd "$1" && find . -type f -path '*/cur/*' -printf '%h %TY%Tm%Td%TH%TM%TS %f\n' |
                sed -E 's/\.P[0-9]+Q[0-9]+\./ /' | sort); }
  [ "$(summary ann-maildir)" = "$(summary carol-maildir)" ]
}

@test "store-import: mbox with >From lines, Status fields and a From line in a body" {
  cat >in.mbox <<'EOF'
From alice@example.net Tue Nov 14 22:13:20 2023
Status: RO
X-Status: AF
X-Keywords: $Label1 Work
X-UID: 12
Subject: quoting
Message-ID: <q@example.net>

>From the desk of Alice
>>From deeper
From the desk of the director (an mboxo writer left this unquoted)

From bob@example.net Tue Nov 14 22:15:00 2023
Subject: plain

body

EOF
  run imp -a ann@example.org in.mbox
  assert_status 0
  assert_output_contains "messages 2 imported"
  run exp -a ann@example.org -f mbox out
  assert_status 0
  run cat out/INBOX.mbox
  assert_output_contains "$(printf 'Status: RO\nX-Status: AF\nX-Keywords: $label1 work\nSubject: quoting\n')"
  assert_output_contains "$(printf '>From the desk of Alice\n>>From deeper\n>From the desk of the director')"
  ! grep -q 'X-UID' out/INBOX.mbox || false
  # The exported file imports to the same mail.
  run imp -a bob@example.org out/INBOX.mbox
  assert_status 0
  exp -a bob@example.org -f mbox out2 >/dev/null
  diff out/INBOX.mbox out2/INBOX.mbox
  run imp -a bob@example.org out/INBOX.mbox
  assert_output_contains "messages 0 imported, 2 already present"
}

@test "store-import: .eml files, --mailbox and --create-mailboxes" {
  mkdir saved
  printf 'Subject: a\n\nA\n' >saved/a.eml
  printf 'Subject: b\r\n\r\nB\r\n' >saved/b.eml
  touch -d @1600000000 saved/a.eml
  run imp -a ann@example.org -m Saved saved
  assert_status 64
  assert_output_contains "--create-mailboxes"
  run imp -a ann@example.org -m Saved --create-mailboxes saved
  assert_status 0
  assert_output_contains "mailboxes 1 (1 created)"
  run exp -a ann@example.org -f eml -m Saved out
  assert_status 0
  [ "$(cat out/Saved/0001.eml)" = "$(printf 'Subject: a\n\nA')" ]
  [ "$(stat -c %Y out/Saved/0001.eml)" -eq 1600000000 ]
  # CRLF and LF files hold the same message once stored: the second is already there.
  printf 'Subject: b\n\nB\n' >b-lf.eml
  run imp -a ann@example.org -m Saved b-lf.eml
  assert_status 0
  assert_output_contains "0 imported, 1 already present"
}

@test "store-import: bad files are reported and skipped, exit 65 at the end" {
  make_maildir M
  : >M/cur/1700000900.M9P9.host:2,S
  printf 'no header here, just text\n' >M/cur/1700000901.M9P9.host:2,S
  run imp -a ann@example.org M
  assert_status 65
  assert_output_contains "1700000900.M9P9.host:2,S"
  assert_output_contains "1700000901.M9P9.host:2,S"
  assert_output_contains "messages 8 imported, 0 already present, 2 bad"
}

@test "store-import: exit codes" {
  make_maildir M
  run imp -a nobody@example.org M
  assert_status 67
  run imp -a ann@example.org --format tar M
  assert_status 64
  run imp -a ann@example.org
  assert_status 64
  printf 'just text\n' >plain.txt
  run imp -a ann@example.org plain.txt
  assert_status 65
  run imp -a ann@example.org does-not-exist
  [ "$status" -ne 0 ]
  run store-import --store "sqlite:$BATS_TEST_TMPDIR/none.db" -a ann@example.org M
  assert_status 75
  printf 'no_such_key: 1\n' >bad.yaml
  run store-import -c bad.yaml -a ann@example.org M
  assert_status 78
  [ ! -e none.db ]
}


@test "store-import: a Maildir that Dovecot wrote (when Dovecot is installed)" {
  dove_setup
  run dove "$DV/md" mailbox create "Lists.Wörk"
  [ "$status" -eq 0 ] || skip "doveadm cannot run here: $output"
  printf 'Subject: from dovecot\n\nhi\n' | dove "$DV/md" save -m INBOX
  printf 'Subject: second\n\nFrom a body line\n' | dove "$DV/md" save -m "Lists.Wörk"
  dove "$DV/md" flags add '\Seen $Forwarded Junk' mailbox INBOX all
  dove "$DV/md" flags add '\Answered \Flagged' mailbox "Lists.Wörk" all
  run imp -a ann@example.org "$DV/md"
  assert_status 0
  assert_output_contains "messages 2 imported, 0 already present, 0 bad"
  run exp -a ann@example.org -f mbox out
  assert_status 0
  run cat out/INBOX.mbox
  assert_output_contains "$(printf 'Status: RO\nX-Keywords: $Forwarded junk\nSubject: from dovecot\n\nhi\n')"
  run cat "out/Lists/Wörk.mbox"
  assert_output_contains "$(printf 'Status: O\nX-Status: AF\nSubject: second\n\n>From a body line\n')"
  # Dovecot's received date (its mtime) is kept.
  dove "$DV/md" fetch date.received mailbox INBOX all >received.txt
  want=$(sed -n 's/^date.received: //p' received.txt)
  [ "$(head -n1 out/INBOX.mbox)" = "From MAILER-DAEMON $(TZ=UTC date -d "$want UTC" '+%a %b %e %H:%M:%S %Y')" ]
}
