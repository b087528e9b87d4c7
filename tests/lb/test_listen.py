#!/usr/bin/env python3
"""Frontends with several `listen` lines: every listener opened, sessions from each (IPv4 and
IPv6 side by side on kernel sockets), counted per address in /stats and kept across a
reload; a directive given twice is an error naming both positions (exit 2)."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
from contextlib import contextmanager

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (STACK, Backend, Synfin, admin_json, connect, fe_host, kernel_only,  # noqa: E402
                    named, recv_all)
from tap import Tap, binary, free_port, wait_until  # noqa: E402

t = Tap()


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@contextmanager
def backend(name):
    be = Backend(named(name))
    try:
        yield be
    finally:
        be.close()


def served_by(addr):
    """One session through synfin at addr: the name the backend answers with."""
    with socket.create_connection(addr, timeout=5) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return recv_all(s).partition(b"\r\n\r\n")[2]


def conf(listens, sport, aport):
    lines = "".join(f"listen {a}; " for a in listens)
    return (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
            f"frontend f {{ {lines}backend b; }}\n"
            f"backend b {{ server s1 127.0.0.1:{sport}; }}\n")


def listeners(aport):
    return {x["addr"]: (x["open"], x["sessions"]) for x in admin_json(aport)["frontends"][0]["listeners"]}


@t.test
def two_ipv4_listen_lines_serve_on_both():
    p1, p2, aport = free_port(), free_port(), free_port()
    with backend("one") as be, \
            Synfin(conf([f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"], be.port, aport)) as lb:
        h = fe_host(p1)
        for _ in range(3):
            assert served_by((h, p1)) == b"one"
        for _ in range(2):
            assert served_by((fe_host(p2), p2)) == b"one"
        st = admin_json(aport)
        f = st["frontends"][0]
        assert f["listen"] == f"{h}:{p1}", f
        wait_until(lambda: listeners(aport) == {f"{h}:{p1}": (True, 3), f"{h}:{p2}": (True, 2)},
                   5, what="per-listener session counts")
        assert admin_json(aport)["frontends"][0]["total"] == 5
        assert f"listening on {h}:{p1} {h}:{p2} -> backend b" in lb.stdout(), lb.stdout()


@kernel_only(t, "[::1] is the kernel's loopback; IPv6 on the stack: tests/lb/test_stack_ipv6.py")
def ipv4_and_ipv6_on_one_frontend():
    if not ipv6_loopback():
        t.skip_test("no IPv6 loopback (::1) on this host")
    port, aport = free_port(), free_port()
    with backend("six") as be, \
            Synfin(conf([f"127.0.0.1:{port}", f"[::1]:{port}"], be.port, aport)) as lb:
        assert served_by(("127.0.0.1", port)) == b"six"
        assert served_by(("::1", port)) == b"six"
        assert served_by(("::1", port)) == b"six"
        wait_until(lambda: listeners(aport) == {f"127.0.0.1:{port}": (True, 1),
                                                 f"[::1]:{port}": (True, 2)},
                   5, what="per-listener session counts")
        # the session log names the client of each family
        lb.wait_log(" session=", 3)
        clients = [s.get("client", "") for s in lb.sessions_logged()]
        assert any(c.startswith("[::1]:") for c in clients), clients
        assert any(c.startswith("127.0.0.1:") for c in clients), clients


@kernel_only(t, "wildcard listeners are the kernel's; the stack listens on its own addresses")
def ipv6_and_ipv4_wildcards_side_by_side():
    """listen [::]:P beside listen 0.0.0.0:P: synfin's IPv6 listeners are IPV6_V6ONLY, so
    both open (before: the second failed with EADDRINUSE, [::] being dual-stack), and each
    family's client is accepted by its own listener."""
    if not ipv6_loopback():
        t.skip_test("no IPv6 loopback (::1) on this host")
    port, aport = free_port(), free_port()
    with backend("any") as be, \
            Synfin(conf([f"[::]:{port}", f"0.0.0.0:{port}"], be.port, aport)) as lb:
        assert served_by(("127.0.0.1", port)) == b"any"
        assert served_by(("::1", port)) == b"any"
        assert served_by(("::1", port)) == b"any"
        wait_until(lambda: listeners(aport) == {f"[::]:{port}": (True, 2),
                                                 f"0.0.0.0:{port}": (True, 1)},
                   5, what="each family on its own listener")
        lb.wait_log(" session=", 3)


@kernel_only(t, "wildcard listeners are the kernel's")
def ipv6_wildcard_alone_takes_no_ipv4():
    """listen [::]:P alone takes IPv6 only (IPV6_V6ONLY, docs/config.md): an IPv4 client is
    refused by the host, an IPv6 one served."""
    if not ipv6_loopback():
        t.skip_test("no IPv6 loopback (::1) on this host")
    port, aport = free_port(), free_port()
    with backend("six") as be, Synfin(conf([f"[::]:{port}"], be.port, aport)):
        assert served_by(("::1", port)) == b"six"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            raise AssertionError("[::] took an IPv4 client")
        except ConnectionRefusedError:
            pass


@t.test
def reload_adds_and_removes_listen_lines():
    p1, p2, p3, aport = free_port(), free_port(), free_port(), free_port()
    with backend("r") as be, \
            Synfin(conf([f"127.0.0.1:{p1}", f"127.0.0.1:{p2}"], be.port, aport)) as lb:
        assert served_by((fe_host(p1), p1)) == b"r"
        # p1 stays (its socket and count kept), p2 goes, p3 comes
        lb.rewrite(conf([f"127.0.0.1:{p3}", f"127.0.0.1:{p1}"], be.port, aport))
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_ok")
        h = fe_host(p1)
        wait_until(lambda: set(listeners(aport)) == {f"{h}:{p3}", f"{h}:{p1}"}, 5,
                   what="the new listen lines in /stats")
        assert served_by((fe_host(p3), p3)) == b"r"
        assert served_by((h, p1)) == b"r"
        assert listeners(aport) == {f"{h}:{p3}": (True, 1), f"{h}:{p1}": (True, 2)}
        try:
            socket.create_connection((h, p2), timeout=2).close()
            raise AssertionError("the removed listen address still accepts")
        except OSError:
            pass


@t.test
def reload_moves_addresses_between_frontends_and_responders():
    pa, pb, pc, aport = free_port(), free_port(), free_port(), free_port()

    def two(fa, ga, extra=""):
        return (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
                f"frontend f {{ listen 127.0.0.1:{fa}; backend one; }}\n"
                f"frontend g {{ {''.join(f'listen 127.0.0.1:{x}; ' for x in ga)}backend two; }}\n"
                f"backend one {{ server s 127.0.0.1:{b1.port}; }}\n"
                f"backend two {{ server s 127.0.0.1:{b2.port}; }}\n{extra}")
    with backend("one") as b1, backend("two") as b2, Synfin(two(pa, [pb, pc])) as lb:
        assert served_by((fe_host(pa), pa)) == b"one"
        assert served_by((fe_host(pb), pb)) == b"two"
        # f and g swap pa and pb; pc leaves g for a responder
        lb.rewrite(two(pb, [pa], f'respond 127.0.0.1:{pc} "moved";\n'))
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_ok")
        assert served_by((fe_host(pa), pa)) == b"two"
        assert served_by((fe_host(pb), pb)) == b"one"
        assert served_by((fe_host(pc), pc)) == b"moved"
        # and back: the responder's address to a frontend's second listen line
        lb.rewrite(two(pa, [pb, pc]))
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_ok", 2)
        assert served_by((fe_host(pc), pc)) == b"two"
        assert served_by((fe_host(pa), pa)) == b"one"


@t.test
def duplicate_directive_names_both_positions():
    fd, path = tempfile.mkstemp(prefix="synfin-conf-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("frontend f {\n    listen 127.0.0.1:1;\n    maxconn 10;\n    backend a;\n"
                "    maxconn 20;\n}\nbackend a { server s 127.0.0.1:2; }\n")
    try:
        r = subprocess.run([binary("synfin"), "-t", "-c", path], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 2, r
        assert f"{path}:5:5: duplicate 'maxconn' (first at {path}:3:5)" in r.stderr, r.stderr
    finally:
        os.unlink(path)


@t.test
def ipv6_listen_the_stack_does_not_own_is_a_clear_error():
    fd, path = tempfile.mkstemp(prefix="synfin-conf-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write("transport stack { tun sfops3t; address 10.77.0.2; }\n"
                "frontend f { listen 10.77.0.2:80; listen [::1]:80; backend b; }\n"
                "backend b { server s 10.77.0.1:2; }\n")
    try:
        r = subprocess.run([binary("synfin"), "-t", "-c", path], capture_output=True, text=True,
                           timeout=20)
        assert r.returncode == 2, r
        assert (f"{path}:2:42: '[::1]:80' is not an address of the stack (transport stack "
                "address)" in r.stderr), r.stderr
    finally:
        os.unlink(path)


t.done()
