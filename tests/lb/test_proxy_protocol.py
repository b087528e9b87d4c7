#!/usr/bin/env python3
"""PROXY protocol with real peers (docs/config.md, "PROXY protocol"): send_proxy v1 and v2
toward servers, exact bytes at a test server and the client's address in the logs of nginx
(`listen ... proxy_protocol`) and HAProxy (`bind ... accept-proxy`) backends; accept_proxy
from HAProxy in front (`send-proxy-v2`) and from a test client: the carried address in
synfin's session log, balanced on by source and sent onward; an untrusted peer and bad
headers closed and counted; health checks with a LOCAL header."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (CLIENT_HOST, FE, SERVER_BIND, STACK, Backend, Synfin, admin_json,  # noqa: E402
                    connect, ended_how, fe_addr, head_or_eof, http_get, named, recv_all)
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()
HAPROXY = shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.path.exists("/usr/sbin/haproxy")
                                      else None)
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def first_bytes(c, b):
    """A server that records what arrives before the client's FIN, then answers 'ok'."""
    data = recv_all(c)
    with b.lock:
        b.ends.append(data)
    c.sendall(b"ok")


def conf(fport, sport, fe_extra="", be_extra="", srv_extra="", aport=None, balance="roundrobin",
         servers=None):
    a = f"admin 127.0.0.1:{aport};\n" if aport else ""
    srv = servers or f"server s1 127.0.0.1:{sport}{srv_extra};"
    return (f"log stderr;\n{a}frontend f {{ listen 127.0.0.1:{fport}; backend b; {fe_extra} }}\n"
            f"backend b {{ balance {balance}; {srv} {be_extra} }}\n")


def client():
    """A client socket bound where synfin sees it come from (CLIENT_HOST)."""
    s = socket.socket()
    s.settimeout(5)
    s.bind((CLIENT_HOST, 0))
    return s


def exchange(fport, payload, header=b""):
    s = client()
    s.connect(fe_addr(fport))
    s.sendall(header + payload)
    s.shutdown(socket.SHUT_WR)
    got = recv_all(s)
    port = s.getsockname()[1]
    s.close()
    return got, port


@t.test
def send_proxy_v1_and_v2_exact_bytes():
    srv = Backend(first_bytes)
    fport = free_port()
    for version in ("v1", "v2"):
        srv.ends.clear()
        with Synfin(conf(fport, srv.port, be_extra=f"send_proxy {version};")):
            fhost = fe_addr(fport)[0]  # known once synfin runs (the stack's VIP)
            got, cport = exchange(fport, b"hello")
            assert got == b"ok", got
            wait_until(lambda: len(srv.ends) == 1, what="the server's bytes")
            data = srv.ends[0]
            if version == "v1":
                want = f"PROXY TCP4 {CLIENT_HOST} {fhost} {cport} {fport}\r\n".encode()
            else:
                want = SIG + bytes([0x21, 0x11, 0, 12]) + socket.inet_aton(CLIENT_HOST) + \
                    socket.inet_aton(fhost) + struct.pack("!HH", cport, fport)
            assert data == want + b"hello", (version, data, want)
    # a server's own send_proxy wins over its backend's
    srv.ends.clear()
    with Synfin(conf(fport, srv.port, be_extra="send_proxy v2;", srv_extra=" send_proxy off")):
        assert exchange(fport, b"plain")[0] == b"ok"
        wait_until(lambda: len(srv.ends) == 1, what="the server's bytes")
        assert srv.ends[0] == b"plain", srv.ends
    srv.close()


@t.test
def accept_proxy_uses_the_carried_address():
    """v1 and v2 from a trusted peer: the server gets the bytes after the header only, the
    session log names the carried client, send_proxy passes it on, source hashing uses it."""
    srv = Backend(first_bytes)
    fport, aport = free_port(), free_port()
    trusted = f"accept_proxy from 127.0.0.0/8 {CLIENT_HOST}/32;"
    v1 = b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\n"
    v2 = SIG + bytes([0x21, 0x11, 0, 12]) + socket.inet_aton("203.0.113.8") + \
        socket.inet_aton("198.51.100.1") + struct.pack("!HH", 4343, 443)
    with Synfin(conf(fport, srv.port, fe_extra=trusted, aport=aport)) as lb:
        for hdr, who in ((v1, "203.0.113.7:4242"), (v2, "203.0.113.8:4343")):
            srv.ends.clear()
            got, _ = exchange(fport, b"payload", hdr)
            assert got == b"ok", got
            wait_until(lambda: len(srv.ends) == 1, what="the server's bytes")
            assert srv.ends[0] == b"payload", srv.ends
            wait_until(lambda: any(s["client"] == who for s in lb.sessions_logged()),
                       what=f"a session logged from {who}")
        # header and payload in pieces: the header may come a byte at a time
        srv.ends.clear()
        s = client()
        s.connect(fe_addr(fport))
        for i in range(len(v1)):
            s.send(v1[i:i + 1])
        s.sendall(b"late")
        s.shutdown(socket.SHUT_WR)
        assert recv_all(s) == b"ok"
        s.close()
        wait_until(lambda: len(srv.ends) == 1, what="the server's bytes")
        assert srv.ends[0] == b"late"
    # onward: accept_proxy then send_proxy v1 carries the original client
    srv.ends.clear()
    with Synfin(conf(fport, srv.port, fe_extra=trusted, be_extra="send_proxy v1;")):
        assert exchange(fport, b"x", v1)[0] == b"ok"
        wait_until(lambda: len(srv.ends) == 1, what="the server's bytes")
        assert srv.ends[0] == v1 + b"x", srv.ends
    srv.close()
    # balance source on the carried address: the real peer is one address, yet carried
    # addresses spread over both servers, each always to the same one
    b1, b2 = Backend(named("s1")), Backend(named("s2"))
    servers = f"server s1 127.0.0.1:{b1.port}; server s2 127.0.0.1:{b2.port};"
    with Synfin(conf(fport, 0, fe_extra=trusted, balance="source", servers=servers)):
        seen = {}
        for i in range(24):
            hdr = f"PROXY TCP4 203.0.113.{i + 1} 198.51.100.1 1000 80\r\n".encode()
            for _ in range(2):
                got, _ = exchange(fport, b"GET / HTTP/1.0\r\n\r\n", hdr)
                name = got.rsplit(b"\r\n\r\n", 1)[1]
                assert seen.setdefault(i, name) == name, (i, seen[i], name)
        assert set(seen.values()) == {b"s1", b"s2"}, seen
    b1.close()
    b2.close()


@t.test
def untrusted_and_bad_headers_are_closed_and_counted():
    srv = Backend(first_bytes)
    fport, aport = free_port(), free_port()
    with Synfin(conf(fport, srv.port, fe_extra="accept_proxy from 198.51.100.0/24;", aport=aport)):
        s = client()
        try:  # the reset can beat connect() itself (lbtest.refused_how says why)
            s.connect(fe_addr(fport))
            s.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\nx")
            how = ended_how(s)
        except (ConnectionResetError, BrokenPipeError):
            how = "rst"
        assert how == "rst", how
        s.close()
        assert admin_json(aport)["frontends"][0]["proxy_untrusted"] == 1
        st, body = http_get(aport, "/metrics")
        assert 'synfin_frontend_proxy_untrusted_total{frontend="f"} 1' in body.decode()
    trusted = f"accept_proxy from 127.0.0.0/8 {CLIENT_HOST}/32;"
    bad = [b"GET / HTTP/1.0\r\n\r\n",  # no header at all
           b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 99999\r\n",
           b"PROXY TCP4 " + b"1" * 120,  # no CRLF within 107 bytes
           SIG + bytes([0x21, 0x31, 0, 0]),  # AF_UNIX
           b"PROXY TCP4 203.0.113.7"]  # truncated: the client's FIN comes first
    with Synfin(conf(fport, srv.port, fe_extra=trusted, aport=aport)) as lb:
        for b in bad:
            s = client()
            try:
                s.connect(fe_addr(fport))
                s.sendall(b)
                s.shutdown(socket.SHUT_WR)
                how = ended_how(s)
            except OSError:  # the reset came first (ECONNRESET, or ENOTCONN after it)
                how = "rst"
            assert how == "rst", b
            s.close()
        # silent: reset once the 5 s for the header are over (accept_proxy_timeout's default)
        s = client()
        s.settimeout(10)
        s.connect(fe_addr(fport))
        try:
            how = ended_how(s)
        except OSError:
            how = "rst"
        assert how == "rst", how
        s.close()
        bad.append(b"")
        wait_until(lambda: len(lb.log_lines("event=bad_proxy")) == len(bad), what="the lines")
        assert len(lb.log_lines(" cause=bad_proxy ")) == len(bad)
        assert len(lb.log_lines("no whole PROXY header within accept_proxy_timeout (5000 ms)")) == 1
        assert srv.accepted == 0
        st = admin_json(aport)
        assert st["close_causes"]["bad_proxy"] == len(bad), st["close_causes"]
    srv.close()


@t.test
def accept_proxy_timeout_closes_a_silent_client_in_time():
    """accept_proxy_timeout 300ms: a client that connects and sends nothing is reset once
    300 ms have passed (not before, and long before the 5 s default), with cause bad_proxy and
    the reason logged; a header sent in time is still taken."""
    srv = Backend(first_bytes)
    fport, aport = free_port(), free_port()
    fe = f"accept_proxy from 127.0.0.0/8 {CLIENT_HOST}/32; accept_proxy_timeout 300ms;"
    with Synfin(conf(fport, srv.port, fe_extra=fe, aport=aport)) as lb:
        s = client()
        s.settimeout(5)
        s.connect(fe_addr(fport))
        t0 = time.monotonic()
        try:
            how = ended_how(s)
        except OSError:
            how = "rst"
        waited = time.monotonic() - t0
        s.close()
        assert how == "rst", how
        assert 0.28 <= waited < 3, waited
        lb.wait_log("event=bad_proxy")
        line = lb.log_lines("event=bad_proxy")[0]
        assert 'error="no whole PROXY header within accept_proxy_timeout (300 ms)"' in line, line
        ended = lambda: [x for x in lb.sessions_logged() if "cause" in x]  # noqa: E731
        wait_until(lambda: len(ended()) == 1, 5, what="the session line")
        x = ended()[0]
        assert x["cause"] == "bad_proxy" and float(x["duration_ms"]) >= 300, x
        assert srv.accepted == 0
        # a header within the time is taken as before
        hdr = f"PROXY TCP4 203.0.113.7 {fe_addr(fport)[0]} 4242 {fport}\r\n".encode()
        got, _ = exchange(fport, b"hello", hdr)
        assert got == b"ok", got
        wait_until(lambda: srv.ends == [b"hello"], 5, what="the payload at the server")
        assert admin_json(aport)["close_causes"]["bad_proxy"] == 1
    srv.close()


def run_peer(cmd, what):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p


def stop_peer(p):
    p.terminate()
    try:
        out, _ = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out.decode(errors="replace")


def listening(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def nginx_conf(d, nport):
    return f"""daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  log_format pp 'pp=$proxy_protocol_addr:$proxy_protocol_port peer=$remote_addr';
  server {{
    listen {SERVER_BIND}:{nport} proxy_protocol;
    access_log {d}/access.log pp;
    location / {{ return 200 "$proxy_protocol_addr:$proxy_protocol_port\\n"; }}
  }}
}}
"""


def keepalive_bodies(s, n):
    """n responses of a kept-alive connection (nginx's, with Content-Length): their bodies."""
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            assert d, (buf, out)
            buf += d
        head, _, buf = buf.partition(b"\r\n\r\n")
        length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                      if l.lower().startswith(b"content-length:")][0])
        while len(buf) < length:
            d = s.recv(65536)
            assert d
            buf += d
        out.append(buf[:length])
        buf = buf[length:]
    return out


@t.test
def http_mode_both_ways_with_nginx():
    """mode http: send_proxy makes server connections private to their client (each client's
    requests show its own address, never another's); accept_proxy reads the header, then
    the requests that follow it on the same connection."""
    if not NGINX:
        t.skip_test("nginx is not installed (scripts/deps.sh installs it)")
    d = tempfile.mkdtemp(prefix="synfin-pp-nginx-http-")
    nport, fport = free_port(), free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(nginx_conf(d, nport))
    p = run_peer([NGINX, "-c", f"{d}/nginx.conf", "-p", d, "-e", f"{d}/error.log"], "nginx")
    req = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        wait_until(lambda: listening("127.0.0.1", nport), what="nginx to listen")
        with Synfin(conf(fport, nport, fe_extra="mode http;", be_extra="send_proxy v2;")):
            for _ in range(3):  # one after the other: a pooled connection would be reused
                s = client()
                s.connect(fe_addr(fport))
                cport = s.getsockname()[1]
                s.sendall(req + req)
                assert keepalive_bodies(s, 2) == [f"{CLIENT_HOST}:{cport}\n".encode()] * 2
                s.close()
        trusted = f"mode http; accept_proxy from 127.0.0.0/8 {CLIENT_HOST}/32;"
        with Synfin(conf(fport, nport, fe_extra=trusted, be_extra="send_proxy v1;")) as lb:
            s = client()
            s.connect(fe_addr(fport))
            s.sendall(b"PROXY TCP4 203.0.113.9 198.51.100.1 5151 80\r\n" + req + req)
            assert keepalive_bodies(s, 2) == [b"203.0.113.9:5151\n"] * 2
            s.close()
            wait_until(lambda: len([l for l in lb.log_lines(" request=")
                                    if "client=203.0.113.9:5151" in l]) == 2,
                       what="two request lines from the carried client")
    finally:
        out = stop_peer(p)
        shutil.rmtree(d, ignore_errors=True)
    assert "emerg" not in out, out


@t.test
def nginx_backend_logs_the_client():
    if not NGINX:
        t.skip_test("nginx is not installed (scripts/deps.sh installs it)")
    d = tempfile.mkdtemp(prefix="synfin-pp-nginx-")
    nport, fport = free_port(), free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d};
  uwsgi_temp_path {d}; scgi_temp_path {d};
  log_format pp 'pp=$proxy_protocol_addr:$proxy_protocol_port peer=$remote_addr';
  server {{
    listen {SERVER_BIND}:{nport} proxy_protocol;
    access_log {d}/access.log pp;
    location / {{ return 200 "$proxy_protocol_addr:$proxy_protocol_port\\n"; }}
  }}
}}
""")
    p = run_peer([NGINX, "-c", f"{d}/nginx.conf", "-p", d, "-e", f"{d}/error.log"], "nginx")
    try:
        wait_until(lambda: listening("127.0.0.1", nport), what="nginx to listen")
        for version in ("v1", "v2"):
            with Synfin(conf(fport, nport, be_extra=f"send_proxy {version};")):
                got, cport = exchange(fport, b"GET / HTTP/1.0\r\n\r\n")
                assert got.endswith(f"\r\n\r\n{CLIENT_HOST}:{cport}\n".encode()), got
                line = f"pp={CLIENT_HOST}:{cport} peer="
                wait_until(lambda: line in open(f"{d}/access.log").read(),
                           what=f"nginx's log line {line}")
    finally:
        out = stop_peer(p)
        shutil.rmtree(d, ignore_errors=True)
    assert "emerg" not in out, out


HAPROXY_GLOBAL = """global
  log stdout format raw local0
defaults
  log global
  timeout connect 5s
  timeout client 10s
  timeout server 10s
"""


@t.test
def haproxy_backend_logs_the_client():
    """HAProxy's `accept-proxy` behind synfin's send_proxy; HTTP health checks go with a
    LOCAL header (HAProxy refuses a connection without one)."""
    if not HAPROXY:
        t.skip_test("haproxy is not installed (scripts/deps.sh installs it)")
    d = tempfile.mkdtemp(prefix="synfin-pp-haproxy-")
    hport, fport, aport = free_port(), free_port(), free_port()
    with open(os.path.join(d, "h.cfg"), "w") as f:
        f.write(HAPROXY_GLOBAL + f"""frontend fe
  mode http
  bind {SERVER_BIND}:{hport} accept-proxy
  log-format "haproxy client=%ci:%cp"
  http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port]\\n"
""")
    p = run_peer([HAPROXY, "-db", "-f", f"{d}/h.cfg"], "haproxy")
    out = ""
    try:
        wait_until(lambda: listening("127.0.0.1", hport), what="haproxy to listen")
        for version in ("v1", "v2"):
            check = "check { type http; uri /; interval 100ms; timeout 100ms; rise 1; fall 1; }"
            with Synfin(conf(fport, hport, be_extra=f"send_proxy {version}; {check}",
                             aport=aport)) as lb:
                got, cport = exchange(fport, b"GET / HTTP/1.0\r\n\r\n")
                assert got.endswith(f"\r\n\r\n{CLIENT_HOST}:{cport}\n".encode()), got
                wait_until(lambda: "200" in admin_json(aport)["backends"][0]["servers"][0]
                           ["last_check"], what="a passing check")
                assert not lb.log_lines("event=server_down"), lb.log_lines("server_down")
    finally:
        out = stop_peer(p)
        shutil.rmtree(d, ignore_errors=True)
    assert f"haproxy client={CLIENT_HOST}:" in out, out[-2000:]


@t.test
def haproxy_in_front_with_send_proxy_v2():
    if not HAPROXY:
        t.skip_test("haproxy is not installed (scripts/deps.sh installs it)")
    srv = Backend(first_bytes)
    d = tempfile.mkdtemp(prefix="synfin-pp-front-")
    hport, fport = free_port(), free_port()
    trusted = f"accept_proxy from 127.0.0.0/8 {CLIENT_HOST}/32;"
    lb = Synfin(conf(fport, srv.port, fe_extra=trusted, be_extra="send_proxy v1;"))
    fhost = fe_addr(fport)[0]  # known once synfin runs (the stack's VIP)
    with open(os.path.join(d, "h.cfg"), "w") as f:
        f.write(HAPROXY_GLOBAL + f"""listen front
  mode tcp
  bind {CLIENT_HOST}:{hport}
  server synfin {fhost}:{fport} send-proxy-v2
""")
    p = run_peer([HAPROXY, "-db", "-f", f"{d}/h.cfg"], "haproxy")
    try:
        wait_until(lambda: listening(CLIENT_HOST, hport) or p.poll() is not None,
                   what="haproxy to listen")
        assert p.poll() is None, stop_peer(p)
        with lb:
            s = client()
            s.connect((CLIENT_HOST, hport))
            cport = s.getsockname()[1]
            s.sendall(b"through haproxy")
            s.shutdown(socket.SHUT_WR)
            assert recv_all(s) == b"ok"
            s.close()
            # (the probe that saw haproxy listen made a session of its own, without data)
            wait_until(lambda: any(e.endswith(b"through haproxy") for e in srv.ends),
                       what="the server's bytes")
            want = f"PROXY TCP4 {CLIENT_HOST} {CLIENT_HOST} {cport} {hport}\r\n"
            got = [e for e in srv.ends if e.endswith(b"through haproxy")]
            assert got == [want.encode() + b"through haproxy"], (srv.ends, want)
            wait_until(lambda: any(x["client"] == f"{CLIENT_HOST}:{cport}"
                                   for x in lb.sessions_logged()), what="the session line")
    finally:
        stop_peer(p)
        shutil.rmtree(d, ignore_errors=True)
    srv.close()


t.done()
