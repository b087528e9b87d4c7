#!/usr/bin/env python3
"""A backend's `source ADDR:LO-HI` port range is kept on kernel sockets even where the kernel
would not keep it: a range outside the system's net.ipv4.ip_local_port_range (which
IP_LOCAL_PORT_RANGE can only narrow) is walked by synfin itself, and every server-side peer
port lies in the range, with one thread and with two (each walking from its own share of
it); a range inside the system's is left to the kernel; the choice is logged at start and
again at a reload that changes it. A port serves several servers at once, as the kernel's
own choice would. A range smaller than the sessions that hold it: the sessions beyond it
wait (connect_error logged once each, the client held) and are served as ports come back;
one that waits past queue_timeout ends with cause `error` and a FIN to the client. Both
transports (the stack always walks the range itself)."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (FE, STACK, Backend, Synfin, connect, ended_how, head_or_eof,  # noqa: E402
                    kernel_only, recv_all)
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()


def system_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = f.read().split()
    return int(lo), int(hi)


def outside(offset, size):
    """A range of size ports at offset in the space below (or, if there is none, above) the
    system's ephemeral range: the kernel's connect-time choice never lands there."""
    lo, hi = system_range()
    if lo - 1 >= 10000 + offset + size:
        return 10000 + offset, 10000 + offset + size - 1
    if hi + 1000 + offset + size <= 65535:
        return hi + 1000 + offset, hi + 1000 + offset + size - 1
    t.skip_test(f"no room outside the system's port range {lo}-{hi}")


def cfg(fport, bport, src, threads, be=""):
    return (f"log stderr;\nthreads {threads};\n"
            f"frontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
            f"backend b {{ server s1 127.0.0.1:{bport}; source {src}; {be} }}\n")


def ended(lb):
    """The sessions' log lines (a connect_error line names its session too)."""
    return [r for r in lb.sessions_logged() if "event" not in r]


def thread_of(rec):
    return int(rec["session"]) >> 40  # LB_THREAD_ID_SHIFT


def peer_port(c, b):
    """Answers with synfin's source port, as the server saw it, and records it."""
    port = c.getpeername()[1]
    with b.lock:
        b.ends.append(port)
    c.sendall(str(port).encode())
    c.shutdown(socket.SHUT_WR)
    recv_all(c)


def held(c, b):
    """Records synfin's source port and holds the connection until synfin closes it."""
    with b.lock:
        b.ends.append(c.getpeername()[1])
    recv_all(c)


def sessions(fport, n):
    out = []
    for _ in range(n):
        with connect(fport) as s:
            out.append(int(recv_all(s)))
    return out


@t.test
def range_outside_the_system_range():
    lo, hi = outside(0, 50)
    for threads in (1, 2):
        be = Backend(peer_port, backlog=64)
        fport = free_port()
        with Synfin(cfg(fport, be.port, f"{FE}:{lo}-{hi}", threads)) as lb:
            got = sessions(fport, 40)
            wait_until(lambda: len(ended(lb)) == 40, what="every session logged")
            if not STACK:  # (the log is written out after a batch of events: now)
                line = lb.log_lines("event=source_ports")
                assert len(line) == 1 and "ports=walk" in line[0] and \
                    f"source={FE}:{lo}-{hi}" in line[0], line
            recs = ended(lb)
            assert all(r["cause"] in ("server_fin", "client_fin") for r in recs), recs
            if threads == 2:
                assert {thread_of(r) for r in recs} == {0, 1}, [r["session"] for r in recs]
        be.close()
        assert got == be.ends, (got, be.ends)  # what the client heard is what the server saw
        assert all(lo <= p <= hi for p in be.ends), (threads, lo, hi, be.ends)


@kernel_only(t, "the stack walks every range itself")
def range_inside_is_the_kernels_and_reload_reads_again():
    slo, shi = system_range()
    if shi - slo < 400:
        t.skip_test(f"the system's port range {slo}-{shi} is too small")
    ilo, ihi = slo + 200, slo + 399
    olo, ohi = outside(100, 20)
    be = Backend(peer_port, backlog=64)
    fport = free_port()
    with Synfin(cfg(fport, be.port, f"127.0.0.1:{ilo}-{ihi}", 1)) as lb:
        got = sessions(fport, 10)
        assert all(ilo <= p <= ihi for p in got), got
        wait_until(lambda: len(ended(lb)) == 10, what="every session logged")
        line = lb.log_lines("event=source_ports")
        assert len(line) == 1 and "ports=kernel" in line[0] and \
            f"system_range={slo}-{shi}" in line[0], line
        lb.rewrite(cfg(fport, be.port, f"127.0.0.1:{olo}-{ohi}", 1))
        lb.send(1)  # SIGHUP
        lb.wait_log("event=reload_ok")
        line = lb.log_lines("event=source_ports")
        assert len(line) == 2 and "ports=walk" in line[1] and f":{olo}-{ohi}" in line[1], line
        got = sessions(fport, 10)
        assert all(olo <= p <= ohi for p in got), got
        lb.send(1)  # the same again: nothing new to say
        lb.wait_log("event=reload_ok", 2)
        assert len(lb.log_lines("event=source_ports")) == 2, lb.log_lines("event=source_ports")
    be.close()


def busy(threads, offset):
    """4 ports, 6 clients held: 4 served, 2 waiting with their clients open; 2 served ones
    leave and the 2 waiting get their ports."""
    lo, hi = outside(offset, 4)
    be = Backend(held, backlog=64)
    fport = free_port()
    clients = []
    # The ports come back as TIME-WAIT entries of synfin's (it relays the client's FIN
    # first): Linux lets a connect from an explicitly bound port take one over (its
    # timestamps protect it); the stack, as Linux's tcp_tw_reuse, when asked, after 1 s.
    extra = "queue_timeout 30s;" + (" time_wait_reuse on;" if STACK else "")
    with Synfin(cfg(fport, be.port, f"{FE}:{lo}-{hi}", threads, extra)) as lb:
        try:
            for _ in range(6):
                clients.append(connect(fport, timeout=10))
            wait_until(lambda: len(lb.log_lines("event=connect_error")) == 2,
                       what="two sessions waiting for a port")
            wait_until(lambda: len(be.ends) == 4, what="four sessions served")
            assert all("Address already in use" in x for x in lb.log_lines("connect_error"))
            assert ended(lb) == [], ended(lb)  # none ended
            for c in clients:  # every client still open: nothing to read, no EOF
                c.setblocking(False)
                try:
                    assert c.recv(1) == b"x", "EOF on a waiting client"
                except BlockingIOError:
                    pass
                c.setblocking(True)
            with be.lock:
                first = list(be.ends)
            assert be.accepted == 4 and len(set(first)) == 4, first
            assert all(lo <= p <= hi for p in first), first
            for c in clients[:2]:
                c.close()
            # Their ports come back: the waiting sessions are served.
            wait_until(lambda: len(be.ends) == 6, 15, what="the waiting sessions served")
            assert all(lo <= p <= hi for p in be.ends), be.ends
            assert len(lb.log_lines("event=connect_error")) == 2
        finally:
            for c in clients:
                c.close()
        wait_until(lambda: len(ended(lb)) == 6, what="every session logged")
        assert all(r["cause"] == "client_fin" for r in ended(lb)), \
            ended(lb)
    be.close()


@t.test
def busy_range_waits_one_thread():
    busy(1, 200)


@kernel_only(t, "on the stack each thread has only the ports steered back to it, 1 in 2")
def busy_range_waits_two_threads():
    busy(2, 210)


@t.test
def a_port_serves_several_servers():
    """2 ports, 2 servers, 4 held sessions (round robin: 2 per server): all 4 are served, each
    port once toward each server, as the kernel's own connect-time choice would share them
    (the ports are bound with SO_REUSEADDR; connect refuses only a duplicate 4-tuple)."""
    lo, hi = outside(240, 2)
    b1, b2 = Backend(held, backlog=64), Backend(held, backlog=64)
    fport = free_port()
    conf = (f"log stderr;\nfrontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
            f"backend b {{ server s1 127.0.0.1:{b1.port}; server s2 127.0.0.1:{b2.port}; "
            f"source {FE}:{lo}-{hi}; queue_timeout 30s; }}\n")
    clients = []
    with Synfin(conf) as lb:
        try:
            for _ in range(4):
                clients.append(connect(fport, timeout=10))
            wait_until(lambda: len(b1.ends) == 2 and len(b2.ends) == 2,
                       what="two sessions on each server")
            assert sorted(b1.ends) == sorted(b2.ends) == [lo, hi], (b1.ends, b2.ends)
            assert not lb.log_lines("event=connect_error"), lb.log()
        finally:
            for c in clients:
                c.close()
        wait_until(lambda: len(ended(lb)) == 4, what="every session logged")
    b1.close()
    b2.close()


@t.test
def busy_past_queue_timeout_ends_with_error():
    """One port, two held clients: the second waits, and after queue_timeout its session
    ends with cause `error` and a FIN (the shortage is synfin's: no reset); synfin lives."""
    lo, hi = outside(220, 1)
    for threads in (1, 2) if not STACK else (1,):
        be = Backend(held, backlog=64)
        fport = free_port()
        conf = cfg(fport, be.port, f"{FE}:{lo}-{hi}", threads, "queue_timeout 300ms;")
        with Synfin(conf) as lb:
            a = connect(fport, timeout=10)
            wait_until(lambda: be.accepted == 1, what="the first session served")
            b = connect(fport, timeout=10)
            assert ended_how(b) == "fin"
            b.close()
            wait_until(lambda: len(ended(lb)) == 1, what="the waiting session logged")
            recs = ended(lb)
            assert recs[0]["cause"] == "error", recs
            assert be.accepted == 1
            a.close()
            wait_until(lambda: len(ended(lb)) == 2, what="the first one logged")
        be.close()


@t.test
def busy_range_waits_in_http_mode():
    """mode http, one port: a request whose server holds its answer keeps the port; the next
    request waits (connect_error once) and is served on a new connection from that port once
    the server has closed the first. (An idle kept-alive server connection would hold its
    port as well; a client's first request does not take one under the default
    `http_reuse safe`.)"""
    lo, hi = outside(230, 1)
    release = threading.Event()

    seen = []

    def server(c, b):
        seen.append(c.getpeername()[1])
        first = len(seen) == 1
        while True:
            head = head_or_eof(c)
            if not head:
                return
            if first:  # held, then closed: the port is free again
                release.wait(20)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n"
                          b"\r\nok")
                return
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    be = Backend(server, backlog=64)
    fport = free_port()
    conf = (f"log stderr;\nfrontend f {{ listen 127.0.0.1:{fport}; mode http; backend b; }}\n"
            f"backend b {{ server s1 127.0.0.1:{be.port}; source {FE}:{lo}-{hi}; "
            f"queue_timeout 30s; }}\n")
    with Synfin(conf) as lb:
        a, b = connect(fport, timeout=10), connect(fport, timeout=10)
        try:
            a.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            wait_until(lambda: be.accepted == 1, what="the first request at the server")
            b.sendall(b"GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            lb.wait_log("event=connect_error")
            assert "Address already in use" in lb.log_lines("event=connect_error")[0]
            release.set()
            for c in (a, b):
                assert recv_all(c).startswith(b"HTTP/1.1 200"), "a request not served"
            assert be.accepted == 2 and all(lo <= p <= hi for p in seen), seen
            assert len(lb.log_lines("event=connect_error")) == 1
        finally:
            release.set()
            a.close()
            b.close()
    be.close()


t.done()
