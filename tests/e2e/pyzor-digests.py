#!/usr/bin/python3
"""Prints "DIGEST<TAB>FILE" for each message file named, computed the way `pyzor digest`
does (Debian's pyzor modules: email.message_from_bytes, then DataDigester), in one process
so that a corpus costs one Python start-up. Used by pyzor-interop.bats."""
import email
import sys

import pyzor.digest

for path in sys.argv[1:]:
    with open(path, "rb") as f:
        msg = email.message_from_bytes(f.read())
    print("%s\t%s" % (pyzor.digest.DataDigester(msg).value, path))
