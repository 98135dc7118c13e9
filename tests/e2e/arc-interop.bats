#!/usr/bin/env bats
# ARC (RFC 8617) interoperability with Debian's dkimpy (python3-dkim + python3-authres),
# both ways and mixed:
#   arc-seal → dkimpy's arc_verify; dkimpy's arc_sign → arc-verify --resolver file:ZONE;
#   chains of two hops where either side seals either hop; tampering fails on both sides.
# Hop 1 is mx.example.org (keys of tests/fixtures/dkim/), hop 2 a list at
# lists.example.net whose keys dkim-keygen makes here. The peer is driven by dkim-peer.py.
# Messages: 8-bit body, folded header fields (a folded Authentication-Results too), an
# empty body, CRLF line ends.

load ../cli/common

PEER="$SRC_DIR/tests/e2e/dkim-peer.py"

setup_file() {
  cd "$BATS_FILE_TMPDIR"
  dkim-keygen -d lists.example.net -s fwd -o fwd.private > fwd.zone
  dkim-keygen -t ed25519 -d lists.example.net -s fwded -o fwded.private >> fwd.zone
  cat "$FIXTURES/dkim/example.org.zone" fwd.zone > zone
}

setup() {
  cd "$BATS_TEST_TMPDIR"
  D="$FIXTURES/dkim"
  K="$BATS_FILE_TMPDIR"
  Z="$K/zone"
  mkdir -p msgs
  ar() {
    printf 'Authentication-Results: mx.example.org;\n\tspf=pass smtp.mailfrom=joe@example.org;\n'
    printf '  dkim=none (no signature)\n'
  }
  { ar; cat "$D/plain.eml"; } > msgs/plain.eml
  { ar; cat "$D/empty-body.eml"; } > msgs/empty-body.eml
  { ar | sed 's/$/\r/'; cat "$D/crlf.eml"; } > msgs/crlf.eml
  {
    ar
    printf 'Received: from a.example.org (a.example.org [192.0.2.1])\n'
    printf '\tby mx.example.org; Sat, 1 Jan 2026 00:00:00 +0000\n'
    printf 'From: "Long, Line" <long@example.org>\nTo: a@example.net, b@example.net,\n'
    printf '\tc@example.net\nSubject: =?utf-8?q?caf=C3=A9?=\n  continued\n'
    printf 'Date: Sat, 1 Jan 2026 00:00:00 +0000\n\n'
    printf '\xc3\xa9t\xc3\xa9  \t \n\n  trailing blanks  \n\n\n'
  } > msgs/folded.eml
}

peer() { /usr/bin/python3 "$PEER" "$@"; }

# Hop 1 and hop 2 sealers, ours and dkimpy's: FILE → sealed message on stdout.
ours1() {  # FILE [KEY]: selector and key rsa2048 (default) or ed of example.org
  local k=${2:-rsa2048}
  arc-seal --resolver "file:$Z" -d example.org -s "$k" -k "$D/$k.private" \
    --authserv-id mx.example.org "$1"
}
ours2() {  # FILE [KEY]: selector and key fwd (default) or fwded of lists.example.net
  local k=${2:-fwd}
  arc-seal --resolver "file:$Z" -d lists.example.net -s "$k" -k "$K/$k.private" \
    --authserv-id lists.example.net "$1"
}
theirs1() {
  peer dkimpy-arc-sign --zone "$Z" --key "$D/rsa2048.private" --domain example.org \
    --selector rsa2048 --srv-id mx.example.org "$1"
}
theirs2() {
  peer dkimpy-arc-sign --zone "$Z" --key "$K/fwd.private" --domain lists.example.net \
    --selector fwd --srv-id lists.example.net "$1"
}

# The chain result of each side (one word); dkimpy's reason goes to standard error.
dkimpy_cv() { peer dkimpy-arc-verify --zone "$Z" "$1" 2>/dev/null; }
ours_cv() { arc-verify --resolver "file:$Z" --results-only "$1" 2>/dev/null; }

# Both sides must say WORD of FILE; with pass, arc-verify --check must exit 0, else 1.
both_say() {
  local want=$1 f=$2 got
  got=$(dkimpy_cv "$f")
  if [ "$got" != "$want" ]; then
    echo "$f: dkimpy says '$got', want $want"
    peer dkimpy-arc-verify --zone "$Z" "$f"
    return 1
  fi
  got=$(ours_cv "$f")
  if [ "$got" != "$want" ]; then
    echo "$f: arc-verify says '$got', want $want"
    arc-verify --resolver "file:$Z" --json "$f"
    return 1
  fi
  run arc-verify --resolver "file:$Z" --check --results-only "$f"
  if [ "$want" = pass ]; then assert_status 0; else assert_status 1; fi
}

instances() { grep -ci '^ARC-Seal:' "$1"; }

@test "dkimpy verifies arc-seal's i=1 sets (cv=none) and our own verifier agrees" {
  for m in msgs/*.eml; do
    ours1 "$m" > sealed.eml
    [ "$(instances sealed.eml)" = 1 ]
    grep -q 'cv=none' sealed.eml
    both_say pass sealed.eml || { echo "$m"; return 1; }
  done
}

@test "dkimpy verifies arc-seal's 2-hop chains (cv=pass at i=2)" {
  for m in msgs/*.eml; do
    ours1 "$m" > one.eml
    ours2 one.eml > two.eml
    [ "$(instances two.eml)" = 2 ]
    grep -q 'cv=pass; d=lists.example.net; i=2' two.eml
    both_say pass two.eml || { echo "$m"; return 1; }
  done
}

@test "arc-verify verifies dkimpy's i=1 sets and 2-hop chains" {
  for m in msgs/*.eml; do
    theirs1 "$m" > one.eml
    [ "$(instances one.eml)" = 1 ]
    grep -q 'cv=none' one.eml
    both_say pass one.eml || { echo "$m i=1"; return 1; }
    theirs2 one.eml > two.eml
    [ "$(instances two.eml)" = 2 ]
    grep -Eq 'i=2; cv=pass|cv=pass;.*i=2' two.eml
    both_say pass two.eml || { echo "$m i=2"; return 1; }
  done
}

@test "mixed chains: dkimpy seals i=1 and we seal i=2, and the reverse" {
  for m in msgs/*.eml; do
    theirs1 "$m" > one.eml
    ours2 one.eml > ab.eml
    grep -q 'cv=pass; d=lists.example.net; i=2' ab.eml
    both_say pass ab.eml || { echo "$m dkimpy→ours"; return 1; }
    ours1 "$m" > one.eml
    theirs2 one.eml > ba.eml
    [ "$(instances ba.eml)" = 2 ]
    both_say pass ba.eml || { echo "$m ours→dkimpy"; return 1; }
  done
}

@test "a 3-hop chain alternating sealers passes both sides" {
  theirs1 msgs/plain.eml > 1.eml
  ours2 1.eml > 2.eml
  theirs2 2.eml > 3.eml
  [ "$(instances 3.eml)" = 3 ]
  both_say pass 3.eml
}

@test "a body changed after sealing fails on both sides, whoever sealed" {
  for sealer in ours1 theirs1; do
    "$sealer" msgs/plain.eml > one.eml
    sed 's/Hello/Jello/' one.eml > bad1.eml
    both_say fail bad1.eml || { echo "$sealer i=1"; return 1; }
  done
  for pair in "ours1 theirs2" "theirs1 ours2" "ours1 ours2" "theirs1 theirs2"; do
    set -- $pair
    "$1" msgs/folded.eml > one.eml
    "$2" one.eml > two.eml
    sed 's/trailing blanks/trailing words/' two.eml > bad2.eml
    both_say fail bad2.eml || { echo "$pair i=2"; return 1; }
  done
  # An emptied body is a change too.
  ours1 msgs/plain.eml | sed '/^$/q' > emptied.eml
  both_say fail emptied.eml
}

@test "an AAR changed after sealing breaks the seal on both sides" {
  theirs1 msgs/plain.eml > one.eml
  ours2 one.eml > two.eml
  # The i=1 AAR claims spf=fail now: the AMS does not cover it, every AS does.
  sed '/^ARC-Authentication-Results: i=1/,/^[^ \t]/ s/spf=pass/spf=fail/' two.eml > bad.eml
  ! cmp -s two.eml bad.eml || false
  both_say fail bad.eml
  ours1 msgs/plain.eml | sed 's/cv=none/cv=pass/' > cv.eml
  grep -q 'cv=pass' cv.eml
  both_say fail cv.eml
}

@test "both sides seal a failed chain cv=fail and neither verifier passes it" {
  ours1 msgs/plain.eml | sed 's/Hello/Jello/' > bad.eml
  ours2 bad.eml > ours.eml
  grep -q 'cv=fail; d=lists.example.net; i=2' ours.eml
  theirs2 bad.eml > theirs.eml
  grep -Eq 'i=2; cv=fail|cv=fail;.*i=2' theirs.eml
  both_say fail ours.eml
  both_say fail theirs.eml
}

# dkimpy 1.1 knows only rsa-sha256 for ARC (its ARC_HASH_ALGORITHMS); RFC 8617 takes a=
# from RFC 6376, so Ed25519 (RFC 8463) seals are valid ARC. Where dkimpy cannot check
# them, it must say fail for the algorithm, and arc-verify must pass them.
@test "Ed25519 seals: arc-verify passes them; dkimpy passes them or names the algorithm" {
  ed=$(/usr/bin/python3 -c \
    'import dkim.crypto as c; print(int(b"ed25519-sha256" in c.ARC_HASH_ALGORITHMS))')
  theirs1 msgs/plain.eml > one.eml
  ours2 one.eml fwded > two.eml
  grep -q 'a=ed25519-sha256' two.eml
  ours1 msgs/folded.eml ed > ed1.eml
  for f in two.eml ed1.eml; do
    [ "$(ours_cv "$f")" = pass ] || { echo "$f: $(ours_cv "$f")"; return 1; }
    run peer dkimpy-arc-verify --zone "$Z" "$f"
    if [ "$ed" = 1 ]; then
      [ "${lines[-1]}" = pass ]
    else
      [ "${lines[-1]}" = fail ]
      assert_output_contains "unknown signature algorithm"
    fi
  done
}
