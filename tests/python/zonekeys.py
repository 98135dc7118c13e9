"""Keys for the Python peers (dkimpy) in the e2e tests and the benchmarks.

dkimpy cannot be pointed at a DNS server, so the peers read the TXT records of our
zone files (lib/dns/zone_resolver.h format, as dkim-keygen writes them) and serve them
through dnsfunc=; and dkimpy takes an Ed25519 key as its base64 seed, not as PEM.
"""
import base64
import re


def read_zone(path):
    """TXT records of a zone file: name (no trailing dot, lower-case) -> value (strings joined)."""
    records = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r'^(\S+?)\.?\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+(".*")\s*$', line, re.I)
            if m:
                records[m.group(1).lower()] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return records


def ed25519_seed(pem_bytes):
    """The base64 32-byte seed of an Ed25519 PKCS#8 PEM key (its DER ends with it); a
    seed given as it is comes back as it is."""
    text = pem_bytes.decode()
    if "BEGIN" not in text:
        return pem_bytes.strip()
    der = base64.b64decode("".join(l for l in text.splitlines() if not l.startswith("-----")))
    return base64.b64encode(der[-32:])
