#!/usr/bin/env python3
"""make install: with DESTDIR and PREFIX, the programs, man pages, systemd unit and default
configuration land where they should, run from there (--version, -t on the installed
configuration), and an existing /etc/synfin/synfin.conf is never overwritten; uninstall
takes back all but the configuration."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from tap import Tap, build_dir  # noqa: E402

t = Tap()
with open(os.path.join(TOP, "VERSION")) as f:
    RELEASE = f.read().strip()


def make(*args):
    r = subprocess.run(["make", "--no-print-directory", "-C", TOP, f"O={build_dir()}"] +
                       list(args), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r
    return r.stdout


def files(root):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.relpath(os.path.join(d, n), root) for n in names]
    return sorted(out)


EXPECTED = ["etc/synfin/synfin.conf", "usr/bin/synfin-ctl", "usr/bin/synfin-drill", "usr/bin/synfin-serve",
            "usr/bin/synfin-stat", "usr/lib/systemd/system/synfin.service", "usr/sbin/synfin",
            "usr/share/man/man5/synfin.conf.5", "usr/share/man/man8/synfin-stat.8",
            "usr/share/man/man8/synfin.8"]


@t.test
def install_into_destdir_and_run_from_there():
    d = tempfile.mkdtemp(prefix="synfin-install-")
    try:
        make("install", f"DESTDIR={d}", "PREFIX=/usr")
        assert files(d) == EXPECTED, files(d)
        for f in EXPECTED:
            mode = os.stat(os.path.join(d, f)).st_mode & 0o777
            assert mode == (0o755 if "bin/" in f else 0o644), (f, oct(mode))
        synfin = os.path.join(d, "usr/sbin/synfin")
        r = subprocess.run([synfin, "--version"], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith(f"synfin {RELEASE} (revision "), r
        conf = os.path.join(d, "etc/synfin/synfin.conf")
        r = subprocess.run([synfin, "-c", conf, "-t"], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout == f"synfin: {conf}: configuration is valid\n", r
        for name in ("synfin-stat", "synfin-ctl", "synfin-drill", "synfin-serve"):
            r = subprocess.run([os.path.join(d, "usr/bin", name), "-v"], capture_output=True,
                               text=True)
            assert r.returncode == 0 and r.stdout.startswith(f"{name} {RELEASE} "), r
        with open(os.path.join(TOP, "conf", "synfin.conf")) as a, open(conf) as b:
            assert a.read() == b.read()
        with open(os.path.join(d, "usr/lib/systemd/system/synfin.service")) as f:
            unit = f.read()
        assert "\nExecStart=/usr/sbin/synfin -c /etc/synfin/synfin.conf\n" in unit, unit
        assert "@" not in unit.replace("@system-service", ""), unit
        with open(os.path.join(d, "usr/share/man/man8/synfin.8")) as f:
            assert f'"synfin {RELEASE}"' in f.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def an_existing_configuration_is_kept():
    d = tempfile.mkdtemp(prefix="synfin-install-")
    try:
        conf = os.path.join(d, "etc/synfin/synfin.conf")
        os.makedirs(os.path.dirname(conf))
        mine = "# the operator's own\nfrontend x { listen 127.0.0.1:1; backend y; }\n"
        with open(conf, "w") as f:
            f.write(mine)
        out = make("install", f"DESTDIR={d}")
        assert f"synfin: kept {conf}" in out, out
        with open(conf) as f:
            assert f.read() == mine
        # and a second install over the first one changes nothing of it either
        make("install", f"DESTDIR={d}")
        with open(conf) as f:
            assert f.read() == mine
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def prefix_is_where_the_unit_points():
    d = tempfile.mkdtemp(prefix="synfin-install-")
    try:
        make("install", f"DESTDIR={d}", "PREFIX=/opt/synfin")
        want = [f.replace("usr/", "opt/synfin/") for f in EXPECTED]
        assert files(d) == sorted(want), files(d)
        with open(os.path.join(d, "opt/synfin/lib/systemd/system/synfin.service")) as f:
            assert "\nExecStart=/opt/synfin/sbin/synfin -c /etc/synfin/synfin.conf\n" in f.read()
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def installed_unit_verifies():
    if not shutil.which("systemd-analyze"):
        t.skip_test("systemd-analyze is not installed (Debian systemd)")
    d = tempfile.mkdtemp(prefix="synfin-install-")
    try:
        # no DESTDIR: every path the unit names is real on this host, inside d
        make("install", f"PREFIX={d}/usr", f"SYSCONFDIR={d}/etc")
        unit = os.path.join(d, "usr/lib/systemd/system/synfin.service")
        env = dict(os.environ, MANPATH=os.path.join(d, "usr/share/man"))
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           env=env, cwd=d, timeout=60)
        assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def uninstall_leaves_only_the_configuration():
    d = tempfile.mkdtemp(prefix="synfin-install-")
    try:
        make("install", f"DESTDIR={d}", "PREFIX=/usr")
        make("uninstall", f"DESTDIR={d}", "PREFIX=/usr")
        assert files(d) == ["etc/synfin/synfin.conf"], files(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


t.done()
