#!/usr/bin/env python3
"""The runtime API on the admin listener (docs/lb.md, "Runtime API") and synfin-ctl: drain,
maint, ready and weight while traffic runs, counted at the servers; the token; peers other
than loopback refused unless allowed; admin [::] takes IPv6 only; the state across a reload;
config errors."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (CLIENT_HOST, STACK, Backend, Synfin, connect, echo,  # noqa: E402
                    ended_how, http_get, named)
from tap import Tap, binary, free_port, wait_until  # noqa: E402

t = Tap()
TOKEN = "s3cret-token-0123456789"


def echo_or_reset(c, b):
    """echo, where a reset (maint closing the session) is recorded in b.ends, not an error."""
    try:
        echo(c, b)
        how = "fin"
    except ConnectionResetError:
        how = "rst"
    with b.lock:
        b.ends.append(how)


def ctl(aport, *args, token=None, addr=None):
    env = dict(os.environ)
    env.pop("SYNFIN_ADMIN_TOKEN", None)
    cmd = [binary("synfin-ctl"), "-a", addr or f"127.0.0.1:{aport}"]
    if token:
        cmd += ["-t", token]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=20, env=env)


def api(aport, method, path, token=None, src=None, host="127.0.0.1"):
    """(status, body) of one admin request; src: the client's own address."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    s = socket.socket(socket.AF_INET)
    s.settimeout(5)
    if src:
        s.bind((src, 0))
    s.connect((host, aport))
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode()


def servers(aport, token=None):
    st, body = api(aport, "GET", "/servers", token)
    assert st == 200, (st, body)
    return {f"{s['backend']}/{s['server']}": s for s in json.loads(body)["servers"]}


def config(fport, aport, s1, s2, balance="roundrobin", admin_block="", w1=1, w2=1):
    a = f"admin 127.0.0.1:{aport}" + (f" {{ {admin_block} }}\n" if admin_block else ";\n")
    return (f"log stderr;\n{a}"
            f"frontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
            f"backend b {{ balance {balance}; server s1 127.0.0.1:{s1} weight {w1}; "
            f"server s2 127.0.0.1:{s2} weight {w2}; }}\n")


class Traffic:
    """Requests one after another through the frontend until stopped; counts failures."""

    def __init__(self, fport, threads=2):
        self.fport = fport
        self.ok = 0
        self.failed = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ts = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for th in self.ts:
            th.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                st, body = http_get(self.fport, "/")
                good = st == 200 and body in (b"s1", b"s2")
            except OSError as e:
                good, body = False, repr(e)
            with self.lock:
                if good:
                    self.ok += 1
                else:
                    self.failed.append(body)

    def wait_more(self, n):
        start = self.ok
        wait_until(lambda: self.ok >= start + n, 20, what=f"{n} more requests")

    def end(self):
        self.stop.set()
        for th in self.ts:
            th.join(10)


@t.test
def drain_while_traffic_runs_fails_no_request():
    """drain: no request fails, the server gets no new session (counted at it), a session
    it held goes on and finishes; ready brings it back."""
    b1, b2 = Backend(named("s1")), Backend(named("s2"))
    held = Backend(echo)
    fport, aport = free_port(), free_port()
    conf = config(fport, aport, b1.port, b2.port)
    with Synfin(conf) as lb:
        tr = Traffic(fport)
        try:
            tr.wait_more(50)
            assert b2.accepted > 0
            r = ctl(aport, "drain", "b/s2")
            assert r.returncode == 0 and r.stdout == "b/s2 ready -> drain\n", r
            # sessions sent to s2 before the drain; a connect already under way when it came
            # reaches s2 a little later (its SYN is in flight), nothing after it does
            n2 = servers(aport)["b/s2"]["total"]
            tr.wait_more(200)
            assert servers(aport)["b/s2"]["total"] == n2, (servers(aport)["b/s2"], n2)
            wait_until(lambda: b2.accepted == n2, 5, what=f"s2's {n2} connections")
            assert servers(aport)["b/s2"]["state"] == "drain"
            r = ctl(aport, "ready", "b/s2")
            assert r.returncode == 0 and r.stdout == "b/s2 drain -> ready\n", r
            tr.wait_more(50)
            assert b2.accepted > n2
        finally:
            tr.end()
        assert tr.failed == [], tr.failed[:5]
        lb.wait_log("what=state old=ready new=drain by=127.0.0.1:")
        lb.wait_log("what=state old=drain new=ready by=127.0.0.1:")
    # a session established before the drain goes on and ends as usual
    fport, aport = free_port(), free_port()
    with Synfin(config(fport, aport, held.port, b2.port)) as lb:
        c = connect(fport)
        c.sendall(b"x")
        assert c.recv(1) == b"x"  # on s1 (roundrobin's first pick): the echo server
        assert servers(aport)["b/s1"]["active"] == 1
        assert ctl(aport, "drain", "b/s1").returncode == 0
        for i in range(20):
            c.sendall(b"%d" % i)
            assert c.recv(16) == b"%d" % i
        c.shutdown(socket.SHUT_WR)
        assert ended_how(c) == "fin"
        c.close()
        wait_until(lambda: servers(aport)["b/s1"]["active"] == 0, what="the session to end")
        s = lb.sessions_logged()[-1]
        assert s["cause"] in ("client_fin", "server_fin"), s
    for b in (b1, b2, held):
        b.close()


@t.test
def maint_closes_sessions_and_takes_none():
    b1, held = Backend(named("s1")), Backend(echo_or_reset)
    fport, aport = free_port(), free_port()
    with Synfin(config(fport, aport, held.port, b1.port)) as lb:
        c = connect(fport)
        c.sendall(b"x")
        assert c.recv(1) == b"x"  # held by s1 (the echo server)
        n1 = held.accepted
        r = ctl(aport, "maint", "b/s1")
        assert r.returncode == 0 and r.stdout == "b/s1 ready -> maint\n", r
        assert ended_how(c) in ("fin", "rst")  # closed by maint
        c.close()
        wait_until(lambda: held.ends == ["rst"] or held.ends == ["fin"], what="the server side")
        tr = Traffic(fport)
        tr.wait_more(100)
        tr.end()
        assert tr.failed == [] and held.accepted == n1, (tr.failed[:3], held.accepted, n1)
        sv = servers(aport)["b/s1"]
        assert sv["state"] == "maint" and sv["active"] == 0, sv
        wait_until(lambda: any(s.get("cause") == "admin_kill" for s in lb.sessions_logged()),
                   what="the maint kill logged")
        st, body = api(aport, "GET", "/metrics")
        assert 'synfin_server_state{backend="b",server="s1",state="maint"} 1' in body
        assert 'synfin_server_state{backend="b",server="s1",state="ready"} 0' in body
        st, body = api(aport, "GET", "/stats")
        srv = json.loads(body)["backends"][0]["servers"]
        assert [s["state"] for s in srv] == ["maint", "ready"], srv
        assert ctl(aport, "ready", "b/s1").returncode == 0
        assert ctl(aport, "weight", "b/s2", "0").returncode == 0  # the next pick is s1's
        c = connect(fport)
        c.sendall(b"y")
        assert c.recv(1) == b"y"  # s1 takes sessions again
        c.close()
    b1.close()
    held.close()


@t.test
def weight_changes_the_distribution():
    """roundrobin exact at the servers; maglev rebuilt (its share moves); leastconn."""
    b1, b2 = Backend(named("s1")), Backend(named("s2"))
    fport, aport = free_port(), free_port()
    with Synfin(config(fport, aport, b1.port, b2.port)) as lb:
        assert ctl(aport, "weight", "b/s1", "3").stdout == "b/s1 weight 1 -> 3\n"
        a1, a2 = b1.accepted, b2.accepted
        for _ in range(200):
            assert http_get(fport, "/")[0] == 200
        assert (b1.accepted - a1, b2.accepted - a2) == (150, 50), (b1.accepted, b2.accepted)
        lb.wait_log("what=weight old=1 new=3")
        st, body = api(aport, "GET", "/metrics")
        assert 'synfin_server_weight{backend="b",server="s1"} 3' in body
        # weight 0: no new session, as drain
        assert ctl(aport, "weight", "b/s2", "0").returncode == 0
        a2 = b2.accepted
        for _ in range(20):
            assert http_get(fport, "/")[0] == 200
        assert b2.accepted == a2
    fport, aport = free_port(), free_port()
    with Synfin(config(fport, aport, b1.port, b2.port, balance="maglev")):
        def share(n=400):
            a1 = b1.accepted
            for _ in range(n):
                assert http_get(fport, "/")[0] == 200
            return (b1.accepted - a1) / n
        before = share()
        assert 0.35 < before < 0.65, before
        assert ctl(aport, "weight", "b/s1", "9").returncode == 0
        after = share()
        assert after > 0.8, (before, after)
    held1, held2 = Backend(echo), Backend(echo)
    fport, aport = free_port(), free_port()
    with Synfin(config(fport, aport, held1.port, held2.port, balance="leastconn")):
        assert ctl(aport, "weight", "b/s1", "3").returncode == 0
        conns = []
        for _ in range(8):
            c = connect(fport)
            c.sendall(b"z")
            assert c.recv(1) == b"z"
            conns.append(c)
        sv = servers(aport)
        assert (sv["b/s1"]["active"], sv["b/s2"]["active"]) == (6, 2), sv
        for c in conns:
            c.close()
    for b in (b1, b2, held1, held2):
        b.close()


@t.test
def token_is_required_when_set():
    b1, b2 = Backend(named("s1")), Backend(named("s2"))
    fport, aport = free_port(), free_port()
    with Synfin(config(fport, aport, b1.port, b2.port, admin_block=f'token "{TOKEN}";')):
        for path, method in (("/servers", "GET"), ("/stats", "GET"), ("/servers/b/s1/drain",
                                                                       "POST")):
            st, body = api(aport, method, path)
            assert st == 401, (path, st, body)
            st, _ = api(aport, method, path, token=TOKEN[:-1] + "X")
            assert st == 401
        assert servers(aport, TOKEN)["b/s1"]["state"] == "ready"  # the drain above was refused
        r = ctl(aport, "drain", "b/s1")
        assert r.returncode == 1 and "401 Unauthorized" in r.stderr and "token" in r.stderr, r
        r = ctl(aport, "drain", "b/s1", token=TOKEN)
        assert r.returncode == 0 and r.stdout == "b/s1 ready -> drain\n", r
        r = ctl(aport, "servers", token=TOKEN)
        assert r.returncode == 0 and "b/s1" in r.stdout and " drain " in r.stdout, r
        r = ctl(aport, "-j", "servers", token=TOKEN)
        assert r.returncode == 0 and json.loads(r.stdout)["servers"][0]["state"] == "drain", r
        st, body = api(aport, "GET", "/metrics", token=TOKEN)
        assert 'synfin_admin_refused_total{reason="token"} 7' in body, body[-400:]
    for b in (b1, b2):
        b.close()


def non_loopback_address():
    """A local address that is not loopback, for a client of the admin listener."""
    if STACK:
        return CLIENT_HOST
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        a = line.split()[3].split("/")[0]
        if not a.startswith("127."):
            return a
    return None


@t.test
def other_hosts_refused_unless_allowed():
    src = non_loopback_address()
    if not src:
        t.skip_test("no IPv4 address other than loopback on this host")
    b1, b2 = Backend(named("s1")), Backend(named("s2"))
    fport, aport = free_port(), free_port()
    conf = config(fport, aport, b1.port, b2.port).replace(f"127.0.0.1:{aport}",
                                                          f"0.0.0.0:{aport}")
    with Synfin(conf) as lb:
        st, body = api(aport, "POST", "/servers/b/s1/drain", src=src, host=src)
        assert st == 403, (st, body)
        st, _ = api(aport, "GET", "/stats", src=src, host=src)
        assert st == 403
        assert servers(aport)["b/s1"]["state"] == "ready"
        st, body = api(aport, "GET", "/metrics")
        assert 'synfin_admin_refused_total{reason="peer"} 2' in body
        # allowed with its token, after a reload that says so
        lb.rewrite(conf.replace(f"0.0.0.0:{aport};",
                                f"0.0.0.0:{aport} {{ allow {src}/32; token \"{TOKEN}\"; }}"))
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_ok")
        st, _ = api(aport, "POST", "/servers/b/s1/drain", src=src, host=src)
        assert st == 401
        st, body = api(aport, "POST", "/servers/b/s1/drain", token=TOKEN, src=src, host=src)
        assert st == 200 and body == "b/s1 ready -> drain\n", (st, body)
        lb.wait_log(f"new=drain by={src}:")
    for b in (b1, b2):
        b.close()


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@t.test
def admin_on_ipv6_any_takes_ipv6_only():
    """`admin [::]:P` is IPV6_V6ONLY like every listener (docs/config.md, "listen"): it
    answers on [::1]:P, while 127.0.0.1:P is not its own: refused, and free for another
    socket to bind (before: Linux's dual-stack default took it)."""
    if not has_ipv6_loopback():
        t.skip_test("no IPv6 loopback on this host")
    b1, b2 = Backend(named("s1")), Backend(named("s2"))
    fport, aport = free_port(), free_port()
    conf = config(fport, aport, b1.port, b2.port).replace(f"admin 127.0.0.1:{aport}",
                                                          f"admin [::]:{aport}")
    with Synfin(conf) as lb:
        r = ctl(aport, "servers", addr=f"[::1]:{aport}")
        assert r.returncode == 0 and "b/s1" in r.stdout and "b/s2" in r.stdout, (r, lb.log())
        s = socket.socket(socket.AF_INET)
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", aport))
            raise AssertionError("127.0.0.1 reached admin [::]")
        except ConnectionRefusedError:
            pass
        finally:
            s.close()
        with socket.socket(socket.AF_INET) as other:
            other.bind(("127.0.0.1", aport))
            other.listen(1)
        r = ctl(aport, "servers", addr=f"[::1]:{aport}")
        assert r.returncode == 0 and "b/s1" in r.stdout, r
    for b in (b1, b2):
        b.close()


@t.test
def reload_keeps_runtime_state():
    """State kept; the weight kept unless the file changed it."""
    b1, b2 = Backend(named("s1")), Backend(named("s2"))
    fport, aport = free_port(), free_port()
    conf = config(fport, aport, b1.port, b2.port)
    with Synfin(conf) as lb:
        assert ctl(aport, "drain", "b/s1").returncode == 0
        assert ctl(aport, "weight", "b/s1", "7").returncode == 0
        assert ctl(aport, "weight", "b/s2", "4").returncode == 0
        lb.rewrite(config(fport, aport, b1.port, b2.port, w2=5))
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_ok")
        sv = servers(aport)
        assert (sv["b/s1"]["state"], sv["b/s1"]["weight"], sv["b/s1"]["config_weight"]) == \
            ("drain", 7, 1), sv
        assert (sv["b/s2"]["state"], sv["b/s2"]["weight"]) == ("ready", 5), sv
        lb.wait_log("event=reload_kept backend=b server=s1 what=state value=drain")
        for _ in range(10):
            assert http_get(fport, "/") == (200, b"s2")
    for b in (b1, b2):
        b.close()


@t.test
def bad_requests_and_config_errors():
    b1, b2 = Backend(named("s1")), Backend(named("s2"))
    fport, aport = free_port(), free_port()
    with Synfin(config(fport, aport, b1.port, b2.port)):
        assert api(aport, "POST", "/servers/b/nope/drain")[0] == 404
        assert api(aport, "POST", "/servers/b/s1/sleep")[0] == 404
        assert api(aport, "POST", "/servers/b/s1/weight/1001")[0] == 400
        assert api(aport, "POST", "/servers/b/s1/weight/x")[0] == 400
        assert api(aport, "GET", "/servers/b/s1/drain")[0] == 405
        assert api(aport, "POST", "/servers")[0] == 405
        r = ctl(aport, "drain", "b/nope")
        assert r.returncode == 1 and "no server b/nope" in r.stderr, r
        r = ctl(aport, "weight", "b/s1", "-1")
        assert r.returncode == 2, r
        r = ctl(aport, "frobnicate")
        assert r.returncode == 2 and "unknown command" in r.stderr, r
        assert servers(aport)["b/s1"]["state"] == "ready"
    r = ctl(free_port(), "servers")
    assert r.returncode == 3 and "cannot connect" in r.stderr, r
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"rtapi-{os.getpid()}.conf")
    with open(path, "w") as f:
        f.write(config(fport, aport, b1.port, b2.port).replace(
            f"127.0.0.1:{aport};", f"0.0.0.0:{aport} {{\n    allow 10.0.0.0/8;\n}}"))
    r = subprocess.run([binary("synfin"), "-c", path, "-t"], capture_output=True, text=True)
    assert r.returncode == 2 and f"{path}:3:5: 'allow' opens the admin listener to other " \
        "hosts: give it a 'token' too" in r.stderr, r
    os.unlink(path)
    for b in (b1, b2):
        b.close()


t.done()
