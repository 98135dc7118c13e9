#!/usr/bin/python3
"""Writes the message corpus of the DKIM benchmark: COUNT messages of about SIZE bytes.

  gen-dkim-corpus.py DIR COUNT SIZE

DIR/NNNN.eml, CRLF line ends (as on the wire, so no side converts line ends), plain
text/plain bodies of lines up to 76 characters, a realistic header (From, To, Cc, Subject,
Date, Message-ID, MIME-Version, Content-Type, a few Received fields). Deterministic
(seeded by COUNT and SIZE), so every side of the benchmark reads identical bytes.
"""
import os
import random
import sys

out, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
rnd = random.Random(20261128 + size)
WORDS = ("mail server queue message parse header body text attachment unix tool postern "
         "deliver route domain inbox spam filter sign verify the a of and to in is for "
         "signature selector canonical relaxed simple hash key record").split()


def words(n):
    return " ".join(rnd.choice(WORDS) for _ in range(n))


for i in range(count):
    head = (
        f"Received: from mx{i % 7}.example.net (mx{i % 7}.example.net [192.0.2.{i % 250 + 1}])\r\n"
        f"\tby mail.example.org with ESMTPS id {i:08x}; Sat, 28 Nov 2026 10:{i % 60:02d}:00 +0000\r\n"
        f"Received: from client.example.net (client.example.net [198.51.100.{i % 250 + 1}])\r\n"
        f"\tby mx{i % 7}.example.net with ESMTPSA; Sat, 28 Nov 2026 10:{i % 60:02d}:00 +0000\r\n"
        f"From: Sender {i} <sender{i}@example.org>\r\n"
        f"To: Recipient <rcpt{i % 13}@example.net>\r\n"
        f"Cc: other{i % 5}@example.net, \"Third, Party\" <third@example.com>\r\n"
        f"Subject: {words(6)} {i}\r\n"
        f"Date: Sat, 28 Nov 2026 10:{i % 60:02d}:{i % 59:02d} +0000\r\n"
        f"Message-ID: <bench.{i}.{size}@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n")
    body = []
    n = len(head)
    while n < size:
        line = words(rnd.randint(4, 12))[:76]
        if rnd.random() < 0.05:
            line = ""          # paragraph break
        elif rnd.random() < 0.05:
            line += "  \t "    # trailing white space for relaxed body canonicalization
        body.append(line + "\r\n")
        n += len(line) + 2
    with open(os.path.join(out, f"{i:04d}.eml"), "wb") as f:
        f.write((head + "".join(body)).encode())
