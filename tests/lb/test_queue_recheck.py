#!/usr/bin/env python3
"""A session waiting in the backend queue is looked at again when a server goes down (health
checks, the runtime API's maint): it goes to a server that can take it at once, or ends
with cause no_server when none can, never waiting out its queue_timeout (docs/lb.md, "How a
session runs"); and when a passive ejection ends (fail_timeout), the server takes it."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (Backend, Synfin, admin_json, connect, kernel_only, named,  # noqa: E402
                    recv_all)
from tap import Tap, binary, free_port, wait_until  # noqa: E402

t = Tap()
# Far beyond every bounded wait below: a session that waits it out fails the test.
QUEUE_TIMEOUT = "30s"
CHECK = "check { type tcp; interval 100ms; timeout 100ms; rise 1; fall 1; }"


def config(fport, aport, servers, balance, check="", threads=1):
    lines = " ".join(f"server {n} 127.0.0.1:{p} maxconn 1;" for n, p in servers)
    return (f"log stderr;\nadmin 127.0.0.1:{aport};\nthreads {threads};\n"
            f"frontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
            f"backend b {{ balance {balance}; {lines} queue_timeout {QUEUE_TIMEOUT}; {check} }}\n")


def loads(aport):
    """(the frontend's live sessions, each server's): with threads the counts of every
    thread (the backend's queue figure is thread 0's alone)."""
    st = admin_json(aport, "/stats")
    return st["frontends"][0]["active"], [x["active"] for x in st["backends"][0]["servers"]]


def queued(aport):
    """Sessions accepted that hold no server: those waiting in the queue."""
    fe, srv = loads(aport)
    return fe - sum(srv)


def hold_first(fport, aport):
    """A client that sends nothing, held by the server the client's address hashes to
    (maxconn 1: full from now on). Returns (client socket, that server's index). Health
    checks connect to the servers too: synfin's counts tell them apart."""
    c = connect(fport)
    wait_until(lambda: sum(loads(aport)[1]) == 1, 5, what="the first session")
    return c, loads(aport)[1].index(1)


def ctl(aport, *args):
    return subprocess.run([binary("synfin-ctl"), "-a", f"127.0.0.1:{aport}"] + list(args),
                          capture_output=True, text=True, timeout=20)


def redispatched(take_down):
    """Two servers, balance source (every client of 127.0.0.1 hashes to the same one), maxconn
    1 each. The first client holds its server; the second queues for it. take_down(lb, aport,
    backend, name) puts that server out: the second is served by the other at once."""
    b = [Backend(named("s1")), Backend(named("s2"))]
    # Checks run in both cases, so that what differs is only how the server goes out.
    fport, aport = free_port(), free_port()
    conf = config(fport, aport, [("s1", b[0].port), ("s2", b[1].port)], "source", CHECK)
    with Synfin(conf) as lb:
        held, i = hold_first(fport, aport)
        name, other = f"s{i + 1}", f"s{2 - i}"
        c = connect(fport)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wait_until(lambda: queued(aport) == 1, 5, what="the second session queued")
        t0 = time.monotonic()
        take_down(lb, aport, b[i], name)
        c.settimeout(3)
        body = recv_all(c).partition(b"\r\n\r\n")[2]
        waited = time.monotonic() - t0
        assert body == other.encode(), (body, lb.log()[-2000:])
        assert waited < 3, waited
        c.close()
        held.close()
        wait_until(lambda: len(lb.sessions_logged()) >= 2, 5, what="both sessions logged")
        s = [x for x in lb.sessions_logged() if x["server"] == other]
        assert len(s) == 1 and s[0]["cause"] in ("client_fin", "server_fin"), s
        assert float(s[0]["queue_ms"]) > 0, s
        assert queued(aport) == 0
    for x in b:
        x.close()


@t.test
def queued_session_goes_elsewhere_when_its_server_fails_checks():
    """The server the queued client hashes to stops listening: the check marks it down and
    the queued session goes to the other server at once (before the fix: after
    queue_timeout)."""
    def down(lb, aport, backend, name):
        backend.stop_listening()
        lb.wait_log(f"event=server_down backend=b server={name}", timeout=3)
    redispatched(down)


@t.test
def queued_session_goes_elsewhere_when_its_server_is_put_in_maint():
    """The runtime API's maint on the server the queued client hashes to: its held session is
    closed (admin_kill) and the queued one goes to the other server at once."""
    def maint(lb, aport, backend, name):
        r = ctl(aport, "maint", f"b/{name}")
        assert r.returncode == 0, (r.stdout, r.stderr)
    redispatched(maint)


def only_server_goes_down(threads):
    """One server, maxconn 1, held; a second client queued. The server fails its checks: no
    server can take the queued session, which ends at once with cause no_server."""
    be = Backend(named("s1"))
    fport, aport = free_port(), free_port()
    conf = config(fport, aport, [("s1", be.port)], "roundrobin", CHECK, threads)
    with Synfin(conf) as lb:
        held, _ = hold_first(fport, aport)
        c = connect(fport)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wait_until(lambda: queued(aport) == 1, 5, what="the second session queued")
        be.stop_listening()
        lb.wait_log("event=server_down backend=b server=s1", timeout=3)
        wait_until(lambda: any(x["cause"] == "no_server" for x in lb.sessions_logged()), 3,
                   what="the queued session ended no_server")
        c.settimeout(3)
        try:
            got = recv_all(c)
        except ConnectionResetError:
            got = b""
        assert got == b"", got
        c.close()
        held.close()
    be.close()


@t.test
def queued_session_ends_no_server_when_its_only_server_goes_down():
    only_server_goes_down(1)


@kernel_only(t, "threads run on kernel sockets only")
def queued_session_ends_no_server_when_its_only_server_goes_down_threads():
    """The same with two threads: checks run on thread 0, the queued session may be on the
    other, which learns of the verdict through the shared record."""
    only_server_goes_down(2)


@t.test
def queued_session_ends_no_server_when_every_server_is_put_in_maint():
    """One server in maint through the runtime API while a session waits for it: the queued
    session ends with cause no_server at once."""
    be = Backend(named("s1"))
    fport, aport = free_port(), free_port()
    conf = config(fport, aport, [("s1", be.port)], "roundrobin")
    with Synfin(conf) as lb:
        held, _ = hold_first(fport, aport)
        c = connect(fport)
        wait_until(lambda: queued(aport) == 1, 5, what="the second session queued")
        r = ctl(aport, "maint", "b/s1")
        assert r.returncode == 0, (r.stdout, r.stderr)
        wait_until(lambda: any(x["cause"] == "no_server" for x in lb.sessions_logged()), 3,
                   what="the queued session ended no_server")
        causes = sorted(x["cause"] for x in lb.sessions_logged())
        assert causes == ["admin_kill", "no_server"], causes
        c.close()
        held.close()
    be.close()


def queued_until_unejected(threads):
    """s1 at a port nobody listens on, s2 held by a first client (maxconn 1 each, max_fails
    1, fail_timeout 1s). A second client tries s1 (it fails: s1 is ejected on that thread),
    then finds s2 full and queues. A listener then starts at s1's port: when the ejection
    ends the queue runs again and s1 serves the queued client at once, not when s2 frees a
    slot nor at queue_timeout (before the fix: at queue_timeout). Whichever client tried s1
    first, the one that queued failed on s1 on its own thread (ejection is per thread)."""
    dead = free_port()
    s2 = Backend(named("s2"))
    fport, aport = free_port(), free_port()
    conf = config(fport, aport, [("s1", dead), ("s2", s2.port)], "roundrobin",
                  "max_fails 1; fail_timeout 1s;", threads)
    s1 = None
    with Synfin(conf) as lb:
        held = connect(fport)
        wait_until(lambda: loads(aport)[1] == [0, 1], 5, what="the first client on s2")
        c = connect(fport)
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        wait_until(lambda: queued(aport) == 1, 5, what="the second session queued")
        ejections = len(lb.log_lines("event=server_ejected backend=b server=s1"))
        assert ejections in (1, 2), lb.log()[-2000:]
        s1 = Backend(named("s1"), port=dead)
        t0 = time.monotonic()
        c.settimeout(5)
        body = recv_all(c).partition(b"\r\n\r\n")[2]
        waited = time.monotonic() - t0
        assert body == b"s1", (body, lb.log()[-2000:])
        # At most the 1 s ejection and a little: far from the 30 s queue_timeout.
        assert waited < 3, waited
        c.close()
        wait_until(lambda: any(x["server"] == "s1" for x in lb.sessions_logged()), 5,
                   what="the queued session logged")
        s = [x for x in lb.sessions_logged() if x["server"] == "s1"]
        assert len(s) == 1 and s[0]["cause"] in ("client_fin", "server_fin"), s
        assert float(s[0]["queue_ms"]) > 0, s
        assert loads(aport)[1] == [0, 1], loads(aport)
        held.close()
    s2.close()
    s1.close()


@t.test
def queued_session_goes_to_a_server_whose_ejection_ends():
    queued_until_unejected(1)


@kernel_only(t, "threads run on kernel sockets only")
def queued_session_goes_to_a_server_whose_ejection_ends_threads():
    """The same with two threads: the ejection ends on the thread that made it, by its own
    timer."""
    queued_until_unejected(2)


t.done()
