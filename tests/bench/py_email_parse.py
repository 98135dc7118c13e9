#!/usr/bin/python3
"""The peer side of the msg-parse benchmark: Python's email package doing the same work
in one process over the same files — a full parse (BytesParser, policy.default), every
leaf part decoded, and the text extracted (text/plain preferred, else HTML)."""
import sys
from email import policy
from email.parser import BytesParser

parser = BytesParser(policy=policy.default)
total = 0
for path in sys.argv[1:]:
    with open(path, "rb") as f:
        msg = parser.parse(f)
    for part in msg.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        total += len(payload or b"")
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            total += len(body.get_content())
        except (LookupError, ValueError, AttributeError):
            pass
    for name in ("subject", "from", "to", "date"):
        total += len(str(msg.get(name, "")))
print(total)
