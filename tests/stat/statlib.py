"""Helpers for synfin-stat's system tests: network namespaces made (and removed) by the test,
sockets in known TCP states inside them, and `ss` as the judge of what the kernel holds.

Everything stays inside namespaces this module creates: loopback, or a veth pair between two
of them with addresses from 198.18.0.0/15 (the benchmarking range, RFC 2544).
"""
import atexit
import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402

CLONE_NEWNET = 0x40000000
STATES = ["CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
          "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"]
# ss's names for the same states.
SS_NAMES = {"UNCONN": "CLOSED", "LISTEN": "LISTEN", "SYN-SENT": "SYN_SENT",
            "SYN-RECV": "SYN_RECEIVED", "ESTAB": "ESTABLISHED", "FIN-WAIT-1": "FIN_WAIT_1",
            "FIN-WAIT-2": "FIN_WAIT_2", "CLOSE-WAIT": "CLOSE_WAIT", "CLOSING": "CLOSING",
            "LAST-ACK": "LAST_ACK", "TIME-WAIT": "TIME_WAIT"}

_libc = ctypes.CDLL(None, use_errno=True)
_made = []
_serial = [0]


def stat_bin():
    return tap.binary("synfin-stat")


def need_root_and_netns():
    """Skips the calling test unless it can make network namespaces (root, iproute2, ss)."""
    if not tap.is_root():
        tap.Tap.skip_test("needs root to create network namespaces")
    for tool in ("ip", "ss"):
        if not shutil.which(tool):
            tap.Tap.skip_test(f"needs '{tool}' (iproute2)")


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


class Netns:
    """A named network namespace (/run/netns/NAME) with lo up; removed at exit."""

    def __init__(self, tag):
        _serial[0] += 1
        self.name = f"synfin-stat-{os.getpid()}-{_serial[0]}{tag}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        _made.append(self)
        self.run(["ip", "link", "set", "lo", "up"])

    def run(self, argv, **kw):
        """Runs argv inside the namespace; returns the CompletedProcess (text, captured)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("timeout", 60)
        return subprocess.run(["ip", "netns", "exec", self.name] + argv, **kw)

    def sysctl(self, key, value):
        with self:
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(str(value))

    def __enter__(self):
        """Moves this (single-threaded) test process into the namespace: sockets made inside
        the with-block live there."""
        self._back = os.open("/proc/self/ns/net", os.O_RDONLY)
        _setns(f"/run/netns/{self.name}")
        return self

    def __exit__(self, *exc):
        try:
            if _libc.setns(self._back, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back to the original namespace")
        finally:
            os.close(self._back)

    def delete(self):
        if self in _made:
            _made.remove(self)
            subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


@atexit.register
def _cleanup():
    for ns in list(_made):
        ns.delete()


_built = {}


def built_once(name, builder):
    """builder() the first time a test asks for name, its result afterwards. When building
    failed, every later test that needs it fails with the same error without trying again
    (a half-built scene would only fail more confusingly)."""
    need_root_and_netns()
    if name not in _built:
        try:
            _built[name] = builder()
        except Exception as e:  # noqa: BLE001 - remembered and raised again
            _built[name] = e
    if isinstance(_built[name], Exception):
        raise AssertionError(f"could not build {name}: {_built[name]!r}")
    return _built[name]


def veth_pair(a, b, a_addr, b_addr, prefix=30):
    """Links namespaces a and b with a veth pair: a_addr on a's end, b_addr on b's."""
    va, vb = f"sfa{os.getpid() % 100000}", f"sfb{os.getpid() % 100000}"
    subprocess.run(["ip", "link", "add", va, "netns", a.name, "type", "veth", "peer", "name",
                    vb, "netns", b.name], check=True)
    for ns, dev, addr in ((a, va, a_addr), (b, vb, b_addr)):
        r = ns.run(["ip", "addr", "add", f"{addr}/{prefix}", "dev", dev])
        assert r.returncode == 0, r.stderr
        r = ns.run(["ip", "link", "set", dev, "up"])
        assert r.returncode == 0, r.stderr
    return va, vb


def ss_hist(ns, expr=None):
    """The state histogram `ss -tanH [expr]` reports in ns."""
    argv = ["ss", "-tanH"] + ([expr] if expr else [])
    r = ns.run(argv) if ns else subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{argv}: {r.stderr}"
    hist = dict.fromkeys(STATES, 0)
    for line in r.stdout.splitlines():
        if line.strip():
            hist[SS_NAMES[line.split()[0]]] += 1
    return hist


def stat(args, ns=None, check=True):
    """Runs synfin-stat (inside ns when given, else in the test's namespace)."""
    argv = [stat_bin()] + args
    if ns:
        r = ns.run(argv)
    else:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if check:
        assert r.returncode == 0, f"{argv} exited {r.returncode}: {r.stderr}"
    return r


def parse_text_hist(out):
    """The eleven 'STATE COUNT' lines, checked for order and completeness."""
    lines = [ln.split() for ln in out.splitlines()[:11]]
    assert [ln[0] for ln in lines] == STATES, f"states out of order or missing:\n{out}"
    return {ln[0]: int(ln[1]) for ln in lines}


def stat_hist(args, ns=None):
    """synfin-stat's histogram, read both as text and as JSON, which must agree."""
    text = parse_text_hist(stat(args, ns).stdout)
    doc = json.loads(stat(args + ["--json"], ns).stdout)
    assert doc["tcp_states"] == text, f"JSON {doc['tcp_states']} != text {text}"
    assert list(doc["tcp_states"]) == STATES
    assert doc["total"] == sum(text.values())
    return text


def listener(host="127.0.0.1", backlog=128, family=socket.AF_INET, port=0):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def connect_pair(lsock, src=None):
    """An established pair (client, server) to the listener, the client bound to src."""
    family = lsock.family
    c = socket.socket(family, socket.SOCK_STREAM)
    if src:
        c.bind((src, 0))
    c.connect(lsock.getsockname()[:2])
    s, _ = lsock.accept()
    return c, s


def set_linger_off(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\0" * 8)
