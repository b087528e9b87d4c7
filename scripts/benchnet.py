"""The real wire of `make bench-lb` (root): three network namespaces of this run's own,
client, balancer and server, joined by veth pairs; the balancer namespace forwards.

    client ns bench-c-<pid>     balancer ns bench-b-<pid>        server ns bench-s-<pid>
    eth0 10.88.0.2/24 ---veth--- c0 10.88.0.1/24
      (+ 10.88.0.10...: more     s0 10.88.1.1/24 ---veth--------- eth0 10.88.1.2/24
       client sources)           lo: frontends 10.88.(16+b).(r+1)  lo: direct's addresses
                                     sources   10.88.(32+b).(r+1)      10.88.48.(r+1)
                                 TUN of synfin-stack: kernel side 10.88.(64+r).1/24,
                                     synfin's own TCP 10.88.(64+r).2 (VIP and source)

(b: the balancer's row, r: the round.) The client routes 10.88.0.0/16 to the balancer
namespace, the server answers 10.88.0.0/16 through it, and the balancer namespace routes
direct's addresses to the server: every row crosses the same two veth pairs and the same
forwarding namespace. 10.88/16 is used nowhere
else in the tests (they use 10.77, 10.78, 10.79).

Everything is removed on exit, also on an exception, SIGINT or SIGTERM: the processes this
run started in the namespaces are killed first (a namespace with a live process would
outlive `ip netns del`), then the namespaces, and with them the veth pairs and addresses.
A run killed outright (SIGKILL) cannot clean up: the next run removes namespaces of this
prefix whose pid is gone ("bench" is the worktree the benchmark was written in: names that
no other engineer's tests use).
"""
import atexit
import ctypes
import os
import re
import signal
import subprocess
import threading

CLONE_NEWNET = 0x40000000
NET = "10.88"
CLIENT_ADDR = f"{NET}.0.2"
SERVER_ADDR = f"{NET}.1.2"
ROLES = ("client", "balancer", "server")
PREFIX = "bench-"


def skip_reason():
    """Why the wire topology cannot be built here (one line), or None."""
    if os.geteuid() != 0:
        return "the wire topology (network namespaces, veth, a TUN device) needs root"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if subprocess.run(["ip", "-V"], capture_output=True).returncode:
        return "ip (iproute2) is not installed"
    return None


_libc = ctypes.CDLL(None, use_errno=True)


def in_ns(ns, fn, *args):
    """fn(*args) in network namespace ns, on a thread of its own (setns moves only the
    calling thread; sockets it opens stay in ns). Returns fn's value, raises its error."""
    out = {}

    def run():
        try:
            fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({ns})")
            finally:
                os.close(fd)
            out["v"] = fn(*args)
        except BaseException as e:  # noqa: B902 - handed to the caller
            out["e"] = e

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out.get("v")


class Net:
    """The three namespaces. ns(role) names one; argv(role, cmd) runs cmd in it."""

    def __init__(self, tag="bench-lb"):
        self.tag = tag
        self.names = {r: f"{PREFIX}{r[0]}-{os.getpid()}" for r in ROLES}
        self.procs = []
        self.made = []
        self.client_sources = []
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._old[sig] = signal.signal(sig, self._on_signal)
        atexit.register(self.close)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _on_signal(self, sig, frame):
        self.close()
        raise SystemExit(f"{self.tag}: stopped by signal {sig}; namespaces removed")

    def ns(self, role):
        return self.names[role]

    def argv(self, role, cmd):
        return ["ip", "netns", "exec", self.names[role]] + list(cmd)

    def sh(self, role, *cmd, check=True, timeout=60):
        """Runs cmd in role's namespace (role None: the host) and returns its stdout."""
        argv = self.argv(role, cmd) if role else list(cmd)
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode:
            raise SystemExit(f"{self.tag}: {' '.join(argv)}: {p.stderr.strip()[-400:]}")
        return p.stdout

    def popen(self, role, cmd, **kw):
        """A process in role's namespace, killed at close if still running. `ip netns exec`
        execs cmd: the pid is cmd's own (its /proc/PID/stat is the program's)."""
        p = subprocess.Popen(self.argv(role, cmd), **kw)
        self.procs.append(p)
        return p

    def sysctl(self, role, **kv):
        for k, v in kv.items():
            self.sh(role, "sysctl", "-q", "-w", f"{k.replace('__', '.')}={v}")

    @staticmethod
    def _remove_stale():
        """Namespaces of an earlier run killed outright: its pid (the name's tail) is gone."""
        try:
            names = os.listdir("/run/netns")
        except FileNotFoundError:
            return
        for n in names:
            m = re.fullmatch(re.escape(PREFIX) + r"[cbs]-(\d+)", n)
            if m and not os.path.exists(f"/proc/{m.group(1)}"):
                subprocess.run(["ip", "netns", "del", n], capture_output=True)

    def _build(self):
        self._remove_stale()
        c, b, s = (self.names[r] for r in ROLES)
        for n in (c, b, s):
            self.sh(None, "ip", "netns", "add", n)
            self.made.append(n)
            self.sh(None, "ip", "-n", n, "link", "set", "lo", "up")
        # veth pairs made inside the namespaces: no name is ever taken on the host
        self.sh(None, "ip", "-n", c, "link", "add", "eth0", "type", "veth", "peer", "name",
                "c0", "netns", b)
        self.sh(None, "ip", "-n", s, "link", "add", "eth0", "type", "veth", "peer", "name",
                "s0", "netns", b)
        for ns, dev, addr in ((c, "eth0", f"{NET}.0.2/24"), (b, "c0", f"{NET}.0.1/24"),
                              (b, "s0", f"{NET}.1.1/24"), (s, "eth0", f"{NET}.1.2/24")):
            self.sh(None, "ip", "-n", ns, "addr", "add", addr, "dev", dev)
            self.sh(None, "ip", "-n", ns, "link", "set", dev, "up")
        self.sh(None, "ip", "-n", c, "route", "add", f"{NET}.0.0/16", "via", f"{NET}.0.1")
        self.sh(None, "ip", "-n", s, "route", "add", f"{NET}.0.0/16", "via", f"{NET}.1.1")
        self.sh(None, "ip", "-n", b, "route", "add", f"{NET}.48.0/24", "via", SERVER_ADDR)
        wide = "1024 65535"
        for role in ROLES:
            # a fresh namespace has Linux's defaults; these are per namespace
            self.sysctl(role, net__ipv4__ip_local_port_range=wide, net__core__somaxconn=65535,
                        net__ipv4__tcp_max_syn_backlog=65535)
        self.sysctl("balancer", net__ipv4__ip_forward=1, net__ipv4__conf__all__rp_filter=0,
                    net__ipv4__conf__default__rp_filter=0)

    def add_addr(self, role, addr, dev="lo"):
        """addr (A.B.C.D/N) on dev in role's namespace; goes with the namespace."""
        self.sh(role, "ip", "addr", "add", addr, "dev", dev)

    def add_client_sources(self, n):
        """n more client addresses (10.88.0.10 ...) on the client's veth; returns them all."""
        while len(self.client_sources) < n:
            a = f"{NET}.0.{10 + len(self.client_sources)}"
            self.add_addr("client", f"{a}/24", "eth0")
            self.client_sources.append(a)
        return self.client_sources[:n]

    def tw(self, role, filt):
        """TIME_WAIT sockets in role's namespace matching an ss filter."""
        out = self.sh(role, "ss", "-Htan", "state", "time-wait", *filt.split())
        return sum(1 for line in out.splitlines() if line.strip())

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        self.procs = []
        while self.made:
            subprocess.run(["ip", "netns", "del", self.made.pop()], capture_output=True)
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}
