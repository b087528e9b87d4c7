#!/usr/bin/env python3
"""synfin-stat --from against a fake synfin admin listener on a free loopback port: the
contract's schema, HTTP framings, and every way it can go wrong (each: a clear message, exit 2);
and against the real one, the load balancer's (build/bin/synfin), whose /stats it must agree
with.
"""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import statlib as L  # noqa: E402
import tap  # noqa: E402
from tap import Tap, free_port  # noqa: E402

t = Tap()

STATES = {"CLOSED": 0, "LISTEN": 2, "SYN_SENT": 0, "SYN_RECEIVED": 1, "ESTABLISHED": 10,
          "FIN_WAIT_1": 0, "FIN_WAIT_2": 4, "CLOSE_WAIT": 0, "CLOSING": 0, "LAST_ACK": 0,
          "TIME_WAIT": 3}


class Admin(http.server.BaseHTTPRequestHandler):
    """Serves whatever the test put in server.reply: (status, body bytes, chunked?)."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server
        srv.requests.append((self.command, self.path, dict(self.headers)))
        status, body, chunked = srv.reply(srv) if callable(srv.reply) else srv.reply
        if status is None:  # hang up without a word
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7):
                piece = body[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


def admin(reply):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Admin)
    srv.daemon_threads = True
    srv.reply = reply
    srv.requests = []
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    return srv, f"127.0.0.1:{srv.server_address[1]}"


def stats(states=STATES, transport="stack", **extra):
    return json.dumps(dict(version=1, transport=transport, tcp_states=states, **extra)).encode()


def run(args):
    return subprocess.run([L.stat_bin()] + args, capture_output=True, text=True, timeout=30)


@t.test
def histogram_from_the_admin_listener():
    srv, addr = admin((200, stats(sessions=[{"id": 1}], uptime_s=12.5), False))
    try:
        for target in (addr, f"http://{addr}/stats", f"http://{addr}"):
            r = run(["--from", target])
            assert r.returncode == 0, r.stderr
            assert L.parse_text_hist(r.stdout) == STATES, r.stdout
        method, path, headers = srv.requests[0]
        assert (method, path) == ("GET", "/stats")
        assert headers["Host"] == addr and headers["Connection"] == "close", headers
        r = run(["--from", addr, "--json"])
        doc = json.loads(r.stdout)
        assert doc["tcp_states"] == STATES and doc["transport"] == "stack", doc
        assert doc["source"] == addr and doc["total"] == sum(STATES.values())
    finally:
        srv.shutdown()


@t.test
def chunked_responses_are_read_whole():
    srv, addr = admin((200, stats(transport="kernel", padding="x" * 5000), True))
    try:
        doc = json.loads(run(["--from", f"http://{addr}/stats", "--json"]).stdout)
        assert doc["tcp_states"] == STATES and doc["transport"] == "kernel"
    finally:
        srv.shutdown()


@t.test
def errors_exit_2_with_a_clear_message():
    port = free_port()  # nobody listens there now
    r = run(["--from", f"127.0.0.1:{port}"])
    assert r.returncode == 2 and "cannot connect to 127.0.0.1" in r.stderr \
        and "Connection refused" in r.stderr and r.stdout == "", r
    missing = dict(STATES)
    del missing["CLOSING"]
    cases = [
        ((404, b"no such page", False), "answered HTTP 404"),
        ((200, b"{\"version\": 1, \"transport\": \"stack\", \"tcp_states\": {", False),
         "not valid JSON"),
        ((200, b"<html>hello</html>", False), "not valid JSON"),
        ((200, stats(missing), False), "tcp_states has no CLOSING"),
        ((200, stats().replace(b'"version": 1', b'"version": 7'), False), "version 7"),
        ((500, b"{}", True), "answered HTTP 500"),
        ((None, b"", False), "empty response"),
    ]
    for reply, why in cases:
        srv, addr = admin(reply)
        try:
            r = run(["--from", addr])
            assert r.returncode == 2, f"{reply[:1]}: exit {r.returncode}: {r.stdout}"
            assert why in r.stderr and r.stderr.startswith("synfin-stat: "), \
                f"{why!r} not in {r.stderr!r}"
            assert r.stdout == ""
        finally:
            srv.shutdown()
    r = run(["--from", "https://127.0.0.1:1/stats"])
    assert r.returncode == 2 and "only http://" in r.stderr, r


@t.test
def not_http_at_all():
    """A listener that speaks something else (here: a banner and a hang-up)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)

    def serve():
        c, _ = s.accept()
        c.recv(4096)
        c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        c.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    r = run(["--from", f"127.0.0.1:{s.getsockname()[1]}"])
    th.join(10)
    s.close()
    assert r.returncode == 2 and "not an HTTP/1.x response" in r.stderr, r


@t.test
def watch_polls_the_admin_listener():
    def growing(srv):
        n = len(srv.requests)
        st = dict(STATES, TIME_WAIT=100 * n)
        return 200, stats(st), False

    srv, addr = admin(growing)
    try:
        r = run(["--from", addr, "--watch", "0.2", "--count", "3"])
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == 3, lines
        tws = [int(re.search(r" TIME_WAIT=(\d+)", ln).group(1)) for ln in lines]
        assert tws == [100, 200, 300], tws
        assert "|" not in lines[0]
        rate = float(re.search(r"per second:.* TIME_WAIT=\+([\d.]+)", lines[2]).group(1))
        assert rate > 0, lines[2]  # 100 more since the last refresh, however long it took
    finally:
        srv.shutdown()


@t.test
def watch_rides_out_a_failed_refresh():
    """The admin listener restarting mid-watch: that refresh says so, the next one recovers."""
    def flaky(srv):
        n = len(srv.requests)
        if n == 2:
            return 503, b"restarting", False
        return 200, stats(dict(STATES, ESTABLISHED=10 * n)), False

    srv, addr = admin(flaky)
    try:
        r = run(["--from", addr, "--watch", "0.1", "--count", "3"])
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == 3, lines
        assert " ESTABLISHED=10 " in lines[0]
        assert "| refresh failed: " in lines[1] and "HTTP 503" in lines[1], lines[1]
        assert " ESTABLISHED=10 " in lines[1]  # the last good counts
        assert " ESTABLISHED=30 " in lines[2] and "per second:" in lines[2], lines[2]
    finally:
        srv.shutdown()


def synfin_lb(conf_text):
    """build/bin/synfin on conf_text; returns (Popen, its stdout path) once it is serving."""
    d = tempfile.mkdtemp(prefix="synfin-stat-from-")
    conf = os.path.join(d, "synfin.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    out, err = os.path.join(d, "out"), os.path.join(d, "err")
    p = subprocess.Popen([tap.binary("synfin"), "-c", conf], stdout=open(out, "w"),
                         stderr=open(err, "w"), stdin=subprocess.DEVNULL)

    def started():
        with open(out) as f:
            return "SIGINT stops" in f.read() or p.poll() is not None
    tap.wait_until(started, 10, what="synfin to start")
    if p.poll() is not None:
        with open(err) as f:
            raise AssertionError(f"synfin exited {p.returncode}: {f.read()}")
    return p, d


def admin_stats(addr):
    with urllib.request.urlopen(f"http://{addr}/stats", timeout=5) as r:
        return json.loads(r.read())


@t.test
def agrees_with_the_load_balancers_admin_listener():
    """The real thing: synfin with a frontend, a `respond` backend and the admin listener on
    free loopback ports; a few sessions, some finished and some held open."""
    fe, be, adm = free_port(), free_port(), free_port()
    addr = f"127.0.0.1:{adm}"
    p, d = synfin_lb(f"""log stderr;
admin {addr};
frontend web {{
    listen 127.0.0.1:{fe};
    backend app;
}}
backend app {{
    server a 127.0.0.1:{be};
}}
respond 127.0.0.1:{be} "hello from the test backend\\n";
""")
    held = []
    try:
        for _ in range(2):  # finished sessions: their TIME_WAIT stays for the whole test
            with socket.create_connection(("127.0.0.1", fe), timeout=5) as c:
                c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                reply = b""
                while (chunk := c.recv(4096)):
                    reply += chunk
                assert b"hello from the test backend" in reply, reply
        for _ in range(3):  # open sessions: ESTABLISHED on both sides of synfin
            held.append(socket.create_connection(("127.0.0.1", fe), timeout=5))
        tap.wait_until(lambda: admin_stats(addr)["sessions"]["active"] == 3, 10,
                       what="three live sessions")
        # synfin-stat reads the same document: text, JSON and a fetch of our own, taken
        # between two fetches that agree (the histogram does not move meanwhile).
        got = []

        def agree():
            before = admin_stats(addr)
            r = run(["--from", addr])
            j = run(["--from", addr, "--json"])
            after = admin_stats(addr)
            assert r.returncode == 0 and j.returncode == 0, (r.stderr, j.stderr)
            got[:] = [before, L.parse_text_hist(r.stdout), json.loads(j.stdout), after]
            return before["tcp_states"] == after["tcp_states"]
        tap.wait_until(agree, 10, what="two /stats fetches that agree")
        before, text, doc, _ = got
        states = before["tcp_states"]
        assert text == states, (text, states)
        assert doc["tcp_states"] == states and list(doc["tcp_states"]) == L.STATES, doc
        assert doc["transport"] == before["transport"] == "kernel", doc
        assert doc["source"] == addr and doc["total"] == sum(states.values()), doc
        # And it is what synfin holds: three listeners (frontend, responder, admin); per
        # held session its client side, its server side and the responder's end, plus the
        # admin connection asking; per finished session two TIME_WAIT, the responder's (it
        # closes first) and the frontend's (synfin closes toward the client after the
        # server's FIN, before the client does).
        assert states["LISTEN"] == 3, states
        assert states["ESTABLISHED"] == 3 * 3 + 1, states
        assert states["TIME_WAIT"] == 2 * 2, states
        print(f"# {states}")
    finally:
        for c in held:
            c.close()
        p.send_signal(signal.SIGINT)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


t.done()
