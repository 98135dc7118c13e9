#!/bin/sh
# Builds the mail-authentication test zones and an NSD configuration in DIR, for NSD
# listening on 127.0.0.1:PORT. dkim-keygen must be on PATH. Usage:
#   smtp-auth-check-zones.sh DIR PORT
#
#   sender.test       SPF "v=spf1 ip4:192.0.2.10 -all", a fresh Ed25519 DKIM key
#                     (selector s1, private half in DIR/sender.test.private), DMARC p=reject
#   quarantine.test   the same SPF, DMARC p=quarantine
#   relaxed.test      the same SPF, DMARC p=none
#
# Every DMARC record has a rua, so that dmarc-report writes reports for it. The zones are
# not signed: no trust anchor is needed. NSD runs without dropping privileges
# (username: ""), so DIR needs no special access.
set -eu
dir=$1
port=$2
mkdir -p "$dir"
cd "$dir"

zone() { # NAME POLICY
  cat <<EOF
\$ORIGIN $1.
\$TTL 300
@ IN SOA ns.$1. hostmaster.$1. 1 3600 600 86400 120
@ IN NS ns.$1.
ns IN A 127.0.0.1
@ IN A 192.0.2.10
mail IN A 192.0.2.10
@ IN MX 10 mail.$1.
@ IN TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc IN TXT "v=DMARC1; p=$2; rua=mailto:dmarc-reports@$1"
EOF
}

zone sender.test reject >sender.test.zone
# dkim-keygen prints the record to publish, owner name included.
dkim-keygen -t ed25519 -d sender.test -s s1 -o sender.test.private -f >>sender.test.zone
zone quarantine.test quarantine >quarantine.test.zone
zone relaxed.test none >relaxed.test.zone

{
  cat <<EOF
server:
  ip-address: 127.0.0.1@$port
  port: $port
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$dir"
  pidfile: "$dir/nsd.pid"
  database: ""
  zonelistfile: "$dir/zone.list"
  xfrdfile: "$dir/xfrd.state"
  xfrdir: "$dir"
  logfile: "$dir/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
remote-control:
  control-enable: no
EOF
  for z in sender.test quarantine.test relaxed.test; do
    printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$z" "$z"
  done
} >nsd.conf
nsd-checkconf nsd.conf
