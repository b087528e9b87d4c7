#!/usr/bin/env python3
"""make deb: a Debian package built with debhelper in a copy of the tree (the checkout's
`git status` is the same after it), unpacked into a scratch root with `dpkg -x`, where the
installed synfin answers --version (this checkout's revision) and checks the packaged
configuration, which the package marks as a conffile."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from tap import Tap, build_dir, is_root  # noqa: E402

t = Tap()
with open(os.path.join(TOP, "VERSION")) as f:
    RELEASE = f.read().strip()
OUT = os.path.join(TOP, build_dir(), "deb")
MISSING = [tool for tool in ("dpkg-buildpackage", "dh", "dpkg-deb") if not shutil.which(tool)]
state = {}


def git_status():
    r = subprocess.run(["git", "-C", TOP, "status", "--porcelain", "--ignored=no"],
                       capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def the_deb():
    if "deb" not in state:
        t.skip_test("the package was not built (see the first test)")
    return state["deb"]


@t.test
def make_deb_builds_outside_the_tree():
    if MISSING and not is_root():
        t.skip_test(f"{', '.join(MISSING)} missing (Debian dpkg-dev, debhelper) and not root "
                    "to install them")
    before = git_status()
    r = subprocess.run(["make", "--no-print-directory", "-C", TOP, f"O={build_dir()}", "deb"],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-4000:])
    debs = glob.glob(os.path.join(OUT, f"synfin_{RELEASE}-*_*.deb"))
    assert len(debs) == 1, os.listdir(OUT)
    assert r.stdout.strip().splitlines()[-1] == debs[0], r.stdout
    state["deb"] = debs[0]
    # nothing of the package build in the checkout: no debian/synfin, no stamps, no .deb
    assert git_status() == before, (before, git_status())
    assert not os.path.exists(os.path.join(TOP, "debian", "synfin"))
    assert not glob.glob(os.path.join(TOP, "..", "synfin_*.deb"))


@t.test
def package_control_and_conffile():
    deb = the_deb()

    def field(name):
        return subprocess.run(["dpkg-deb", "-f", deb, name], capture_output=True, text=True,
                              check=True).stdout.strip()
    assert field("Package") == "synfin"
    assert field("Version").startswith(RELEASE + "-"), field("Version")
    assert "libsystemd0" in field("Depends"), field("Depends")
    d = tempfile.mkdtemp(prefix="synfin-deb-ctl-")
    try:
        subprocess.run(["dpkg-deb", "-e", deb, d], check=True)
        with open(os.path.join(d, "conffiles")) as f:
            assert f.read().split() == ["/etc/synfin/synfin.conf"]
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def installed_into_a_scratch_root_it_runs():
    deb = the_deb()
    root = tempfile.mkdtemp(prefix="synfin-deb-root-")
    try:
        subprocess.run(["dpkg", "-x", deb, root], check=True)
        listed = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True,
                                check=True).stdout
        for path in ("./usr/sbin/synfin", "./usr/bin/synfin-stat", "./usr/bin/synfin-ctl",
                     "./usr/bin/synfin-drill",
                     "./usr/bin/synfin-serve", "./etc/synfin/synfin.conf",
                     "./lib/systemd/system/synfin.service", "./usr/share/man/man8/synfin.8.gz",
                     "./usr/share/man/man8/synfin-stat.8.gz",
                     "./usr/share/man/man5/synfin.conf.5.gz"):
            assert f" {path}\n" in listed, (path, listed)
        rev = subprocess.run([os.path.join(TOP, "scripts", "version.sh"), "--revision"],
                             capture_output=True, text=True, check=True).stdout.strip()
        synfin = os.path.join(root, "usr/sbin/synfin")
        r = subprocess.run([synfin, "--version"], capture_output=True, text=True)
        assert r.returncode == 0, r
        assert r.stdout.splitlines()[0] == f"synfin {RELEASE} (revision {rev})", (r.stdout, rev)
        conf = os.path.join(root, "etc/synfin/synfin.conf")
        r = subprocess.run([synfin, "-c", conf, "-t"], capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout == f"synfin: {conf}: configuration is valid\n", r
        r = subprocess.run([os.path.join(root, "usr/bin/synfin-stat"), "-v"],
                           capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout.startswith(f"synfin-stat {RELEASE} "), r
        with open(os.path.join(root, "lib/systemd/system/synfin.service")) as f:
            assert "\nExecStart=/usr/sbin/synfin -c /etc/synfin/synfin.conf\n" in f.read()
    finally:
        shutil.rmtree(root, ignore_errors=True)


t.done()
