#!/usr/bin/env python3
"""The balancer on synfin's own TCP (transport stack) over IPv6, with real Linux peers over
its TUN device, in a network namespace this test makes and enters:

  Linux  10.79.0.1, fd00:79::1 (kernel side of the TUN: clients, backend servers)
  synfin 10.79.0.2, fd00:79::2, fd00:79::3 (its own TCP: VIPs and sources toward servers)

curl over IPv6 to an IPv6 VIP with an IPv6 server behind, nc -N half-close with SHA-256 both
ways, IPv4 and IPv6 in one configuration (each family's VIP to the other family's server, an
IPv6 source address of the stack's own), IPv4 and IPv6 VIPs on one port, /stats and /metrics counting them, the ad-hoc flags
in IPv6, ping6 answered, the capture judged by tshark, a VIP outside the kernel's /64 routed
and listed in /sessions, a responder on the stack's own IPv6 address as a server (the host
glue's loopback), and the config checks at synfin -t.

Needs root; skips with one line otherwise (CI is root)."""
import hashlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import stacknet  # noqa: E402
from stacknet import Server, pattern  # noqa: E402
from lbtest import Synfin, admin_json, http_get, recv_all  # noqa: E402
from tap import Tap, binary, free_port, wait_until  # noqa: E402

t = Tap()
K4, K6 = "10.79.0.1", "fd00:79::1"
V4, V6, S6 = "10.79.0.2", "fd00:79::2", "fd00:79::3"
TUN = "v6lbs0"
SKIP = stacknet.suite_skip(("curl", "nc", "tshark", "ping"), ipv6=True)
if not SKIP:
    stacknet.enter()


def need():
    if SKIP:
        t.skip_test(SKIP)


def http_ok(c):
    """Reads a request head, answers a small body and closes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            return
        data += chunk
    body = b"hello over IPv6\n"
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
              % (len(body), body))


TRANSPORT = (f"transport stack {{ tun {TUN}; kernel_addr {K4}/24 {K6}/64; "
             f"address {V4} {V6} {S6}; {{extra}} }}\n")


def conf(body, aport, extra=""):
    return (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
            + TRANSPORT.replace("{extra}", extra) + body)


def metrics(aport):
    status, body = http_get(aport, "/metrics", host="127.0.0.1")
    assert status == 200
    return body.decode()


def metric(text, name):
    m = re.search(rf"^{re.escape(name)} (\d+)$", text, re.M)
    assert m, f"{name} not in /metrics"
    return int(m.group(1))


@t.test
def curl_over_ipv6_to_an_ipv6_server():
    need()
    srv = Server(http_ok, dual=True)
    fport, aport = free_port(), free_port()
    with Synfin(conf(f"frontend f6 {{ listen [{V6}]:{fport}; backend b6; }}\n"
                     f"backend b6 {{ server s1 [{K6}]:{srv.port}; }}\n", aport)) as lb:
        for _ in range(3):
            r = subprocess.run(["curl", "-sS", "-m", "5", "-w", "[%{remote_ip}]",
                                f"http://[{V6}]:{fport}/"], capture_output=True, text=True,
                               timeout=10)
            assert r.stdout == f"hello over IPv6\n[{V6}]", r
        # the server was reached from the stack's first IPv6 address
        assert srv.peers == [V6] * 3, srv.peers
        wait_until(lambda: len(lb.sessions_logged()) == 3, what="three session log lines")
        for rec in lb.sessions_logged():
            assert rec["client"].startswith(f"[{K6}]:"), rec
            assert rec["server_addr"] == f"[{K6}]:{srv.port}", rec
        st = admin_json(aport)
        assert st["transport"] == "stack", st
        fe = st["frontends"][0]
        assert fe["listeners"] == [{"addr": f"[{V6}]:{fport}", "open": True, "sessions": 3}], fe
        assert fe["total"] == 3, fe
    srv.close()


@t.test
def nc_half_close_sha256_counted():
    """nc -N sends 8 MB over IPv6 and its FIN; the IPv6 server reads to that FIN, then
    answers 8 MB and closes. Both directions by SHA-256; the session's bytes and cause in the
    log, /stats and /metrics."""
    need()
    size = 8 << 20
    up, down = pattern(size, b"up6"), pattern(size, b"down6")
    got = {}

    def reader_then_writer(c):
        got["up"] = hashlib.sha256(recv_all(c)).hexdigest()
        c.sendall(down)

    srv = Server(reader_then_writer, dual=True)
    fport, aport = free_port(), free_port()
    with Synfin(conf(f"frontend f6 {{ listen [{V6}]:{fport}; backend b6; }}\n"
                     f"backend b6 {{ server s1 [{K6}]:{srv.port}; }}\n", aport)) as lb, \
            tempfile.TemporaryFile() as f:
        f.write(up)
        f.seek(0)
        r = subprocess.run(["nc", "-N", V6, str(fport)], stdin=f, capture_output=True,
                           timeout=120)
        assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(down).hexdigest(), \
            (len(r.stdout), r.stderr)
        assert got["up"] == hashlib.sha256(up).hexdigest()
        wait_until(lambda: lb.sessions_logged(), what="the session's log line")
        rec = lb.sessions_logged()[0]
        assert rec["cause"] == "client_fin", rec
        assert rec["bytes_up"] == str(size) and rec["bytes_down"] == str(size), rec
        fe = admin_json(aport)["frontends"][0]
        assert (fe["total"], fe["bytes_in"], fe["bytes_out"]) == (1, size, size), fe
        assert fe["close_causes"]["client_fin"] == 1, fe
        m = metrics(aport)
        assert metric(m, 'synfin_sessions_total{frontend="f6"}') == 1
        assert metric(m, 'synfin_frontend_bytes_total{frontend="f6",direction="in"}') == size
        assert metric(m, 'synfin_frontend_bytes_total{frontend="f6",direction="out"}') == size
        assert metric(m, 'synfin_sessions_closed_total{frontend="f6",cause="client_fin"}') == 1
        assert metric(m, 'synfin_backend_sessions_total{backend="b6"}') == 1
    assert not srv.errors, srv.errors
    srv.close()


@t.test
def ipv4_and_ipv6_in_one_config():
    """An IPv4 VIP in front of an IPv6 server (from the stack's IPv6 source fd00:79::3) and an
    IPv6 VIP in front of an IPv4 server, in one configuration; each counted on its own."""
    need()
    srv = Server(http_ok, dual=True)
    f4, f6, aport = free_port(), free_port(), free_port()
    body = (f"frontend f4 {{ listen {V4}:{f4}; backend to6; }}\n"
            f"backend to6 {{ server s [{K6}]:{srv.port}; source {S6}; }}\n"
            f"frontend f6 {{ listen [{V6}]:{f6}; backend to4; }}\n"
            f"backend to4 {{ server s {K4}:{srv.port}; }}\n")
    with Synfin(conf(body, aport)):
        for host, port, n in ((V4, f4, 2), (f"[{V6}]", f6, 3)):
            for _ in range(n):
                r = subprocess.run(["curl", "-sS", "-m", "5", f"http://{host}:{port}/"],
                                   capture_output=True, text=True, timeout=10)
                assert r.stdout == "hello over IPv6\n", r
        assert srv.peers == [S6] * 2 + [V4] * 3, srv.peers
        m = metrics(aport)
        assert metric(m, 'synfin_sessions_total{frontend="f4"}') == 2
        assert metric(m, 'synfin_sessions_total{frontend="f6"}') == 3
        assert metric(m, 'synfin_backend_sessions_total{backend="to6"}') == 2
        assert metric(m, 'synfin_backend_sessions_total{backend="to4"}') == 3
        st = admin_json(aport)
        assert [f["total"] for f in st["frontends"]] == [2, 3], st["frontends"]
    srv.close()


@t.test
def ipv4_and_ipv6_vips_on_one_port():
    """One frontend listening on the same port at an IPv4 VIP and at two IPv6 addresses of
    the stack: the engine's bind lets addresses that do not overlap share a port (docs/engine.md,
    "Who may bind a port"), so synfin starts and each VIP serves, counted on its own."""
    need()
    srv = Server(http_ok, dual=True)
    port, aport = free_port(), free_port()
    vips = (V4, f"[{V6}]", f"[{S6}]")
    listens = "".join(f"listen {v}:{port}; " for v in vips)
    with Synfin(conf(f"frontend f {{ {listens}backend b; }}\n"
                     f"backend b {{ server s {K4}:{srv.port}; }}\n", aport)) as lb:
        for i, host in enumerate(vips):
            for _ in range(i + 1):
                r = subprocess.run(["curl", "-sS", "-m", "5", "-w", "[%{remote_ip}]",
                                    f"http://{host}:{port}/"], capture_output=True, text=True,
                                   timeout=10)
                assert r.stdout == f"hello over IPv6\n[{host.strip('[]')}]", (r, lb.log())
        fe = admin_json(aport)["frontends"][0]
        assert fe["listeners"] == [{"addr": f"{v}:{port}", "open": True, "sessions": i + 1}
                                   for i, v in enumerate(vips)], fe
        assert fe["total"] == 6, fe
    assert srv.peers == [V4] * 6, srv.peers
    srv.close()


@t.test
def adhoc_flags_in_ipv6_and_ping6():
    need()
    srv = Server(http_ok, dual=True)
    fport = free_port()
    args = ["--transport", "stack", "--tun", TUN, "--kernel-addr", f"{K4}/24,{K6}/64",
            "--stack-addr", V6, "--listen", f"[{V6}]:{fport}", "--server", f"[{K6}]:{srv.port}"]
    with Synfin("", args=args) as lb:
        r = subprocess.run(["curl", "-sS", "-m", "5", f"http://[{V6}]:{fport}/"],
                           capture_output=True, text=True, timeout=10)
        assert r.stdout == "hello over IPv6\n", (r, lb.log())
        out = subprocess.run(["ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", V6],
                             capture_output=True, text=True, timeout=20).stdout
        assert "3 packets transmitted, 3 received" in out, out
    assert srv.peers == [V6], srv.peers
    srv.close()


@t.test
def capture_judged_by_tshark():
    """Both sides of IPv6 sessions in the stack's capture: no bad checksum, no ACK of a
    segment tshark never saw."""
    need()
    import interop  # noqa: E402 - the interop suite's judge

    srv = Server(http_ok, dual=True)
    fport, aport = free_port(), free_port()
    cap = os.path.join(tempfile.mkdtemp(prefix="synfin-stack6-"), "stack6.pcap")
    with Synfin(conf(f"frontend f6 {{ listen [{V6}]:{fport}; backend b6; }}\n"
                     f"backend b6 {{ server s1 [{K6}]:{srv.port}; }}\n", aport,
                     extra=f"pcap {cap};")):
        for _ in range(10):
            status, body = http_get(fport, "/", host=V6)
            assert (status, body) == (200, b"hello over IPv6\n")
    r = subprocess.run(["tshark", "-n", "-r", cap, "-Y", "ipv6 and tcp"], capture_output=True,
                       text=True, timeout=60)
    n = r.stdout.count("\n")
    assert n >= 10 * 2 * 7, (n, r.stderr[-500:])  # ten sessions, two connections each
    v = interop.judge(cap, retransmissions_allowed=True)  # (removes the capture when done)
    print(f"# tshark: {v['packets']} packets, {n} of them IPv6 TCP")
    srv.close()


@t.test
def vip_outside_the_subnet_routed_and_listed():
    """An IPv6 stack address outside the kernel side's /64 gets a host route through the
    device; a session to it is listed in /sessions with IPv6 endpoints on both sides."""
    need()
    hold = threading.Event()

    def held(c):
        c.recv(100)
        hold.wait(10)

    srv = Server(held, dual=True)
    fport, aport = free_port(), free_port()
    far = "fd00:7a::5"
    t_block = (f"transport stack {{ tun {TUN}; kernel_addr {K6}/64; address {V6} {far}; }}\n")
    with Synfin(f"log stderr;\nadmin 127.0.0.1:{aport};\n" + t_block
                + f"frontend f {{ listen [{far}]:{fport}; backend b; }}\n"
                f"backend b {{ server s1 [{K6}]:{srv.port}; }}\n"):
        route = subprocess.run(["ip", "-6", "route", "show", f"{far}/128"], capture_output=True,
                               text=True).stdout
        assert f"dev {TUN}" in route, route
        with socket.create_connection((far, fport), timeout=5) as c:
            c.sendall(b"hi")
            wait_until(lambda: srv.peers, what="the server connection")
            sess = admin_json(aport, "/sessions")["sessions"]
            assert len(sess) == 1, sess
            assert sess[0]["client"]["local"] == f"[{far}]:{fport}", sess
            assert sess[0]["client_addr"] == f"[{K6}]:{c.getsockname()[1]}", sess
            assert sess[0]["server_conn"]["peer"] == f"[{K6}]:{srv.port}", sess
            hold.set()
    assert srv.peers == [V6], srv.peers
    srv.close()


@t.test
def server_on_the_stacks_own_ipv6_address():
    """A responder of synfin's own on an IPv6 address of the stack, as a backend's server: its
    packets go from the engine back to the engine without the device (the host glue's
    loopback, which tells IPv6 destinations apart as IPv4 ones)."""
    need()
    fport, aport, rport = free_port(), free_port(), free_port()
    with Synfin(conf(f"frontend f6 {{ listen [{V6}]:{fport}; backend b6; }}\n"
                     f"backend b6 {{ server r [{S6}]:{rport}; }}\n"
                     f'respond [{S6}]:{rport} "hi from a responder\\n";\n', aport)) as lb:
        r = subprocess.run(["curl", "-sS", "-m", "5", f"http://[{V6}]:{fport}/"],
                           capture_output=True, text=True, timeout=10)
        assert r.stdout == "hi from a responder\n", r
        wait_until(lambda: lb.sessions_logged(), what="the session's log line")
        rec = lb.sessions_logged()[0]
        assert rec["server_addr"] == f"[{S6}]:{rport}" and rec["cause"] == "server_fin", rec


@t.test
def config_checks_at_synfin_t():
    """synfin -t names file:line:column and exits 2 for what the stack cannot do; accepts IPv6
    where the stack owns it (no root needed)."""
    cases = [
        ("frontend f { listen [fd00:79::9]:80; backend b; }\n"
         f"backend b {{ server s [{K6}]:1; }}\n",
         "2:21: '[fd00:79::9]:80' is not an address of the stack (transport stack address)"),
        (f"frontend f {{ listen [{V6}]:80; backend b; }}\n"
         f"backend b {{ server s [{K6}]:1; source {V4}; }}\n",
         "3:9: backend 'b': server 's' is IPv6, and so must be every source address"),
        (f"frontend f {{ listen [{V6}]:80; backend b; }}\n"
         f"backend b {{ server s [{K6}]:1; source {S6}; }}\n", None),
    ]
    for body, want in cases:
        fd, path = tempfile.mkstemp(prefix="synfin-conf-", suffix=".conf")
        with os.fdopen(fd, "w") as f:
            f.write(TRANSPORT.replace("{extra}", "") + body)
        try:
            r = subprocess.run([binary("synfin"), "-t", "-c", path], capture_output=True,
                               text=True, timeout=20)
            if want is None:
                assert r.returncode == 0, r
            else:
                assert r.returncode == 2 and f"{path}:{want}" in r.stderr, r
        finally:
            os.unlink(path)


t.done()
