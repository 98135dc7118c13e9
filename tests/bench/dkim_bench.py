#!/usr/bin/python3
"""Helpers of tests/bench/dkim.bench: the dkimpy side (one process looping over all files,
as a Python milter or filter would run) and the set-up steps.

  dkim_bench.py dkimpy-sign --key K --domain D --selector S [--alg A] FILES...
      dkim.sign each file in turn; prints each DKIM-Signature field (as dkim-sign
      --headers-only does).
  dkim_bench.py dkimpy-verify --zone ZONE FILES...
      dkim.verify each file in turn, the key served from memory (dnsfunc), never DNS;
      prints one line per file: pass or fail.
  dkim_bench.py opendkim-keys ZONE OUT
      the zone's TXT records as an OpenDKIM TestPublicKeys file ("name value" lines).
  dkim_bench.py attach SIGS OUTDIR FILES...
      SIGS holds dkim-sign --headers-only output over FILES (one DKIM-Signature field per
      file, in order); writes OUTDIR/<basename> = that field + the file.

Must run under /usr/bin/python3: Debian's python3-dkim imports only there.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from zonekeys import ed25519_seed, read_zone  # noqa: E402



def dkimpy_sign(a):
    import dkim
    key = open(a.key, "rb").read()
    if a.alg == "ed25519-sha256":
        key = ed25519_seed(key)
    out = sys.stdout.buffer
    sel, dom, alg = a.selector.encode(), a.domain.encode(), a.alg.encode()
    for path in a.files:
        with open(path, "rb") as f:
            msg = f.read()
        out.write(dkim.sign(msg, sel, dom, key, canonicalize=(b"relaxed", b"relaxed"),
                            signature_algorithm=alg, linesep=b"\r\n"))


def dkimpy_verify(a):
    import dkim
    zone = {k: v.encode() for k, v in read_zone(a.zone).items()}

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return zone.get(n.rstrip(".").lower())

    out = sys.stdout
    for path in a.files:
        with open(path, "rb") as f:
            msg = f.read()
        try:
            ok = dkim.verify(msg, dnsfunc=dnsfunc)
        except dkim.DKIMException:
            ok = False
        out.write("pass\n" if ok else "fail\n")


def opendkim_keys(zone_path, out_path):
    with open(out_path, "w") as f:
        for name, value in read_zone(zone_path).items():
            f.write(f"{name} {value}\n")


def attach(sigs_path, outdir, files):
    data = open(sigs_path, "rb").read()
    sigs = [b"DKIM-Signature:" + s for s in data.split(b"DKIM-Signature:")[1:]]
    if len(sigs) != len(files):
        sys.exit(f"attach: {len(sigs)} signatures for {len(files)} files")
    os.makedirs(outdir, exist_ok=True)
    for sig, path in zip(sigs, files):
        with open(path, "rb") as f:
            msg = f.read()
        with open(os.path.join(outdir, os.path.basename(path)), "wb") as f:
            f.write(sig + msg)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "opendkim-keys":
        return opendkim_keys(sys.argv[2], sys.argv[3])
    if len(sys.argv) > 1 and sys.argv[1] == "attach":
        return attach(sys.argv[2], sys.argv[3], sys.argv[4:])
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["dkimpy-sign", "dkimpy-verify"])
    p.add_argument("files", nargs="+")
    p.add_argument("--key")
    p.add_argument("--domain")
    p.add_argument("--selector")
    p.add_argument("--alg", default="rsa-sha256")
    p.add_argument("--zone")
    a = p.parse_args()
    if a.command == "dkimpy-sign":
        dkimpy_sign(a)
    else:
        dkimpy_verify(a)


if __name__ == "__main__":
    main()
