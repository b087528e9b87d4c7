#!/usr/bin/env python3
"""synfin's `mode http` with real clients and servers: curl, ab (close and -k), wrk, Python's
http.client and raw sockets against a Python origin (origin() below: it counts its
connections, its requests and every byte it receives) and nginx (Nginx below: its access log
names each request's connection). Framing (chunked both ways, HEAD, 204, 304, 100-continue,
pipelining, HTTP/1.0 keep-alive), keep-alive limits, request smuggling refused before any
server sees a byte, a WebSocket upgrade relayed both ways, reuse of server connections
(10,000 Connection: close requests from ab to nginx over a handful of connections, no
TIME_WAIT on either end of them; one connection per request with http_reuse never), the
retry rule, servers closing idle pooled connections (nginx's keepalive_timeout shorter than
synfin's pool_idle_timeout costs no request), the close order toward the client, reload
and drain, the log and /metrics. Both transports (test_http.py@stack)."""
import base64
import hashlib
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (CLIENT_HOST, SERVER_BIND, STACK, Backend, Synfin, connect,  # noqa: E402
                    ended_how, fe_addr, fe_host, http_get, kernel_only, recv_all, sha,
                    ss_count)
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)

# ---- the origin server ----

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"


def pattern(n):
    """n deterministic bytes (a response body whose SHA-256 the test knows)."""
    block = hashlib.sha256(b"synfin").digest() * 32
    return (block * (n // len(block) + 1))[:n]


class Reader:
    """Buffered reads from a socket: heads, exact lengths, chunked bodies."""

    def __init__(self, s, count=None):
        self.s = s
        self.buf = b""
        self.count = count  # called with the size of every read (the origin's byte count)

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        if self.count:
            self.count(len(d))
        self.buf += d

    def until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def chunked(self):
        """A chunked body, decoded; its trailer section as bytes."""
        body = b""
        while True:
            size = int(self.until(b"\r\n")[:-2].split(b";")[0], 16)
            if size == 0:
                trailer = self.until(b"\r\n")
                while trailer != b"\r\n" and not trailer.endswith(b"\r\n\r\n"):
                    trailer += self.until(b"\r\n")
                return body, trailer
            body += self.exact(size)
            assert self.exact(2) == b"\r\n"


def parse_head(raw):
    lines = raw.decode("latin-1").split("\r\n")
    first = lines[0]
    fields = {}
    for ln in lines[1:]:
        if ln:
            k, _, v = ln.partition(":")
            fields.setdefault(k.strip().lower(), []).append(v.strip())
    return first, fields


def read_response(r, method="GET"):
    """One response from Reader r: (status, fields, body, raw head). Interim ones are
    returned like any other (the caller reads the final one next)."""
    head = r.until(b"\r\n\r\n")
    first, f = parse_head(head)
    status = int(first.split(" ")[1])
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, f, b"", head
    if "chunked" in ",".join(f.get("transfer-encoding", [])):
        body, _ = r.chunked()
    elif "content-length" in f:
        body = r.exact(int(f["content-length"][0]))
    else:
        body = b""
        try:
            while True:
                r.fill()
                body += r.buf
                r.buf = b""
        except EOFError:
            pass
    return status, f, body, head


class Origin:
    """An HTTP/1.1 origin for Backend(origin.serve): keep-alive, Content-Length and chunked
    bodies both ways, 100-continue, HEAD, 204/304, a WebSocket echo; it counts requests and
    the bytes it receives (a refused request must leave rx at 0). drop_nth: the nth request
    of each connection is answered by closing it (a server that closed an idle connection
    just as the request came)."""

    def __init__(self, drop_nth=0):
        self.rx = 0
        self.requests = 0
        self.heads = []
        self.lock = threading.Lock()
        self.drop_nth = drop_nth
        self.closed = 0  # connections that ended (their client's FIN or a reset)

    def _count(self, n):
        with self.lock:
            self.rx += n

    def serve(self, c, b):
        r = Reader(c, self._count)
        n = 0
        try:
            while self.one(c, r, n + 1):
                n += 1
        except (EOFError, ConnectionResetError, BrokenPipeError):
            pass
        with self.lock:
            self.closed += 1

    def one(self, c, r, nth):
        head = r.until(b"\r\n\r\n")
        first, f = parse_head(head)
        method, path, version = first.split(" ")
        with self.lock:
            self.requests += 1
            self.heads.append(head)
        if self.drop_nth and nth == self.drop_nth:
            c.close()
            return False
        conn = ",".join(f.get("connection", [])).lower()
        keep = ("close" not in conn) if version == "HTTP/1.1" else ("keep-alive" in conn)
        if "100-continue" in ",".join(f.get("expect", [])).lower():
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in ",".join(f.get("transfer-encoding", [])):
            body, _ = r.chunked()
        else:
            body = r.exact(int(f.get("content-length", ["0"])[0]))
        if path == "/ws":
            return self.websocket(c, r, f)
        code, extra, out = 200, b"", None
        if path.startswith("/n/"):
            out = path[3:].encode()
        elif path == "/echo":
            out = body
        elif path == "/sha":
            out = sha(body).encode()
        elif path == "/headers":
            out = head
        elif path.startswith("/status/"):
            code = int(path[8:])
            out = b"" if code in (204, 304) else b"status\n"
        elif path.startswith("/chunked/"):
            data = pattern(int(path[9:]))
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 1000]), data[i:i + 1000])
                              for i in range(0, len(data), 1000))
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks +
                      b"0\r\nX-Trailer: done\r\n\r\n")
            return keep
        elif path == "/close":
            out, keep = b"closing\n", False
        else:
            out = b"ok\n"
        if not keep:
            extra += b"Connection: close\r\n"
        length = len(pattern(0) if out is None else out)
        reason = {200: b"OK", 204: b"No Content", 304: b"Not Modified"}.get(code, b"X")
        hdr = b"HTTP/1.1 %d %s\r\n%s" % (code, reason, extra)
        if code not in (204, 304):
            hdr += b"Content-Length: %d\r\n" % length
        c.sendall(hdr + b"\r\n" + (b"" if method == "HEAD" or code in (204, 304) else out))
        return keep

    def websocket(self, c, r, f):
        """RFC 6455: the handshake, then each client frame (masked) echoed unmasked."""
        key = f["sec-websocket-key"][0].encode()
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        while True:
            h = r.exact(2)
            n = h[1] & 0x7f
            mask = r.exact(4)
            payload = bytes(x ^ mask[i % 4] for i, x in enumerate(r.exact(n)))
            if h[0] & 0x0f == 8:  # close
                c.sendall(bytes([0x88, len(payload)]) + payload)
                return False
            c.sendall(bytes([h[0], n]) + payload)


def origin_backend(**kw):
    o = Origin(**kw)
    return o, Backend(o.serve)


def http_conf(fport, ports, fe="", be="", aport=None):
    servers = "".join(f"    server s{i} 127.0.0.1:{p};\n" for i, p in enumerate(ports))
    a = f"admin 127.0.0.1:{aport};\n" if aport else ""
    return (f"log stderr;\n{a}"
            f"frontend f {{ listen 127.0.0.1:{fport}; mode http; backend b; {fe} }}\n"
            f"backend b {{\n{servers}{be} }}\n")


def metrics(aport):
    status, body = http_get(aport, "/metrics")
    assert status == 200
    return body.decode()


def metric(aport, sample):
    """The value of one sample (name with its labels), 0 when absent."""
    m = re.search(rf"^{re.escape(sample)} (\S+)$", metrics(aport), re.M)
    return float(m.group(1)) if m else 0.0


def requests_logged(lb):
    out = []
    for line in lb.log().splitlines():
        if " request=" in line:
            out.append(dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))
    return out


def raw(port, data, timeout=5):
    """Sends data on a new connection, reads to the close: the bytes that came back."""
    with connect(port, timeout) as s:
        s.sendall(data)
        return recv_all(s)


GET = b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n"

# ---- framing through synfin ----


@t.test
def keep_alive_with_curl_and_http_client():
    """curl fetches two URLs over one client connection; http.client sends a GET and a POST
    (SHA-256 of a 300 KB body) over one; the origin sees one connection for all of it."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port], be="http_reuse always;")) as lb:
        base = f"http://{fe_host(fport)}:{fport}"
        r = subprocess.run(["curl", "-sv", f"{base}/n/one", f"{base}/n/two"],
                           capture_output=True, timeout=10)
        assert r.stdout == b"onetwo", r
        assert b"Re-using existing connection" in r.stderr, r.stderr
        hc = http.client.HTTPConnection(*fe_addr(fport), timeout=5)
        body = os.urandom(300000)
        hc.request("GET", "/n/three")
        assert hc.getresponse().read() == b"three"
        hc.request("POST", "/sha", body=body)
        resp = hc.getresponse()
        assert (resp.status, resp.read()) == (200, sha(body).encode())
        hc.close()
        wait_until(lambda: len(requests_logged(lb)) == 4, what="4 request lines")
    be.close()
    assert be.accepted == 1 and o.requests == 4, (be.accepted, o.requests)


@t.test
def chunked_both_ways():
    """A 2 MB chunked request body reaches the origin intact, a 3 MB chunked response (with a
    trailer) reaches the client intact: SHA-256 on both ends, bodies streamed, not held."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port])):
        up = os.urandom(2 << 20)
        with connect(fport, 10) as s:
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(up[i:i + 7000]), up[i:i + 7000])
                              for i in range(0, len(up), 7000))
            s.sendall(b"POST /sha HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                      chunks + b"0\r\n\r\n")
            r = Reader(s)
            status, _, body, _ = read_response(r)
            assert (status, body) == (200, sha(up).encode()), (status, body)
            s.sendall(GET % b"/chunked/3000000")
            r2 = Reader(s)
            r2.buf = r.buf
            head = r2.until(b"\r\n\r\n")
            assert b"Transfer-Encoding: chunked" in head, head
            got, trailer = r2.chunked()
            assert sha(got) == sha(pattern(3000000)), len(got)
            assert trailer == b"X-Trailer: done\r\n\r\n", trailer
    be.close()


@t.test
def head_204_304_have_no_body():
    """HEAD (with a Content-Length), 204 and 304 carry no body: the next response on the same
    connection is read exactly where it starts."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port])):
        with connect(fport) as s:
            s.sendall(b"HEAD /n/abcdef HTTP/1.1\r\nHost: t\r\n\r\n" + GET % b"/status/204" +
                      GET % b"/status/304" + GET % b"/n/after")
            r = Reader(s)
            st, f, body, _ = read_response(r, "HEAD")
            assert (st, f["content-length"], body) == (200, ["6"], b""), (st, f)
            assert read_response(r)[:1] + read_response(r)[:1] == (204, 304)
            st, _, body, _ = read_response(r)
            assert (st, body) == (200, b"after")
    be.close()


@t.test
def expect_100_continue():
    """The client sends its head with Expect: 100-continue and waits: the origin's
    `100 Continue` comes back byte for byte, then the body goes, then the final answer."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port])):
        body = os.urandom(50000)
        with connect(fport) as s:
            s.sendall(b"POST /sha HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            r = Reader(s)
            assert r.until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            s.sendall(body)
            st, _, got, _ = read_response(r)
            assert (st, got) == (200, sha(body).encode())
    be.close()


@t.test
def pipelined_requests_answered_in_order():
    """Ten requests in one write: ten answers, in order, over one server connection."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port])):
        with connect(fport) as s:
            s.sendall(b"".join(GET % b"/n/%d" % i for i in range(10)))
            r = Reader(s)
            got = [read_response(r)[2] for _ in range(10)]
            assert got == [b"%d" % i for i in range(10)], got
    be.close()
    assert be.accepted == 1, be.accepted


@t.test
def http10_keep_alive():
    """HTTP/1.0 with Connection: keep-alive keeps the connection (the answer says so), one
    without it ends it: the close follows the second answer."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port])):
        with connect(fport) as s:
            s.sendall(b"GET /n/a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = Reader(s)
            st, f, body, _ = read_response(r)
            assert (st, body, f.get("connection")) == (200, b"a", ["keep-alive"]), f
            s.sendall(b"GET /n/b HTTP/1.0\r\n\r\n")
            st, f, body, _ = read_response(r)
            assert (body, f.get("connection")) == (b"b", ["close"]), f
            assert recv_all(s) == b"" and r.buf == b""
    be.close()


@t.test
def keepalive_requests_limit():
    """keepalive_requests 3: the third answer says Connection: close, the first two do not,
    and synfin closes the connection after it."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port], fe="keepalive_requests 3;")) as lb:
        with connect(fport) as s:
            r = Reader(s)
            for i in range(3):
                s.sendall(GET % b"/n/x")
                st, f, body, _ = read_response(r)
                assert (st, body) == (200, b"x")
                assert f.get("connection") == (["close"] if i == 2 else None), (i, f)
            assert recv_all(s) == b""
        wait_until(lambda: lb.sessions_logged(), what="session line")
        rec = lb.sessions_logged()[0]
        assert (rec["cause"], rec["requests"]) == ("http_close", "3"), rec
    be.close()


@t.test
def keepalive_timeout_closes_idle_client():
    """keepalive_timeout 300ms: an idle client connection is closed (FIN) no sooner and not
    much later."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port], fe="keepalive_timeout 300ms;")) as lb:
        with connect(fport) as s:
            s.sendall(GET % b"/n/x")
            r = Reader(s)
            read_response(r)
            t0 = time.monotonic()
            assert recv_all(s) == b""
            waited = time.monotonic() - t0
        assert 0.25 <= waited < 3, waited
        wait_until(lambda: lb.sessions_logged(), what="session line")
        assert lb.sessions_logged()[0]["cause"] == "keepalive_timeout"
    be.close()


SMUGGLING = [
    ("cl_and_te", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG"),
    ("two_lengths", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n"
                    b"\r\nhello!"),
    ("te_not_chunked_last", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip"
                            b"\r\n\r\n0\r\n\r\n"),
    ("te_unknown", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"),
    ("te_http10", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("obs_fold", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  folded\r\n\r\n"),
    ("space_before_colon", b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length : 0\r\n\r\n"),
    ("bare_cr", b"GET / HTTP/1.1\r\nHost: t\r\nX-A: 1\r2\r\n\r\n"),
    ("bad_chunk_size", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"-5\r\nhello\r\n0\r\n\r\n"),
    ("chunk_size_overflow", b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"ffffffffffffffffff1\r\nx\r\n0\r\n\r\n"),
    ("non_token_name", b"GET / HTTP/1.1\r\nHost: t\r\nX(A): 1\r\n\r\n"),
    ("no_host", b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n"),
    ("oversized_head", b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n"),
    ("bad_length", b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1e3\r\n\r\n"),
]


@t.test
def smuggling_refused_and_never_forwarded():
    """Each ambiguous or malformed request is answered with the canned 400, byte for byte,
    and the connection closed; the origin accepts no connection and receives no byte."""
    o, be = origin_backend()
    fport, aport = free_port(), free_port()
    canned = None
    with Synfin(http_conf(fport, [be.port], aport=aport)) as lb:
        for name, req in SMUGGLING:
            got = raw(fport, req)
            if canned is None:
                canned = got
            assert got.startswith(b"HTTP/1.1 400 ") and got == canned, (name, got)
            assert b"Connection: close\r\n" in got, got
        assert metric(aport, 'synfin_http_requests_total{frontend="f",class="4xx"}') == \
            len(SMUGGLING)
        assert all(r["status"] == "400" for r in requests_logged(lb))
    be.close()
    assert (be.accepted, o.rx, o.requests) == (0, 0, 0), (be.accepted, o.rx)


@t.test
def bad_response_is_502():
    """A response the parser refuses (two Content-Lengths that differ) is answered 502 and
    never reaches the client; the server connection, in a state nobody knows, is reset."""
    def liar(c, b):
        Reader(c).until(b"\r\n\r\n")
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc")
        how = ended_how(c)
        with b.lock:
            b.ends.append(how)

    be = Backend(liar)
    fport = free_port()
    with Synfin(http_conf(fport, [be.port])) as lb:
        got = raw(fport, GET % b"/")
        assert got.startswith(b"HTTP/1.1 502 ") and b"abc" not in got, got
        wait_until(lambda: requests_logged(lb), what="request line")
        assert requests_logged(lb)[0]["status"] == "502"
        wait_until(lambda: be.ends, what="the server connection's end")
    be.close()
    assert be.ends == ["rst"], be.ends


@t.test
def forwarding_fields_and_hop_by_hop():
    """What the origin receives: X-Forwarded-For appended to the client's, X-Forwarded-Proto
    replaced, Forwarded and Via (turned on) added; Connection, Keep-Alive, Proxy-Connection
    and the fields Connection names are gone."""
    o, be = origin_backend()
    fport = free_port()
    conf = http_conf(fport, [be.port], fe="forwarded on; via on;")
    with Synfin(conf):
        with connect(fport) as s:
            s.sendall(b"GET /headers HTTP/1.1\r\nHost: t\r\nConnection: keep-alive, X-Hop\r\n"
                      b"X-Hop: 1\r\nKeep-Alive: timeout=5\r\nProxy-Connection: x\r\n"
                      b"X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: https\r\nX-End: 2\r\n\r\n")
            st, _, body, _ = read_response(Reader(s))
    be.close()
    _, f = parse_head(body)
    client = CLIENT_HOST
    assert f["x-forwarded-for"] == [f"192.0.2.1, {client}"], f
    assert f["x-forwarded-proto"] == ["http"], f
    assert f["forwarded"] == [f"for={client};proto=http"], f
    assert f["via"] == ["1.1 synfin"], f
    assert f["x-end"] == ["2"] and f["host"] == ["t"], f
    for gone in ("x-hop", "keep-alive", "proxy-connection"):
        assert gone not in f, (gone, f)
    assert f.get("connection") in (None, ["keep-alive"]), f


@t.test
def websocket_upgrade_relayed_both_ways():
    """An Upgrade: websocket handshake answered 101 turns the session into a tunnel: frames
    go both ways, exact bytes, and the close frame ends it."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port])) as lb:
        with connect(fport) as s:
            key = base64.b64encode(os.urandom(16))
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade"
                      b"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key + b"\r\n\r\n")
            r = Reader(s)
            head = r.until(b"\r\n\r\n")
            st, f = parse_head(head)
            accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
            assert st.startswith("HTTP/1.1 101 "), head
            assert f["upgrade"] == ["websocket"] and f["connection"] == ["upgrade"], f
            assert f["sec-websocket-accept"] == [accept], f
            for msg in (b"hello", b"synfin " * 10, b"x"):
                mask = os.urandom(4)
                s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask +
                          bytes(c ^ mask[i % 4] for i, c in enumerate(msg)))
                assert r.exact(2 + len(msg)) == bytes([0x81, len(msg)]) + msg
            mask = os.urandom(4)
            s.sendall(bytes([0x88, 0x80]) + mask)
            assert r.exact(2) == b"\x88\x00"
        wait_until(lambda: lb.sessions_logged(), what="session line")
        assert requests_logged(lb)[0]["status"] == "101"
    be.close()



# ---- balancing and reuse, per request ----


@t.test
def balance_applies_per_request():
    """roundrobin over two origins: one keep-alive client's six requests go three to each."""
    o1, b1 = origin_backend()
    o2, b2 = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [b1.port, b2.port])):
        with connect(fport) as s:
            r = Reader(s)
            for _ in range(6):
                s.sendall(GET % b"/n/x")
                assert read_response(r)[2] == b"x"
    b1.close()
    b2.close()
    assert (o1.requests, o2.requests) == (3, 3), (o1.requests, o2.requests)


def two_clients(fport, lb):
    """Client A sends two requests on one connection, then client B (a new connection) one:
    how each was served, from the log ("new" or "reused")."""
    with connect(fport) as a:
        r = Reader(a)
        for _ in range(2):
            a.sendall(GET % b"/n/a")
            assert read_response(r)[2] == b"a"
        with connect(fport) as b:
            b.sendall(GET % b"/n/b")
            assert read_response(Reader(b))[2] == b"b"
    wait_until(lambda: len(requests_logged(lb)) == 3, what="3 request lines")
    return [r["server_conn"] for r in requests_logged(lb)]


@t.test
def http_reuse_rules():
    """HAProxy's meanings. never: A's second request uses A's own connection, B gets a new
    one. safe: the same (B's first request may not take A's idle connection). aggressive: B's
    first request takes it, as it has carried two requests. always: it takes any; with A
    sending one request only, aggressive does not."""
    cases = [("never", 2, ["new", "reused", "new"]),
             ("safe", 2, ["new", "reused", "new"]),
             ("aggressive", 2, ["new", "reused", "reused"]),
             ("always", 2, ["new", "reused", "reused"])]
    for reuse, conns, want in cases:
        o, be = origin_backend()
        fport = free_port()
        with Synfin(http_conf(fport, [be.port], be=f"http_reuse {reuse};")) as lb:
            got = two_clients(fport, lb)
        be.close()
        assert (got, be.accepted) == (want, conns if want[2] == "new" else 1), (reuse, got,
                                                                               be.accepted)
    # aggressive: a connection that carried one request only is not proven yet
    for reuse, want in (("aggressive", "new"), ("always", "reused")):
        o, be = origin_backend()
        fport = free_port()
        with Synfin(http_conf(fport, [be.port], be=f"http_reuse {reuse};")) as lb:
            for name in (b"a", b"b"):
                with connect(fport) as c:
                    c.sendall(GET % (b"/n/" + name))
                    assert read_response(Reader(c))[2] == name
            wait_until(lambda: len(requests_logged(lb)) == 2, what="2 request lines")
            got = requests_logged(lb)[1]["server_conn"]
        be.close()
        assert got == want, (reuse, got)


@t.test
def retry_once_on_a_new_connection():
    """The origin closes each connection when its second request comes (as a server whose
    keep-alive timer fired just then): a GET sent on a reused connection is sent again on a
    new one and answered; a POST is not idempotent, so its client gets a 502."""
    o, be = origin_backend(drop_nth=2)
    fport, aport = free_port(), free_port()
    with Synfin(http_conf(fport, [be.port], be="http_reuse always;", aport=aport)) as lb:
        for path, want in ((b"/n/first", b"first"), (b"/n/second", b"second")):
            with connect(fport) as c:
                c.sendall(GET % path)
                st, _, body, _ = read_response(Reader(c))
                assert (st, body) == (200, want), (st, body)
        with connect(fport) as c:
            c.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\ndata")
            st, _, body, _ = read_response(Reader(c))
            assert st == 502, (st, body)
        wait_until(lambda: len(requests_logged(lb)) == 3, what="3 request lines")
        logged = [(r["method"], r["status"], r["retried"]) for r in requests_logged(lb)]
        assert logged == [("GET", "200", "0"), ("GET", "200", "1"), ("POST", "502", "0")], logged
        assert metric(aport, 'synfin_backend_http_retries_total{backend="b"}') == 1
    be.close()
    assert be.accepted == 2, be.accepted


@t.test
def private_connection_closes_with_its_client():
    """http_reuse never: the server connection belongs to its client connection and closes
    when that one does."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port], be="http_reuse never;")):
        with connect(fport) as c:
            c.sendall(GET % b"/n/x")
            read_response(Reader(c))
            assert o.closed == 0
        wait_until(lambda: o.closed == 1, what="the private server connection to close")
    be.close()


@t.test
def idle_pooled_connection_closed_by_its_server_is_dropped():
    """An idle pooled connection whose server closes it is noticed (its FIN is read) and
    closed: the next request opens a new one and the client sees nothing of it."""
    def one_then_fin(c, b):
        r = Reader(c)
        r.until(b"\r\n\r\n")
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        c.shutdown(socket.SHUT_WR)
        recv_all(c)

    be = Backend(one_then_fin)
    fport, aport = free_port(), free_port()
    with Synfin(http_conf(fport, [be.port], be="http_reuse always;", aport=aport)) as lb:
        sample = 'synfin_server_conns_closed_total{backend="b",server="s0",cause="server_close"}'
        for i in range(3):
            with connect(fport) as c:
                c.sendall(GET % b"/")
                assert read_response(Reader(c))[:3:2] == (200, b"ok")
            wait_until(lambda: metric(aport, sample) == i + 1, what="the idle close noticed")
        assert metric(aport, 'synfin_server_conns_idle{backend="b",server="s0"}') == 0
        assert [r["server_conn"] for r in requests_logged(lb)] == ["new"] * 3
    be.close()
    assert be.accepted == 3


# ---- the close toward the client, and where TIME_WAIT lands ----


def tw_client(cport):
    return ss_count(f"state time-wait src {CLIENT_HOST}:{cport}")


@t.test
def client_close_first_client_leaves_time_wait_on_the_client():
    """client_close_first client: after the answer that says Connection: close synfin waits
    for the client's FIN; the client closes first and holds the TIME_WAIT."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port], fe="client_close_first client;")) as lb:
        c = socket.socket()
        c.bind((CLIENT_HOST, 0))
        c.connect(fe_addr(fport))
        cport = c.getsockname()[1]
        c.sendall(b"GET /n/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = Reader(c)
        st, f, body, _ = read_response(r)
        assert (st, body, f["connection"]) == (200, b"x", ["close"])
        c.settimeout(0.3)
        try:
            got = c.recv(10)
            raise AssertionError(f"synfin closed first ({got!r}): it should wait")
        except socket.timeout:
            pass
        c.close()
        wait_until(lambda: tw_client(cport) == 1, what="TIME_WAIT on the client")
        wait_until(lambda: lb.sessions_logged(), what="session line")
        assert lb.sessions_logged()[0]["cause"] == "http_close"
        if not STACK:  # synfin's own side of it, on kernel sockets
            assert ss_count(f"state time-wait sport = :{fport} dport = :{cport}") == 0
    be.close()


@t.test
def client_close_first_synfin_keeps_time_wait_off_the_client():
    """client_close_first synfin (the default): synfin's FIN follows the last answer; the
    client closes second and holds no TIME_WAIT (synfin does)."""
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port])):
        c = socket.socket()
        c.bind((CLIENT_HOST, 0))
        c.connect(fe_addr(fport))
        cport = c.getsockname()[1]
        c.sendall(b"GET /n/x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        r = Reader(c)
        assert read_response(r)[2] == b"x"
        c.settimeout(5)
        assert c.recv(10) == b""  # synfin's FIN
        c.close()
        if not STACK:
            wait_until(lambda: ss_count(f"state time-wait sport = :{fport} dport = :{cport}")
                       == 1, what="TIME_WAIT on synfin's frontend port")
        assert tw_client(cport) == 0
    be.close()


# ---- reload, drain, log and metrics ----


@t.test
def reload_closes_idle_connections_of_removed_servers():
    """A reload that removes a server closes its idle pooled connections at once; the kept
    server keeps its pool (its connection serves the next request)."""
    o1, b1 = origin_backend()
    o2, b2 = origin_backend()
    fport = free_port()
    conf = http_conf(fport, [b1.port, b2.port], be="http_reuse always;")
    with Synfin(conf) as lb:
        for _ in range(2):  # one request to each: each server has one idle connection
            with connect(fport) as c:
                c.sendall(GET % b"/n/x")
                read_response(Reader(c))
        assert (b1.accepted, b2.accepted, o1.closed, o2.closed) == (1, 1, 0, 0)
        lb.rewrite(http_conf(fport, [b1.port], be="http_reuse always;"))
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_ok")
        wait_until(lambda: o2.closed == 1, what="the removed server's idle connection to close")
        with connect(fport) as c:
            c.sendall(GET % b"/n/y")
            assert read_response(Reader(c))[2] == b"y"
        assert (b1.accepted, o1.closed) == (1, 0)
    b1.close()
    b2.close()


@t.test
def drain_closes_idle_keep_alive_clients():
    """SIGTERM: a client connection idle between requests is closed at once (not after its
    keepalive_timeout), and synfin exits 0."""
    o, be = origin_backend()
    fport = free_port()
    lb = Synfin(http_conf(fport, [be.port], fe="keepalive_timeout 60s;"))
    try:
        with connect(fport, 10) as c:
            c.sendall(GET % b"/n/x")
            read_response(Reader(c))
            t0 = time.monotonic()
            lb.send(signal.SIGTERM)
            assert recv_all(c) == b""
            assert time.monotonic() - t0 < 5
        assert lb.stop(signal.SIGTERM) == 0
    finally:
        lb.stop()
        lb.cleanup()
    be.close()
    assert o.closed == 1  # the pooled server connection went too


@t.test
def log_and_metrics_count_each_request():
    """Five requests: five log lines with the status, the method, exact bytes and the server
    connection new then reused; /metrics counts them by class and says one connection was
    opened and reused four times, and is idle."""
    o, be = origin_backend()
    fport, aport = free_port(), free_port()
    with Synfin(http_conf(fport, [be.port], aport=aport, be="http_reuse always;")) as lb:
        with connect(fport) as c:
            r = Reader(c)
            for i in range(4):
                c.sendall(GET % b"/n/12345")
                read_response(r)
            c.sendall(GET % b"/status/404")
            assert read_response(r)[0] == 404
        wait_until(lambda: len(requests_logged(lb)) == 5, what="5 request lines")
        recs = requests_logged(lb)
        assert [r["status"] for r in recs] == ["200"] * 4 + ["404"]
        assert [r["server_conn"] for r in recs] == ["new"] + ["reused"] * 4
        assert {r["method"] for r in recs} == {"GET"}
        answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n12345"
        assert recs[0]["bytes_down"] == str(len(answer)), recs[0]
        assert all(float(r["total_ms"]) >= 0 and float(r["connect_ms"]) >= 0 for r in recs)
        for sample, want in (
                ('synfin_http_requests_total{frontend="f",class="2xx"}', 4),
                ('synfin_http_requests_total{frontend="f",class="4xx"}', 1),
                ('synfin_backend_http_requests_total{backend="b",class="2xx"}', 4),
                ('synfin_server_conns_opened_total{backend="b",server="s0"}', 1),
                ('synfin_server_conns_reused_total{backend="b",server="s0"}', 4),
                ('synfin_server_conns_idle{backend="b",server="s0"}', 1)):
            assert metric(aport, sample) == want, (sample, metric(aport, sample))
    be.close()


@t.test
def max_header_size_setting():
    """A 20 KB head is refused under the default 16k and served under max_header_size 32k."""
    o, be = origin_backend()
    head = b"GET /n/big HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n"
    for setting, want in (("", 400), ("max_header_size 32k;", 200)):
        fport = free_port()
        with Synfin(http_conf(fport, [be.port], fe=setting)):
            with connect(fport) as c:
                c.sendall(head)
                assert read_response(Reader(c))[0] == want, setting
    be.close()
    assert o.requests == 1


# ---- real clients, nginx as a server, reuse at volume ----


def tool_or_skip(*tools):
    for tool in tools:
        if not shutil.which(tool):
            t.skip_test(f"{tool} is not installed (scripts/deps.sh installs it)")


class Nginx:
    """nginx (the Debian package) as an origin: one worker, in a directory of its own, on
    SERVER_BIND:port. Its access log names each request's connection serial ($connection), so
    the connections that carried requests are counted on the server's side. / answers a short
    text, /file.bin a static file of `size` known bytes."""

    def __init__(self, keepalive_timeout="75s", keepalive_requests=1000000, size=100000):
        if not NGINX:
            t.skip_test("nginx is not installed (scripts/deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="synfin-nginx-")
        self.port = free_port()
        self.body = pattern(size)
        with open(os.path.join(self.dir, "file.bin"), "wb") as f:
            f.write(self.body)
        d = self.dir
        temps = "".join(f"{k}_temp_path {d}/{k};\n"
                        for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
    log_format conns '$connection $connection_requests $status $request_method';
    access_log {d}/access.log conns;
    {temps}
    keepalive_timeout {keepalive_timeout}; keepalive_requests {keepalive_requests};
    server {{
        listen {SERVER_BIND}:{self.port} backlog=4096;
        location = / {{ return 200 "hello from nginx\\n"; }}
        location = /file.bin {{ root {d}; }}
    }}
}}
""")
        self.p = subprocess.Popen([NGINX, "-c", os.path.join(d, "nginx.conf"), "-p", d],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # ss, not a probe connection: a probe would leave a TIME_WAIT toward the port
        wait_until(lambda: self.p.poll() is not None or
                   ss_count(f"state listening sport = :{self.port}"), what="nginx to listen")
        assert self.p.poll() is None, self.error_log()

    def error_log(self):
        with open(os.path.join(self.dir, "error.log")) as f:
            return f.read()

    def log(self):
        """[(connection serial, its nth request, status)] of the requests logged."""
        with open(os.path.join(self.dir, "access.log")) as f:
            return [tuple(int(x) for x in ln.split()[:3]) for ln in f if ln.strip()]

    def connections(self):
        return len({c for c, _, _ in self.log()})

    def close(self):
        self.p.terminate()
        self.p.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def ab(url, n, c, keepalive=False, close=False):
    """ApacheBench: (complete, failed, non-2xx, keep-alive requests). It sends HTTP/1.0;
    close adds Connection: close, keepalive (-k) Connection: Keep-Alive."""
    argv = ["ab", "-q", "-n", str(n), "-c", str(c), "-s", "10"]
    argv += (["-k"] if keepalive else []) + (["-H", "Connection: close"] if close else [])
    r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=50)
    assert r.returncode == 0, (argv, r.stdout[-2000:], r.stderr[-2000:])

    def field(name):
        m = re.search(rf"^{name}:\s+(\d+)", r.stdout, re.M)
        return int(m.group(1)) if m else 0
    return (field("Complete requests"), field("Failed requests"), field("Non-2xx responses"),
            field("Keep-Alive requests"))


def wrk(url, conns, seconds=1, close=False):
    """wrk for `seconds`: (requests answered, socket errors text, non-2xx)."""
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s"] + (["-H", "Connection: close"]
                                                           if close else [])
    r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=seconds + 30)
    assert r.returncode == 0, (argv, r.stdout, r.stderr)
    total = int(re.search(r"(\d+) requests in", r.stdout).group(1))
    errs = re.search(r"Socket errors: (.*)", r.stdout)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", r.stdout)
    return total, errs.group(1) if errs else "", int(non2xx.group(1)) if non2xx else 0


def tw_toward(port, aport):
    """TIME_WAIT entries of connections to a server on port: (the server's, synfin's). On the
    stack synfin's own are its engine's, which its census counts (every one of them is toward
    this one server in these tests)."""
    server = ss_count(f"state time-wait sport = :{port}")
    if STACK:
        return server, int(metric(aport, 'synfin_time_wait_sockets{side="backend"}'))
    return server, ss_count(f"state time-wait dport = :{port}")


REUSE_REQUESTS = 10000
REUSE_CONCURRENCY = 8
POOL_MAX_IDLE = 8


@t.test
def reuse_10000_close_requests_over_a_handful_of_connections():
    """ab sends 10,000 Connection: close requests, 8 at a time, through http_reuse always
    (pool_max_idle 8, no per-connection request limit) to nginx: nginx's log shows them over
    at most pool_max_idle + 8 connections, all 2xx, and neither nginx nor synfin's
    server-side ports hold a TIME_WAIT (the connections are still open, idle in the pool).
    With http_reuse never the same run costs one server connection per request."""
    tool_or_skip("ab")
    for reuse in ("always", "never"):
        ng = Nginx()
        fport, aport = free_port(), free_port()
        be = f"http_reuse {reuse}; pool_max_idle {POOL_MAX_IDLE}; pool_max_requests 0;"
        try:
            with Synfin(http_conf(fport, [ng.port], be=be, aport=aport)):
                t0 = time.monotonic()
                done, failed, non2xx, _ = ab(f"http://{fe_host(fport)}:{fport}/", REUSE_REQUESTS,
                                             REUSE_CONCURRENCY, close=True)
                took = time.monotonic() - t0
                assert (done, failed, non2xx) == (REUSE_REQUESTS, 0, 0), (done, failed, non2xx)
                log = ng.log()
                assert len(log) == REUSE_REQUESTS and {s for _, _, s in log} == {200}, len(log)
                conns = ng.connections()
                opened = metric(aport, 'synfin_server_conns_opened_total{backend="b",server="s0"}')
                print(f"# http_reuse {reuse}: {REUSE_REQUESTS} requests over {conns} server "
                      f"connections in {took:.1f}s", flush=True)
                assert opened == conns, (opened, conns)
                if reuse == "always":
                    assert conns <= POOL_MAX_IDLE + REUSE_CONCURRENCY, conns
                    assert tw_toward(ng.port, aport) == (0, 0), tw_toward(ng.port, aport)
                    idle = metric(aport, 'synfin_server_conns_idle{backend="b",server="s0"}')
                    assert idle == conns == ss_count(f"state established sport = :{ng.port}")
                else:
                    assert conns == REUSE_REQUESTS, conns
        finally:
            ng.close()


@t.test
def nginx_closing_idle_pooled_connections_costs_no_request():
    """nginx's keepalive_timeout (300ms) is far shorter than synfin's pool_idle_timeout (60s):
    nginx closes the pooled connections it finds idle. Bursts of Connection: close requests
    (ab) each find the previous burst's connections closed by nginx; a trickle of 2 clients
    keeps 2 connections busy while the 6 others of a burst expire under it; a client that
    sends a request every 300ms +- 30ms hits nginx's timer as it fires. No request fails and
    none is answered other than 2xx; synfin counts the closes as the server's."""
    tool_or_skip("ab")
    ng = Nginx(keepalive_timeout="300ms")
    fport, aport = free_port(), free_port()
    be = "http_reuse always; pool_max_idle 8; pool_idle_timeout 60s; pool_max_requests 0;"
    sample = 'synfin_server_conns_closed_total{backend="b",server="s0",cause="%s"}'
    opened = 'synfin_server_conns_opened_total{backend="b",server="s0"}'
    try:
        with Synfin(http_conf(fport, [ng.port], be=be, aport=aport)) as lb:
            url = f"http://{fe_host(fport)}:{fport}/"  # known once synfin runs
            sent = 0
            for burst in range(3):
                assert ab(url, 1000, 8, close=True)[:3] == (1000, 0, 0), burst
                sent += 1000
                # every connection of it is closed by nginx, and synfin has noticed
                wait_until(lambda: metric(aport, sample % "server_close") +
                           metric(aport, sample % "server_rst") == metric(aport, opened),
                           what="nginx to close the idle pooled connections")
            assert ab(url, 500, 8, close=True)[:3] == (500, 0, 0)
            assert ab(url, 3000, 2, close=True)[:3] == (3000, 0, 0)
            sent += 3500
            hc = http.client.HTTPConnection(*fe_addr(fport), timeout=5)
            for i in range(12):
                hc.request("GET", "/")
                resp = hc.getresponse()
                assert (resp.status, resp.read()) == (200, b"hello from nginx\n"), i
                sent += 1
                time.sleep(0.27 + 0.005 * i)  # the traffic's shape: nginx's timer fires now
            hc.close()
            wait_until(lambda: len(requests_logged(lb)) == sent, what="every request logged")
            statuses = {r["status"] for r in requests_logged(lb)}
            closed = metric(aport, sample % "server_close") + metric(aport, sample % "server_rst")
            retried = sum(r["retried"] == "1" for r in requests_logged(lb))
            print(f"# {sent} requests, {metric(aport, opened):.0f} server connections opened, "
                  f"{closed:.0f} closed by nginx, {retried} requests retried", flush=True)
            assert statuses == {"200"}, statuses
            assert closed >= 3 * 8 - 3, closed  # three bursts of 8 at least, nearly
            # a retried request had gone to a connection nginx had closed: it served it once
            assert len(ng.log()) == sent, (len(ng.log()), sent, retried)
    finally:
        ng.close()


def client_battery(fport, path, want):
    """curl (two URLs on one connection), ab with Connection: close and with -k, wrk
    keep-alive and Connection: close, and http.client; each checks every answer is a 2xx of
    the right length (ab counts a length that differs as a failure). Returns (requests
    counted exactly, requests wrk counted, wrk's connections: what it may have had in
    flight at its end)."""
    base = f"http://{fe_host(fport)}:{fport}"
    r = subprocess.run(["curl", "-sv", base + path, base + path], capture_output=True,
                       timeout=10)
    assert r.stdout == want * 2, r.stdout[:200]
    assert b"Re-using existing connection" in r.stderr, r.stderr
    exact = 2
    done, failed, non2xx, _ = ab(base + path, 2000, 8, close=True)
    assert (done, failed, non2xx) == (2000, 0, 0), ("ab close", done, failed, non2xx)
    done, failed, non2xx, ka = ab(base + path, 2000, 8, keepalive=True)
    assert (done, failed, non2xx, ka) == (2000, 0, 0, 2000), ("ab -k", done, failed, non2xx, ka)
    exact += 4000
    counted = 0
    for close in (False, True):
        total, errs, non2xx = wrk(base + path, 8, close=close)
        assert total > 100 and errs == "" and non2xx == 0, (close, total, errs, non2xx)
        counted += total
    hc = http.client.HTTPConnection(*fe_addr(fport), timeout=5)
    for method in ("GET", "HEAD", "GET"):
        hc.request(method, path)
        resp = hc.getresponse()
        got = resp.read()
        assert resp.status == 200 and got == (b"" if method == "HEAD" else want), method
        assert int(resp.getheader("Content-Length")) == len(want), method
    hc.close()
    exact += 3
    return exact, counted, 16


# ab -k counts the answers that kept the connection: every one, with no keepalive_requests cap
UNLIMITED = "keepalive_requests 0;"


@t.test
def real_clients_against_nginx_and_python_servers():
    """curl, ab (close and -k), wrk (keep-alive and close) and http.client through synfin to
    nginx (a 100 KB static file, SHA-256 known) and to the Python origin: every answer whole
    and 2xx, and the server saw exactly the requests the clients sent (wrk's last in-flight
    requests aside)."""
    tool_or_skip("ab", "wrk", "curl")
    ng = Nginx()
    try:
        fport = free_port()
        with Synfin(http_conf(fport, [ng.port], fe=UNLIMITED, be="http_reuse always;")):
            exact, counted, slack = client_battery(fport, "/file.bin", ng.body)
        n = len(ng.log())
        assert exact + counted <= n <= exact + counted + slack, (n, exact, counted)
        assert {s for _, _, s in ng.log()} == {200}
    finally:
        ng.close()
    o, be = origin_backend()
    fport = free_port()
    with Synfin(http_conf(fport, [be.port], fe=UNLIMITED, be="http_reuse always;")):
        exact, counted, slack = client_battery(fport, "/n/python-origin", b"python-origin")
    be.close()
    assert exact + counted <= o.requests <= exact + counted + slack, (o.requests, exact, counted)


t.done()
