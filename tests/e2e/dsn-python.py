#!/usr/bin/python3
"""Reads Postern's delivery reports and down-converted messages with Python's email package.

  dsn-python.py dsn DIR        every DIR/NAME.eml (a report) with DIR/NAME.orig (its original)
  dsn-python.py downconvert DIR  every DIR/NAME.in (8-bit) with DIR/NAME.out (converted)

The samples are written by the unit tests (DsnOut.WriteSamples, DowncvtOut.WriteSamples)
when POSTERN_DSN_OUT is set. Prints one line per problem and a summary; exit 1 on any.
"""
import email
import email.parser
import email.policy
import pathlib
import re
import sys

problems = []


def problem(name, text):
    problems.append(f"{name}: {text}")
    print(f"FAIL {name}: {text}")


def header_block(raw):
    """The original's header fields, CRLF, without the blank line."""
    if raw.startswith(b"\r\n"):
        return b""
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[: end + 2]


def status_blocks(part, raw, boundary):
    """The delivery-status groups as lists of (name, value)."""
    if part.get_content_type() == "message/delivery-status":  # Python parses each group
        return [[(k, str(v)) for k, v in block.items()] for block in part.get_payload()]
    # Python reads other message/* types as one encapsulated message: take the part's bytes
    # from the report (the second body part) and split the groups here.
    second = raw.split(b"\r\n--" + boundary.encode())[2]
    text = second[second.find(b"\r\n\r\n") + 4:].decode("utf-8")
    groups = re.split(r"\r?\n\r?\n", text.strip("\r\n"))
    parser = email.parser.HeaderParser(policy=email.policy.compat32)
    return [list(parser.parsestr(g + "\r\n").items()) for g in groups]


def check_dsn(name, raw, orig):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.get_content_type() != "multipart/report":
        return problem(name, f"content type {msg.get_content_type()}")
    report_type = msg.get_param("report-type")
    if report_type not in ("delivery-status", "global-delivery-status"):
        return problem(name, f"report-type {report_type}")
    for p in msg.walk():
        if p.defects:
            problem(name, f"defects in {p.get_content_type()}: {p.defects}")
    if msg["Auto-Submitted"] != "auto-replied":
        problem(name, "no Auto-Submitted: auto-replied")
    if "MAILER-DAEMON@" not in str(msg["From"]):
        problem(name, f"From: {msg['From']}")
    parts = msg.get_payload()
    if len(parts) != 3:
        return problem(name, f"{len(parts)} parts")
    text, status, original = parts
    if text.get_content_type() != "text/plain":
        problem(name, f"first part {text.get_content_type()}")
    want_status = "message/" + report_type
    if status.get_content_type() != want_status:
        problem(name, f"second part {status.get_content_type()}, want {want_status}")
    blocks = status_blocks(status, raw, msg.get_boundary())
    fields = dict((k.lower(), v) for k, v in blocks[0])
    if not fields.get("reporting-mta", "").startswith("dns;"):
        problem(name, f"per-message fields {blocks[0]}")
    if len(blocks) < 2:
        return problem(name, "no recipient block")
    human = text.get_content()
    for block in blocks[1:]:
        f = dict((k.lower(), v) for k, v in block)
        rcpt = f.get("final-recipient", "")
        if not re.match(r"(rfc822|utf-8); \S+@\S+$", rcpt):
            problem(name, f"Final-Recipient {rcpt!r}")
        if f.get("action") not in ("failed", "delayed", "delivered", "relayed", "expanded"):
            problem(name, f"Action {f.get('action')!r}")
        if not re.match(r"[245]\.\d{1,3}\.\d{1,3}$", f.get("status", "")):
            problem(name, f"Status {f.get('status')!r}")
        if f.get("action") == "delayed" and "will-retry-until" not in f:
            problem(name, "delayed without Will-Retry-Until")
        address = rcpt.split(";", 1)[-1].strip()
        if f"<{address}>" not in human:
            problem(name, f"text part does not name {address}")
    ctype = original.get_content_type()
    if ctype in ("text/rfc822-headers", "message/global-headers"):
        got = original.get_payload(decode=True)
        if got != header_block(orig):
            problem(name, f"{ctype} differs from the original header:\n{got!r}\n{header_block(orig)!r}")
    elif ctype in ("message/rfc822", "message/global"):
        # Byte for byte: the original sits between the part's blank line and the delimiter.
        boundary = msg.get_boundary().encode()
        start = raw.find(b"Content-Type: " + ctype.encode() + b"\r\n")
        body = raw.find(b"\r\n\r\n", start) + 4
        end = raw.find(b"\r\n--" + boundary, body)
        if raw[body:end] != orig:
            problem(name, f"{ctype} part is not the original byte for byte")
        inner = original.get_payload()
        inner = inner[0] if isinstance(inner, list) else email.message_from_bytes(
            original.get_payload(decode=True), policy=email.policy.default)
        want = email.message_from_bytes(orig, policy=email.policy.default)
        if [(k, str(v)) for k, v in inner.items()] != [(k, str(v)) for k, v in want.items()]:
            problem(name, "the returned message's header fields differ")
    else:
        problem(name, f"third part {ctype}")


def leaves(msg):
    return [p for p in msg.walk() if not p.is_multipart()]


def check_downconvert(name, before_raw, after_raw):
    if any(b >= 0x80 or b == 0 for b in after_raw):
        problem(name, "8-bit bytes left")
    if any(len(line) > 998 for line in after_raw.split(b"\n")):
        problem(name, "line over 998 octets")
    before = email.message_from_bytes(before_raw, policy=email.policy.default)
    after = email.message_from_bytes(after_raw, policy=email.policy.default)
    a_parts, b_parts = list(before.walk()), list(after.walk())
    if len(a_parts) != len(b_parts):
        return problem(name, f"{len(a_parts)} parts before, {len(b_parts)} after")
    for a, b in zip(a_parts, b_parts):
        if a.get_content_type() != b.get_content_type():
            problem(name, f"type {a.get_content_type()} became {b.get_content_type()}")
        keep = lambda m: [(k, str(v)) for k, v in m.items()
                          if k.lower() != "content-transfer-encoding"]
        if keep(a) != keep(b):
            problem(name, f"header fields changed in {a.get_content_type()}")
        if b.get("Content-Transfer-Encoding", "7bit").lower() not in (
                "7bit", "quoted-printable", "base64"):
            problem(name, f"CTE {b['Content-Transfer-Encoding']} left")
        if a.is_multipart() or a.get_content_maintype() == "message":
            continue
        if a.get_content_maintype() == "text":
            ta, tb = a.get_content(), b.get_content()  # charset-decoded text
            if ta.replace("\r\n", "\n") != tb.replace("\r\n", "\n"):
                problem(name, f"text differs:\n{ta!r}\n{tb!r}")
        elif a.get_payload(decode=True) != b.get_payload(decode=True):
            problem(name, f"{a.get_content_type()} bytes differ")


def main():
    mode, folder = sys.argv[1], pathlib.Path(sys.argv[2])
    count = 0
    if mode == "dsn":
        for eml in sorted(folder.glob("*.eml")):
            check_dsn(eml.stem, eml.read_bytes(), eml.with_suffix(".orig").read_bytes())
            count += 1
        print(f"{count - len({p.split(':')[0] for p in problems})}/{count} reports read back")
    else:
        for src in sorted(folder.glob("*.in")):
            check_downconvert(src.stem, src.read_bytes(), src.with_suffix(".out").read_bytes())
            count += 1
        print(f"{count - len({p.split(':')[0] for p in problems})}/{count} messages decode the same")
    return 1 if problems or count == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
