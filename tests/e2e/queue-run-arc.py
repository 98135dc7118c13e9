#!/usr/bin/python3
"""ARC chain result of a message by Debian's dkimpy, keys looked up in a test DNS server.

  queue-run-arc.py 127.0.0.1:PORT FILE
  queue-run-arc.py --dkim 127.0.0.1:PORT FILE

Prints dkimpy's chain validation result (pass, fail, none) on standard output and its
reason on standard error; with --dkim, the result of the first DKIM-Signature instead
(pass or fail) and its d= domain. TXT lookups go over UDP to the given server (NSD in
tests/e2e/queue-run.bats), never to the system resolver. Only /usr/bin/python3 loads
Debian's dkim and dns modules.
"""

import sys

import dkim
import dns.resolver


def main():
    args = sys.argv[1:]
    only_dkim = args[0] == "--dkim"
    if only_dkim:
        args = args[1:]
    host, port = args[0].rsplit(":", 1)
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [host]
    r.port = int(port)

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode()
        try:
            ans = r.resolve(name, "TXT", lifetime=timeout)
        except Exception:
            return None
        for rr in ans:
            return b"".join(rr.strings)
        return None

    msg = open(args[1], "rb").read()
    if only_dkim:
        d = dkim.DKIM(msg)
        ok = d.verify(dnsfunc=dnsfunc)
        print("pass" if ok else "fail", (d.domain or b"").decode())
        return 0
    cv, results, reason = dkim.arc_verify(msg, dnsfunc=dnsfunc)
    print(cv.decode() if isinstance(cv, bytes) else cv)
    print(reason, results, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
