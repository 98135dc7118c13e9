#!/usr/bin/python3
"""Turns the openspf.org RFC 7208 suite into what spf-check reads, for spf.bench.

  gen-spf-zones.py SUITE.yml DIR

Writes DIR/scenario-N.zone (each scenario's zonedata as a ZoneResolver zone file, see
lib/dns/zone_resolver.h) and DIR/cases: one case a line, fields separated by \\x1f:
zone file, host, helo, mailfrom, accepted results (comma-separated).

As tests/unit/spf_test.cpp: SPF-type records are served as TXT when the name has no TXT;
a TIMEOUT entry makes every type the name does not hold time out. The suite's rule that a
name starting with "error." and absent from the zone times out cannot be written in a
zone file (such names are simply absent here), nor can a name with white space in it
(left out), so a few cases may differ from the suite; spf.bench reports how many agree.
"""
import os
import sys

import yaml

TYPES = ["A", "NS", "CNAME", "SOA", "PTR", "MX", "TXT", "AAAA", "TLSA"]


def quote(s):
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7f:
            out.append(c)
        else:
            out.append("\\%03d" % b)
    return '"' + "".join(out) + '"'


def strings(v):
    return v if isinstance(v, list) else [v]


def txt(name, v):
    # A record of no strings (the suite's SPF: [ ]) cannot be written; one empty string
    # is not an SPF record either, so it stands in for it.
    return f"{name} TXT " + (" ".join(quote(str(s)) for s in strings(v)) or '""')


def zone_lines(zonedata):
    lines = []
    for name, items in (zonedata or {}).items():
        name = name.rstrip(".")
        if any(c.isspace() for c in name):
            lines.append(f"# left out, a zone file cannot name it: {name!r}")
            continue
        timeout, has_txt, spf, present = False, False, [], set()
        for item in items:
            if isinstance(item, str):
                timeout = timeout or item == "TIMEOUT"
                continue
            for typ, v in item.items():
                if typ == "SPF":
                    spf.append(strings(v))
                    continue
                if typ == "TXT":
                    has_txt = True
                    if v == "NONE":
                        continue
                    lines.append(txt(name, v))
                elif typ in ("A", "AAAA"):
                    if typ == "AAAA" and ":" not in v:
                        v = "::ffff:" + v
                    lines.append(f"{name} {typ} {v}")
                elif typ == "MX":
                    lines.append(f"{name} MX {v[0]} {v[1].rstrip('.') or '.'}")
                elif typ in ("PTR", "CNAME"):
                    lines.append(f"{name} {typ} {v.rstrip('.') or '.'}")
                else:
                    sys.exit(f"unknown zonedata type {typ}")
                present.add(typ)
        if not has_txt:
            for s in spf:
                lines.append(txt(name, s))
                present.add("TXT")
        if timeout:
            lines += [f"{name} {t} TIMEOUT" for t in TYPES if t not in present]
    return lines


def main():
    suite, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    cases = []
    with open(suite, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d and d.get("tests")]
    for i, doc in enumerate(docs):
        zone = os.path.join(out, f"scenario-{i}.zone")
        with open(zone, "w", encoding="utf-8") as f:
            f.write("\n".join(zone_lines(doc.get("zonedata"))) + "\n")
        for tc in doc["tests"].values():
            want = ",".join(strings(tc["result"]))
            fields = [zone, tc["host"], tc.get("helo", ""), tc.get("mailfrom", ""), want]
            cases.append("\x1f".join(str(x) for x in fields))
    with open(os.path.join(out, "cases"), "w", encoding="utf-8") as f:
        f.write("\n".join(cases) + "\n")


if __name__ == "__main__":
    main()
