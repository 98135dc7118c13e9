#!/usr/bin/python3
"""Crash loops for the store with real processes (driven by tests/e2e/store-crash.bats).

  store-crash.py sqlite   --bin DIR --dir TMP --rounds N --seed S
  store-crash.py postgres --bin DIR --dir TMP --cluster CLUSTER_DIR --pg-cluster SCRIPT --seed S

sqlite: N rounds; each starts 1-3 store-deliver processes at once (every message with its
own Message-ID) and SIGKILLs each after a seeded random delay, spread from 0 to a bit
more than a whole delivery takes here, so that some die before, some during and some
after their commit. A process that exited 0 before the kill acknowledged its message.
Afterwards every acknowledged message must be in the store exactly once, with its blob
file hashing to its id and holding the message; store-check must report nothing but
orphaned blobs; store-check --repair --grace 0 must then leave a clean store.

postgres: two workers deliver in a loop while the cluster is shut down with
`pg-cluster stop-immediate` (a crash: recovery on the next start) and started again.
Every exit-0 delivery must be present afterwards; every other delivery must have exited
75 (temporary: the MTA retries), never anything else.

Prints one summary line; exits 0 when every check held, 1 otherwise (with the reasons).
"""
import argparse
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, file=sys.stderr)


def message(mid, rng):
    body = "".join(
        "line %d of %s %s\n" % (i, mid, "x" * rng.randrange(70)) for i in range(1 + rng.randrange(30))
    )
    return ("From: bob@example.net\nTo: ann@example.org\nSubject: crash %s\nMessage-ID: <%s>\n\n%s"
            % (mid, mid, body)).encode()


def tool(args, name):
    return [os.path.join(args.bin, name)]


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def must(cmd):
    r = run(cmd)
    if r.returncode != 0:
        sys.exit("setup failed: %s: exit %d\n%s%s" % (" ".join(cmd), r.returncode,
                                                       r.stdout.decode(), r.stderr.decode()))
    return r


def check_store(args, store_args):
    """store-check: only orphans; then --repair --grace 0 leaves nothing."""
    r = run(tool(args, "store-check") + store_args + ["--grace", "0"])
    out = r.stdout.decode()
    lines = out.splitlines()
    problems = lines[:-1]
    others = [l for l in problems if "orphan" not in l]
    if others or r.returncode not in (0, 1) or (r.returncode == 1) != bool(problems):
        fail("store-check found more than orphans (exit %d):\n%s%s" % (r.returncode, out,
                                                                       r.stderr.decode()))
    r2 = run(tool(args, "store-check") + store_args + ["--repair", "--grace", "0"])
    if r2.returncode != 0:
        fail("store-check --repair --grace 0: exit %d\n%s%s" % (r2.returncode, r2.stdout.decode(),
                                                                r2.stderr.decode()))
    r3 = run(tool(args, "store-check") + store_args + ["--grace", "0", "--deep"])
    if r3.returncode != 0 or "no problems" not in r3.stdout.decode():
        fail("store-check after the repair: exit %d\n%s%s" % (r3.returncode, r3.stdout.decode(),
                                                              r3.stderr.decode()))
    return len(problems)


def crlf(b):
    return b.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ---- SQLite ----

def sqlite_mode(args):
    rng = random.Random(args.seed)
    db = os.path.join(args.dir, "store.db")
    blobs = os.path.join(args.dir, "blobs")
    store = ["--store", "sqlite:" + db]
    must(tool(args, "account-ctl") + store + ["domain", "add", "example.org"])
    must(tool(args, "account-ctl") + store + ["add", "ann@example.org"])
    deliver = tool(args, "store-deliver") + store + ["ann@example.org"]

    # How long one delivery takes here, to spread the kills over its whole life.
    acked = {}  # message id -> bytes
    took = []
    for i in range(3):
        mid = "calibrate.%d.%d@crash.test" % (i, args.seed)
        data = message(mid, rng)
        t0 = time.monotonic()
        r = run(deliver, input=data)
        took.append(time.monotonic() - t0)
        if r.returncode != 0:
            sys.exit("a plain delivery failed: exit %d\n%s" % (r.returncode, r.stderr.decode()))
        acked[mid] = data
    span = max(0.015, 1.5 * sorted(took)[1])

    killed = finished = other = sweeps = 0
    unacked = []  # (message id, bytes) of killed deliveries
    acked_times = {mid: 1 for mid in acked}
    acked_uids = {}  # message id -> the UIDs store-deliver printed
    window = [0, 0]  # attempts, exits 0 in the last 10 rounds
    for rnd in range(args.rounds):
        # Keep the kills spread over a delivery's life as the machine's speed changes
        # (concurrent deliveries take longer than the calibration runs): aim for roughly
        # half finished, half killed.
        if rnd % 10 == 9 and window[0]:
            share = window[1] / window[0]
            if share < 0.3:
                span *= 1.4
            elif share > 0.7:
                span /= 1.4
            window = [0, 0]
        procs = []
        # Now and then a sweep runs alongside: store-check --repair removes the orphans
        # of earlier rounds (older than a second) while these deliveries run.
        checker = None
        if rnd % 15 == 14:
            checker = subprocess.Popen(tool(args, "store-check") + store + ["--repair", "--grace", "1"],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for j in range(1 if rng.random() < 0.6 else rng.randint(2, 3)):
            if unacked and rng.random() < 0.15:
                # The bytes of a killed delivery again: its blob may be an orphan that the
                # sweep is about to remove.
                mid, data = unacked[rng.randrange(len(unacked))]
            else:
                mid = "r%d.%d.%d@crash.test" % (rnd, j, args.seed)
                data = message(mid, rng)
            p = subprocess.Popen(deliver, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)
            try:
                p.stdin.write(data)
                p.stdin.close()
            except BrokenPipeError:
                pass
            procs.append((p, mid, data, time.monotonic() + rng.uniform(0, span)))
        for p, mid, data, at in sorted(procs, key=lambda x: x[3]):
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p, mid, data, at in procs:
            printed = p.stdout.read().decode()
            p.stdout.close()
            rc = p.wait()
            window[0] += 1
            window[1] += rc == 0
            if rc == 0:
                finished += 1
                # "ann@example.org: delivered to ann@example.org Inbox uid 17"
                acked_uids.setdefault(mid, []).append(int(printed.split()[-1]))
                acked_times[mid] = acked_times.get(mid, 0) + 1
                acked[mid] = data
            elif rc == -signal.SIGKILL:
                killed += 1
                unacked.append((mid, data))
            else:
                other += 1
                fail("%s: store-deliver exited %d (not killed)" % (mid, rc))

        if checker:
            out, err = checker.communicate()
            sweeps += 1
            if checker.returncode != 0:
                fail("store-check --repair during deliveries: exit %d\n%s%s"
                     % (checker.returncode, out.decode(), err.decode()))

    # Every acknowledged message, as often as it was acknowledged, with its bytes.
    con = sqlite3.connect(db, timeout=30)
    rows = {}
    for mid, blob_id, size in con.execute("SELECT message_id, blob_id, size FROM email"):
        rows.setdefault(mid, []).append((blob_id, size))
    uids = {}
    for mid, uid in con.execute("SELECT e.message_id, x.uid FROM member x "
                                "JOIN email e ON e.id = x.email_id"):
        uids.setdefault(mid, set()).add(uid)
    con.close()
    # An acknowledged UID stays that message's: never lost, never given to another.
    for mid, printed in acked_uids.items():
        for uid in printed:
            if uid not in uids.get(mid, set()):
                fail("%s: acknowledged with UID %d, which the store does not give it" % (mid, uid))
    committed_unacked = sum(max(0, len(r) - acked_times.get(mid, 0)) for mid, r in rows.items())
    for mid, data in acked.items():
        got = rows.get(mid, [])
        if not got or len(got) < acked_times[mid]:
            fail("%s: acknowledged %d times, found %d times in the store"
                 % (mid, acked_times[mid], len(got)))
            continue
        blob_id, size = got[0]
        path = os.path.join(blobs, blob_id[:2], blob_id)
        try:
            with open(path, "rb") as f:
                stored = f.read()
        except OSError as e:
            fail("%s: blob %s unreadable: %s" % (mid, blob_id, e))
            continue
        if hashlib.sha256(stored).hexdigest() != blob_id or len(stored) != size:
            fail("%s: blob %s does not hash to its id or has the wrong size" % (mid, blob_id))
        if not stored.endswith(crlf(data)):
            fail("%s: the stored message is not the one delivered" % mid)
    orphans = check_store(args, store)
    print("sqlite: %d rounds (seed %d, kill window %.0f ms at the end): %d acknowledged, %d killed "
          "(%d of them committed anyway), %d sweeps alongside, %d orphans found and swept at the end"
          % (args.rounds, args.seed, span * 1000, sum(acked_times.values()), killed,
             committed_unacked, sweeps, orphans))


# ---- PostgreSQL ----

def psql(url, sql):
    r = run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
    if r.returncode != 0:
        raise RuntimeError("psql: " + r.stderr.decode())
    return r.stdout.decode()


def postgres_mode(args):
    rng = random.Random(args.seed)
    cluster = [args.pg_cluster]
    r = run(cluster + ["start", args.cluster])
    if r.returncode != 0:
        sys.exit("pg-cluster start: " + r.stderr.decode())
    url = r.stdout.decode().strip()
    store = ["--store", url, "--blob-dir", "db"]
    must(tool(args, "account-ctl") + store + ["domain", "add", "example.org"])
    must(tool(args, "account-ctl") + store + ["add", "ann@example.org"])
    deliver = tool(args, "store-deliver") + store + ["ann@example.org"]

    results = []  # (mid, data, rc)
    lock = threading.Lock()
    stop = threading.Event()

    def worker(w):
        wr = random.Random(args.seed * 10 + w)
        i = 0
        while not stop.is_set():
            mid = "pg.%d.%d.%d@crash.test" % (w, i, args.seed)
            data = message(mid, wr)
            r = run(deliver, input=data, timeout=60)
            with lock:
                results.append((mid, data, r.returncode))
            i += 1
            if r.returncode != 0:
                time.sleep(0.02)  # the server is down: do not spin

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.4 + rng.uniform(0, 0.6))
    r = run(cluster + ["stop-immediate", args.cluster])
    if r.returncode != 0:
        fail("pg-cluster stop-immediate: " + r.stderr.decode())
    with lock:
        at_crash = len(results)
    time.sleep(0.3)
    r = run(cluster + ["start", args.cluster])
    if r.returncode != 0:
        stop.set()
        for t in threads:
            t.join()
        sys.exit("pg-cluster start after the crash: " + r.stderr.decode())
    time.sleep(0.6)
    stop.set()
    for t in threads:
        t.join()

    rows = {}
    for line in psql(url, "SELECT e.message_id, e.size, (b.id IS NOT NULL), "
                          "COALESCE(encode(sha256(b.data), 'hex') = e.blob_id, false) "
                          "FROM email e LEFT JOIN blob_data b ON b.id = e.blob_id").splitlines():
        mid, size, has, ok = line.split("|")
        rows.setdefault(mid, []).append((int(size), has == "t", ok == "t"))
    ok = temp = 0
    for mid, data, rc in results:
        if rc == 0:
            ok += 1
            got = rows.get(mid, [])
            if len(got) != 1:
                fail("%s: exit 0, found %d times in the store" % (mid, len(got)))
            elif not got[0][1] or not got[0][2]:
                fail("%s: exit 0, but its blob is missing or does not hash to its id" % mid)
        elif rc == 75:
            temp += 1
        else:
            fail("%s: store-deliver exited %d (expected 0, or 75 while the server was down)"
                 % (mid, rc))
    if temp == 0:
        fail("no delivery saw the server down (exit 75): the crash came too late or too early")
    if ok == 0:
        fail("no delivery succeeded")
    after = [rc for _, _, rc in results[at_crash:] if rc == 0]
    if not after:
        fail("no delivery succeeded after the restart")
    orphans = check_store(args, store)
    print("postgres: %d deliveries (seed %d): %d exit 0 (%d after recovery), %d exit 75, "
          "%d orphans" % (len(results), args.seed, ok, len(after), temp, orphans))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["sqlite", "postgres"])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rounds", type=int, default=100)
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
