#!/usr/bin/python3
"""The peer side of the msg-parse benchmark: Python's email package doing the same work
as msg-parse, in one process over the same files.

  py_email_parse.py FILES...           parse (BytesParser, policy.default), read the main
                                       header fields, extract the text (text/plain
                                       preferred, else HTML) -- as `msg-parse --text`
  py_email_parse.py --decode-all FILES also decode every leaf part -- as msg-parse's JSON,
                                       which reports each part's decoded size
"""
import sys
from email import policy
from email.parser import BytesParser

args = sys.argv[1:]
decode_all = bool(args) and args[0] == "--decode-all"
if decode_all:
    args = args[1:]
parser = BytesParser(policy=policy.default)
total = 0
for path in args:
    with open(path, "rb") as f:
        msg = parser.parse(f)
    if decode_all:
        for part in msg.walk():
            if not part.is_multipart():
                total += len(part.get_payload(decode=True) or b"")
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is not None:
        try:
            total += len(body.get_content())
        except (LookupError, ValueError, AttributeError):
            pass
    for name in ("subject", "from", "to", "date"):
        total += len(str(msg.get(name, "")))
print(total)
