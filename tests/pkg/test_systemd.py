#!/usr/bin/env python3
"""systemd: the unit (dist/synfin.service.in) passes `systemd-analyze verify` and carries the
settings docs/install.md promises; synfin's sd_notify readiness, seen on a notify socket the
test owns (NOTIFY_SOCKET, a unix datagram socket): READY=1 only once the listener accepts,
RELOADING=1 then READY=1 around SIGHUP (a rejected reload too), STOPPING=1 on drain, nothing
when a listener cannot be opened; libsystemd linked into synfin alone."""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
from tap import Tap, binary, build_dir, free_port, wait_until  # noqa: E402

t = Tap()
UNIT = os.path.join(TOP, "dist", "synfin.service.in")


def unit_settings():
    """[Service] and [Unit] keys of the template: name -> list of values."""
    out = {}
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", "[")):
                k, v = line.split("=", 1)
                out.setdefault(k, []).append(v)
    return out


@t.test
def unit_passes_systemd_analyze_verify():
    if not shutil.which("systemd-analyze"):
        t.skip_test("systemd-analyze is not installed (Debian systemd)")
    d = tempfile.mkdtemp(prefix="synfin-unit-")
    try:
        # the unit as installed under d (paths that exist), the man pages it names findable
        etc = os.path.join(d, "etc")
        os.makedirs(os.path.join(etc, "synfin"))
        shutil.copy(os.path.join(TOP, "conf", "synfin.conf"), os.path.join(etc, "synfin"))
        for sec in ("5", "8"):
            os.makedirs(os.path.join(d, "man", "man" + sec))
        for page in os.listdir(os.path.join(TOP, build_dir(), "man")):
            shutil.copy(os.path.join(TOP, build_dir(), "man", page),
                        os.path.join(d, "man", "man" + page[-1]))
        with open(UNIT) as f:
            text = f.read()
        text = text.replace("@SBINDIR@", os.path.dirname(binary("synfin")))
        text = text.replace("@SYSCONFDIR@", etc)
        assert "@" not in text.replace("@system-service", ""), text
        unit = os.path.join(d, "synfin.service")
        with open(unit, "w") as f:
            f.write(text)
        env = dict(os.environ, MANPATH=os.path.join(d, "man"))
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           env=env, cwd=d, timeout=60)
        # a bad value is only a warning (exit 0): any output at all fails
        assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r
        # and the check does catch one
        with open(unit, "w") as f:
            f.write(text.replace("Type=notify\n", "Type=notifyy\n"))
        r = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           env=env, cwd=d, timeout=60)
        assert "notifyy" in r.stderr, r
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def unit_has_the_promised_settings():
    s = unit_settings()
    want = {
        "Type": ["notify"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"],
        "KillSignal": ["SIGTERM"],
        "CapabilityBoundingSet": ["CAP_NET_BIND_SERVICE"],
        "AmbientCapabilities": ["CAP_NET_BIND_SERVICE"],
        "ProtectSystem": ["strict"],
        "ProtectHome": ["yes"],
        "NoNewPrivileges": ["yes"],
        "PrivateTmp": ["yes"],
        "ExecStart": ["@SBINDIR@/synfin -c @SYSCONFDIR@/synfin/synfin.conf"],
        "ExecStartPre": ["@SBINDIR@/synfin -c @SYSCONFDIR@/synfin/synfin.conf -t"],
    }
    for k, v in want.items():
        assert s.get(k) == v, (k, s.get(k))
    # the stop timeout outlasts the default drain_timeout (30s), or systemd kills a drain
    m = re.fullmatch(r"(\d+)s", s["TimeoutStopSec"][0])
    assert m and int(m.group(1)) > 30, s["TimeoutStopSec"]
    with open(UNIT) as f:
        text = f.read()
    assert "CAP_NET_ADMIN" in text and "CAP_NET_RAW" in text, "the stack's needs are stated"


def notify_socket(d, abstract=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"synfin-test-notify-{os.getpid()}-{time.monotonic_ns()}"
        s.bind("\0" + name)
        return s, "@" + name
    path = os.path.join(d, "notify")
    s.bind(path)
    return s, path


def messages(s, timeout):
    """Datagrams received within timeout, each as a dict (one message per datagram)."""
    s.settimeout(timeout)
    try:
        data = s.recv(4096).decode()
    except socket.timeout:
        return None
    return dict(line.split("=", 1) for line in data.splitlines() if "=" in line)


class Run:
    def __init__(self, conf_text, abstract=False):
        self.d = tempfile.mkdtemp(prefix="synfin-notify-")
        self.sock, addr = notify_socket(self.d, abstract)
        self.conf = os.path.join(self.d, "synfin.conf")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        env = dict(os.environ, NOTIFY_SOCKET=addr)
        self.err = open(os.path.join(self.d, "err"), "w+")
        self.p = subprocess.Popen([binary("synfin"), "-c", self.conf], env=env,
                                  stdout=subprocess.DEVNULL, stderr=self.err)

    def next(self, timeout=10):
        m = messages(self.sock, timeout)
        assert m is not None or timeout < 1, f"no notification; synfin: {self.log()}"
        return m

    def log(self):
        self.err.seek(0)
        return self.err.read()

    def close(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            self.p.wait(10)
        self.sock.close()
        self.err.close()
        shutil.rmtree(self.d, ignore_errors=True)


def conf(fe, srv, body="ready"):
    return (f"log stderr;\nfrontend f {{ listen 127.0.0.1:{fe}; backend b; }}\n"
            f"backend b {{ server s 127.0.0.1:{srv}; }}\n"
            f'respond 127.0.0.1:{srv} "{body}";\n')


def get(port):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            b = c.recv(4096)
            if not b:
                return data
            data += b


def ready_then_accepts(abstract):
    fe, srv = free_port(), free_port()
    r = Run(conf(fe, srv), abstract)
    try:
        m = r.next()
        assert m.get("READY") == "1", m
        assert m.get("STATUS") == "running", m
        # at READY=1 the listener accepts: no retry, the first connect is served
        assert get(fe).endswith(b"\r\n\r\nready"), "served by the respond backend"
        return r
    except BaseException:
        r.close()
        raise


@t.test
def ready_arrives_once_the_listener_accepts():
    ready_then_accepts(False).close()


@t.test
def ready_on_an_abstract_notify_socket():
    ready_then_accepts(True).close()


@t.test
def reload_is_bracketed_by_reloading_and_ready():
    r = ready_then_accepts(False)
    try:
        fe2, srv2 = free_port(), free_port()
        with open(r.conf, "w") as f:
            f.write(conf(fe2, srv2, "reloaded"))
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        r.p.send_signal(signal.SIGHUP)
        m = r.next()
        assert m.get("RELOADING") == "1", m
        assert before <= int(m["MONOTONIC_USEC"]) <= \
            time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000, m
        m = r.next()
        assert m.get("READY") == "1", m
        assert get(fe2).endswith(b"reloaded")
        # a configuration that fails the check: rejected, and still RELOADING then READY
        with open(r.conf, "w") as f:
            f.write("frontend broken {\n")
        r.p.send_signal(signal.SIGHUP)
        assert r.next().get("RELOADING") == "1"
        assert r.next().get("READY") == "1"
        wait_until(lambda: "event=reload_rejected" in r.log(), 10, what="the rejection logged")
        assert get(fe2).endswith(b"reloaded")
    finally:
        r.close()


@t.test
def drain_reports_stopping():
    r = ready_then_accepts(False)
    try:
        r.p.send_signal(signal.SIGTERM)
        m = r.next()
        assert m.get("STOPPING") == "1" and m.get("STATUS") == "draining", m
        assert r.p.wait(15) == 0, r.log()
        assert r.next(timeout=0.2) is None  # nothing after it
    finally:
        r.close()


@t.test
def stop_reports_stopping():
    r = ready_then_accepts(False)
    try:
        r.p.send_signal(signal.SIGINT)
        m = r.next()
        assert m.get("STOPPING") == "1" and m.get("STATUS") == "stopping", m
        assert r.p.wait(15) == 0, r.log()
    finally:
        r.close()


@t.test
def no_ready_when_a_listener_cannot_open():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = Run(conf(port, free_port()))
        try:
            assert r.p.wait(15) == 1, r.log()
            assert r.next(timeout=0.2) is None, "READY=1 from a synfin that did not start"
        finally:
            r.close()


@t.test
def libsystemd_is_linked_into_synfin_alone():
    if not shutil.which("readelf"):
        t.skip_test("readelf is not installed (Debian binutils)")

    def needed(name):
        assert os.path.exists(binary(name)), binary(name)
        r = subprocess.run(["readelf", "-d", binary(name)], capture_output=True, text=True)
        return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)
    assert any(n.startswith("libsystemd.so") for n in needed("synfin")), needed("synfin")
    for name in ("synfin-stat", "synfin-ctl", "synfin-drill", "synfin-serve"):
        assert not any(n.startswith("libsystemd") for n in needed(name)), (name, needed(name))


t.done()
