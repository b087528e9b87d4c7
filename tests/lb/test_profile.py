#!/usr/bin/env python3
"""Profiles and listener settings on real sockets (on the stack transport, only the
back-pressure test applies; the rest are kernel mechanisms): the pipe bound holds against a reader that
never reads (back-pressure through the binary); keepalive, user_timeout and nodelay as the
kernel holds them on synfin's own sockets (read through pidfd_getfd) and the keepalive
timers ss shows; backlog and reuseport on the listener; defer_accept keeps silent
connections out of synfin."""
import contextlib
import errno
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (Backend, Synfin, admin_json, connect, echo, hold, http_get,  # noqa: E402
                    kernel_only, named, peer_of, recv_all, sockets_of, ss_timer, tcp_opts)
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()


def cfg(fport, sport, aport, fe="", be=""):
    return (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
            f"frontend f {{ listen 127.0.0.1:{fport}; backend b; {fe} }}\n"
            f"backend b {{ server s 127.0.0.1:{sport}; {be} }}\n")


@t.test
def stalled_reader_bounds_what_synfin_takes():
    def never_read(c, b):
        b.stop.wait(30)

    be = Backend(never_read)
    fport, aport = free_port(), free_port()
    with Synfin(cfg(fport, be.port, aport, fe="buffer_size 64k;", be="buffer_size 64k;")):
        s = connect(fport)
        s.setblocking(False)
        chunk = b"x" * 65536
        sent = 0
        last_progress = time.monotonic()
        # send until nothing more is taken for a while: every buffer on the way is full
        while time.monotonic() - last_progress < 1.0 and sent < (256 << 20):
            try:
                sent += s.send(chunk)
                last_progress = time.monotonic()
            except BlockingIOError:
                time.sleep(0.01)
        # kernel socket buffers (autotuned to a few MiB each) plus synfin's one 64 KiB
        # buffer: far below what the client would push if synfin read without limit
        assert sent < (64 << 20), sent
        st = admin_json(aport)
        assert st["sessions"]["active"] == 1
        status, body = http_get(aport, "/metrics")
        m = re.search(rb"synfin_buffers_in_use (\d+)", body)
        assert m and int(m.group(1)) <= 2, body[-300:]
        s.close()
    be.close()


@contextlib.contextmanager
def synfin_sockets(lb, fport, bport, client):
    """synfin's listener on fport, its connection from client and its connection toward the
    backend on bport, as duplicates (sockets_of): (listener, client side, server side)."""
    with sockets_of(lb.p.pid) as socks:
        lst = [x for x in socks if x.getsockname() == ("127.0.0.1", fport) and not peer_of(x)]
        cli = [x for x in socks if peer_of(x) == client]
        srv = [x for x in socks if peer_of(x) == ("127.0.0.1", bport)]
        assert len(lst) == 1 and len(cli) == 1 and len(srv) == 1, (lst, cli, srv)
        yield lst[0], cli[0], srv[0]


KEEPALIVE_KEYS = ("keepalive", "keepalive_idle", "keepalive_interval", "keepalive_count",
                  "user_timeout_ms")


@kernel_only(t, "socket options and timers as the kernel holds them; test_stack.py sees "
                "the stack's probes")
def keepalive_and_user_timeout_on_both_sides():
    be = Backend(hold)
    fport, aport = free_port(), free_port()
    with Synfin(cfg(fport, be.port, aport,
                    fe="keepalive on; keepalive_idle 45s; keepalive_interval 3s; "
                       "keepalive_count 2; user_timeout 4s;",
                    be="keepalive on; keepalive_idle 77s; keepalive_interval 5s; "
                       "keepalive_count 4; user_timeout 9s;")) as lb:
        s = connect(fport)
        wait_until(lambda: be.accepted == 1, what="session")
        with synfin_sockets(lb, fport, be.port, s.getsockname()) as (lst, cli, srv):
            want_fe = dict(zip(KEEPALIVE_KEYS, (1, 45, 3, 2, 4000)))
            want_be = dict(zip(KEEPALIVE_KEYS, (1, 77, 5, 4, 9000)))
            # the frontend profile is set on the listener; accepted connections inherit it
            for name, sock, want in (("listener", lst, want_fe), ("client side", cli, want_fe),
                                     ("server side", srv, want_be)):
                got = {k: v for k, v in tcp_opts(sock).items() if k in KEEPALIVE_KEYS}
                assert got == want, (name, got, want)
        # the kernel's keepalive timers run from the configured idle times (ss counts down;
        # the connections have been idle a moment)
        srv_timers = ss_timer(f"dport = :{be.port}")
        assert len(srv_timers) == 1 and srv_timers[0][0] == "keepalive", srv_timers
        assert 67 < srv_timers[0][1] <= 77, srv_timers
        cli_timers = ss_timer(f"sport = :{fport}")
        assert len(cli_timers) == 1 and cli_timers[0][0] == "keepalive", cli_timers
        assert 35 < cli_timers[0][1] <= 45, cli_timers
        s.close()
    be.close()


@kernel_only(t, "socket options as the kernel holds them")
def nodelay_and_keepalive_defaults_and_nodelay_off():
    for prof, nodelay in (("", 1), ("nodelay off;", 0)):
        be = Backend(echo)
        fport, aport = free_port(), free_port()
        with Synfin(cfg(fport, be.port, aport, fe=prof, be=prof)) as lb:
            s = connect(fport)
            # two writes toward the server: synfin sets TCP_NODELAY there before its second
            # one (docs/lb.md, design notes), so the option is in place after them
            for b in (b"a", b"b"):
                s.sendall(b)
                assert s.recv(1) == b
            with synfin_sockets(lb, fport, be.port, s.getsockname()) as (lst, cli, srv):
                for name, sock in (("listener", lst), ("client side", cli), ("server side", srv)):
                    o = tcp_opts(sock)
                    assert o["nodelay"] == nodelay, (prof, name, o)
                    # keepalive and TCP_USER_TIMEOUT are off by default (Linux's defaults)
                    assert o["keepalive"] == 0 and o["user_timeout_ms"] == 0, (prof, name, o)
            for side in (f"dport = :{be.port}", f"sport = :{fport}"):
                timers = ss_timer(side)
                assert not [x for x in timers if x[0] == "keepalive"], (side, timers)
            s.close()
        be.close()


def listen_backlog(port):
    """The accept queue limit of the listener on port (ss Send-Q for a listening socket)."""
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[2])


@kernel_only(t, "the kernel listener's backlog as ss shows it")
def backlog_reaches_the_listener():
    be = Backend(hold)
    f1, f2 = free_port(), free_port()
    with open("/proc/sys/net/core/somaxconn") as f:
        somaxconn = int(f.read())
    c = (f"log stderr;\nfrontend small {{ listen 127.0.0.1:{f1}; backlog 37; backend b; }}\n"
         f"frontend dflt {{ listen 127.0.0.1:{f2}; backend b; }}\n"
         f"backend b {{ server s 127.0.0.1:{be.port}; }}\n")
    with Synfin(c):
        assert listen_backlog(f1) == min(37, somaxconn)
        assert listen_backlog(f2) == min(511, somaxconn)  # the documented default
    be.close()


@kernel_only(t, "SO_REUSEPORT: a stack owns its addresses alone")
def reuseport_lets_two_instances_share_an_address():
    bes = [Backend(named("A")), Backend(named("B"))]
    fport, a1, a2 = free_port(), free_port(), free_port()
    with Synfin(cfg(fport, bes[0].port, a1, fe="reuseport on;")) as one, \
            Synfin(cfg(fport, bes[1].port, a2, fe="reuseport on;")) as two:
        for lb in (one, two):
            with sockets_of(lb.p.pid) as socks:
                lst = [x for x in socks if x.getsockname() == ("127.0.0.1", fport)]
                assert len(lst) == 1, lst
                assert lst[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        out = subprocess.run(["ss", "-Hltn", f"sport = :{fport}"], capture_output=True,
                             text=True, check=True).stdout
        assert len(out.splitlines()) == 2, out
        # the kernel spreads connections over both listeners by their addresses
        names = [http_get(fport, "/")[1] for _ in range(40)]
        assert set(names) == {b"A", b"B"}, names
        totals = [admin_json(a)["sessions"]["total"] for a in (a1, a2)]
        assert totals == [names.count(b"A"), names.count(b"B")], (totals, names)
    # without reuseport the second instance cannot listen there: it does not start (exit 1)
    aport = free_port()
    with Synfin(cfg(fport, bes[0].port, aport)):
        second = Synfin(cfg(fport, bes[1].port, free_port()), expect_start=False)
        assert second.p.wait(10) == 1
        assert (f"cannot listen on 127.0.0.1:{fport}: Address already in use"
                in second.log()), second.log()
        second.stop()
        second.cleanup()
    for b in bes:
        b.close()


@kernel_only(t, "TCP_DEFER_ACCEPT is a kernel listener option (an error on the stack)")
def defer_accept_waits_for_data():
    be = Backend(lambda c, b: (c.recv(100), c.sendall(b"hi")))
    fport, aport = free_port(), free_port()
    with Synfin(cfg(fport, be.port, aport, fe="defer_accept on;")):
        s = connect(fport)  # handshake done on the client's side, no data yet
        # the kernel keeps it as a SYN_RECEIVED request, not in synfin's accept queue; synfin
        # counts it on its listening port through sock_diag
        wait_until(lambda: admin_json(aport)["tcp_states"]["SYN_RECEIVED"] == 1,
                   what="the deferred connection in SYN_RECEIVED")
        assert admin_json(aport)["sessions"]["total"] == 0
        s.sendall(b"data")
        wait_until(lambda: admin_json(aport)["sessions"]["total"] == 1, what="accept after data")
        assert recv_all(s) == b"hi"
        s.close()
    be.close()


t.done()
