#!/usr/bin/env python3
"""synfin-stat's command line as a user meets it (no root needed): bad arguments exit 2 with
one clear line, output errors exit 2, and the histogram of loopback sockets made here."""
import errno
import json
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import statlib as L  # noqa: E402
from tap import Tap, wait_until  # noqa: E402

t = Tap()


def run(args, **kw):
    return subprocess.run([L.stat_bin()] + args, capture_output=True, text=True, timeout=30,
                          **kw)


@t.test
def bad_arguments_exit_2():
    cases = [
        (["--port", "0"], "--port: '0' is not a port number"),
        (["--port", "99999"], "not a port number"),
        (["--port", "http"], "not a port number"),
        (["--port"], "--port needs a value"),
        (["--local", "10.0.0.300"], "--local: '10.0.0.300'"),
        (["--remote", "[::1"], "missing ']'"),
        (["--local", "10.0.0.0/40"], "bad prefix length"),
        (["--remote", "example.com:80"], "is not an IPv4 or IPv6 address"),
        (["--netns", "../etc"], "not a namespace name"),
        (["--watch", "0"], "--watch"),
        (["--watch", "fast"], "--watch"),
        (["--count", "3"], "--count needs --watch"),
        (["--top", "5"], "--top needs --by-peer"),
        (["--by-peer", "--top", "0"], "--top"),
        (["--from", "127.0.0.1:1", "--by-peer"], "cannot be used with --from"),
        (["--advise", "--watch", "1"], "--advise cannot be used with --watch"),
        (["--advise", "--ignore", "everything"], "is not a finding id"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["histogram"], "unexpected argument 'histogram'"),
        (["--port", "80", "--port", "81"], "--port given twice"),
    ]
    for args, why in cases:
        r = run(args)
        assert r.returncode == 2, f"{args}: exit {r.returncode}"
        lines = r.stderr.splitlines()
        assert lines[0].startswith("synfin-stat: ") and why in lines[0], f"{args}: {r.stderr!r}"
        assert lines[1:] == ["Try 'synfin-stat --help'."], f"{args}: {r.stderr!r}"
        assert r.stdout == "", f"{args} printed {r.stdout!r}"


@t.test
def help_and_version():
    r = run(["--help"])
    assert r.returncode == 0 and r.stdout.startswith("usage: synfin-stat [OPTIONS]")
    for opt in ("--port", "--local", "--remote", "--netns", "--by-peer", "--watch", "--json",
                "--from", "--advise", "--ignore"):
        assert opt in r.stdout, opt
    r = run(["--version"])
    assert r.returncode == 0 and r.stdout.startswith("synfin-stat "), r.stdout


@t.test
def output_errors_exit_2():
    if not os.path.exists("/dev/full"):
        t.skip_test("no /dev/full to make writes fail")
    with open("/dev/full", "w") as full:
        r = subprocess.run([L.stat_bin()], stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=30)
    assert r.returncode == 2 and "writing the output failed" in r.stderr, r


@t.test
def missing_namespace_exit_2():
    r = run(["--netns", f"synfin-stat-none-{os.getpid()}"])
    assert r.returncode == 2 and "no network namespace" in r.stderr and r.stdout == "", r


@t.test
def netlink_unsupported_exits_2():
    """On a kernel without sock_diag netlink: stat-nonetlink (tests/stat/nonetlink.c) runs
    synfin-stat under a seccomp filter that answers socket(AF_NETLINK, ..,
    NETLINK_SOCK_DIAG) with EPROTONOSUPPORT, as such a kernel does."""
    wrap = L.tap.binary("stat-nonetlink")
    probe = ("import socket\n"
             "socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()  # ROUTE: allowed\n"
             "try:\n"
             "    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 4)\n"
             "except OSError as e:\n"
             "    print(e.errno)\n")
    r = subprocess.run([wrap, sys.executable, "-c", probe], capture_output=True, text=True,
                       timeout=30)
    if r.returncode == 77:
        t.skip_test(r.stderr.strip())
    # The filter refuses that one socket, with the kernel's own answer, and nothing else.
    assert r.returncode == 0 and r.stdout == f"{errno.EPROTONOSUPPORT}\n", r
    for args in ([], ["--json"], ["--by-peer"], ["--port", "22"], ["--advise"],
                 ["--watch", "0.1", "--count", "2"]):
        r = subprocess.run([wrap, L.stat_bin()] + args, capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 2, f"{args}: exit {r.returncode}: {r.stderr}"
        assert r.stderr == ("synfin-stat: this kernel answers no TCP sock_diag requests "
                            "(Protocol not supported): it needs CONFIG_INET_DIAG and the "
                            "tcp_diag module\n"), f"{args}: {r.stderr!r}"
        assert r.stdout == "", f"{args} printed {r.stdout!r}"


@t.test
def loopback_sockets_counted():
    """Sockets made here, in whatever namespace this runs in, picked out by their port."""
    lst = L.listener("127.0.0.1")
    port = lst.getsockname()[1]
    pairs = [L.connect_pair(lst) for _ in range(3)]
    c, s = L.connect_pair(lst)
    c.close()
    s.close()  # the client closed first: one TIME_WAIT on the client side
    expected = dict.fromkeys(L.STATES, 0)
    expected.update(LISTEN=1, ESTABLISHED=6, TIME_WAIT=1)
    got = wait_until(lambda: (h := L.stat_hist(["--port", str(port)])) == expected and h,
                     timeout=10, what=f"{expected}")
    if shutil.which("ss"):
        assert got == L.ss_hist(None, f"( sport = :{port} or dport = :{port} )")
    doc = json.loads(run(["--port", str(port), "--json", "--by-peer"]).stdout)
    tw = doc["by_peer"]["TIME_WAIT"]
    assert [(r["endpoint"], r["direction"]) for r in tw["by_remote"]] == \
        [(f"127.0.0.1:{port}", "outgoing")], tw
    for a, b in pairs:
        a.close()
        b.close()
    lst.close()


@t.test
def bound_but_idle_sockets_are_closed():
    """A socket only bound holds its port; Linux 6.8+ lists it (state CLOSE), older kernels
    do not list it at all."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    want = 1 if (major, minor) >= (6, 8) else 0
    got = L.stat_hist(["--port", str(port)])
    s.close()
    assert got["CLOSED"] == want and sum(got.values()) == want, got


t.done()
