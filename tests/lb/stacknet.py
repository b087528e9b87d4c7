"""The stack transport's test network: a network namespace of the test's own, which the test
process itself enters (so its backend threads, its clients and every program it starts live
there), with synfin's TUN device in it.

Layout:  Linux 10.79.0.1 (kernel side of the TUN sflt0: clients, backend servers)
         synfin 10.79.0.2 (its own TCP: the frontends' VIP and the source toward servers)
A second synfin running at the same time gets sflt1 and 10.79.1.0/24, and so on (slot).
The namespace goes when the test process exits, and with it everything in it.

Also what the stack suites (test_stack.py, test_stack_ipv6.py) share: the reason a suite
cannot run here (suite_skip), a server in the namespace (Server) and deterministic payloads
(pattern).
"""
import ctypes
import hashlib
import os
import shutil
import socket
import subprocess
import threading

KERNEL = "10.79.0.1"
VIP = "10.79.0.2"
CLONE_NEWNET = 0x40000000


def skip_reason():
    """A one-line reason the stack transport cannot be tested here, or None."""
    if os.geteuid() != 0:
        return "the stack transport needs root (a network namespace and a TUN device)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if not shutil.which("ip"):
        return "ip (iproute2) is not installed"
    return None


def suite_skip(tools, ipv6=False):
    """skip_reason, or the first of tools (programs) not installed, or IPv6 missing when
    the suite needs it; None when the suite can run."""
    why = skip_reason()
    for tool in tools:
        if not why and not shutil.which(tool):
            why = f"{tool} is not installed"
    if not why and ipv6 and not os.path.exists("/proc/sys/net/ipv6"):
        why = "IPv6 is disabled in this kernel"
    return why


_entered = False


def enter():
    """Moves this process (before it starts any thread) into a new network namespace with
    loopback up. Idempotent."""
    global _entered
    if _entered:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    _entered = True


def vip(slot=0):
    """Instance slot's VIP (several synfin instances at once each have a device and a /24)."""
    return f"10.79.{slot}.2"


def kernel(slot=0):
    """The kernel side of instance slot's device: where its synfin reaches the servers."""
    return f"10.79.{slot}.1"


def second(slot=0):
    """A second address of instance slot's stack (a second source toward servers)."""
    return f"10.79.{slot}.3"


def transport_block(slot=0, extra=""):
    return (f"transport stack {{ tun sflt{slot}; kernel_addr {kernel(slot)}/24; "
            f"address {vip(slot)} {second(slot)}; {extra} }}\n")


def adhoc_flags(slot=0):
    return ["--transport", "stack", "--tun", f"sflt{slot}", "--kernel-addr",
            f"{kernel(slot)}/24", "--stack-addr", vip(slot)]


class Server:
    """A TCP server in the test's namespace, each connection handled by handler(conn) in a
    thread; the peers' addresses (IPv4 ones without their ::ffff: prefix) kept in
    self.peers, the OSErrors handlers raised in self.errors. On 0.0.0.0:port, so synfin's
    TCP reaches it at KERNEL:port, or with dual on [::]:port taking both families (IPV6_V6ONLY
    off)."""

    def __init__(self, handler, dual=False, backlog=512):
        if dual:
            self.sock = socket.socket(socket.AF_INET6)
            self.sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        else:
            self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("::" if dual else "0.0.0.0", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.peers, self.errors = [], []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, a = self.sock.accept()
            except OSError:
                return
            self.peers.append(a[0].removeprefix("::ffff:"))
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.handler(c)
        except OSError as e:
            self.errors.append(e)
        finally:
            c.close()

    def close(self):
        self.sock.close()


def pattern(n, seed):
    """n deterministic bytes (so both ends can check without keeping a copy)."""
    block = hashlib.sha256(seed).digest() * 2048
    return (block * (n // len(block) + 1))[:n]
