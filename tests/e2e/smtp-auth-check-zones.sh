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
. "$(dirname "$0")/nsd.sh"
dir=$1
port=$2
mkdir -p "$dir"
cd "$dir"

zone() { # NAME POLICY
  nsd_soa "$1"
  cat <<EOF
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

nsd_conf "$dir" "$port" sender.test quarantine.test relaxed.test
