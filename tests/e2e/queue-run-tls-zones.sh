#!/bin/sh
# Builds the zones and the NSD configuration of tests/e2e/queue-run-tls.bats in DIR, for
# NSD on 127.0.0.1:PORT. Usage:
#   queue-run-tls-zones.sh DIR PORT TLSA-OK TLSA-WRONG RPT-URL TLSA-CA
# (TLSA-OK: the SHA-256 of the MX certificate's SubjectPublicKeyInfo; TLSA-WRONG: that of
# some other key; RPT-URL: the https: TLS-RPT destination of good.sts.test; TLSA-CA: the
# SHA-256 of the test CA's certificate, for DANE-TA).
#
#   dane.test   signed with ldns-signzone (ECDSA P-256, one key = the anchor in
#               DIR/anchors.ds): ok.dane.test's MX has a matching TLSA 3 1 1 record,
#               bad.dane.test's MX one with a wrong digest; both ask for TLS-RPT
#               reports (_smtp._tls TXT) by mail to tlsrpt@example.org; ta.dane.test's
#               and tabad.dane.test's MX hosts have TLSA 2 0 1 of the test CA (DANE-TA)
#   plain.test  unsigned: plain.test's MX has no TLSA (opportunistic STARTTLS);
#               nomail.plain.test has a null MX (RFC 7505); backup.plain.test's MX hosts
#               are down.plain.test (10, nothing listens) and relay.plain.test (20), the
#               name queue-run calls itself in the self-MX test; loop.plain.test's only
#               MX is relay.plain.test
#   sts.test    unsigned: good.sts.test announces an MTA-STS policy (_mta-sts TXT) whose
#               host mta-sts.good.sts.test is 127.0.0.45; its TLS-RPT reports go to
#               RPT-URL; testing.sts.test has a testing-mode policy and the same MX
#               address (whose certificate names mail.good.sts.test)
#
# The MX hosts are 127.0.0.41 (plain, and relay.plain.test), .42 (ok.dane), .43
# (bad.dane), .44 (good.sts), .47 (ta.dane), .48 (tabad.dane); .49 is down.plain.test.
set -eu
. "$(dirname "$0")/nsd.sh"
dir=$1
port=$2
ok=$3
wrong=$4
rpt_url=$5
ta=$6
mkdir -p "$dir"
cd "$dir"

{
  nsd_soa dane.test
  cat <<EOF2
ok IN MX 10 mx.ok.dane.test.
mx.ok IN A 127.0.0.42
_25._tcp.mx.ok IN TLSA 3 1 1 $ok
bad IN MX 10 mx.bad.dane.test.
mx.bad IN A 127.0.0.43
_25._tcp.mx.bad IN TLSA 3 1 1 $wrong
ta IN MX 10 mx.ta.dane.test.
mx.ta IN A 127.0.0.47
_25._tcp.mx.ta IN TLSA 2 0 1 $ta
tabad IN MX 10 mx.tabad.dane.test.
mx.tabad IN A 127.0.0.48
_25._tcp.mx.tabad IN TLSA 2 0 1 $ta
_smtp._tls.ok IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.org"
_smtp._tls.bad IN TXT "v=TLSRPTv1;rua=mailto:tlsrpt@example.org"
EOF2
} >dane.test.zone

{
  nsd_soa plain.test
  cat <<'EOF2'
@ IN MX 10 mx.plain.test.
mx IN A 127.0.0.41
nomail IN MX 0 .
backup IN MX 10 down.plain.test.
backup IN MX 20 relay.plain.test.
down IN A 127.0.0.49
relay IN A 127.0.0.41
loop IN MX 10 relay.plain.test.
EOF2
} >plain.test.zone

{
  nsd_soa sts.test
  cat <<EOF2
good IN MX 10 mail.good.sts.test.
mail.good IN A 127.0.0.44
_mta-sts.good IN TXT "v=STSv1; id=20260301T000000;"
mta-sts.good IN A 127.0.0.45
_smtp._tls.good IN TXT "v=TLSRPTv1; rua=$rpt_url"
testing IN MX 10 mail.testing.sts.test.
mail.testing IN A 127.0.0.44
_mta-sts.testing IN TXT "v=STSv1; id=20260301T000000;"
mta-sts.testing IN A 127.0.0.45
EOF2
} >sts.test.zone

key=$(ldns-keygen -a ECDSAP256SHA256 -k dane.test)
ldns-signzone -f dane.test.zone.signed dane.test.zone "$key"
cp "$key.ds" anchors.ds

nsd_conf "$dir" "$port" dane.test:dane.test.zone.signed plain.test sts.test
