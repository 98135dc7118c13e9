#!/usr/bin/python3
"""Accuracy (and speed) figures of spam filters from their per-message verdicts.

Every tool's verdicts are written in one format, a TSV file with one line per message:

    path <TAB> label <TAB> folder <TAB> score <TAB> is_spam

label is spam or ham (the truth); folder is the corpus folder (easy-ham-1, hard-ham-1,
spam-2, ...) or, for tests/fixtures/spam, the category; score is the tool's score; is_spam
is 1 when the tool would file the message as spam, 0 when not, and "error" when the tool
gave no verdict (counted as not spam, and reported). A first line starting "path<TAB>" is
a header and skipped.

Groups: spam = label spam; hard ham = label ham with "hard" in the folder name; easy ham =
every other ham. Spam recall = spam flagged / spam; a false positive is a ham flagged.

    spam_eval.py metrics VERDICTS                 the counts as one JSON object
    spam_eval.py check VERDICTS [--min-recall PCT] [--max-easy-fp N] [--max-hard-fp N]
                                                  the figures, then exit 1 when a limit is missed
    spam_eval.py report [--cores-note TEXT] TOOL=VERDICTS[,WALL_S[,CPU_S]] ...
                                                  the comparison table of the bench: recall,
                                                  FP counts, msgs/s (messages / WALL_S) and per-core
                                                  msgs/s (messages / CPU_S), the ratios of the tool
                                                  named postern to the others per core, and the
                                                  targets (>= 95.7% recall, <= 2 easy-ham and <= 6
                                                  hard-ham FP; >= 50x SpamAssassin, >= 2x rspamd)
    spam_eval.py categories TOOL=VERDICTS ...     per category: messages, and how many each tool flagged
"""
import json
import sys

TARGET_RECALL = 95.7
TARGET_EASY_FP = 2
TARGET_HARD_FP = 6
TARGET_RATIO = {"spamassassin": 50.0, "rspamd": 2.0}


def read_verdicts(path):
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line or (lineno == 1 and line.startswith("path\t")):
                continue
            f = line.split("\t")
            if len(f) != 5:
                raise SystemExit("%s:%d: expected 5 fields, got %d" % (path, lineno, len(f)))
            p, label, folder, score, flag = f
            if label not in ("spam", "ham"):
                raise SystemExit("%s:%d: label must be spam or ham, not %r" % (path, lineno, label))
            if flag not in ("0", "1", "error"):
                raise SystemExit("%s:%d: is_spam must be 0, 1 or error, not %r" % (path, lineno, flag))
            rows.append({"path": p, "label": label, "folder": folder, "score": score, "flag": flag})
    return rows


def group_of(row):
    if row["label"] == "spam":
        return "spam"
    return "hard_ham" if "hard" in row["folder"] else "easy_ham"


def metrics(rows):
    m = {"messages": len(rows), "errors": 0}
    for g in ("spam", "easy_ham", "hard_ham"):
        m[g] = {"n": 0, "flagged": 0}
    for r in rows:
        g = m[group_of(r)]
        g["n"] += 1
        if r["flag"] == "1":
            g["flagged"] += 1
        elif r["flag"] == "error":
            m["errors"] += 1
    s = m["spam"]
    m["recall_pct"] = round(100.0 * s["flagged"] / s["n"], 2) if s["n"] else None
    m["easy_fp"] = m["easy_ham"]["flagged"]
    m["hard_fp"] = m["hard_ham"]["flagged"]
    return m


def pct(a, b):
    return "%.1f%%" % (100.0 * a / b) if b else "-"


def misses(m, min_recall, max_easy, max_hard):
    out = []
    if m["recall_pct"] is not None and m["recall_pct"] < min_recall:
        out.append("recall %.1f%% < %.1f%%" % (m["recall_pct"], min_recall))
    if m["easy_fp"] > max_easy:
        out.append("easy-ham FP %d > %d" % (m["easy_fp"], max_easy))
    if m["hard_fp"] > max_hard:
        out.append("hard-ham FP %d > %d" % (m["hard_fp"], max_hard))
    return out


def cmd_metrics(args):
    if len(args) != 1:
        raise SystemExit("usage: spam_eval.py metrics VERDICTS")
    print(json.dumps(metrics(read_verdicts(args[0])), sort_keys=True))
    return 0


def cmd_check(args):
    limits = {"--min-recall": TARGET_RECALL, "--max-easy-fp": TARGET_EASY_FP,
              "--max-hard-fp": TARGET_HARD_FP}
    files = []
    i = 0
    while i < len(args):
        if args[i] in limits and i + 1 < len(args):
            limits[args[i]] = float(args[i + 1])
            i += 2
        elif args[i].startswith("-"):
            raise SystemExit("spam_eval.py check: unknown option %s" % args[i])
        else:
            files.append(args[i])
            i += 1
    if len(files) != 1:
        raise SystemExit("usage: spam_eval.py check VERDICTS [--min-recall PCT] "
                         "[--max-easy-fp N] [--max-hard-fp N]")
    m = metrics(read_verdicts(files[0]))
    s, e, h = m["spam"], m["easy_ham"], m["hard_ham"]
    print("spam recall %s (%d/%d); easy-ham FP %d/%d; hard-ham FP %d/%d; errors %d"
          % (pct(s["flagged"], s["n"]), s["flagged"], s["n"], e["flagged"], e["n"],
             h["flagged"], h["n"], m["errors"]))
    miss = misses(m, limits["--min-recall"], limits["--max-easy-fp"], limits["--max-hard-fp"])
    if m["errors"]:
        miss.append("%d messages without a verdict" % m["errors"])
    for x in miss:
        print("MISS: " + x)
    return 1 if miss else 0


def parse_tool(arg):
    if "=" not in arg:
        raise SystemExit("expected TOOL=VERDICTS[,WALL_S[,CPU_S]], got %r" % arg)
    name, rest = arg.split("=", 1)
    parts = rest.split(",")
    wall = float(parts[1]) if len(parts) > 1 and parts[1] else None
    cpu = float(parts[2]) if len(parts) > 2 and parts[2] else None
    return name, parts[0], wall, cpu


def kind(name):
    n = name.lower()
    for k in ("postern", "spamassassin", "rspamd"):
        if n.startswith(k):
            return k
    return n


def cmd_report(args):
    note = None
    if len(args) >= 2 and args[0] == "--cores-note":
        note, args = args[1], args[2:]
    if not args:
        raise SystemExit("usage: spam_eval.py report TOOL=VERDICTS[,WALL_S[,CPU_S]] ...")
    tools = []
    for a in args:
        name, path, wall, cpu = parse_tool(a)
        m = metrics(read_verdicts(path))
        n = m["messages"]
        m["rate"] = n / wall if wall else None
        m["core_rate"] = n / cpu if cpu else None
        tools.append((name, m))
    fmt = "%-20s %6s %17s %12s %12s %9s %10s %7s"
    print(fmt % ("tool", "msgs", "spam recall", "easy-ham FP", "hard-ham FP", "msgs/s",
                 "per-core/s", "errors"))
    for name, m in tools:
        s, e, h = m["spam"], m["easy_ham"], m["hard_ham"]
        print(fmt % (name, m["messages"], "%d/%d %s" % (s["flagged"], s["n"], pct(s["flagged"], s["n"])),
                     "%d/%d" % (e["flagged"], e["n"]), "%d/%d" % (h["flagged"], h["n"]),
                     "%.1f" % m["rate"] if m["rate"] else "-",
                     "%.1f" % m["core_rate"] if m["core_rate"] else "-", m["errors"]))
    if note:
        print("(%s)" % note)
    ours = [m for name, m in tools if kind(name) == "postern"]
    if not ours:
        print("postern: no verdicts (not built, or it failed: see above), no ratios or targets")
        return 0
    p = ours[0]
    for name, m in tools:
        k = kind(name)
        if k not in TARGET_RATIO:
            continue
        if p["core_rate"] and m["core_rate"]:
            r = p["core_rate"] / m["core_rate"]
            print("postern/%s per core: %.1fx  [target >= %gx: %s]"
                  % (name, r, TARGET_RATIO[k], "PASS" if r >= TARGET_RATIO[k] else "MISS"))
        else:
            print("postern/%s per core: - (no CPU time)" % name)
    s, e, h = p["spam"], p["easy_ham"], p["hard_ham"]
    rec = 100.0 * s["flagged"] / s["n"] if s["n"] else 0.0
    # The target is stated to one decimal, and is compared so: 95.7% is SpamAssassin's
    # recall on this test half, 905 of 946 (95.67%), as the issue measured it (its other
    # targets, 2 and 6 false positives, are SpamAssassin's counts). Two decimals are printed
    # so that an equal and a better recall can be told apart.
    print("postern spam recall %d/%d %.2f%%  [target >= %.1f%%, to one decimal: %s]"
          % (s["flagged"], s["n"], rec, TARGET_RECALL,
             "PASS" if round(rec, 1) >= TARGET_RECALL else "MISS"))
    print("postern easy-ham FP %d/%d  [target <= %d: %s]"
          % (e["flagged"], e["n"], TARGET_EASY_FP, "PASS" if e["flagged"] <= TARGET_EASY_FP else "MISS"))
    print("postern hard-ham FP %d/%d  [target <= %d: %s]"
          % (h["flagged"], h["n"], TARGET_HARD_FP, "PASS" if h["flagged"] <= TARGET_HARD_FP else "MISS"))
    return 0


def cmd_categories(args):
    if not args:
        raise SystemExit("usage: spam_eval.py categories TOOL=VERDICTS ...")
    names, per_tool, cats = [], [], {}
    for a in args:
        name, path, _, _ = parse_tool(a)
        names.append(name)
        flagged = {}
        for r in read_verdicts(path):
            key = (r["label"], r["folder"])
            cats.setdefault(key, set()).add(r["path"])
            if r["flag"] == "1":
                flagged[key] = flagged.get(key, 0) + 1
        per_tool.append(flagged)
    width = max([len("category")] + [len(c) for _, c in cats])
    head = "%-5s %-*s %5s" % ("label", width, "category", "msgs")
    for name in names:
        head += " %*s" % (max(len(name), 6), name)
    print(head)
    totals = {}
    for key in sorted(cats):
        label, cat = key
        n = len(cats[key])
        line = "%-5s %-*s %5d" % (label, width, cat, n)
        for name, flagged in zip(names, per_tool):
            line += " %*d" % (max(len(name), 6), flagged.get(key, 0))
            t = totals.setdefault((label, name), [0, 0])
            t[0] += flagged.get(key, 0)
        for name in names:
            totals.setdefault((label, name), [0, 0])[1] += n
        print(line)
    for label, what in (("spam", "spam flagged"), ("ham", "ham flagged (FP)")):
        parts = []
        for name in names:
            hit, n = totals.get((label, name), [0, 0])
            parts.append("%s %d/%d (%s)" % (name, hit, n, pct(hit, n)))
        print("%s: %s" % (what, "; ".join(parts)))
    return 0


def main(argv):
    cmds = {"metrics": cmd_metrics, "check": cmd_check, "report": cmd_report,
            "categories": cmd_categories}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 64
    return cmds[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
