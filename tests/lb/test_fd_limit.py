#!/usr/bin/env python3
"""Running out of descriptors (issue 11, defect 1): with a low RLIMIT_NOFILE and more clients
than fit, synfin stops accepting and the excess waits in the kernel backlog; nobody is reset,
everyone is served once earlier sessions end, health checks go on, and the episode is logged
once when it starts and once when it ends."""
import os
import resource
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (Backend, Synfin, admin_json, connect, head_or_eof, http_get,  # noqa: E402
                    kernel_only, listen_queue, recv_all, sha)
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()

NOFILE = 256
BODY = bytes(range(256)) * 256  # 64 KiB: a response that takes more than one write


def raise_own_limit():
    """This test holds hundreds of sockets itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def low_nofile():
    resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))


class Gate:
    """A backend that reads each request and answers only once opened."""

    def __init__(self):
        self.open = threading.Event()
        self.lock = threading.Lock()
        self.seen = 0
        self.served = 0
        self.checks = 0
        self.be = Backend(self.handle, backlog=1024)

    def handle(self, c, b):
        try:
            head = head_or_eof(c)
        except ConnectionResetError:
            head = b""
        if not head.startswith(b"GET"):
            with self.lock:
                self.checks += 1  # a health check: connect, then RST
            return
        with self.lock:
            self.seen += 1
        if not self.open.wait(60):
            return
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
        with self.lock:
            self.served += 1


def metric(aport, name):
    _, body = http_get(aport, "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


@kernel_only(t, "descriptors: synfin's own TCP needs none per connection")
def clients_wait_in_the_backlog_instead_of_being_reset():
    raise_own_limit()
    n = 300  # more than fit in 256 descriptors, fewer than the backlog holds
    gate = Gate()
    fport, aport = free_port(), free_port()
    conf = (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
            f"frontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
            f"backend b {{ server s 127.0.0.1:{gate.be.port};\n"
            f"  check {{ type tcp; interval 200ms; timeout 100ms; rise 1; fall 2; }} }}\n")
    clients = []
    with Synfin(conf, preexec=low_nofile) as lb:
        try:
            for _ in range(n):
                s = connect(fport, timeout=30)
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                clients.append(s)
            # Every client is either a session whose request reached the server, or waits
            # in the accept queue; before the fix the rest were reset (cause=error).
            wait_until(lambda: gate.seen + listen_queue(fport) == n or lb.log_lines("cause="),
                       20, what="every client admitted or queued")
            assert not lb.log_lines("cause="), lb.log()[-2000:]
            admitted = gate.seen
            assert 40 < admitted < n, admitted
            st = admin_json(aport)["frontends"][0]
            assert st["fd_paused"] and st["fd_pauses"] >= 1, st
            assert metric(aport, "synfin_frontend_fd_paused") == 1
            assert len(lb.log_lines("event=fd_exhausted")) == 1, lb.log_lines("event=fd_")
            # Health checks still find a descriptor: they go on, and the server stays up.
            seen_checks = gate.checks
            wait_until(lambda: gate.checks >= seen_checks + 2, what="two checks while paused")
            srv = admin_json(aport)["backends"][0]["servers"][0]
            assert srv["up"] and srv["last_check"] == "connected", srv
            gate.open.set()
            for i, s in enumerate(clients):
                data = recv_all(s)  # ConnectionResetError fails the test
                s.close()  # the session ends, and its descriptors admit a waiting client
                head, _, body = data.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.0 200") and sha(body) == sha(BODY), (i, head)
            wait_until(lambda: lb.log_lines("event=fd_recovered"), what="fd_recovered")
            assert len(lb.log_lines("event=fd_exhausted")) == 1, lb.log_lines("event=fd_")
            assert len(lb.log_lines("event=fd_recovered")) == 1, lb.log_lines("event=fd_")
            wait_until(lambda: len(lb.sessions_logged()) == n, what="every session logged")
            causes = {r["cause"] for r in lb.sessions_logged()}
            assert causes == {"server_fin"}, causes  # no error, no reset
            assert not lb.log_lines("event=server_down"), lb.log_lines("event=server_down")
            st = admin_json(aport)["frontends"][0]
            assert not st["fd_paused"] and st["total"] == n, st
            assert metric(aport, "synfin_frontend_fd_paused") == 0
            assert metric(aport, "synfin_frontend_fd_pauses_total") >= 1
            assert gate.served == n
        finally:
            gate.open.set()
            for s in clients:
                s.close()
    gate.be.close()
    print(f"# {admitted} sessions fitted under RLIMIT_NOFILE={NOFILE}; {n - admitted} waited")


t.done()
