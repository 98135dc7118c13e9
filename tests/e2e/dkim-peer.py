#!/usr/bin/python3
"""Drives the DKIM and ARC peers of tests/e2e/dkim-interop.bats and arc-interop.bats:
Debian's dkimpy (python3-dkim; ARC signing needs python3-authres) and OpenDKIM
(opendkim -t), against a zone file in Postern's ZoneResolver format.

  dkim-peer.py dkimpy-sign   --key K --domain D --selector S [--alg A] [--canon H/B] [--length] FILE
  dkim-peer.py dkimpy-verify --zone ZONE FILE          # one result word per signature
  dkim-peer.py opendkim-sign --key K --domain D --selector S [--alg A] [--canon H/B] FILE
  dkim-peer.py opendkim-verify --zone ZONE FILE        # one result word per signature
  dkim-peer.py dkimpy-arc-sign --key K --domain D --selector S --srv-id ID [--zone ZONE] FILE
  dkim-peer.py dkimpy-arc-verify --zone ZONE FILE      # the chain result: none, pass or fail

dkimpy-arc-sign seals as a forwarder does: with --zone it first validates the chain and
records "Authentication-Results: ID; arc=<cv>" (kept in the output), since dkimpy takes
the new seal's cv= from that field; it copies every Authentication-Results of ID into the
AAR. It fails (exit 1) when dkimpy refuses to seal.

Signed messages go to standard output, in the input's line ending.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

import dkim

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from zonekeys import ed25519_seed, read_zone  # noqa: E402



def line_ending(msg):
    nl = msg.find(b"\n")
    return b"\r\n" if nl > 0 and msg[nl - 1:nl] == b"\r" else b"\n"


def dkimpy_sign(a, msg):
    key = open(a.key, "rb").read()
    if a.alg == "ed25519-sha256":
        key = ed25519_seed(key)
    hc, bc = a.canon.split("/")
    sig = dkim.sign(msg, a.selector.encode(), a.domain.encode(), key,
                    canonicalize=(hc.encode(), bc.encode()),
                    signature_algorithm=a.alg.encode(), length=a.length,
                    linesep=line_ending(msg))
    return sig + msg


def zone_dnsfunc(path):
    """A dkimpy dnsfunc answering TXT queries from the zone file."""
    zone = read_zone(path)

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        v = zone.get(n.rstrip(".").lower())
        return v.encode() if v is not None else None
    return dnsfunc


def dkimpy_verify(a, msg):
    dnsfunc = zone_dnsfunc(a.zone)
    d = dkim.DKIM(msg)
    count = len([h for h in d.headers if h[0].lower() == b"dkim-signature"])
    words = []
    for i in range(count):
        try:
            ok = d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False
        words.append("pass" if ok else "fail")
    return (" ".join(words) or "none") + "\n"


def dkimpy_arc_verify(path, msg):
    """dkimpy's chain result and its reason. dkimpy answers None when an older seal says
    cv=fail (the chain ended); RFC 8617 5.2 calls that fail."""
    cv, _, reason = dkim.arc_verify(msg, dnsfunc=zone_dnsfunc(path))
    return (cv or dkim.CV_Fail).decode(), reason


def dkimpy_arc_sign(a, msg):
    nl = line_ending(msg)
    if a.zone:
        cv, _ = dkimpy_arc_verify(a.zone, msg)
        msg = b"Authentication-Results: " + a.srv_id.encode() + b"; arc=" + cv.encode() + nl + msg
    # linesep stays CRLF: with LF, dkimpy folds its new AAR with bare LFs, which its relaxed
    # canonicalization does not unfold, and its own seal then fails to verify.
    fields = dkim.arc_sign(msg, a.selector.encode(), a.domain.encode(), open(a.key, "rb").read(),
                           a.srv_id.encode())
    if not fields:
        sys.exit("dkimpy-arc-sign: dkimpy did not seal (no Authentication-Results of "
                 + a.srv_id + ", or no arc= result past i=1)")
    return b"".join(fields).replace(b"\r\n", b"\n").replace(b"\n", nl) + msg


def opendkim_run(conf_lines, path):
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("Syslog no\n" + "".join(l + "\n" for l in conf_lines))
        p = subprocess.run(["opendkim", "-x", conf, "-vvv", "-t", path],
                           capture_output=True, text=False)
        return p.stdout + p.stderr


def inserted_header(output, name):
    """The value of '### INSHEADER: ... hname='NAME' hvalue='...'' in opendkim -vvv output."""
    m = re.search(rb"### INSHEADER: idx=\d+ hname='" + re.escape(name) + rb"' hvalue='(.*?)'\n",
                  output, re.S)
    return m.group(1) if m else None


def opendkim_sign(a, msg, path):
    with tempfile.TemporaryDirectory() as tmp:
        key = os.path.join(tmp, "key.pem")
        with open(key, "wb") as f:
            f.write(open(a.key, "rb").read())
        os.chmod(key, 0o600)
        out = opendkim_run(["Mode s", "Domain " + a.domain, "Selector " + a.selector,
                            "KeyFile " + key, "Canonicalization " + a.canon,
                            "SignatureAlgorithm " + a.alg, "RequireSafeKeys no",
                            "OversignHeaders From"], path)
    value = inserted_header(out, b"DKIM-Signature")
    if value is None:
        sys.stderr.write(out.decode(errors="replace"))
        sys.exit(1)
    field = b"DKIM-Signature: " + value + b"\n"
    return field.replace(b"\n", line_ending(msg)) + msg


def opendkim_verify(a, path):
    zone = read_zone(a.zone)
    with tempfile.TemporaryDirectory() as tmp:
        keys = os.path.join(tmp, "keys")
        with open(keys, "w") as f:
            for name, value in zone.items():
                f.write(f"{name} {value}\n")
        out = opendkim_run(["Mode v", "TestPublicKeys " + keys, "AlwaysAddARHeader yes",
                            "MinimumKeyBits 1024"], path)
    ar = inserted_header(out, b"Authentication-Results") or b""
    words = re.findall(rb"\bdkim=([a-z]+)", ar)
    return (b" ".join(words).decode() or "none") + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command")
    p.add_argument("file")
    p.add_argument("--key")
    p.add_argument("--domain")
    p.add_argument("--selector")
    p.add_argument("--alg", default="rsa-sha256")
    p.add_argument("--canon", default="relaxed/relaxed")
    p.add_argument("--length", action="store_true")
    p.add_argument("--zone")
    p.add_argument("--srv-id")
    a = p.parse_args()
    msg = open(a.file, "rb").read()
    if a.command == "dkimpy-sign":
        sys.stdout.buffer.write(dkimpy_sign(a, msg))
    elif a.command == "dkimpy-verify":
        sys.stdout.write(dkimpy_verify(a, msg))
    elif a.command == "dkimpy-arc-sign":
        sys.stdout.buffer.write(dkimpy_arc_sign(a, msg))
    elif a.command == "dkimpy-arc-verify":
        cv, reason = dkimpy_arc_verify(a.zone, msg)
        sys.stderr.write("dkimpy: " + reason + "\n")
        sys.stdout.write(cv + "\n")
    elif a.command == "opendkim-sign":
        sys.stdout.buffer.write(opendkim_sign(a, msg, a.file))
    elif a.command == "opendkim-verify":
        sys.stdout.write(opendkim_verify(a, a.file))
    else:
        p.error("unknown command " + a.command)


if __name__ == "__main__":
    main()
