#!/usr/bin/env bats
# store-export: Maildir in Dovecot's layout, mbox (mboxrd), .eml; one mailbox; exit
# codes; and, when Dovecot is installed, doveadm reading what we wrote.

load common
load dovecot

setup() {
  cd "$BATS_TEST_TMPDIR"
  STORE="sqlite:$BATS_TEST_TMPDIR/store.db"
  account-ctl --store "$STORE" domain add example.org >/dev/null
  account-ctl --store "$STORE" add ann@example.org >/dev/null 2>&1
}

imp() { store-import --store "$STORE" "$@"; }
exp() { store-export --store "$STORE" "$@"; }

# Three messages in the Inbox and one in "Lists/Work", with flags and a keyword.
fill() {
  cat >in.mbox <<'EOF'
From a@example.net Tue Nov 14 22:13:20 2023
Status: RO
Subject: one

From here on
>>From there on

From b@example.net Tue Nov 14 22:15:00 2023
X-Status: FA
X-Keywords: $Forwarded Project-X
Subject: two

2

From c@example.net Tue Nov 14 22:16:40 2023
Status: RO
X-Status: T
Subject: three

3

EOF
  imp -a ann@example.org in.mbox >/dev/null
  printf 'From x@example.net Tue Nov 14 22:18:20 2023\nStatus: RO\nSubject: list\n\nL\n\n' >list.mbox
  imp -a ann@example.org -m Lists/Work --create-mailboxes list.mbox >/dev/null
}

@test "store-export: maildir in Dovecot's layout" {
  fill
  run exp -a ann@example.org -f maildir --host mx1 md
  assert_status 0
  [ "$output" = "$(printf 'mailboxes 8\nmessages 4\nbytes 93')" ]
  [ -d md/cur ] && [ -d md/new ] && [ -d md/tmp ]
  [ -d md/.Sent/cur ] && [ -d md/.Lists.Work/cur ] && [ -f md/.Lists.Work/maildirfolder ]
  [ -z "$(find md/tmp md/new -type f)" ]
  run ls md/cur
  [ "${lines[0]}" = "$(ls md/cur | grep '^1700000000\.P[0-9]*Q[0-9]*\.mx1,S=42,W=46:2,S$')" ]
  ls md/cur | grep -q '^1700000100\..*,S=16,W=19:2,FPRab$'
  ls md/cur | grep -q '^1700000200\..*:2,DS$'
  [ "$(cat md/dovecot-keywords)" = "$(printf '0 $Forwarded\n1 project-x')" ]
  grep -qx 'Lists.Work' md/subscriptions
  f=$(ls md/.Lists.Work/cur/*)
  [ "$(stat -c %Y "$f")" -eq 1700000300 ]
  [ "$(cat md/cur/1700000000.*)" = "$(printf 'Subject: one\n\nFrom here on\n>From there on')" ]
}

@test "store-export: mbox and eml, one mailbox or all" {
  fill
  run exp -a ann@example.org -f mbox -m Lists/Work one
  assert_status 0
  [ "$output" = "$(printf 'mailboxes 1\nmessages 1\nbytes 17')" ]
  [ "$(ls -R one)" = "$(printf 'one:\nLists\n\none/Lists:\nWork.mbox')" ]
  [ "$(cat one/Lists/Work.mbox)" = "$(printf 'From MAILER-DAEMON Tue Nov 14 22:18:20 2023\nStatus: RO\nSubject: list\n\nL\n')" ]
  run exp -a ann@example.org -f mbox all
  assert_status 0
  [ -f all/INBOX.mbox ] && [ -f all/Sent.mbox ] && [ ! -s all/Sent.mbox ]
  grep -q '^>From here on$' all/INBOX.mbox
  grep -q '^>>From there on$' all/INBOX.mbox
  run exp -a ann@example.org -f eml e
  assert_status 0
  [ "$(cat e/INBOX/0002.eml)" = "$(printf 'Subject: two\n\n2')" ]
  [ "$(stat -c %Y e/INBOX/0003.eml)" -eq 1700000200 ]
  [ -f e/Lists/Work/0001.eml ]
}

@test "store-export: exit codes" {
  run exp -a nobody@example.org -f mbox out
  assert_status 67
  run exp -a ann@example.org -f tar out
  assert_status 64
  run exp -a ann@example.org out
  assert_status 64
  run exp -a ann@example.org -f mbox -m No/Such out
  assert_status 64
  run store-export --store "sqlite:$BATS_TEST_TMPDIR/none.db" -a ann@example.org -f mbox out
  assert_status 75
  printf 'no_such_key: 1\n' >bad.yaml
  run store-export -c bad.yaml -a ann@example.org -f mbox out
  assert_status 78
}


@test "store-export: doveadm reads the exported Maildir (when Dovecot is installed)" {
  dove_setup
  fill
  exp -a ann@example.org -f maildir "$DV/md" >/dev/null
  uidvalidity=$(sed -n '1s/^3 V\([0-9]*\) N4$/\1/p' "$DV/md/dovecot-uidlist")
  [ -n "$uidvalidity" ]
  run dove "$DV/md" fetch 'flags date.received hdr.subject mailbox' all
  [ "$status" -eq 0 ] || skip "doveadm cannot run here: $output"
  assert_output_contains "$(printf 'flags: \\Seen\ndate.received: 2023-11-14 22:13:20\nhdr.subject: one\nmailbox: INBOX')"
  assert_output_contains "$(printf 'flags: \\Answered \\Flagged $Forwarded project-x\ndate.received: 2023-11-14 22:15:00\nhdr.subject: two')"
  assert_output_contains "$(printf 'flags: \\Seen \\Draft\ndate.received: 2023-11-14 22:16:40')"
  assert_output_contains "$(printf 'date.received: 2023-11-14 22:18:20\nhdr.subject: list\nmailbox: Lists.Work')"
  # Dovecot took our dovecot-uidlist: the store's UIDVALIDITY and UIDs.
  run dove "$DV/md" fetch 'uid hdr.subject' mailbox INBOX all
  assert_output_contains "$(printf 'uid: 1\nhdr.subject: one')"
  assert_output_contains "$(printf 'uid: 2\nhdr.subject: two')"
  assert_output_contains "$(printf 'uid: 3\nhdr.subject: three')"
  run dove "$DV/md" -f flow mailbox status uidvalidity INBOX
  assert_status 0
  [ "$output" = "INBOX uidvalidity=$uidvalidity" ]
  run dove "$DV/md" fetch text mailbox INBOX header subject one
  assert_status 0
  assert_output_contains "$(printf 'From here on\n>From there on')"
}
