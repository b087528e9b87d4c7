#!/usr/bin/env python3
"""Version: every binary answers -v and --version with the release (VERSION) and the git
revision it was built from; /metrics carries synfin_build_info beside the stats schema; the
generated header changes only when the revision does (no rebuild storm), and a tree that is
not a git checkout says "unknown"."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from tap import Tap, binary, free_port, wait_until  # noqa: E402

t = Tap()
BINARIES = ("synfin", "synfin-stat", "synfin-ctl", "synfin-drill", "synfin-serve", "bench_engine",
            "bench-kserve")
with open(os.path.join(TOP, "VERSION")) as f:
    RELEASE = f.read().strip()


def built_revision():
    with open(os.path.join(TOP, os.environ.get("SYNFIN_BUILD", "build"), "gen",
                           "synfin_version.h")) as f:
        return re.search(r'SYNFIN_REVISION "([^"]*)"', f.read()).group(1)


def git_head():
    r = subprocess.run(["git", "-C", TOP, "rev-parse", "--short=12", "HEAD"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


@t.test
def release_is_a_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", RELEASE), RELEASE


@t.test
def every_binary_prints_release_and_revision():
    rev = built_revision()
    head = git_head()
    if head:
        # the build's revision is this checkout's (dirty or not), never a stale one; a
        # commit made after the build would show here as a mismatch, which is right
        assert rev in (head, head + "-dirty"), (rev, head)
    else:
        assert rev == "unknown", rev
    for name in BINARIES:
        for flag in ("-v", "--version"):
            r = subprocess.run([binary(name), flag], capture_output=True, text=True, timeout=10)
            assert r.returncode == 0, (name, flag, r)
            first = r.stdout.splitlines()[0]
            assert first == f"{name} {RELEASE} (revision {rev})", (name, flag, r.stdout)
            assert r.stderr == "", (name, flag, r.stderr)


@t.test
def synfin_version_names_the_stats_schema():
    r = subprocess.run([binary("synfin"), "--version"], capture_output=True, text=True)
    assert r.stdout.splitlines()[1] == "stats schema 1; transports kernel, stack", r.stdout


@t.test
def metrics_have_build_info():
    fe, admin, srv = free_port(), free_port(), free_port()
    d = tempfile.mkdtemp(prefix="synfin-version-")
    conf = os.path.join(d, "synfin.conf")
    with open(conf, "w") as f:
        f.write(f"log off; admin 127.0.0.1:{admin};\n"
                f"frontend f {{ listen 127.0.0.1:{fe}; backend b; }}\n"
                f"backend b {{ server s 127.0.0.1:{srv}; }}\n")
    p = subprocess.Popen([binary("synfin"), "-c", conf], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        def scrape():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=2) as r:
                    return r.read().decode()
            except OSError:
                assert p.poll() is None, p.stderr.read()
                return None
        m = wait_until(scrape, 10, what="/metrics")
        want = (f'synfin_build_info{{version="{RELEASE}",revision="{built_revision()}"}} 1\n')
        assert want in m, m
        assert "# TYPE synfin_build_info gauge\n" in m, m
        assert 'synfin_info{version="1",' in m, m  # the stats schema stays where it was
    finally:
        p.terminate()
        p.communicate(timeout=10)
        shutil.rmtree(d, ignore_errors=True)


@t.test
def header_is_rewritten_only_when_the_revision_changes():
    d = tempfile.mkdtemp(prefix="synfin-version-")
    try:
        out = os.path.join(d, "v.h")
        script = os.path.join(TOP, "scripts", "version.sh")
        subprocess.run([script, out, "1.2.3", "abc"], check=True)
        os.utime(out, (1000000000, 1000000000))
        subprocess.run([script, out, "1.2.3", "abc"], check=True)
        assert os.stat(out).st_mtime == 1000000000, "unchanged text rewrote the header"
        subprocess.run([script, out, "1.2.3", "abd"], check=True)
        assert os.stat(out).st_mtime != 1000000000, "a new revision left the header as it was"
        with open(out) as f:
            text = f.read()
        assert '#define SYNFIN_RELEASE "1.2.3"\n' in text and \
            '#define SYNFIN_REVISION "abd"\n' in text, text
        assert os.listdir(d) == ["v.h"], os.listdir(d)  # no temporary file left
        # a release that would break the C string is refused
        r = subprocess.run([script, out, '1"2', ""], capture_output=True, text=True)
        assert r.returncode == 1 and "not allowed" in r.stderr, r
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def outside_a_checkout_the_revision_is_unknown():
    d = tempfile.mkdtemp(prefix="synfin-version-")
    try:
        os.mkdir(os.path.join(d, "scripts"))
        shutil.copy(os.path.join(TOP, "scripts", "version.sh"), os.path.join(d, "scripts"))
        out = os.path.join(d, "v.h")
        env = dict(os.environ, GIT_CEILING_DIRECTORIES=os.path.dirname(d))
        subprocess.run([os.path.join(d, "scripts", "version.sh"), out, "0.1.0"], check=True,
                       env=env)
        with open(out) as f:
            assert '#define SYNFIN_REVISION "unknown"\n' in f.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def only_one_object_includes_the_generated_header():
    # what keeps a new revision from recompiling the tree
    r = subprocess.run(["git", "-C", TOP, "grep", "-l", "synfin_version.h", "--", "*.c", "*.h"],
                       capture_output=True, text=True)
    if r.returncode not in (0, 1):
        t.skip_test("not a git checkout")
    assert r.stdout.split() == ["src/util/version.c"], r.stdout


t.done()
