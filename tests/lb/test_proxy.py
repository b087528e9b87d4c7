#!/usr/bin/env python3
"""synfin's data path with real peers on loopback: half-close, large transfers both ways,
RST propagation, balancing per algorithm, connect retry, active health checks (a server
going down and back, an HTTP check answered with the wrong status), passive ejection and
its end after fail_timeout."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (CLIENT_HOST, Backend, Synfin, admin_json, connect, echo,  # noqa: E402
                    ended_how, fe_addr, fe_host, hold, http_get, head_or_eof, named, recv_all,
                    refused_how, sha)
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()


def one_backend_conf(fport, sports, balance="roundrobin", extra_be="", extra_fe="", aport=None,
                     weights=None):
    servers = "".join(
        f"    server s{i} 127.0.0.1:{p}{' weight %d' % weights[i] if weights else ''};\n"
        for i, p in enumerate(sports))
    a = f"admin 127.0.0.1:{aport};\n" if aport else ""
    return (f"log stderr;\n{a}"
            f"frontend f {{ listen 127.0.0.1:{fport}; backend b; {extra_fe} }}\n"
            f"backend b {{ balance {balance};\n{servers}{extra_be} }}\n")


@t.test
def half_close_client_first():
    """The client sends, shuts down writing, then reads the whole answer (nc -N style): the
    server sees EOF after the last byte and its answer still flows back."""
    def upper_after_eof(c, b):
        data = recv_all(c)
        c.sendall(data.upper() * 1000)

    be = Backend(upper_after_eof)
    fport = free_port()
    with Synfin(one_backend_conf(fport, [be.port])) as lb:
        s = connect(fport)
        s.sendall(b"hello half-close")
        s.shutdown(socket.SHUT_WR)
        got = recv_all(s)
        s.close()
        assert got == b"HELLO HALF-CLOSE" * 1000, len(got)
        wait_until(lambda: lb.sessions_logged(), what="session log line")
        rec = lb.sessions_logged()[0]
        assert rec["cause"] == "client_fin", rec
        assert rec["bytes_up"] == "16" and rec["bytes_down"] == str(16 * 1000), rec
    be.close()


@t.test
def half_close_with_nc():
    """nc -N sends its input, then its FIN; the server answers only once that FIN arrived
    (an answer at the end of the request head would not need the FIN relayed at all)."""
    nc = shutil.which("nc")
    if not nc:
        t.skip_test("nc (netcat-openbsd) not installed")

    def answer_after_eof(c, b):
        body = b"from-nc-test " + recv_all(c)
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    be = Backend(answer_after_eof)
    fport = free_port()
    with Synfin(one_backend_conf(fport, [be.port])):
        try:
            r = subprocess.run([nc, "-N", fe_host(fport), str(fport)],
                               input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            raise AssertionError("no answer in 10 s: the client's FIN never reached the server")
        assert r.stdout.endswith(b"from-nc-test GET / HTTP/1.0\r\n\r\n"), r
    be.close()


@t.test
def half_close_server_first_other_direction_flows():
    """The server finishes first (FIN); the client keeps sending, and the server keeps
    reading until the client's own FIN."""
    got = {}

    def greet_then_read(c, b):
        c.sendall(b"banner\n")
        c.shutdown(socket.SHUT_WR)
        got["data"] = recv_all(c)

    be = Backend(greet_then_read)
    fport = free_port()
    with Synfin(one_backend_conf(fport, [be.port])) as lb:
        s = connect(fport)
        assert s.recv(100) == b"banner\n"
        assert s.recv(100) == b""  # the server's FIN arrived
        payload = os.urandom(300000)
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        wait_until(lambda: "data" in got, what="server to read to EOF")
        s.close()
        assert sha(got["data"]) == sha(payload)
        wait_until(lambda: lb.sessions_logged(), what="session log")
        assert lb.sessions_logged()[0]["cause"] == "server_fin"
    be.close()


@t.test
def large_transfers_both_ways():
    """32 MiB each way at once through one session; SHA-256 on both ends."""
    size = 32 << 20
    up = os.urandom(size)
    down = os.urandom(size)
    server_got = {}

    def duplex(c, b):
        def sender():
            c.sendall(down)
            c.shutdown(socket.SHUT_WR)
        th = threading.Thread(target=sender)
        th.start()
        server_got["sha"] = sha(recv_all(c))
        th.join()

    be = Backend(duplex)
    fport = free_port()
    with Synfin(one_backend_conf(fport, [be.port], extra_fe="buffer_size 64k;")) as lb:
        s = connect(fport, timeout=30)
        th = threading.Thread(target=lambda: (s.sendall(up), s.shutdown(socket.SHUT_WR)))
        th.start()
        got = recv_all(s)
        th.join()
        s.close()
        wait_until(lambda: "sha" in server_got, 30, what="server to finish")
        assert sha(got) == sha(down), "server->client corrupted"
        assert server_got["sha"] == sha(up), "client->server corrupted"
        wait_until(lambda: lb.sessions_logged(), what="session log")
        rec = lb.sessions_logged()[0]
        assert rec["bytes_up"] == str(size) and rec["bytes_down"] == str(size), rec
    be.close()


def rst(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


@t.test
def rst_propagates_both_ways():
    # server resets: the client gets a reset, not a FIN
    def reset_after_hello(c, b):
        c.recv(100)
        rst(c)

    be = Backend(reset_after_hello)
    fport = free_port()
    with Synfin(one_backend_conf(fport, [be.port])) as lb:
        s = connect(fport)
        s.sendall(b"hello")
        try:
            data = s.recv(100)
            raise AssertionError(f"expected a reset, got {data!r}")
        except ConnectionResetError:
            pass
        s.close()
        wait_until(lambda: lb.sessions_logged(), what="session log")
        rec = lb.sessions_logged()[0]
        assert rec["cause"] == "server_rst" and rec["client_close"] == "rst", rec
    be.close()

    # client resets: the server's read ends with a reset
    seen = {}

    def wait_reset(c, b):
        try:
            c.sendall(b"x")
            seen["data"] = recv_all(c)
        except ConnectionResetError:
            seen["reset"] = True

    be = Backend(wait_reset)
    with Synfin(one_backend_conf(fport, [be.port])) as lb:
        s = connect(fport)
        assert s.recv(1) == b"x"
        rst(s)
        wait_until(lambda: seen, what="server to see the end")
        assert seen.get("reset"), seen
        wait_until(lambda: lb.sessions_logged(), what="session log")
        assert lb.sessions_logged()[0]["cause"] == "client_rst"
    be.close()


def count_names(fport, n, src_ports=None):
    counts = {}
    for i in range(n):
        s = socket.socket()
        if src_ports:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((CLIENT_HOST, 0))  # the same client address for every instance
        s.settimeout(5)
        s.connect(fe_addr(fport))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        name = recv_all(s).rsplit(b"\r\n\r\n", 1)[-1].decode()
        s.close()
        counts[name] = counts.get(name, 0) + 1
    return counts


@t.test
def roundrobin_weights_exact():
    bes = [Backend(named(f"s{i}")) for i in range(3)]
    fport = free_port()
    with Synfin(one_backend_conf(fport, [b.port for b in bes], weights=[3, 2, 1])):
        assert count_names(fport, 60) == {"s0": 30, "s1": 20, "s2": 10}
    for b in bes:
        b.close()


@t.test
def leastconn_avoids_busy_server():
    bes = [Backend(hold), Backend(named("s1"))]
    fport = free_port()
    aport = free_port()
    with Synfin(one_backend_conf(fport, [b.port for b in bes], "leastconn", aport=aport)):
        # a long session: on a tie the first server listed takes it
        held = [connect(fport)]
        wait_until(lambda: bes[0].accepted == 1, what="the held session on s0")
        # s1 answers and closes at once, s0 holds one: new sessions all go to s1
        counts = count_names(fport, 10)
        assert counts == {"s1": 10}, counts
        st = admin_json(aport)
        servers = {s["name"]: s for s in st["backends"][0]["servers"]}
        assert servers["s0"]["active"] == 1, servers
        for h in held:
            h.close()
    for b in bes:
        b.close()


@t.test
def source_and_maglev_are_sticky_and_agree():
    bes = [Backend(named(f"s{i}")) for i in range(4)]
    for balance in ("source", "maglev"):
        f1, f2 = free_port(), free_port()
        extra = "maglev_table_size 251;" if balance == "maglev" else ""
        c1 = one_backend_conf(f1, [b.port for b in bes], balance, extra_be=extra)
        # a second instance listing the servers in another order
        order = [3, 1, 0, 2]
        servers = "".join(f"    server s{i} 127.0.0.1:{bes[i].port};\n" for i in order)
        c2 = (f"log off;\nfrontend f {{ listen 127.0.0.1:{f2}; backend b; }}\n"
              f"backend b {{ balance {balance}; {extra}\n{servers} }}\n")
        with Synfin(c1), Synfin(c2):
            if balance == "source":
                # one client address: always the same server, on both instances
                a = count_names(f1, 12)
                b2 = count_names(f2, 12)
                assert len(a) == 1 and a == b2, (a, b2)
            else:
                # maglev hashes address and port: the same 4-tuple source picks the same
                # server on both instances, and ports spread over the servers
                spread = {}
                for i in range(40):
                    picks = []
                    for fp in (f1, f2):
                        s = socket.socket()
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        s.bind((CLIENT_HOST, 0))
                        s.settimeout(5)
                        s.connect(fe_addr(fp))
                        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                        name = recv_all(s).rsplit(b"\r\n\r\n", 1)[-1]
                        # same client port on the other instance: re-bind the same port
                        port = s.getsockname()[1]
                        s.close()
                        s2 = socket.socket()
                        s2.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        s2.bind((CLIENT_HOST, port))
                        s2.settimeout(5)
                        other = f2 if fp == f1 else f1
                        s2.connect(fe_addr(other))
                        s2.sendall(b"GET / HTTP/1.0\r\n\r\n")
                        name2 = recv_all(s2).rsplit(b"\r\n\r\n", 1)[-1]
                        s2.close()
                        picks.append((name, name2))
                        break
                    assert picks[0][0] == picks[0][1], picks
                    spread[picks[0][0]] = spread.get(picks[0][0], 0) + 1
                assert len(spread) >= 3, spread
    for b in bes:
        b.close()


@t.test
def connect_failure_retries_on_another_server():
    dead_port = free_port()  # nothing listens there: connection refused
    be = Backend(named("alive"))
    fport, aport = free_port(), free_port()
    c = one_backend_conf(fport, [dead_port, be.port], aport=aport,
                         extra_be="retries 2; max_fails 1; fail_timeout 60s;")
    with Synfin(c) as lb:
        counts = count_names(fport, 10)
        assert counts == {"alive": 10}, counts
        wait_until(lambda: len(lb.sessions_logged()) == 10, what="ten session log lines")
        recs = lb.sessions_logged()
        # the first session tried the dead server, then retried on the live one; after that
        # the dead server is ejected and nobody tries it
        assert recs[0]["retries"] == "1" and recs[0]["server"] == "s1", recs[0]
        assert all(r["retries"] == "0" for r in recs[1:]), recs
        st = admin_json(aport)
        servers = {s["name"]: s for s in st["backends"][0]["servers"]}
        assert servers["s0"]["connect_failures"] == 1 and servers["s0"]["ejected"], servers
        assert servers["s0"]["up"] is False
        assert lb.log_lines("event=server_ejected")
    be.close()

    # no server left at all: the client is refused (RST) and the cause says why
    with Synfin(one_backend_conf(fport, [dead_port], extra_be="retries 1;")) as lb:
        how = refused_how(fport)
        assert how == "rst", f"the client's connection ended with {how}"
        wait_until(lambda: lb.sessions_logged(), what="session log")
        rec = lb.sessions_logged()[0]
        assert (rec["cause"], rec["client_close"]) == ("connect_fail", "rst"), rec


def servers_of(aport):
    return {s["name"]: s for s in admin_json(aport)["backends"][0]["servers"]}


def metric(aport, line):
    """Whether /metrics has this exact sample line."""
    return f"{line}\n" in http_get(aport, "/metrics")[1].decode()


@t.test
def no_server_refuses_and_is_counted():
    """A session that finds no usable server ends at once with RST and cause no_server, counted
    as a close cause and in synfin_backend_no_server_total, not in the backend's sessions:
    when the balancer finds none (the only server ejected), and when a queued session's turn
    comes and its server has gone down meanwhile."""
    dead_port = free_port()
    fport, aport = free_port(), free_port()
    c = one_backend_conf(fport, [dead_port], aport=aport,
                         extra_be="retries 0; max_fails 1; fail_timeout 60s;")
    with Synfin(c) as lb:
        for want in ("connect_fail", "no_server"):  # the first failure ejects the server
            how = refused_how(fport)
            assert how == "rst", f"{want}: the client's connection ended with {how}"
            wait_until(lambda: len(lb.sessions_logged()) == (want == "no_server") + 1,
                       what=f"{want} logged")
            rec = lb.sessions_logged()[-1]
            assert (rec["cause"], rec["client_close"]) == (want, "rst"), rec
        assert (rec["server"], rec["server_close"], rec["connect_ms"]) == ("-", "-", "-1.000"), rec
        st = admin_json(aport)
        assert st["close_causes"]["no_server"] == 1, st["close_causes"]
        assert st["frontends"][0]["close_causes"]["no_server"] == 1, st["frontends"]
        b = st["backends"][0]
        assert (b["no_server"], b["total"], b["active"]) == (1, 1, 0), b
        for line in ('synfin_backend_no_server_total{backend="b"} 1',
                     'synfin_close_causes_total{cause="no_server"} 1',
                     'synfin_sessions_closed_total{frontend="f",cause="no_server"} 1',
                     'synfin_backend_sessions_total{backend="b"} 1'):
            assert metric(aport, line), line

    be = Backend(hold)
    check = "check { type tcp; interval 100ms; timeout 100ms; rise 1; fall 1; }"
    c = one_backend_conf(fport, [be.port], aport=aport, extra_be=check).replace(
        f"127.0.0.1:{be.port};", f"127.0.0.1:{be.port} maxconn 1; queue_timeout 30s;")
    with Synfin(c) as lb:
        # the server's own count would include the checks' connections: ask synfin
        first = connect(fport)
        wait_until(lambda: servers_of(aport)["s0"]["active"] == 1,
                   what="the first session on the server")
        second = connect(fport)
        wait_until(lambda: admin_json(aport)["backends"][0]["queued"] == 1,
                   what="the second session queued (server maxconn 1)")
        be.stop_listening()  # the checks are refused from now on; the first session stays
        lb.wait_log("event=server_down")
        first.close()  # its slot frees: the queue moves, and finds no server up
        how = ended_how(second)
        assert how == "rst", f"the client's connection ended with {how}"
        second.close()
        wait_until(lambda: len(lb.sessions_logged()) == 2, what="both sessions logged")
        rec = [r for r in lb.sessions_logged() if r["cause"] != "client_fin"]
        assert len(rec) == 1 and rec[0]["cause"] == "no_server", lb.sessions_logged()
        assert rec[0]["client_close"] == "rst" and rec[0]["server"] == "-", rec
        for line in ('synfin_backend_no_server_total{backend="b"} 1',
                     'synfin_close_causes_total{cause="no_server"} 1',
                     'synfin_backend_sessions_total{backend="b"} 1'):
            assert metric(aport, line), line
    be.close()


@t.test
def health_check_removes_and_restores_server():
    be0 = Backend(named("s0"))
    port0 = be0.port
    be1 = Backend(named("s1"))
    fport, aport = free_port(), free_port()
    check = "check { type http; uri /; expect 200; interval 100ms; timeout 100ms; rise 2; fall 1; }"
    c = one_backend_conf(fport, [port0, be1.port], aport=aport, extra_be=check)
    with Synfin(c) as lb:
        assert count_names(fport, 10) == {"s0": 5, "s1": 5}
        be0.close()  # s0 goes down
        lb.wait_log("event=server_down")
        assert "server=s0" in lb.log_lines("event=server_down")[0]
        assert count_names(fport, 10) == {"s1": 10}
        st = admin_json(aport)
        assert [s["up"] for s in st["backends"][0]["servers"]] == [False, True]
        be0 = Backend(named("s0"), port=port0)  # back up
        lb.wait_log("event=server_up")
        assert count_names(fport, 10) == {"s0": 5, "s1": 5}
    be0.close()
    be1.close()


def checked_server(name, status, seen):
    """Like named(name) for clients, but a health check (User-Agent: synfin-check) gets an
    empty answer with status[0]; check request lines are appended to seen."""
    def handler(c, b):
        data = head_or_eof(c)
        if b"\r\nUser-Agent: synfin-check\r\n" in data:
            seen.append(data.split(b"\r\n", 1)[0])
            c.sendall(b"HTTP/1.0 %d Status\r\nContent-Length: 0\r\n\r\n" % status[0])
        else:
            body = name.encode()
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    return handler


@t.test
def http_check_wrong_status_takes_server_down_until_fixed():
    status, seen = [200], []
    be0 = Backend(checked_server("s0", status, seen))
    be1 = Backend(named("s1"))
    fport, aport = free_port(), free_port()
    check = ("check { type http; uri /health; expect 200; interval 100ms; timeout 100ms; "
             "rise 2; fall 2; }")
    c = one_backend_conf(fport, [be0.port, be1.port], aport=aport, extra_be=check)
    with Synfin(c) as lb:
        wait_until(lambda: servers_of(aport)["s0"]["last_check"] == "HTTP status 200",
                   what="a passing check on s0")
        assert seen[0] == b"GET /health HTTP/1.0", seen
        assert count_names(fport, 10) == {"s0": 5, "s1": 5}
        # s0 still accepts connections and answers, but with 503: it goes down
        status[0] = 503
        lb.wait_log("event=server_down")
        line = lb.log_lines("event=server_down")[0]
        assert "server=s0" in line and 'reason="HTTP status 503"' in line, line
        s0 = servers_of(aport)["s0"]
        assert s0["up"] is False and s0["last_check"] == "HTTP status 503", s0
        metrics = http_get(aport, "/metrics")[1].decode()
        assert 'synfin_server_up{backend="b",server="s0"} 0\n' in metrics, metrics
        assert count_names(fport, 10) == {"s1": 10}
        # fixed: after `rise` good checks it takes sessions again
        status[0] = 200
        lb.wait_log("event=server_up")
        assert "server=s0" in lb.log_lines("event=server_up")[0]
        assert servers_of(aport)["s0"]["up"] is True
        counts = count_names(fport, 10)
        assert counts.get("s0", 0) >= 4 and sum(counts.values()) == 10, counts
        assert lb.log_lines("event=server_down") == [line]  # it went down once
    be0.close()
    be1.close()


@t.test
def passive_ejection_ends_after_fail_timeout():
    dead_port = free_port()  # nothing listens there yet: connection refused
    be1 = Backend(named("s1"))
    fport, aport = free_port(), free_port()
    c = one_backend_conf(fport, [dead_port, be1.port], aport=aport,
                         extra_be="retries 1; max_fails 1; fail_timeout 1s;")
    with Synfin(c) as lb:
        before_ejection = time.monotonic()
        # the first session tries s0, is refused, and is retried on s1; s0 is ejected
        assert count_names(fport, 1) == {"s1": 1}
        lb.wait_log("event=server_ejected")
        line = lb.log_lines("event=server_ejected")[0]
        assert "server=s0" in line and "for_ms=1000" in line, line
        counts = count_names(fport, 3)
        s0 = servers_of(aport)["s0"]
        # still ejected after those sessions, so they all ran while it was: none tried s0
        assert s0["ejected"] is True and s0["up"] is False, s0
        assert counts == {"s1": 3}, counts
        assert [r["retries"] for r in lb.sessions_logged()] == ["1", "0", "0", "0"]
        # the server comes back; no check tells synfin, the ejection just runs out
        be0 = Backend(named("s0"), port=dead_port)
        wait_until(lambda: servers_of(aport)["s0"]["up"], timeout=5, what="s0 usable again")
        assert time.monotonic() - before_ejection >= 1.0
        assert servers_of(aport)["s0"]["ejected"] is False
        counts = count_names(fport, 10)
        assert counts.get("s0", 0) >= 4 and sum(counts.values()) == 10, counts
        assert be0.accepted == counts["s0"]
        assert servers_of(aport)["s0"]["connect_failures"] == 1
    be0.close()
    be1.close()


@t.test
def tcp_check_and_backup_server():
    be0 = Backend(named("primary"))
    port0 = be0.port
    bk = Backend(named("backup"))
    fport = free_port()
    check = "check { type tcp; interval 100ms; timeout 100ms; rise 1; fall 1; }"
    c = (f"log stderr;\nfrontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
         f"backend b {{ {check}\n server p 127.0.0.1:{port0};\n"
         f" server k 127.0.0.1:{bk.port} backup; }}\n")
    with Synfin(c) as lb:
        assert count_names(fport, 6) == {"primary": 6}
        be0.close()
        lb.wait_log("event=server_down")
        assert count_names(fport, 6) == {"backup": 6}
        be0 = Backend(named("primary"), port=port0)
        lb.wait_log("event=server_up")
        assert count_names(fport, 6) == {"primary": 6}
    be0.close()
    bk.close()


t.done()
