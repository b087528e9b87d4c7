#!/usr/bin/env python3
"""The balancer on synfin's own TCP (transport stack) with real Linux peers over its TUN
device, in a network namespace this test makes and enters: curl, ab with and without
keep-alive, nc -N half-close with 20 MB each way checked by SHA-256, RST passed on both ways,
a server killed mid-stream, a profile's 2000 ms TIME-WAIT seen in /metrics for that long,
TCP Fast Open to a kernel server (fast_open on),
max_time_wait refusing beyond its cap, SIGHUP reloads under a request loop, and tshark's
verdict on the stack's capture (no bad checksum, no ACK of a segment it never saw).

Needs root; skips with one line otherwise (CI is root)."""
import hashlib
import json
import http.server
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import stacknet  # noqa: E402
from stacknet import KERNEL, VIP, Server, pattern  # noqa: E402
from lbtest import Synfin, admin_json, http_get, recv_all  # noqa: E402
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()
SKIP = stacknet.suite_skip(("curl", "ab", "nc", "tshark"))
if not SKIP:
    stacknet.enter()


def need():
    if SKIP:
        t.skip_test(SKIP)


class Http11(http.server.BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 (and 1.0 with Connection: keep-alive, as ab -k asks): a small
    body for every GET, head and body in one write, as real servers send them."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - the stdlib's name
        body = b"hello from a server behind synfin's own TCP\n"
        keep = "keep-alive" in self.headers.get("Connection", "").lower()
        self.close_connection = self.request_version == "HTTP/1.0" and not keep
        head = (f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n"
                + ("Connection: keep-alive\r\n" if keep else "") + "\r\n")
        self.wfile.write(head.encode() + body)

    def log_message(self, *args):
        pass


class HttpServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


def http_server():
    srv = HttpServer(("0.0.0.0", 0), Http11)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def conf(fport, sport, aport, fe="", be="", transport=""):
    return (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
            + stacknet.transport_block(extra=transport)
            + f"frontend f {{ listen {VIP}:{fport}; backend b; {fe} }}\n"
            f"backend b {{ server s1 {KERNEL}:{sport}; {be} }}\n")


def request(fport, path="/"):
    with socket.create_connection((VIP, fport), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        return recv_all(s)


def metric(aport, name):
    status, body = http_get(aport, "/metrics")
    assert status == 200
    m = re.search(rf"^{re.escape(name)} (\d+)$", body.decode(), re.M)
    assert m, f"{name} not in /metrics"
    return int(m.group(1))


@t.test
def curl_and_ab_close_and_keepalive():
    need()
    srv = http_server()
    fport, aport = free_port(), free_port()
    with Synfin(conf(fport, srv.server_address[1], aport)) as lb:
        out = subprocess.run(["curl", "-sS", "-m", "5", f"http://{VIP}:{fport}/"],
                             capture_output=True, text=True, timeout=10)
        assert out.stdout == "hello from a server behind synfin's own TCP\n", out
        for keepalive in (False, True):
            argv = ["ab", "-q", "-n", "2000", "-c", "16"] + (["-k"] if keepalive else []) + [
                f"http://{VIP}:{fport}/"]
            r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr[-500:]
            assert re.search(r"Complete requests:\s+2000\b", r.stdout), r.stdout
            assert re.search(r"Failed requests:\s+0\b", r.stdout), r.stdout
            if keepalive:
                assert re.search(r"Keep-Alive requests:\s+2000\b", r.stdout), r.stdout
        st = admin_json(aport)
        assert st["transport"] == "stack" and st["sessions"]["total"] >= 2001, st["sessions"]
        # the device synfin made has a long queue toward it (SF_TUN_TXQUEUELEN): a burst
        # waits there instead of being dropped and retransmitted
        link = subprocess.run(["ip", "-j", "link", "show", "sflt0"], capture_output=True,
                              text=True, check=True).stdout
        assert json.loads(link)[0]["txqlen"] == 4096, link
    srv.shutdown()


@t.test
def nc_half_close_20mb_each_way():
    """nc -N sends 20 MB and its FIN; the server reads to that FIN, then answers 20 MB and
    closes. Both directions checked by SHA-256 at the far end."""
    need()
    size = 20 << 20
    up, down = pattern(size, b"up"), pattern(size, b"down")
    got = {}

    def reader_then_writer(c):
        got["up"] = hashlib.sha256(recv_all(c)).hexdigest()
        c.sendall(down)

    srv = Server(reader_then_writer)
    fport, aport = free_port(), free_port()
    with Synfin(conf(fport, srv.port, aport)) as lb, tempfile.TemporaryFile() as f:
        f.write(up)
        f.seek(0)
        r = subprocess.run(["nc", "-N", VIP, str(fport)], stdin=f, capture_output=True,
                           timeout=120)
        assert hashlib.sha256(r.stdout).hexdigest() == hashlib.sha256(down).hexdigest(), \
            (len(r.stdout), r.stderr)
        assert got["up"] == hashlib.sha256(up).hexdigest()
        wait_until(lambda: lb.sessions_logged(), what="the session's log line")
        rec = lb.sessions_logged()[0]
        assert rec["cause"] == "client_fin", rec
        assert rec["bytes_up"] == str(size) and rec["bytes_down"] == str(size), rec
    assert not srv.errors, srv.errors
    srv.close()


@t.test
def rst_passed_on_both_ways():
    """A server that resets makes the client's read fail with a reset (not a clean end), and
    a client that resets makes the server's; each session says who."""
    need()
    seen = {}

    def resetter(c):
        c.recv(100)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        c.close()

    def reader(c):
        try:
            while c.recv(65536):
                pass
            seen["server"] = "eof"
        except ConnectionResetError:
            seen["server"] = "reset"

    for handler, who in ((resetter, "server"), (reader, "client")):
        srv = Server(handler)
        fport, aport = free_port(), free_port()
        with Synfin(conf(fport, srv.port, aport)) as lb:
            s = socket.create_connection((VIP, fport), timeout=5)
            s.sendall(b"x")
            if who == "server":
                try:
                    data = s.recv(100)
                    raise AssertionError(f"read {data!r}, not a reset")
                except ConnectionResetError:
                    pass
            else:
                wait_until(lambda: admin_json(aport)["sessions"]["active"] == 1 and
                           admin_json(aport, "/sessions")["sessions"][0]["state"] ==
                           "established", what="the session")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                s.close()
                wait_until(lambda: "server" in seen, what="the server to see the client's RST")
                assert seen["server"] == "reset", seen
            s.close()
            wait_until(lambda: lb.sessions_logged(), what="the session's log line")
            assert lb.sessions_logged()[0]["cause"] == f"{who}_rst", lb.sessions_logged()
        srv.close()


SERVER_PROGRAM = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8); print("ready", flush=True)
c, _ = s.accept()
while True:
    c.sendall(b"z" * 65536)
"""


@t.test
def server_killed_mid_stream():
    """The server process dies (SIGKILL) while streaming, with bytes of ours unread: its
    kernel resets the connection, and the client learns it as a reset too."""
    need()
    sport, fport, aport = free_port(), free_port(), free_port()
    p = subprocess.Popen([sys.executable, "-c", SERVER_PROGRAM, str(sport)],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        with Synfin(conf(fport, sport, aport)) as lb:
            s = socket.create_connection((VIP, fport), timeout=10)
            s.sendall(b"unread by the server")
            got = 0
            while got < 1 << 20:
                got += len(s.recv(65536))
            p.kill()
            p.wait()
            outcome = "eof"
            try:
                while s.recv(65536):
                    pass
            except ConnectionResetError:
                outcome = "reset"
            s.close()
            assert outcome == "reset", outcome
            wait_until(lambda: lb.sessions_logged(), what="the session's log line")
            assert lb.sessions_logged()[0]["cause"] == "server_rst", lb.sessions_logged()
    finally:
        p.kill()
        p.wait()


def closes_first(c):
    """HTTP/1.0 style: the server answers and closes first, so synfin passes its FIN on and
    closes first toward the client: the TIME-WAIT is synfin's, on the frontend side."""
    c.recv(4096)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")


@t.test
def time_wait_lasts_what_the_profile_says():
    """time_wait 2000ms (F5's TCP profile): the entry appears in /metrics when the session
    ends and is gone 2 s later (+-10%), where Linux would hold it 60 s."""
    need()
    srv = Server(closes_first)
    fport, aport = free_port(), free_port()
    with Synfin(conf(fport, srv.port, aport, fe="time_wait 2000ms;")):
        assert request(fport).endswith(b"ok")
        name = "synfin_stack_time_wait_entries"
        wait_until(lambda: metric(aport, name) == 1, timeout=2, interval=0.005,
                   what="the TIME-WAIT entry")
        t_in = time.monotonic()
        wait_until(lambda: metric(aport, name) == 0, timeout=5, interval=0.005,
                   what="the TIME-WAIT entry to expire")
        held = time.monotonic() - t_in
        print(f"# TIME-WAIT held {held * 1000:.0f} ms")
        assert 1.8 <= held <= 2.2, held
        st = admin_json(aport)
        assert st["time_wait"]["frontend"] == 0 and st["tcp_states"]["TIME_WAIT"] == 0, st
    srv.close()


@t.test
def fast_open_to_servers():
    """fast_open on in the backend: the stack's first connect to the server asks for a Fast
    Open cookie (the kernel server has TCP_FASTOPEN and net.ipv4.tcp_fastopen=3 in the
    test's namespace); later ones send the client's request in the SYN, which the kernel
    acknowledges with it. Every answer arrives whole."""
    need()
    sysctl = "/proc/sys/net/ipv4/tcp_fastopen"
    with open(sysctl) as f:
        old = f.read().strip()
    with open(sysctl, "w") as f:
        f.write("3")
    srv = Server(closes_first)
    srv.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
    fport, aport = free_port(), free_port()
    try:
        with Synfin(conf(fport, srv.port, aport, be="fast_open on;")):
            for _ in range(4):
                assert request(fport).endswith(b"ok")
            fo = "synfin_stack_fastopen_client_total{result=\"%s\"}"
            got = {r: metric(aport, fo % r) for r in
                   ("cookie_requested", "syn_data", "data_acked", "fallback", "blocked")}
            print(f"# {got}")
            assert got["cookie_requested"] == 1, got
            assert got["syn_data"] == 3 and got["data_acked"] == 3, got
            assert got["fallback"] == 0 and got["blocked"] == 0, got
    finally:
        srv.close()
        with open(sysctl, "w") as f:
            f.write(old)


@t.test
def max_time_wait_refuses_beyond_the_cap():
    """max_time_wait 3: of ten connections synfin closes first, three keep a TIME-WAIT
    entry; seven are refused one (and counted), as Linux's tcp_max_tw_buckets does."""
    need()
    srv = Server(closes_first)
    fport, aport = free_port(), free_port()
    with Synfin(conf(fport, srv.port, aport, transport="max_time_wait 3;")):
        for _ in range(10):
            assert request(fport).endswith(b"ok")
        wait_until(lambda: metric(aport, "synfin_stack_time_wait_refused_total") == 7,
                   what="seven refused entries")
        assert metric(aport, "synfin_stack_time_wait_entries") == 3
        assert admin_json(aport)["time_wait"]["frontend"] == 3
    srv.close()


@t.test
def keepalive_probes_the_idle_server():
    """keepalive_idle 1s on the backend: once the session is idle, synfin's TCP probes the
    server every second (keepalive_interval), the server's kernel answers, and the session
    lives on; a profile's settings, seen working on the wire rather than read back."""
    need()

    def silent(c):
        c.settimeout(10)
        try:
            c.recv(1)
        except OSError:
            pass

    srv = Server(silent)
    fport, aport = free_port(), free_port()
    be = "keepalive on; keepalive_idle 1s; keepalive_interval 1s; keepalive_count 3;"
    with Synfin(conf(fport, srv.port, aport, be=be)):
        s = socket.create_connection((VIP, fport), timeout=5)
        wait_until(lambda: metric(aport, "synfin_stack_keepalive_probes_total") >= 3,
                   timeout=8, what="three keepalive probes")
        assert metric(aport, "synfin_stack_keepalive_timeouts_total") == 0
        st = admin_json(aport)
        assert st["sessions"]["active"] == 1, st["sessions"]
        s.close()
    srv.close()


@t.test
def sighup_reloads_under_a_request_loop():
    """Five reloads while a client makes one request per connection as fast as it can:
    not one request fails."""
    need()
    srv = Server(closes_first)
    fport, aport = free_port(), free_port()
    text = conf(fport, srv.port, aport)
    with Synfin(text) as lb:
        stop = threading.Event()
        result = {"ok": 0, "failed": []}

        def loop():
            while not stop.is_set():
                try:
                    assert request(fport).endswith(b"ok")
                    result["ok"] += 1
                except (OSError, AssertionError) as e:
                    result["failed"].append(repr(e))

        th = threading.Thread(target=loop)
        th.start()
        try:
            for i in range(5):
                wait_until(lambda: result["ok"] >= 50 * (i + 1), what="requests")
                lb.rewrite(text + f"# reload {i}\n")
                lb.send(signal.SIGHUP)
                lb.wait_log("event=reload_ok", count=i + 1)
            wait_until(lambda: result["ok"] >= 300, what="requests after the reloads")
        finally:
            stop.set()
            th.join()
        assert not result["failed"], result["failed"][:5]
        assert admin_json(aport)["reloads"] == 5
        print(f"# {result['ok']} requests, 5 reloads, no failure")
    srv.close()


@t.test
def capture_judged_by_tshark():
    """pcap in the transport block: both sides of every session, which tshark opens and
    finds without a bad checksum or an ACK of a segment it never saw."""
    need()
    import interop  # noqa: E402 - the interop suite's judge

    srv = Server(closes_first)
    fport, aport = free_port(), free_port()
    cap = os.path.join(tempfile.mkdtemp(prefix="synfin-stack-"), "stack.pcap")
    with Synfin(conf(fport, srv.port, aport, transport=f"pcap {cap};")):
        for _ in range(20):
            assert request(fport).endswith(b"ok")
    v = interop.judge(cap, retransmissions_allowed=True)
    print(f"# tshark: {v['packets']} packets, {v}")
    srv.close()


t.done()
