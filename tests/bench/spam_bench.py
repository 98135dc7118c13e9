#!/usr/bin/python3
"""Helpers of spam.bench: message lists, each tool's output turned into verdicts, CPU time.

    spam_bench.py corpus-list MANIFEST SPLIT_DIR SPLIT [N]
        the messages of one half (train or test) of the split that tests/spam-corpus wrote
        (its manifest.tsv), as lines "path<TAB>label<TAB>folder"; with N only the N whose
        SHA-256 sorts first (a fixed sample that no listing order decides), in that order
    spam_bench.py fixture-list MANIFEST
        the same for tests/fixtures/spam/MANIFEST.tsv (path, label, category, description;
        paths relative to the manifest's directory); the category stands as the folder
    spam_bench.py verdicts FORMAT LIST OUTPUT
        the verdict file (spam_eval.py's format: path, label, folder, score, is_spam) of the
        messages of LIST, from OUTPUT written by one tool:
          spamc     lines "path<TAB>exit status<TAB>score/threshold" (spamc -c per message)
          rspamc    rspamc -j --compact: one JSON object per message (any order) with
                    "filename", "score", "action"; spam = an action other than "no action"
                    and "greylist" (reject, soft reject, rewrite subject, add header)
          postern   spam-score --json: one JSON object per line, in the order of LIST, with
                    "file", "score", "spam"
        a message of LIST without a usable answer gets is_spam "error"
    spam_bench.py compare OUTPUT_A OUTPUT_B
        two spam-score --json outputs of the same list: "N messages with other rules, M
        with another verdict" (rules: the list of rules that fired; verdict: spam or not)
    spam_bench.py send PORT RCPT PATHS PARALLEL
        sends each message file named in PATHS (one a line) to an SMTP server on
        127.0.0.1:PORT for RCPT, over PARALLEL connections at once (each carries messages
        until the list is done); prints "sent N refused N failed N" (refused: a 5xx at
        DATA, the server's spam verdict; failed: anything else, each also on stderr)
    spam_bench.py cpu PID...
        for each PID, one line "CPU_SECONDS PEAK_RSS_KB": the CPU time (user + system) used
        so far by PID and every process below it, including children that have exited and
        were reaped inside that tree, and the sum of the live processes' peak RSS (VmHWM)
"""
import json
import os
import re
import smtplib
import sys
import threading


def read_list(path):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line:
                p, label, folder = line.split("\t")
                rows.append((p, label, folder))
    return rows


def cmd_corpus_list(args):
    manifest, split_dir, split = args[:3]
    rows = []
    with open(manifest, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        col = {name: i for i, name in enumerate(header)}
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if f[col["split"]] == split:
                rows.append(f)
    if len(args) > 3:
        rows = sorted(rows, key=lambda f: f[col["sha256"]])[:int(args[3])]
    for f in rows:
        print("%s\t%s\t%s" % (os.path.join(split_dir, f[col["relpath"]]), f[col["label"]],
                              f[col["folder"]]))
    return 0


def cmd_fixture_list(args):
    (manifest,) = args
    base = os.path.dirname(os.path.abspath(manifest))
    with open(manifest, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        col = {name: i for i, name in enumerate(header)}
        for k in ("path", "label", "category"):
            if k not in col:
                raise SystemExit("%s: no %s column in the header" % (manifest, k))
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) < 3 or not f[col["path"]]:
                continue
            path = os.path.join(base, f[col["path"]])
            if not os.path.isfile(path):
                print("fixture-list: %s listed but missing, skipped" % path, file=sys.stderr)
                continue
            label = f[col["label"]].strip().lower()
            if label not in ("spam", "ham"):
                print("fixture-list: %s: label %r, skipped" % (path, label), file=sys.stderr)
                continue
            print("%s\t%s\t%s" % (path, label, f[col["category"]].strip() or "-"))
    return 0


def spamc_answers(output):
    out = {}
    with open(output, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if len(f) != 3:
                continue
            path, status, summary = f
            try:
                score, threshold = (float(x) for x in summary.split("/"))
            except ValueError:
                continue
            if status not in ("0", "1") or threshold <= 0:
                continue  # spamc -x: 0 ham, 1 spam, anything else failed
            out[path] = (score, score >= threshold)
    return out


def rspamc_answers(output):
    out = {}
    with open(output, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if "filename" not in d or "score" not in d or "action" not in d:
                continue
            out[d["filename"]] = (float(d["score"]),
                                  d["action"] not in ("no action", "greylist"))
    return out


def postern_answers(output, rows):
    out = {}
    with open(output, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if "file" in d and "score" in d and isinstance(d.get("spam"), bool):
                out[d["file"]] = (float(d["score"]), d["spam"])
    return out


def cmd_verdicts(args):
    fmt, list_path, output = args
    rows = read_list(list_path)
    if fmt == "spamc":
        answers = spamc_answers(output)
    elif fmt == "rspamc":
        answers = rspamc_answers(output)
    elif fmt == "postern":
        answers = postern_answers(output, rows)
    else:
        raise SystemExit("verdicts: unknown format %s" % fmt)
    errors = 0
    for p, label, folder in rows:
        a = answers.get(p)
        if a is None:
            errors += 1
            print("%s\t%s\t%s\t-\terror" % (p, label, folder))
        else:
            print("%s\t%s\t%s\t%.2f\t%d" % (p, label, folder, a[0], 1 if a[1] else 0))
    if errors:
        print("verdicts: %s gave no verdict for %d of %d messages" % (fmt, errors, len(rows)),
              file=sys.stderr)
    return 0


def cmd_compare(args):
    outs = []
    for path in args:
        with open(path, encoding="utf-8") as fh:
            outs.append([json.loads(line) for line in fh if line.strip()])
    a, b = outs
    if len(a) != len(b):
        print("%d results against %d" % (len(a), len(b)))
        return 1
    rules = sum(1 for x, y in zip(a, b) if x["rules"] != y["rules"])
    flips = sum(1 for x, y in zip(a, b) if x["spam"] != y["spam"])
    print("%d messages with other rules, %d with another verdict" % (rules, flips))
    return 0


def proc_stat(pid):
    with open("/proc/%d/stat" % pid) as fh:
        data = fh.read()
    rest = data[data.rindex(")") + 2:].split()
    # fields after the command: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17)
    ppid = int(rest[1])
    ticks = sum(int(x) for x in rest[11:15])
    return ppid, ticks


def peak_rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_cpu(args):
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                procs[int(name)] = proc_stat(int(name))
            except (OSError, ValueError, IndexError):
                pass
    children = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    hz = os.sysconf("SC_CLK_TCK")
    for root in (int(a) for a in args):
        total, rss, stack, seen = 0, 0, [root], set()
        while stack:
            pid = stack.pop()
            if pid in seen or pid not in procs:
                continue
            seen.add(pid)
            total += procs[pid][1]
            rss += peak_rss_kb(pid)
            stack.extend(children.get(pid, []))
        print("%.2f %d" % (total / hz, rss))
    return 0


def cmd_send(args):
    port, rcpt, paths, parallel = int(args[0]), args[1], args[2], int(args[3])
    with open(paths, encoding="utf-8") as fh:
        todo = [line.rstrip("\n") for line in fh if line.strip()]
    lock = threading.Lock()
    counts = {"sent": 0, "refused": 0, "failed": 0}

    def worker():
        client = None
        while True:
            with lock:
                if not todo:
                    break
                path = todo.pop()
            with open(path, "rb") as fh:
                data = re.sub(rb"\r?\n", b"\r\n", fh.read())
            try:
                if client is None:
                    client = smtplib.SMTP("127.0.0.1", port, timeout=120)
                    client.ehlo("bench.client.test")
                client.sendmail("sender@bench.client.test", [rcpt], data)
                outcome = "sent"
            except smtplib.SMTPDataError as e:
                outcome = "refused" if 500 <= e.smtp_code < 600 else "failed"
                if outcome == "failed":
                    print("%s: %s" % (path, e), file=sys.stderr)
            except (smtplib.SMTPException, OSError) as e:
                outcome = "failed"
                print("%s: %s" % (path, e), file=sys.stderr)
                client = None
            with lock:
                counts[outcome] += 1
        if client is not None:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                pass

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("sent %d refused %d failed %d" % (counts["sent"], counts["refused"], counts["failed"]))
    return 0


def main(argv):
    cmds = {"corpus-list": (cmd_corpus_list, (3, 4)), "fixture-list": (cmd_fixture_list, 1),
            "verdicts": (cmd_verdicts, 3), "compare": (cmd_compare, 2), "send": (cmd_send, 4),
            "cpu": (cmd_cpu, None)}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 64
    fn, nargs = cmds[argv[1]]
    if isinstance(nargs, int):
        nargs = (nargs,)
    if nargs is not None and len(argv) - 2 not in nargs:
        sys.stderr.write(__doc__)
        return 64
    return fn(argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
