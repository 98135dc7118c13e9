#!/usr/bin/python3
"""Crash loops for queue-run (driven by tests/e2e/queue-run-crash.bats).

  queue-run-crash.py remote --bin DIR --dir TMP --kills K --seed S [--messages N]
  queue-run-crash.py local  --bin DIR --dir TMP --kills K --seed S [--messages N]

A SQLite store (the local domain example.org, the account ann@example.org) holds a queue
filled with `queue-ctl add`; every message has its own Message-ID and its SHA-256 is
kept. queue-run (as a daemon with --notify-fd, or with --once: chosen at random for each
start) works it with a short `delivery.lease` (--lease, default 3s: 2s makes the lease
renewal spin, see queue-run-crash.bats) and `delivery.batch` 50, and is SIGKILLed K
times at seeded random moments (some during its start-up, most while it delivers),
each time started again: a
new process, a new lease owner, which takes over the dead one's messages once their
leases have run out. When the kills are done a last daemon runs undisturbed until the
queue is empty, then gets SIGTERM (exit 0 expected).

remote: most messages go to the transport "*" -> an aiosmtpd server run by this driver
  (/usr/bin/python3), which records every message it accepts (the time of its 250, the
  Message-ID, the recipients, the SHA-256 of the data); some also go to ann@example.org,
  and some only there. The sink is slow before DATA (MAIL/RCPT take 10-60 ms), so kills
  land inside transactions, and answers 451 to the first attempt of one message in 25, so
  deferrals and retries are crashed too. When messages run short before the kills are
  done the queue is topped up.
local: only ann@example.org, messages of 1 KB to 1 MB, kills closer together.

Checks at the end:
  - every recipient of every message got it at least once: the sink saw the Message-ID
    for each remote recipient; ann's mailbox (store-export -f eml) holds it;
  - every copy is whole: the sink's data hashes to what was queued; a stored copy, less
    the Return-Path/Delivered-To fields local delivery prepends, too (never half);
  - the queue is empty; no message was bounced; store-check finds nothing but orphaned
    blobs (a kill between a blob file and its commit);
  - duplicates only in the documented window: every extra copy the sink received follows
    a kill that came at most --window s (default 1.5) after the copy before it was
    answered 250 (a live worker never delivers twice); duplicates in all (sink and
    mailbox) are at most the number of kills.

Prints one summary line; exits 0 when every check held, 1 otherwise (with the reasons).
"""
import argparse
import asyncio
import concurrent.futures
import email.parser
import glob
import hashlib
import math
import os
import random
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time

from aiosmtpd.controller import Controller

failures = []
notes = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def must(cmd, **kw):
    r = run(cmd, **kw)
    if r.returncode != 0:
        sys.exit("setup failed: %s: exit %d\n%s%s" % (" ".join(cmd), r.returncode,
                                                       r.stdout.decode(), r.stderr.decode()))
    return r


LOCAL = "ann@example.org"
REMOTES = ["carol@remote.test", "dave@remote.test", "erin@other.test"]


# ---- the destination ----

class Sink:
    """aiosmtpd handler: records every message it accepts."""

    def __init__(self, seed, slow):
        self.lock = threading.Lock()
        self.accepted = []  # (time of the 250, Message-ID, recipients, sha256)
        self.mails = 0      # transactions begun (MAIL)
        self.datas = 0      # ends of data received
        self.tempfailed = set()
        self.seed = seed
        self.slow = slow
        self.rng = random.Random(seed)

    def tempfail_first(self, mid):
        # One message in 25 is refused with 451 at its first attempt.
        return int(hashlib.sha256(("%d/%s" % (self.seed, mid)).encode()).hexdigest()[:8], 16) % 25 == 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.mails += 1
            d = self.rng.uniform(*self.slow)
        await asyncio.sleep(d)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            d = self.rng.uniform(*self.slow) / 2
        await asyncio.sleep(d)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 ok"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or b""
        mid = message_id(data)
        with self.lock:
            self.datas += 1
            if mid and self.tempfail_first(mid) and mid not in self.tempfailed:
                self.tempfailed.add(mid)
                return "451 4.3.0 try again later (test sink)"
            self.accepted.append((time.monotonic(), mid, sorted(envelope.rcpt_tos),
                                  hashlib.sha256(data).hexdigest()))
        return "250 2.0.0 accepted"


def message_id(data):
    m = re.search(rb"\r\nMessage-ID: <([^>]*)>", b"\r\n" + data[:4096], re.I)
    return m.group(1).decode("latin-1") if m else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


# ---- messages ----

class Msg:
    def __init__(self, tag, sender, rcpts, data):
        self.tag = tag
        self.mid = tag + "@qr-crash.test"
        self.sender = sender
        self.rcpts = rcpts
        self.data = data
        self.sha = hashlib.sha256(data).hexdigest()
        self.queue_id = None

    def remote(self):
        return sorted(r for r in self.rcpts if r != LOCAL)

    def local(self):
        return LOCAL in self.rcpts


def make_message(rng, tag, sender, rcpts, lo, hi):
    size = int(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    head = ("From: <%s>\r\nTo: %s\r\nSubject: queue-run crash %s\r\nMessage-ID: <%s@qr-crash.test>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
            % (sender, ", ".join("<%s>" % r for r in rcpts), tag, tag)).encode()
    out = [head]
    n = len(head)
    i = 0
    while n < size:
        i += 1
        if i % 31 == 0:
            line = rng.choice([b".", b"..", b". a dot line", b"From the start", b"RSET"])
        else:
            line = ("%s %d %s" % (tag, i, "abcdefghijklmnopqrstuvwxyz0123456789"[:rng.randrange(1, 36)] * 2)).encode()
        out.append(line + b"\r\n")
        n += len(line) + 2
    return b"".join(out)


class Queue:
    """The messages this driver queued, and how to queue more."""

    def __init__(self, args, store, rng):
        self.args = args
        self.store = store
        self.rng = rng
        self.msgs = []
        self.lock = threading.Lock()

    def make(self, n):
        out = []
        for _ in range(n):
            k = len(self.msgs) + len(out) + 1
            tag = "m%d.%08x" % (k, self.rng.getrandbits(32))
            if self.args.mode == "local":
                rcpts = [LOCAL]
                lo, hi = 1024, 1024 * 1024
            else:
                x = self.rng.random()
                if x < 0.15:
                    rcpts = [LOCAL]
                elif x < 0.30:
                    rcpts = [LOCAL] + self.rng.sample(REMOTES, self.rng.randint(1, 2))
                else:
                    rcpts = self.rng.sample(REMOTES, self.rng.randint(1, 2))
                lo, hi = 1024, 64 * 1024
            sender = self.rng.choice(["bob@far.test", "zed@far.test"])
            out.append(Msg(tag, sender, rcpts, make_message(self.rng, tag, sender, rcpts, lo, hi)))
        return out

    def add(self, n):
        new = self.make(n)
        ctl = [os.path.join(self.args.bin, "queue-ctl")] + self.store

        def one(m):
            r = run(ctl + ["add", "-f", m.sender] + m.rcpts, input=m.data)
            if r.returncode != 0:
                return "queue-ctl add: exit %d %s" % (r.returncode, r.stderr.decode().strip())
            m.queue_id = r.stdout.decode().strip()
            return None

        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            for err in pool.map(one, new):
                if err:
                    sys.exit("setup failed: " + err)
        with self.lock:
            self.msgs.extend(new)
        return new


# ---- queue-run ----

class Runner:
    def __init__(self, args, config, store):
        self.args = args
        self.config = config
        self.store = store
        self.proc = None
        self.ready_r = None
        self.once = False
        self.log = os.path.join(args.dir, "queue-run.log")
        self.starts = 0

    def start(self, once):
        self.once = once
        cmd = [os.path.join(self.args.bin, "queue-run"), "-c", self.config] + self.store
        w = None
        if once:
            cmd.append("--once")
            self.ready_r = None
        else:
            r, w = os.pipe()
            cmd += ["--notify-fd", str(w)]
            self.ready_r = r
        with open(self.log, "ab") as log:
            log.write(b"--- start %d%s\n" % (self.starts, b" --once" if once else b""))
            log.flush()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         pass_fds=(w,) if w is not None else ())
        if w is not None:
            os.close(w)
        self.starts += 1

    def wait_ready(self, timeout=20):
        if self.ready_r is None:
            return self.proc.poll() is None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rl, _, _ = select.select([self.ready_r], [], [], 0.05)
            if rl:
                return bool(os.read(self.ready_r, 16))
            if self.proc.poll() is not None:
                break
        return False

    def close(self):
        if self.ready_r is not None:
            os.close(self.ready_r)
            self.ready_r = None
        self.proc = None

    def kill(self):
        """SIGKILL; the time it was sent, or None when the process had exited already."""
        if self.proc.poll() is not None:
            self.close()
            return None
        t = time.monotonic()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.close()
        return t

    def stop(self, timeout=60):
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            fail("queue-run did not stop within %g s of SIGTERM" % timeout)
            return "SIGKILL"
        self.close()
        return rc

    def tail(self, n=30):
        try:
            with open(self.log, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("latin-1")
        except OSError:
            return ""


def queued(args, store):
    r = run([os.path.join(args.bin, "queue-ctl")] + store + ["list", "--json"])
    if r.returncode != 0:
        fail("queue-ctl list --json: exit %d %s" % (r.returncode, r.stderr.decode()))
        return None
    return [l for l in r.stdout.decode().splitlines() if l.strip()]


# ---- checks ----

def strip_local_fields(raw):
    """A stored copy less the Return-Path: and Delivered-To: fields local delivery adds."""
    while True:
        for name in (b"Return-Path:", b"Delivered-To:"):
            if raw[:len(name)].lower() == name.lower():
                raw = raw[raw.index(b"\r\n") + 2:] if b"\r\n" in raw else b""
                break
        else:
            return raw


def mailbox_copies(args, store):
    """Message-ID -> [sha256 of each stored copy] for ann's mailboxes."""
    out = os.path.join(args.dir, "export-%d" % time.monotonic_ns())
    r = run([os.path.join(args.bin, "store-export")] + store + ["-a", LOCAL, "-f", "eml", out])
    if r.returncode != 0:
        fail("store-export: exit %d %s" % (r.returncode, r.stderr.decode()))
        return {}
    copies = {}
    for path in glob.glob(os.path.join(out, "**", "*.eml"), recursive=True):
        with open(path, "rb") as f:
            raw = f.read()
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # whatever .eml uses
        body = strip_local_fields(raw)
        copies.setdefault(message_id(body) or ("?" + path), []).append(hashlib.sha256(body).hexdigest())
    return copies


def store_check(args, store):
    """store-check: nothing but orphaned blobs (a kill after a blob file, before its commit)."""
    r = run([os.path.join(args.bin, "store-check")] + store + ["--grace", "0"])
    out = r.stdout.decode()
    problems = out.splitlines()[:-1]
    others = [l for l in problems if "orphan" not in l]
    if others or r.returncode not in (0, 1):
        fail("store-check found more than orphans (exit %d):\n%s%s" % (r.returncode, out, r.stderr.decode()))
    return len(problems)


def verify(args, store, q, sink, kills):
    msgs = q.msgs
    by_mid = {m.mid: m for m in msgs}
    v = {"remote_dups": 0, "local_dups": 0, "max_gap": 0.0}

    # Remote: every recipient at least once, every copy whole, extra copies only after a kill.
    seen = {}
    for t, mid, rcpts, sha in sink.accepted:
        m = by_mid.get(mid)
        if m is None:
            fail("the sink got a message nobody queued: Message-ID %r to %s" % (mid, rcpts))
            continue
        if sha != m.sha:
            fail("DAMAGED: %s (%s) reached the sink with other bytes than were queued" % (m.queue_id, mid))
        for r in rcpts:
            if r not in m.remote():
                fail("%s (%s) reached the sink for %s, queued for %s" % (m.queue_id, mid, r, m.rcpts))
            seen.setdefault((mid, r), []).append(t)
    for m in msgs:
        for r in m.remote():
            if (m.mid, r) not in seen:
                fail("LOST: %s (%s) never reached %s" % (m.queue_id, m.mid, r))
    for (mid, r), times in seen.items():
        for prev, t in zip(times, times[1:]):
            v["remote_dups"] += 1
            after = [k for k in kills if prev - 0.01 <= k <= t]
            if not after:
                fail("%s sent to %s twice (%.3f s apart) with no kill in between: a live worker "
                     "delivered twice" % (mid, r, t - prev))
                continue
            gap = after[0] - prev
            v["max_gap"] = max(v["max_gap"], gap)
            if gap > args.window:
                fail("%s sent to %s again: the kill before came %.3f s after its 250, outside "
                     "the window (%.1f s)" % (mid, r, gap, args.window))
    # A transaction carries every remote recipient of a message: count copies per message.
    per_msg = {}
    for t, mid, rcpts, sha in sink.accepted:
        per_msg[mid] = per_msg.get(mid, 0) + 1
    v["remote_dups"] = sum(n - 1 for n in per_msg.values() if n > 1)

    # Local: at least once, never half.
    copies = mailbox_copies(args, store)
    for mid, shas in copies.items():
        m = by_mid.get(mid)
        if m is None or not m.local():
            fail("ann's mailbox holds a message nobody queued for her: %r" % mid)
            continue
        for sha in shas:
            if sha != m.sha:
                fail("HALF: %s (%s) is in ann's mailbox but not whole" % (m.queue_id, mid))
        v["local_dups"] += len(shas) - 1
    for m in msgs:
        if m.local() and m.mid not in copies:
            fail("LOST: %s (%s) is not in ann's mailbox" % (m.queue_id, m.mid))

    dups = v["remote_dups"] + v["local_dups"]
    if dups > len(kills):
        fail("%d duplicates (%d at the sink, %d in the mailbox) for %d kills"
             % (dups, v["remote_dups"], v["local_dups"], len(kills)))
    return v


# ---- the loop ----

def write_config(args, port):
    path = os.path.join(args.dir, "postern.yaml")
    with open(path, "w") as f:
        f.write("""server:
  hostname: qr-crash.example.org
  data_dir: {dir}
store:
  path: {dir}/store.db
  blob_dir: {dir}/blobs
log:
  level: info
delivery:
  retry: [1s]
  lease: {lease}
  poll: 1s
  batch: {batch}
  max_connections: 4
  max_per_destination: 4
  connect_timeout: 10s
  command_timeout: 30s
  data_timeout: 30s
  mta_sts: false
  dane: false
  transports:
    - domain: "*"
      via: smtp:[127.0.0.1]:{port}
      tls: none
""".format(dir=args.dir, port=port, batch=args.batch, lease=args.lease))
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["remote", "local"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--kills", type=int, default=80)
    ap.add_argument("--messages", type=int, default=0, help="queued at the start (default: per mode)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--span", type=float, default=0, help="longest wait before a kill (s)")
    ap.add_argument("--batch", type=int, default=50, help="delivery.batch")
    ap.add_argument("--lease", default="3s", help="delivery.lease")
    ap.add_argument("--term-timeout", type=float, default=30, help="the last daemon's drain (s)")
    ap.add_argument("--window", type=float, default=1.5,
                    help="longest time from the sink's 250 to the kill that explains a duplicate (s)")
    args = ap.parse_args()
    local = args.mode == "local"
    n0 = args.messages or (150 if local else 300)
    span = args.span or (0.5 if local else 0.9)
    rng = random.Random(args.seed)
    store = ["--store", "sqlite:" + os.path.join(args.dir, "store.db")]
    acct = [os.path.join(args.bin, "account-ctl")] + store
    must(acct + ["domain", "add", "example.org"])
    must(acct + ["add", LOCAL], stdin=subprocess.DEVNULL)

    sink = Sink(args.seed, (0.01, 0.06))
    port = free_port()
    ctl = Controller(sink, hostname="127.0.0.1", port=port, decode_data=False,
                     ready_timeout=10)
    ctl.start()
    config = write_config(args, port)
    q = Queue(args, store, rng)
    t0 = time.monotonic()
    q.add(n0)
    t_fill = time.monotonic() - t0

    qr = Runner(args, config, store)
    kills = []
    early = exited = onces = refills = 0
    refill = None
    while len(kills) < args.kills:
        once = rng.random() < 0.3
        onces += once
        qr.start(once)
        if rng.random() < 0.1:
            time.sleep(rng.uniform(0, 0.05))  # start-up: the store opens, the first claim
            early += 1
        else:
            if not once and not qr.wait_ready():
                if qr.proc.poll() is not None:
                    fail("queue-run exited %d before it was ready:\n%s" % (qr.proc.returncode, qr.tail()))
                    qr.close()
                    break
            time.sleep(rng.uniform(0.05, span))
        rc = qr.proc.poll()
        if rc is not None:
            exited += 1
            if rc != 0:
                fail("queue-run%s exited %d by itself:\n%s" % (" --once" if once else "", rc, qr.tail()))
                qr.close()
                break
            qr.close()
        else:
            t = qr.kill()
            if t is not None:
                kills.append(t)
        # Keep a backlog while kills remain: the sink must be busy when they come.
        if refill is None or not refill.is_alive():
            with sink.lock:
                got = len({mid for _, mid, _, _ in sink.accepted})
            if len(q.msgs) - got < n0 // 4 and len(kills) < args.kills * 0.9:
                refills += 1
                refill = threading.Thread(target=q.add, args=(n0 // 2,), daemon=True)
                refill.start()
        # The log of the last minutes is enough to read.
        if os.path.getsize(qr.log) > 64 << 20:
            open(qr.log, "wb").close()
    if refill is not None:
        refill.join()
    t_kills = time.monotonic() - t0

    # Undisturbed: a daemon until the queue is empty (the dead workers' leases run out).
    if not failures:
        qr.start(False)
        if not qr.wait_ready():
            fail("the last queue-run did not become ready:\n" + qr.tail())
        end = time.monotonic() + 90
        left = None
        while time.monotonic() < end:
            left = queued(args, store)
            if left == []:
                break
            time.sleep(0.5)
        if left:
            fail("%d messages still queued 90 s after the last kill:\n%s" % (len(left), "\n".join(left[:5])))
        rc = qr.stop(args.term_timeout)
        if rc != 0:
            fail("queue-run exited %s after SIGTERM (the queue empty):\n%s" % (rc, qr.tail()))
    ctl.stop()

    with open(qr.log, "rb") as f:
        log = f.read().decode("latin-1")
    bounced = [l for l in log.splitlines() if "event=bounced" in l or "event=dsn" in l]
    if bounced:
        fail("messages were bounced:\n" + "\n".join(bounced[:5]))
    v = verify(args, store, q, sink, kills)
    orphans = store_check(args, store)
    cut = sink.mails - sink.datas
    if args.kills >= 20 and not local and cut == 0:
        fail("no kill came inside an SMTP transaction")
    if args.kills >= 20 and len(kills) - early < args.kills // 2:
        fail("only %d of %d kills came after start-up" % (len(kills) - early, len(kills)))
    for n in notes:
        print("note: " + n)
    print("%s (seed %d): %d messages (%d recipients remote, %d local), queued in %.1f s (%d top-ups); "
          "%d starts (%d --once, %d exited by themselves), %d kills (%d during start-up) in %.0f s; "
          "sink: %d transactions begun, %d cut by a kill, %d answered 451, %d accepted; "
          "duplicates: %d at the sink (longest 250-to-kill %.3f s), %d in the mailbox; "
          "%d orphaned blobs"
          % (args.mode, args.seed, len(q.msgs), sum(len(m.remote()) for m in q.msgs),
             sum(m.local() for m in q.msgs), t_fill, refills, qr.starts, onces, exited, len(kills),
             early, t_kills, sink.mails, cut, len(sink.tempfailed), len(sink.accepted),
             v["remote_dups"], v["max_gap"], v["local_dups"], orphans))
    if failures:
        print("%d failures (seed %d)" % (len(failures), args.seed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
