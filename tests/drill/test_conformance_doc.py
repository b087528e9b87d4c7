#!/usr/bin/env python3
"""docs/conformance.md stays true to the corpus: every script it names exists, and every
script in tests/drill/ is named in it (the last column of its tables of three or more
columns lists scripts)."""
import fnmatch
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from tap import Tap  # noqa: E402

t = Tap()
doc = open(os.path.join(ROOT, "docs", "conformance.md")).read()
scripts = sorted(f[:-4] for f in os.listdir(os.path.join(ROOT, "tests", "drill"))
                 if f.endswith(".pkt"))
named = set()
lines = doc.splitlines()
for i, line in enumerate(lines):
    if not line.startswith("|") or line.startswith("| ---"):
        continue
    if i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
        continue  # a header row
    cells = line.strip().strip("|").split("|")
    if len(cells) < 3:
        continue  # the two-column tables describe codes, not scripts
    for token in (x.strip() for x in cells[-1].split(",")):
        if re.fullmatch(r"[a-z0-9][a-z0-9*-]*", token):
            named.add(token)


@t.test
def every_named_script_exists():
    missing = [n for n in sorted(named) if not fnmatch.filter(scripts, n)]
    assert not missing, f"docs/conformance.md names scripts that do not exist: {missing}"


@t.test
def every_script_is_named():
    unnamed = [s for s in scripts if not any(fnmatch.fnmatch(s, n) for n in named)]
    assert not unnamed, f"scripts missing from docs/conformance.md: {unnamed}"


t.done()
