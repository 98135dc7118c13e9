#!/usr/bin/python3
"""Crash loops for smtp-listen with real SMTP clients (driven by tests/e2e/smtp-crash.bats).

  smtp-crash.py sqlite   --bin DIR --dir TMP --rounds N --kills K --seed S [--clients C]
  smtp-crash.py postgres --bin DIR --dir TMP --cluster DIR --pg-cluster SCRIPT --seed S

The listening socket belongs to this driver and is handed to each smtp-listen it starts
(LISTEN_FDS, as the supervisor does), so clients that connect while the server is dead
wait in the backlog for the next one instead of being refused.

Clients (threads) send messages of 1 KB to 200 KB (log-uniform), CRLF, with dot lines
that need stuffing, each with its own X-Crash-Tag, to 1-3 local recipients, in three
ways: smtplib (one command at a time), raw PIPELINING (MAIL, RCPT..., DATA in one write,
and the next transaction's commands right behind the end of data), and BDAT chunks sent
in one write. A message's outcome is the reply to its end of data: "250 2.0.0 ok: queued
as ID" (acknowledged), another reply (refused), or none (the connection died: unknown).

sqlite: N rounds; in each, C clients send while smtp-listen is SIGKILLed K times at
seeded random moments (some during its start-up, before it is ready; most at a random
time under load), each time started again. Then, per round:
  - every acknowledged message is in the queue under its id (`queue-ctl show --raw ID`),
    and what follows our Received: field hashes (SHA-256) equal to what was sent, with
    the envelope (`queue-ctl list --json`) the client gave;
  - every other queued message is a whole copy of a sent message whose end of data was
    sent and that was not refused (a commit whose 250 was lost is allowed), never twice;
  - store-check finds no problem;
then the round's messages are dropped, so the store stays small however many rounds run.

postgres: clients send continuously while the cluster is stopped with
`pg-cluster stop-immediate` (pg_ctl stop -m immediate: a crash) and, a little later,
started again. Two extra transactions are held open with their last bytes (the final
dot, the BDAT LAST chunk) unsent until the database is down: they must get 451. While it
is down no end of data sent after the stop is answered 250 (4xx or a dropped connection
only); afterwards every acknowledged message is in the queue, whole; smtp-listen recovers
(new messages get 250 again) and store-check is clean. A message answered 451 that is
queued anyway (its COMMIT went through as the connection died) is reported as a note:
the client retries, a duplicate, never a loss.

Prints a summary line; exits 0 when every check held, 1 otherwise (with the reasons).
"""
import argparse
import atexit
import base64
import concurrent.futures
import hashlib
import json
import math
import os
import random
import select
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time

failures = []
notes = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def must(cmd):
    r = run(cmd)
    if r.returncode != 0:
        sys.exit("setup failed: %s: exit %d\n%s%s" % (" ".join(cmd), r.returncode,
                                                       r.stdout.decode(), r.stderr.decode()))
    return r


RECIPIENTS = ["ann@example.org", "bob@example.org", "sales@example.org", "ann+crash@example.org"]


# ---- messages ----

class Msg:
    """One message as a client sent it, and what became of it."""

    def __init__(self, tag, sender, rcpts, data, way):
        self.tag = tag
        self.sender = sender
        self.rcpts = rcpts
        self.data = data  # CRLF, unstuffed: what must come out of the queue after Received:
        self.sha = hashlib.sha256(data).hexdigest()
        self.way = way  # smtplib, pipelining, bdat
        self.ended = False  # the end of data (or the last BDAT) was (maybe) sent
        self.t_end = None  # when
        self.reply = None  # the reply to the end of data, "250 2.0.0 ok: queued as ID", ...
        self.t_reply = None
        self.queue_id = None  # from the 250

    def acked(self):
        return self.queue_id is not None


def make_message(rng, tag, sender, rcpts):
    size = int(math.exp(rng.uniform(math.log(1024), math.log(200 * 1024))))
    head = ("From: <%s>\r\nTo: %s\r\nSubject: crash test %s\r\nMessage-ID: <%s@crash.test>\r\n"
            "X-Crash-Tag: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
            % (sender, ", ".join("<%s>" % r for r in rcpts), tag, tag, tag)).encode()
    body = []
    n = len(head)
    raw = base64.b64encode(rng.randbytes(size * 3 // 4 + 64))
    pos = 0
    i = 0
    while n < size:
        i += 1
        if i % 23 == 0:
            line = rng.choice([b".", b"..", b". dot line", b".." + tag.encode(), b"MAIL FROM:<x@y>"])
        else:
            w = rng.randrange(1, 77)
            line = raw[pos:pos + w]
            pos += w
            if pos >= len(raw):
                pos = 0
        body.append(line + b"\r\n")
        n += len(line) + 2
    return head + b"".join(body)


def stuff(data):
    """RFC 5321 4.5.2: a leading dot doubled; data ends with CRLF."""
    out = data.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out + b".\r\n"


QUEUED = "250 2.0.0 ok: queued as "


# ---- clients ----

class Reader:
    """SMTP replies from a socket (multi-line aware)."""

    def __init__(self, sock):
        self.f = sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline(8192)
            if not line:
                raise ConnectionError("connection closed")
            lines.append(line.decode("latin-1").rstrip("\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), lines[-1]


class Client(threading.Thread):
    def __init__(self, n, port, seed, stop, events, ways, pause):
        super().__init__(daemon=True)
        self.n = n
        self.port = port
        self.rng = random.Random("%d/%d" % (seed, n))
        self.stop = stop
        self.events = events  # shared list of (time, code, stage) for every reply
        self.lock = threading.Lock()
        self.msgs = []
        self.ways = ways
        self.pause = pause
        self.count = 0
        self.errors = 0  # connections that died or could not be made

    def new_msg(self, way):
        self.count += 1
        tag = "c%d.%d.%s" % (self.n, self.count, "%08x" % self.rng.getrandbits(32))
        sender = self.rng.choice(["carol@remote.test", "dave@far.test", ""])
        rcpts = self.rng.sample(RECIPIENTS, self.rng.randint(1, 3))
        m = Msg(tag, sender, rcpts, make_message(self.rng, tag, sender or "postmaster@far.test", rcpts), way)
        with self.lock:
            self.msgs.append(m)
        return m

    def breathe(self):
        if self.pause:
            time.sleep(self.rng.uniform(0, self.pause))

    def event(self, code, stage):
        self.events.append((time.monotonic(), code, stage))

    def finish(self, m, code, text):
        m.t_reply = time.monotonic()
        m.reply = text
        if code == 250 and text.startswith(QUEUED):
            m.queue_id = text[len(QUEUED):].split()[0]
        self.event(code, "data-end")
        self.breathe()

    def run(self):
        while not self.stop.is_set():
            way = self.rng.choice(self.ways)
            try:
                if way == "smtplib":
                    self.session_smtplib()
                else:
                    self.session_raw(way)
            except (OSError, smtplib.SMTPException, ConnectionError, ValueError):
                self.errors += 1
                time.sleep(0.005)
            self.breathe()

    def session_smtplib(self):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo("client%d.test" % self.n)
            for _ in range(self.rng.randint(1, 3)):
                if self.stop.is_set():
                    break
                m = self.new_msg("smtplib")
                code, _ = s.mail(m.sender)
                self.event(code, "mail")
                if code != 250:
                    s.rset()
                    time.sleep(0.02)
                    continue
                ok = 0
                for r in m.rcpts:
                    code, _ = s.rcpt(r)
                    self.event(code, "rcpt")
                    ok += code == 250
                if ok == 0:
                    s.rset()
                    time.sleep(0.02)
                    continue
                if ok != len(m.rcpts):
                    m.rcpts = None  # a partial envelope: content still checked
                code, text = s.docmd("DATA")
                self.event(code, "data")
                if code != 354:
                    s.rset()
                    time.sleep(0.02)
                    continue
                m.ended = True
                m.t_end = time.monotonic()
                s.send(stuff(m.data))
                code, text = s.getreply()
                self.finish(m, code, "%d %s" % (code, text.decode("latin-1")))

    def session_raw(self, way):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        try:
            rd = Reader(sock)
            code, _ = rd.reply()
            if code != 220:
                return
            sock.sendall(b"EHLO client%d.test\r\n" % self.n)
            code, _ = rd.reply()
            if code != 250:
                return
            n = self.rng.randint(1, 4)
            ms = [self.new_msg(way) for _ in range(n)]
            if way == "pipelining":
                self.raw_pipelining(sock, rd, ms)
            else:
                self.raw_bdat(sock, rd, ms)
            sock.sendall(b"QUIT\r\n")
            rd.reply()
        finally:
            sock.close()

    @staticmethod
    def envelope(m):
        cmds = b"MAIL FROM:<%s>\r\n" % m.sender.encode()
        for r in m.rcpts:
            cmds += b"RCPT TO:<%s>\r\n" % r.encode()
        return cmds

    def read_envelope(self, rd, m):
        """Replies to MAIL, RCPT...; whether the transaction may go on."""
        code, _ = rd.reply()
        self.event(code, "mail")
        good = code == 250
        ok = 0
        for _ in m.rcpts:
            code, _ = rd.reply()
            self.event(code, "rcpt")
            ok += code == 250
        if ok != len(m.rcpts):
            m.rcpts = None
        return good and ok > 0

    def raw_pipelining(self, sock, rd, ms):
        # RFC 2920: MAIL, RCPT... and DATA in one write; after the end of data, mostly, the
        # next transaction's commands follow in the same write.
        out = self.envelope(ms[0]) + b"DATA\r\n"
        for i, m in enumerate(ms):
            sock.sendall(out)  # empty when it went out behind the previous end of data
            nxt = ms[i + 1] if i + 1 < len(ms) and not self.stop.is_set() else None
            go = self.read_envelope(rd, m)
            code, _ = rd.reply()  # DATA
            self.event(code, "data")
            if code != 354:
                if go:
                    raise ConnectionError("DATA refused after accepted recipients")
                sock.sendall(b"RSET\r\n")
                rd.reply()
                time.sleep(0.02)
                out = self.envelope(nxt) + b"DATA\r\n" if nxt is not None else b""
                if nxt is None:
                    break
                continue
            out = stuff(m.data)
            chained = nxt is not None and self.rng.random() < 0.7
            if chained:
                out += self.envelope(nxt) + b"DATA\r\n"
            m.ended = True
            m.t_end = time.monotonic()
            sock.sendall(out)
            code, text = rd.reply()
            self.finish(m, code, text)
            if nxt is None:
                break
            out = b"" if chained else self.envelope(nxt) + b"DATA\r\n"

    def raw_bdat(self, sock, rd, ms):
        # RFC 3030: the envelope pipelined, then every chunk in one write.
        for m in ms:
            if self.stop.is_set():
                break
            sock.sendall(self.envelope(m))
            if not self.read_envelope(rd, m):
                sock.sendall(b"RSET\r\n")
                rd.reply()
                time.sleep(0.02)
                continue
            data = m.data
            cuts = sorted(self.rng.sample(range(1, len(data)), min(3, self.rng.randint(0, 3))))
            parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
            out = b""
            for j, p in enumerate(parts):
                last = j == len(parts) - 1
                out += b"BDAT %d%s\r\n" % (len(p), b" LAST" if last else b"") + p
            m.ended = True
            m.t_end = time.monotonic()
            sock.sendall(out)
            for j in range(len(parts) - 1):
                code, _ = rd.reply()
                self.event(code, "bdat")
            code, text = rd.reply()
            self.finish(m, code, text)


# ---- the server ----

class Server:
    """smtp-listen on an inherited listening socket, started and killed at will."""

    def __init__(self, args, store, workdir):
        self.args = args
        self.store = store
        self.workdir = workdir
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(512)
        self.port = self.lsock.getsockname()[1]
        self.config = os.path.join(workdir, "postern.yaml")
        with open(self.config, "w") as f:
            # The address is not bound: the socket named "mx" is inherited.
            f.write("server:\n  hostname: mx.example.org\nlisteners:\n"
                    "  - name: mx\n    address: 127.0.0.1:%d\n    mode: mx\n" % self.port)
        self.log = os.path.join(workdir, "smtp-listen.log")
        self.proc = None
        self.ready_r = None
        self.starts = 0
        atexit.register(self.cleanup)

    def cleanup(self):
        """Never leave a server behind (sys.exit on a set-up failure, an exception)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def start(self):
        assert self.proc is None
        r, w = os.pipe()
        env = dict(os.environ, LISTEN_FDS="1", LISTEN_FDNAMES="mx")
        env.pop("LISTEN_PID", None)
        cmd = ["/bin/sh", "-c", 'exec 3<&"$0" && exec "$@"', str(self.lsock.fileno()),
               os.path.join(self.args.bin, "smtp-listen"), "-c", self.config,
               "--notify-fd", str(w)] + self.store
        with open(self.log, "ab") as log:
            log.write(b"--- start %d\n" % self.starts)
            log.flush()
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log,
                                         pass_fds=(self.lsock.fileno(), w))
        os.close(w)
        self.ready_r = r
        self.starts += 1

    def wait_ready(self, timeout=20):
        """Whether the server wrote its readiness newline."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            rl, _, _ = select.select([self.ready_r], [], [], 0.05)
            if rl:
                got = os.read(self.ready_r, 16)
                if got:
                    return True
                break  # EOF: it died
            if self.proc.poll() is not None:
                break
        return False

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait()
        os.close(self.ready_r)
        self.proc = None
        return rc

    def stop(self):
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            rc = self.kill()
            fail("smtp-listen did not stop within 60 s of SIGTERM")
            return rc
        os.close(self.ready_r)
        self.proc = None
        return rc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n=30):
        try:
            with open(self.log, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode("latin-1")
        except OSError:
            return ""


# ---- checks ----

def strip_received(raw):
    """The message after our Received: field (the first field, with its folded lines)."""
    if not raw.startswith(b"Received:"):
        return None
    pos = raw.find(b"\r\n")
    while pos >= 0 and raw[pos + 2:pos + 3] in (b" ", b"\t"):
        pos = raw.find(b"\r\n", pos + 2)
    return raw[pos + 2:] if pos >= 0 else None


def tag_of(data):
    i = data.find(b"\r\nX-Crash-Tag: ")
    if i < 0:
        return None
    j = data.find(b"\r\n", i + 2)
    return data[i + 15:j].decode("latin-1")


class Verdict:
    def __init__(self):
        self.acked = self.lost_250 = self.refused = self.unknown = 0
        self.in_flight = 0  # ends of data sent whose reply never came
        self.refused_queued = 0


def verify(args, store, msgs, v, strict_refusals, drop=True):
    """The queue against what the clients saw; returns the ids found."""
    ctl = [os.path.join(args.bin, "queue-ctl")] + store
    r = run(ctl + ["list", "--json"])
    if r.returncode != 0:
        fail("queue-ctl list --json: exit %d\n%s" % (r.returncode, r.stderr.decode()))
        return []
    listed = {}
    for line in r.stdout.decode().splitlines():
        if line.strip():
            j = json.loads(line)
            listed[j["id"]] = j
    by_tag = {m.tag: m for m in msgs}
    by_id = {m.queue_id: m for m in msgs if m.acked()}
    seen_tags = {}

    def fetch(qid):
        r = run(ctl + ["show", "--raw", qid])
        if r.returncode != 0:
            return None, "queue-ctl show --raw %s: exit %d %s" % (qid, r.returncode, r.stderr.decode().strip())
        return r.stdout, None

    # One queue-ctl per message, a few at a time.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        raws = dict(zip(listed, pool.map(fetch, listed)))

    def raw(qid):
        return raws[qid]

    def same_envelope(m, j, qid):
        if j is None:
            return
        got_rcpts = [x["address"] for x in j.get("recipients", [])]
        if j.get("sender") != m.sender:
            fail("%s (%s): queued with sender %r, sent %r" % (qid, m.tag, j.get("sender"), m.sender))
        if m.rcpts is not None and got_rcpts != m.rcpts:
            fail("%s (%s): queued for %s, sent to %s" % (qid, m.tag, got_rcpts, m.rcpts))
        if j.get("size") is not None and m.data is not None and j["size"] < len(m.data):
            fail("%s (%s): queued size %d is less than the %d bytes sent" % (qid, m.tag, j["size"], len(m.data)))

    for m in msgs:
        if m.acked():
            v.acked += 1
        elif m.reply is not None:
            v.refused += 1
        else:
            v.unknown += 1
            v.in_flight += m.ended

    # Every acknowledged message, under its id, whole.
    for qid, m in by_id.items():
        if qid not in listed:
            fail("LOST: %s (%s, %s, %d bytes) was acknowledged (%r) but is not in the queue"
                 % (qid, m.tag, m.way, len(m.data), m.reply))
            continue
        data, err = raw(qid)
        if err:
            fail("LOST: acknowledged %s (%s): %s" % (qid, m.tag, err))
            continue
        body = strip_received(data)
        if body is None:
            fail("%s (%s): queued without our Received: field first" % (qid, m.tag))
            continue
        if hashlib.sha256(body).hexdigest() != m.sha:
            fail("DAMAGED: acknowledged %s (%s, %s): %d bytes queued after Received:, %d sent; "
                 "SHA-256 differs" % (qid, m.tag, m.way, len(body), len(m.data)))
        if b"with ESMTP id " + qid.encode() not in data[:len(data) - len(body)]:
            fail("%s (%s): the Received: field does not name its queue id" % (qid, m.tag))
        same_envelope(m, listed[qid], qid)
        seen_tags[m.tag] = qid

    # Every other queued message: a whole copy of a sent one whose end of data went out.
    for qid, j in listed.items():
        if qid in by_id:
            continue
        data, err = raw(qid)
        if err:
            fail("listed but unreadable: %s" % err)
            continue
        body = strip_received(data)
        tag = tag_of(body) if body is not None else None
        m = by_tag.get(tag)
        if m is None:
            fail("%s: queued, but not a message any client sent (tag %r, %d bytes)" % (qid, tag, len(data)))
            continue
        if tag in seen_tags:
            fail("%s and %s: %s queued twice" % (seen_tags[tag], qid, tag))
            continue
        seen_tags[tag] = qid
        if hashlib.sha256(body).hexdigest() != m.sha:
            fail("HALF: %s (%s, %s, never acknowledged) is queued but not whole: %d bytes, %d sent"
                 % (qid, tag, m.way, len(body), len(m.data)))
            continue
        if not m.ended:
            fail("%s (%s): queued though its end of data was never sent" % (qid, tag))
        if m.reply is not None:
            v.refused_queued += 1
            text = "%s (%s) was refused with %r, yet it is queued" % (qid, tag, m.reply)
            if strict_refusals:
                fail(text)
            else:
                notes.append(text)
            continue
        same_envelope(m, j, qid)
        v.lost_250 += 1

    if drop and listed:
        ids = sorted(listed)
        for i in range(0, len(ids), 200):
            r = run(ctl + ["drop"] + ids[i:i + 200])
            if r.returncode != 0:
                fail("queue-ctl drop: exit %d %s" % (r.returncode, r.stderr.decode()))
    return listed


def store_check(args, store):
    r = run([os.path.join(args.bin, "store-check")] + store)
    if r.returncode != 0 or "no problems" not in r.stdout.decode():
        fail("store-check: exit %d\n%s%s" % (r.returncode, r.stdout.decode(), r.stderr.decode()))


def setup_store(args, store):
    acct = [os.path.join(args.bin, "account-ctl")] + store
    must(acct + ["domain", "add", "example.org"])
    for a in ("ann@example.org", "bob@example.org"):
        must(acct + ["add", a])
    must(acct + ["alias", "add", "sales@example.org", "ann@example.org"])


def start_clients(n, port, seed, ways, pause):
    stop = threading.Event()
    events = []
    clients = [Client(i, port, seed, stop, events, ways, pause) for i in range(n)]
    for c in clients:
        c.start()
    return stop, events, clients


def stop_clients(stop, clients):
    stop.set()
    for c in clients:
        c.join(120)
        if c.is_alive():
            fail("client %d did not finish within 120 s" % c.n)
    msgs = []
    for c in clients:
        with c.lock:
            msgs.extend(c.msgs)
    return msgs


WAYS = ["smtplib", "smtplib", "pipelining", "pipelining", "bdat"]


# ---- SQLite ----

def sqlite_mode(args):
    rng = random.Random(args.seed)
    store = ["--store", "sqlite:" + os.path.join(args.dir, "store.db")]
    setup_store(args, store)
    srv = Server(args, store, args.dir)
    v = Verdict()
    kills = early = 0
    t0 = time.monotonic()
    srv.start()
    if not srv.wait_ready():
        sys.exit("smtp-listen did not become ready:\n" + srv.tail())
    for rnd in range(args.rounds):
        # The log of the last round is enough to read (and soak runs stay small).
        with open(srv.log, "r+b") as f:
            f.truncate(0)
        stop, events, clients = start_clients(args.clients, srv.port, args.seed * 1000 + rnd, WAYS,
                                              args.pause)
        for k in range(args.kills):
            if srv.proc is None:
                srv.start()
                if rng.random() < 0.12:
                    # During start-up: store open, WAL recovery, before readiness.
                    time.sleep(rng.uniform(0, 0.03))
                    early += 1
                elif not srv.wait_ready():
                    fail("smtp-listen did not become ready after a restart (round %d):\n%s"
                         % (rnd, srv.tail()))
                    break
                else:
                    time.sleep(rng.uniform(0.01, args.span))
            else:
                time.sleep(rng.uniform(0.01, args.span))
            if srv.proc.poll() is not None:
                fail("smtp-listen exited by itself with %d (round %d):\n%s"
                     % (srv.proc.returncode, rnd, srv.tail()))
                srv.kill()
                continue
            srv.kill()
            kills += 1
        # Round over: serve again so the clients finish, then check.
        if srv.proc is None:
            srv.start()
            if not srv.wait_ready():
                fail("smtp-listen did not become ready at the end of round %d:\n%s" % (rnd, srv.tail()))
                stop_clients(stop, clients)
                break
        msgs = stop_clients(stop, clients)
        verify(args, store, msgs, v, strict_refusals=True)
        store_check(args, store)
        if failures:
            print("round %d failed" % rnd)
            break
    rc = srv.stop()
    if rc != 0:
        fail("smtp-listen exited %d after SIGTERM:\n%s" % (rc, srv.tail()))
    if not failures and args.rounds * args.kills >= 50:
        if v.acked < 50:
            fail("only %d messages were acknowledged: the kills came too fast for any load" % v.acked)
        if v.in_flight == 0:
            fail("no kill ever hit a message between its end of data and its reply")
    print("sqlite: %d rounds, %d kills (%d during start-up) in %.0f s (seed %d): %d acknowledged, "
          "%d in flight at a kill (%d of them committed: 250 lost, whole), %d refused, "
          "%d unknown before their end of data"
          % (args.rounds, kills, early, time.monotonic() - t0, args.seed, v.acked, v.in_flight,
             v.lost_250, v.refused, v.unknown - v.in_flight))


# ---- PostgreSQL ----

def open_held(port, rng, n, way):
    """A transaction brought up to its last bytes: the end of data is sent later."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    rd = Reader(sock)
    if rd.reply()[0] != 220:
        raise ConnectionError("no greeting")
    sock.sendall(b"EHLO held%d.test\r\n" % n)
    rd.reply()
    tag = "held%d.%08x" % (n, rng.getrandbits(32))
    rcpts = ["ann@example.org"]
    m = Msg(tag, "carol@remote.test", rcpts, make_message(rng, tag, "carol@remote.test", rcpts), way)
    sock.sendall(Client.envelope(m))
    for _ in range(2):
        code, text = rd.reply()
        if code != 250:
            raise ConnectionError("held transaction refused: " + text)
    if way == "held-data":
        sock.sendall(b"DATA\r\n")
        code, text = rd.reply()
        if code != 354:
            raise ConnectionError("held transaction: DATA answered " + text)
        body = stuff(m.data)
        sock.sendall(body[:-3])
        rest = body[-3:]
    else:
        cut = len(m.data) // 2
        sock.sendall(b"BDAT %d\r\n" % cut + m.data[:cut])
        code, text = rd.reply()
        if code != 250:
            raise ConnectionError("held transaction: BDAT answered " + text)
        rest = b"BDAT %d LAST\r\n" % (len(m.data) - cut) + m.data[cut:]
    return sock, rd, m, rest


def postgres_mode(args):
    rng = random.Random(args.seed)
    cluster = [args.pg_cluster]
    r = run(cluster + ["start", args.cluster])
    if r.returncode != 0:
        sys.exit("pg-cluster start: " + r.stderr.decode())
    url = r.stdout.decode().strip()
    store = ["--store", url, "--blob-dir", "db"]
    setup_store(args, store)
    srv = Server(args, store, args.dir)
    srv.start()
    if not srv.wait_ready():
        sys.exit("smtp-listen did not become ready:\n" + srv.tail())
    stop, events, clients = start_clients(args.clients, srv.port, args.seed, WAYS, args.pause)

    def acked_since(t):
        n = 0
        for c in clients:
            with c.lock:
                n += sum(1 for m in c.msgs if m.acked() and m.t_end is not None and m.t_end > t)
        return n

    # Load first, then the crash at a random moment under it.
    end = time.monotonic() + 15
    while acked_since(0) < 5 and time.monotonic() < end:
        time.sleep(0.05)
    # Two transactions wait with their last bytes unsent until the database is down.
    held = []
    for n, way in enumerate(["held-data", "held-bdat"]):
        try:
            held.append(open_held(srv.port, rng, n, way))
        except (OSError, ConnectionError) as e:
            fail("could not set up a held transaction: %s" % e)
    time.sleep(rng.uniform(0, 0.5))
    t_stop0 = time.monotonic()
    r = run(cluster + ["stop-immediate", args.cluster])
    t_stop = time.monotonic()
    if r.returncode != 0:
        fail("pg-cluster stop-immediate: " + r.stderr.decode())
    for sock, rd, m, rest in held:
        m.ended = True
        m.t_end = time.monotonic()
        try:
            sock.sendall(rest)
        except OSError:
            pass
    held_msgs = [h[2] for h in held]

    def read_held():
        for sock, rd, m, rest in held:
            try:
                code, text = rd.reply()
                m.reply, m.t_reply = text, time.monotonic()
                if code == 250 and text.startswith(QUEUED):
                    m.queue_id = text[len(QUEUED):].split()[0]
            except (OSError, ConnectionError):
                pass
            sock.close()

    reader = threading.Thread(target=read_held, daemon=True)
    reader.start()
    # Down long enough for the store's retries (about a second per commit) to give up.
    time.sleep(3.5 + rng.uniform(0, 1))
    t_start = time.monotonic()
    # The cluster keeps its port, which lies in the ephemeral range: a client's reconnect
    # attempt can hold it for a moment (a TCP self-connect), so the start is retried.
    for attempt in range(20):
        r = run(cluster + ["start", args.cluster])
        if r.returncode == 0 or b"already in use" not in r.stderr:
            break
        notes.append("pg-cluster start: port busy, attempt %d" % (attempt + 1))
        time.sleep(0.5)
    if r.returncode != 0:
        stop_clients(stop, clients)
        srv.stop()
        sys.exit("pg-cluster start after the crash: " + r.stderr.decode())
    # smtp-listen must serve again without a restart of its own.
    end = time.monotonic() + 30
    while acked_since(t_start) < 3 and time.monotonic() < end:
        time.sleep(0.1)
    recovered = acked_since(t_start)
    msgs = stop_clients(stop, clients)
    reader.join(60)
    msgs.extend(held_msgs)
    for m in held_msgs:
        when = "before" if m.t_reply is not None and m.t_reply < t_start else "after"
        print("held %s: end sent %.3f s after the stop, %s (%s the restart)"
              % (m.way, m.t_end - t_stop, repr(m.reply) if m.reply else "connection dropped", when))
        if m.reply is not None and m.t_reply < t_start and not m.reply.startswith("4"):
            fail("%s: end of data sent while the database was down, answered %r" % (m.way, m.reply))
    if held_msgs and not any(m.reply and m.reply.startswith("451") for m in held_msgs):
        fail("no held transaction got 451 while the database was down")
    if not srv.alive():
        fail("smtp-listen died while the database was down (exit %s):\n%s"
             % (srv.proc.returncode if srv.proc else "?", srv.tail()))
    if recovered < 3:
        fail("smtp-listen did not recover: %d messages acknowledged in 30 s after the database "
             "came back" % recovered)

    # While down: an end of data sent after the stop is never answered 250.
    down_250 = 0
    down_ends = 0
    for m in msgs:
        if m.t_end is not None and t_stop < m.t_end and m.t_reply is not None and m.t_reply < t_start:
            down_ends += 1
            if m.reply.startswith("250"):
                down_250 += 1
                fail("%s (%s): end of data sent %.3f s after the database stopped, answered %r "
                     "%.3f s later, before it was started again"
                     % (m.tag, m.way, m.t_end - t_stop, m.reply, m.t_reply - m.t_end))
            elif not m.reply.startswith("4"):
                fail("%s (%s): answered %r while the database was down (expected 4xx)" % (m.tag, m.way, m.reply))
    down = [(t, code, stage) for t, code, stage in events if t_stop < t < t_start]
    temp = [e for e in down if 400 <= e[1] < 500]
    down_451_data = sum(1 for m in msgs if m.reply and m.reply.startswith("451")
                        and m.t_reply is not None and t_stop0 < m.t_reply < t_start)
    if not temp:
        fail("no reply while the database was down was 4xx: the crash was not seen")
    v = Verdict()
    verify(args, store, msgs, v, strict_refusals=False, drop=False)
    store_check(args, store)
    rc = srv.stop()
    if rc not in (0, None):
        fail("smtp-listen exited %d after SIGTERM:\n%s" % (rc, srv.tail()))
    for n in notes:
        print("note: " + n)
    print("postgres (seed %d): %d messages, %d acknowledged (%d after recovery), %d replies while "
          "down (%d of them 4xx, %d ends of data: %d answered 451, %d answered 250), %d in flight "
          "at the crash or dropped, %d committed without their 250 (whole), %d refused but queued"
          % (args.seed, len(msgs), v.acked, recovered, len(down), len(temp), down_ends,
             down_451_data, down_250, v.in_flight, v.lost_250, v.refused_queued))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["sqlite", "postgres"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--kills", type=int, default=5, help="SIGKILLs per round")
    ap.add_argument("--clients", type=int, default=3)
    ap.add_argument("--pause", type=float, default=0.08,
                    help="longest pause of a client after each message (s): the load, and so "
                         "the number of messages to check, stays moderate")
    ap.add_argument("--span", type=float, default=0.35, help="longest wait before a kill (s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cluster")
    ap.add_argument("--pg-cluster")
    args = ap.parse_args()
    if args.mode == "sqlite":
        sqlite_mode(args)
    else:
        postgres_mode(args)
    if failures:
        print("%d failures (seed %d)" % (len(failures), args.seed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
