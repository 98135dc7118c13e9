#!/usr/bin/python3
"""Deterministic corpus for the store benchmark: N messages of mixed size.

    gen-store-corpus.py OUT_DIR N MIN_BYTES MAX_BYTES

Sizes are log-uniform between MIN and MAX (so most messages are small, as in a real
mailbox, and some are large); every message has distinct Message-ID, Subject and text
drawn from a fixed vocabulary, so full-text queries have realistic hit rates. LF line
endings, as an MTA hands mail to a delivery agent. Files are OUT_DIR/NNNNNN.eml.
"""
import math
import os
import random
import sys

WORDS = ("invoice meeting project budget report review schedule deadline agenda "
         "contract proposal quarterly summary customer support ticket release "
         "update security password server backup network storage migration "
         "holiday travel conference lunch weekend family photo birthday garden "
         "recipe football concert museum library weather music movie coffee "
         "asdfghjkl zürich grüße café naïve résumé").split()


def body_text(rng, size):
    lines = []
    total = 0
    while total < size:
        n = rng.randint(6, 14)
        line = " ".join(rng.choice(WORDS) for _ in range(n))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def main():
    out, n, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    os.makedirs(out, exist_ok=True)
    rng = random.Random(20261128)
    for i in range(n):
        size = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        header = (
            f"Return-Path: <sender{i % 97}@example.net>\n"
            f"Received: from mx.example.net (mx.example.net [192.0.2.{i % 250 + 1}])\n"
            f"\tby mail.example.org with ESMTPS id B{i:06d}; Sat, 28 Nov 2026 10:{i // 60 % 60:02d}:{i % 60:02d} +0000\n"
            f"From: Sender {i % 97} <sender{i % 97}@example.net>\n"
            f"To: Ann <ann@example.org>\n"
            f"Subject: {subject} {i}\n"
            f"Date: Sat, 28 Nov 2026 10:{i // 60 % 60:02d}:{i % 60:02d} +0000\n"
            f"Message-ID: <bench.{i}@example.net>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\n")
        text = body_text(rng, max(0, size - len(header.encode())))
        with open(os.path.join(out, f"{i:06d}.eml"), "wb") as f:
            f.write((header + text).encode())


if __name__ == "__main__":
    main()
