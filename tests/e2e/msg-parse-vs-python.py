#!/usr/bin/python3
"""Cross-checks msg-parse against Python's email package (policy.default), a parser
written independently of ours: for every message given, the decoded Subject, the From
addresses, the Date as a timestamp and the Message-ID must agree. Prints each
disagreement as `FILE: FIELD: ours=… python=…`; exits 1 when any is not in --expect.

  msg-parse-vs-python.py --bin build/bin/msg-parse [--expect FILE:FIELD ...] FILES...
"""
import argparse
import json
import subprocess
import sys
from email import policy
from email.parser import BytesParser

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--expect", action="append", default=[],
                help="FILE-SUFFIX:FIELD of a known, explained disagreement")
ap.add_argument("files", nargs="+")
args = ap.parse_args()

run = subprocess.run([args.bin, *args.files], capture_output=True, check=False)
lines = run.stdout.decode().splitlines()
if len(lines) != len(args.files):
    sys.exit(f"msg-parse printed {len(lines)} objects for {len(args.files)} files")


def first(doc, name):
    for h in doc["headers"]:
        if h["name"].lower() == name:
            return h
    return None


def python_fields(msg):
    out = {}
    try:
        out["subject"] = str(msg["subject"]) if msg["subject"] is not None else None
    except Exception:  # pylint: disable=broad-except
        out["subject"] = "<python error>"
    try:
        out["from"] = [a.addr_spec for a in msg["from"].addresses] if msg["from"] else []
    except Exception:  # pylint: disable=broad-except
        out["from"] = "<python error>"
    try:
        d = msg["date"]
        out["date"] = int(d.datetime.timestamp()) if d is not None and d.datetime else None
    except Exception:  # pylint: disable=broad-except
        out["date"] = None
    mid = msg["message-id"]
    out["message-id"] = str(mid).strip().strip("<>") if mid is not None else None
    return out


def our_fields(doc):
    out = {}
    h = first(doc, "subject")
    out["subject"] = h["value"] if h else None
    h = first(doc, "from")
    out["from"] = [a.get("address") or "" for a in h.get("addresses", [])] if h else []
    h = first(doc, "date")
    out["date"] = h.get("unix") if h else None
    h = first(doc, "message-id")
    out["message-id"] = h["ids"][0] if h and h.get("ids") else None
    return out


bad = 0
checked = 0
for path, line in zip(args.files, lines):
    with open(path, "rb") as f:
        theirs = python_fields(BytesParser(policy=policy.default).parse(f))
    ours = our_fields(json.loads(line))
    for field, value in ours.items():
        checked += 1
        if value == theirs[field]:
            continue
        known = any(path.endswith(e.rsplit(":", 1)[0]) and e.rsplit(":", 1)[1] == field
                    for e in args.expect)
        print(f"{path}: {field}: ours={value!r} python={theirs[field]!r}"
              f"{' (known)' if known else ''}")
        if not known:
            bad += 1
print(f"{checked - bad}/{checked} fields agree or are known differences")
sys.exit(1 if bad else 0)
