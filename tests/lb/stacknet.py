"""The stack transport's test network: a network namespace of the test's own, which the test
process itself enters (so its backend threads, its clients and every program it starts live
there), with synfin's TUN device in it.

Layout:  Linux 10.79.0.1 (kernel side of the TUN sflt0: clients, backend servers)
         synfin 10.79.0.2 (its own TCP: the frontends' VIP and the source toward servers)
A second synfin running at the same time gets sflt1 and 10.79.1.0/24, and so on (slot).
The namespace goes when the test process exits, and with it everything in it.
"""
import ctypes
import os
import shutil
import subprocess

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
