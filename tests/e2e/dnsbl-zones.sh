# DNS blocklist zones for NSD (POSIX sh; source it after nsd.sh). A DNSBL is an ordinary
# zone whose owner names are the listed items — an address with its octets (IPv4) or
# nibbles (IPv6) reversed, RFC 5782 2.1 and 2.4; a domain as it is, RFC 5782 2.3 — each
# with an A record in 127.0.0.0/8 (the return code) and a TXT record saying why.
#
#   dnsbl_zone NAME                 the zone's opening (nsd_soa) and the entries RFC 5782 5
#                                   asks every list to have: 127.0.0.2, ::ffff:7f00:2 and
#                                   the name "test" listed (127.0.0.1, ::ffff:7f00:1 and
#                                   "invalid" are not)
#   dnsbl_ip IP CODE [TEXT]         the lines listing an IPv4 or IPv6 address with return
#                                   code CODE (several codes: call it once per code)
#   dnsbl_domain DOMAIN CODE [TEXT] the same for a domain
#   dnsbl_test_zones DIR PORT       writes DIR/zen.dnsbl.test.zone (IP list, Spamhaus ZEN
#                                   codes) and DIR/dbl.dnsbl.test.zone (domain list, DBL
#                                   codes) with the listings below, and DIR/nsd.conf for
#                                   NSD on 127.0.0.1:PORT
#
# The listings of dnsbl_test_zones (what tests/e2e/dnsbl-nsd.bats and the spam e2e tests
# expect):
#   zen.dnsbl.test   192.0.2.2 SBL (127.0.0.2)   192.0.2.3 CSS (.3)   192.0.2.4 XBL (.4)
#                    192.0.2.9 DROP (.9)   192.0.2.10 PBL (.10)   192.0.2.11 PBL (.11)
#                    192.0.2.12 SBL+XBL+PBL   2001:db8::2 SBL   198.51.100.1 SBL
#                    198.51.100.2 PBL   192.0.2.20 127.255.255.254 (refused: public
#                    resolver)   192.0.2.21 127.255.255.252   192.0.2.23 10.1.2.3 (not a
#                    return code)
#   dbl.dnsbl.test   spam-site.co.uk SPAM (127.0.1.2)   phish.example PHISH (.4)
#                    malware.example MALWARE (.5)   botnet.example BOTNET (.6)
#                    abused.example ABUSED_SPAM (.102)   evil.host.shared.example SPAM
#                    (the host only, not shared.example)
#                    xn--bcher-kva.example SPAM (bücher.example)

# The owner name of an address in a DNSBL: its reverse-lookup name without in-addr.arpa
# or ip6.arpa (Python's ipaddress computes it: an implementation other than Postern's).
dnsbl_reversed() {
  /usr/bin/python3 -c 'import ipaddress, sys
print(ipaddress.ip_address(sys.argv[1]).reverse_pointer.rsplit(".", 2)[0])' "$1"
}

dnsbl_ip() {
  _owner=$(dnsbl_reversed "$1") || return 1
  printf '%s IN A %s\n' "$_owner" "$2"
  printf '%s IN TXT "%s"\n' "$_owner" "${3:-listed for the tests: $1}"
}

dnsbl_domain() {
  printf '%s IN A %s\n' "$1" "$2"
  printf '%s IN TXT "%s"\n' "$1" "${3:-listed for the tests: $1}"
}

dnsbl_zone() {
  nsd_soa "$1"
  dnsbl_ip 127.0.0.2 127.0.0.2 "RFC 5782 test entry"
  dnsbl_ip ::ffff:7f00:2 127.0.0.2 "RFC 5782 test entry"
  dnsbl_domain test 127.0.0.2 "RFC 5782 test entry"
}

dnsbl_test_zones() {
  mkdir -p "$1"
  {
    dnsbl_zone zen.dnsbl.test
    dnsbl_ip 192.0.2.2 127.0.0.2
    dnsbl_ip 192.0.2.3 127.0.0.3
    dnsbl_ip 192.0.2.4 127.0.0.4
    dnsbl_ip 192.0.2.9 127.0.0.9
    dnsbl_ip 192.0.2.10 127.0.0.10
    dnsbl_ip 192.0.2.11 127.0.0.11
    dnsbl_ip 192.0.2.12 127.0.0.2
    dnsbl_ip 192.0.2.12 127.0.0.4
    dnsbl_ip 192.0.2.12 127.0.0.10
    dnsbl_ip 2001:db8::2 127.0.0.2
    dnsbl_ip 198.51.100.1 127.0.0.2
    dnsbl_ip 198.51.100.2 127.0.0.10
    dnsbl_ip 192.0.2.20 127.255.255.254
    dnsbl_ip 192.0.2.21 127.255.255.252
    dnsbl_ip 192.0.2.23 10.1.2.3
  } >"$1/zen.dnsbl.test.zone"
  {
    dnsbl_zone dbl.dnsbl.test
    dnsbl_domain spam-site.co.uk 127.0.1.2
    dnsbl_domain phish.example 127.0.1.4
    dnsbl_domain malware.example 127.0.1.5
    dnsbl_domain botnet.example 127.0.1.6
    dnsbl_domain abused.example 127.0.1.102
    dnsbl_domain evil.host.shared.example 127.0.1.2
    dnsbl_domain xn--bcher-kva.example 127.0.1.2
  } >"$1/dbl.dnsbl.test.zone"
  nsd_conf "$1" "$2" zen.dnsbl.test dbl.dnsbl.test
}
