#!/usr/bin/python3
"""A destination MTA for tests/e2e/queue-run.bats, on aiosmtpd (Debian's python3-aiosmtpd).

  queue-run-sink.py --listen 127.0.0.50:PORT [--listen ...] --dir DIR --ready FILE
                    [--reject ADDR] [--defer-once ADDR]

Listens on each address, takes every message and writes it to DIR/N.eml (the bytes as
received) with DIR/N.env (one line "MAIL FROM" then one per RCPT TO, each with the ESMTP
parameters as sent), and a line "N ADDRESS:PORT" (the client's end: one per connection) in
DIR/peers.log. --reject ADDR answers RCPT TO:<ADDR> with 550 5.1.1; --defer-once
ADDR answers the first RCPT TO:<ADDR> with 451 4.3.0 and takes later ones. Every RCPT
reply is also logged to DIR/rcpt.log ("451 ADDR" ...). FILE gets a line once all
addresses listen. Runs until killed. Only /usr/bin/python3 loads Debian's aiosmtpd.
"""

import argparse
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory, reject, defer_once):
        self.dir = directory
        self.reject = {a.lower() for a in reject}
        self.defer_once = {a.lower() for a in defer_once}
        self.deferred = set()
        self.lock = threading.Lock()
        self.n = 0

    def log(self, line):
        with self.lock, open(os.path.join(self.dir, "rcpt.log"), "a") as f:
            f.write(line + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        a = address.lower()
        if a in self.reject:
            self.log("550 " + address)
            return "550 5.1.1 <%s>: no such user here" % address
        if a in self.defer_once and a not in self.deferred:
            self.deferred.add(a)
            self.log("451 " + address)
            return "451 4.3.0 <%s>: try again later" % address
        self.log("250 " + address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)
        return "250 2.1.5 ok"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.n += 1
            n = self.n
        base = os.path.join(self.dir, str(n))
        data = getattr(envelope, "original_content", None) or envelope.content
        with open(base + ".tmp", "wb") as f:
            f.write(data)
        with open(base + ".env", "w") as f:
            f.write(" ".join([envelope.mail_from or ""] + list(envelope.mail_options)) + "\n")
            for r, o in zip(envelope.rcpt_tos, envelope.rcpt_options):
                f.write(" ".join([r] + list(o)) + "\n")
        os.rename(base + ".tmp", base + ".eml")
        self.log_peer(n, session.peer)
        return "250 2.0.0 ok: stored as %d" % n

    def log_peer(self, n, peer):
        with self.lock, open(os.path.join(self.dir, "peers.log"), "a") as f:
            f.write("%d %s:%s\n" % (n, peer[0], peer[1]))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", action="append", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--reject", action="append", default=[])
    p.add_argument("--defer-once", action="append", default=[])
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    sink = Sink(a.dir, a.reject, a.defer_once)
    controllers = []
    for l in a.listen:
        host, port = l.rsplit(":", 1)
        c = Controller(sink, hostname=host, port=int(port), enable_SMTPUTF8=True,
                       decode_data=False, ident="queue-run-sink")
        c.start()
        controllers.append(c)
    with open(a.ready, "w") as f:
        f.write("ready\n")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1):
        pass
    for c in controllers:
        c.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
