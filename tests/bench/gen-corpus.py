#!/usr/bin/python3
"""Writes the large generated messages of the msg-parse benchmark into DIR.

  big-attachment.eml   a 10 MB base64 attachment beside a short text part
  many-parts.eml       a multipart/mixed with 1,000 parts (text, HTML, base64)
  deep-nesting.eml     multiparts nested 60 deep, each level with a text part
  long-text.eml        a 2 MB quoted-printable text body with an HTML alternative

Deterministic (seeded), so both sides of the benchmark read identical bytes.
"""
import base64
import os
import random
import sys

out = sys.argv[1]
rnd = random.Random(20261128)
WORDS = ("mail server queue message parse header body text attachment unix tool "
         "postern deliver route domain inbox spam filter sign verify").split()


def words(n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def b64(data):
    s = base64.b64encode(data).decode()
    return "\r\n".join(s[i:i + 76] for i in range(0, len(s), 76))


def head(subject, ctype):
    return ("From: Bench Sender <sender@example.org>\r\nTo: rcpt@example.com\r\n"
            f"Subject: {subject}\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: {ctype}\r\n\r\n")


def write(name, text):
    with open(os.path.join(out, name), "wb") as f:
        f.write(text.encode())


blob = bytes(rnd.getrandbits(8) for _ in range(10 * 1024 * 1024))
write("big-attachment.eml",
      head("big attachment", 'multipart/mixed; boundary="b1"') +
      "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + words(200) + "\r\n"
      "--b1\r\nContent-Type: application/octet-stream; name=\"data.bin\"\r\n"
      "Content-Disposition: attachment; filename=\"data.bin\"\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" + b64(blob) + "\r\n--b1--\r\n")

parts = []
for i in range(1000):
    kind = i % 3
    if kind == 0:
        parts.append("Content-Type: text/plain; charset=us-ascii\r\n\r\n" + words(40))
    elif kind == 1:
        parts.append("Content-Type: text/html; charset=utf-8\r\n\r\n<p>" + words(40) +
                     " &amp; <b>" + words(5) + "</b></p>")
    else:
        parts.append(f"Content-Type: image/png; name=\"img{i}.png\"\r\n"
                     "Content-Transfer-Encoding: base64\r\n"
                     f"Content-Disposition: attachment; filename=\"img{i}.png\"\r\n\r\n" +
                     b64(bytes(rnd.getrandbits(8) for _ in range(600))))
write("many-parts.eml",
      head("many parts", 'multipart/mixed; boundary="many"') +
      "".join("--many\r\n" + p + "\r\n" for p in parts) + "--many--\r\n")

depth = 60
body = "Content-Type: text/plain\r\n\r\ninnermost " + words(10) + "\r\n"
for level in range(depth, 0, -1):
    body = (f"Content-Type: multipart/mixed; boundary=\"n{level}\"\r\n\r\n"
            f"--n{level}\r\nContent-Type: text/plain\r\n\r\nlevel {level} {words(8)}\r\n"
            f"--n{level}\r\n{body}--n{level}--\r\n")
write("deep-nesting.eml", head("deep nesting", 'multipart/mixed; boundary="top"') +
      "--top\r\n" + body + "--top--\r\n")

lines = []
for i in range(30000):
    line = words(12) + (" caf=C3=A9" if i % 7 == 0 else "")
    lines.append(line[:70] + "=\r\n" + line[70:] if len(line) > 74 else line)
qp = "\r\n".join(lines)
write("long-text.eml",
      head("long text", 'multipart/alternative; boundary="lt"') +
      "--lt\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + "\r\n"
      "--lt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body>" +
      "".join(f"<p>{words(12)}</p>\r\n" for _ in range(5000)) + "</body></html>\r\n--lt--\r\n")
