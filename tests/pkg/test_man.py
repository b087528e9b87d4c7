#!/usr/bin/env python3
"""Man pages: synfin(8), synfin.conf(5) and synfin-stat(8) are built with the release in
them, render with no warning (groff -ww, and man --warnings as a reader's man would), and
say what the programs do: every flag of synfin-stat --help, every top-level directive of
docs/config.md."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from tap import Tap, binary, build_dir  # noqa: E402

t = Tap()
MAN = os.path.join(TOP, build_dir(), "man")
PAGES = {"synfin.8": "SYNFIN", "synfin.conf.5": "SYNFIN.CONF", "synfin-stat.8": "SYNFIN\\-STAT"}
with open(os.path.join(TOP, "VERSION")) as f:
    RELEASE = f.read().strip()


def page(name):
    with open(os.path.join(MAN, name)) as f:
        return f.read()


def rendered(name):
    """The page as man shows it, plain text (no bold or underline)."""
    env = dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "-l", os.path.join(MAN, name)], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 0, r
    return re.sub(".\b", "", r.stdout)


@t.test
def pages_are_built_with_the_release():
    for name, title in PAGES.items():
        text = page(name)
        section = name.rsplit(".", 1)[1]
        assert f'.TH {title} {section} "" "synfin {RELEASE}"' in text, (name, text[:300])
        assert "@" not in text.replace("\\(at", ""), name  # every placeholder substituted


@t.test
def groff_renders_them_without_a_warning():
    if not shutil.which("groff"):
        t.skip_test("groff is not installed (Debian groff-base)")
    for name in PAGES:
        r = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(MAN, name)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and r.stderr == "", (name, r.stderr)


@t.test
def man_renders_them_without_a_warning():
    if not shutil.which("man"):
        t.skip_test("man is not installed (Debian man-db)")
    for name in PAGES:
        env = dict(os.environ, MANWIDTH="80")
        r = subprocess.run(["man", "--warnings", "-l", os.path.join(MAN, name)],
                           capture_output=True, text=True, env=env, timeout=30)
        assert r.returncode == 0 and r.stderr == "", (name, r.stderr)
        assert "NAME" in r.stdout and "SEE ALSO" in r.stdout, (name, r.stdout[:500])


@t.test
def a_warning_would_fail_the_check():
    # the check itself: a page with an unknown macro does warn
    if not shutil.which("groff"):
        t.skip_test("groff is not installed (Debian groff-base)")
    with tempfile.NamedTemporaryFile("w", suffix=".8") as bad:
        bad.write('.TH BAD 8\n.SH NAME\nbad \\- x\n.XYZ what\n')
        bad.flush()
        r = subprocess.run(["groff", "-man", "-ww", "-z", bad.name], capture_output=True,
                           text=True)
        assert "XYZ" in r.stderr, r


@t.test
def synfin_stat_page_has_every_option():
    if not shutil.which("man"):
        t.skip_test("man is not installed (Debian man-db)")
    r = subprocess.run([binary("synfin-stat"), "--help"], capture_output=True, text=True)
    flags = set(re.findall(r"(--[a-z][a-z-]+)", r.stdout))
    assert len(flags) >= 12, flags
    text = rendered("synfin-stat.8")
    missing = sorted(f for f in flags if f not in text)
    assert not missing, missing


@t.test
def synfin_page_has_every_option():
    if not shutil.which("man"):
        t.skip_test("man is not installed (Debian man-db)")
    text = rendered("synfin.8")
    for flag in ("-c file", "-t", "-T", "-v, --version", "-h, --help", "--listen", "--server",
                 "SIGHUP", "SIGTERM", "SIGINT", "NOTIFY_SOCKET", "JOURNAL_STREAM",
                 "/etc/synfin/synfin.conf", "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"):
        assert flag in text, flag


@t.test
def synfin_conf_page_has_every_top_level_directive():
    if not shutil.which("man"):
        t.skip_test("man is not installed (Debian man-db)")
    with open(os.path.join(TOP, "docs", "config.md")) as f:
        doc = f.read()
    table = doc.split("## Top level", 1)[1].split("\n\n", 2)[1]
    names = set(re.findall(r"^\| `([a-z_]+)", table, re.M))
    assert {"frontend", "backend", "log", "admin", "transport"} <= names, names
    text = rendered("synfin.conf.5")
    missing = sorted(n for n in names if not re.search(rf"^ {{7}}{n}\b", text, re.M))
    assert not missing, (missing, text[:2000])


t.done()
