#!/bin/sh
# Builds the test zones and an NSD configuration in DIR, for NSD listening on
# 127.0.0.1:PORT. Usage: dns-nsd-zones.sh DIR PORT
#
#   signed.test              signed with ldns-signzone (ECDSA P-256, one KSK = the anchor);
#                            tampered.signed.test's A record is changed after signing; SPF,
#                            DMARC and a DKIM key for the mail-authentication tests
#   unsigned.test            not signed, not under any anchor: answers are insecure
#   anchored-unsigned.test   not signed, but the anchor file holds a DS for it: every
#                            answer must fail validation (a stripped signature)
#
# DIR/anchors.ds holds the trust anchors (DS records) for `--trust-anchor`. NSD runs as
# root here without dropping privileges (username: ""), so DIR needs no special access.
set -eu
. "$(dirname "$0")/nsd.sh"
dir=$1
port=$2
mkdir -p "$dir"
cd "$dir"


{
  nsd_soa signed.test
  cat <<'EOF'
@ IN A 192.0.2.1
@ IN AAAA 2001:db8::1
@ IN MX 10 mail.signed.test.
@ IN TXT "v=spf1 ip4:192.0.2.0/24" " -all"
mail IN A 192.0.2.25
www IN CNAME signed.test.
_25._tcp.mail IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
tampered IN A 192.0.2.66
_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@signed.test"
EOF
  # The public half of tests/fixtures/dkim/ed.private (as in that folder's zone).
  echo 'ed._domainkey IN TXT "v=DKIM1; k=ed25519; p=UcDUGxbKKFpFCRugMqax5XfEtd1wPNV1vfQsnVMq+xY="'
} >signed.test.zone

{
  nsd_soa unsigned.test
  cat <<'EOF'
@ IN A 192.0.2.2
@ IN MX 10 mail.unsigned.test.
mail IN A 192.0.2.26
mail IN AAAA 2001:db8::26
EOF
} >unsigned.test.zone

{
  nsd_soa anchored-unsigned.test
  echo '@ IN A 192.0.2.3'
} >anchored-unsigned.test.zone

# The key-signing key doubles as the zone-signing key (one key keeps the test small).
key=$(ldns-keygen -a ECDSAP256SHA256 -k signed.test)
ldns-signzone -f signed.test.zone.signed signed.test.zone "$key"
# Tamper with one signed record: its RRSIG no longer matches (RFC 4035 5.3).
sed -i 's/192\.0\.2\.66/192.0.2.67/' signed.test.zone.signed
# A DS for anchored-unsigned.test made from a key the zone never publishes.
other=$(ldns-keygen -a ECDSAP256SHA256 -k anchored-unsigned.test)
cat "$key.ds" "$other.ds" >anchors.ds

nsd_conf "$dir" "$port" signed.test:signed.test.zone.signed unsigned.test anchored-unsigned.test
