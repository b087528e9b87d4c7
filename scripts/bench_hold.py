"""Idle TCP connections for the session-capacity benchmark (scripts/bench_sessions_wire.py),
one process per role instance, each raising its open-file limit to the hard one:

  bench_hold.py server ADDR PORT STATUS
      accepts on ADDR:PORT and holds every connection (reads nothing, sends nothing) until
      killed; STATUS gets the number held, rewritten as it changes.
  bench_hold.py client SRC DST PORT COUNT STATUS
      opens COUNT connections from SRC (port chosen by the kernel per 4-tuple) to DST:PORT,
      at most 128 handshakes in flight, each given 3 s; gives up after 512 failures in a
      row; writes "connected N failed M [done]" to STATUS; holds them until killed.

Every socket has SO_LINGER 0: killed, the process resets its connections (no TIME_WAIT
left behind to skew the next balancer's figures)."""
import errno
import os
import resource
import select
import socket
import struct
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24
LINGER0 = struct.pack("ii", 1, 0)
INFLIGHT = 128
CONNECT_TIMEOUT = 3.0
GIVE_UP = 512


def raise_nofile():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def status(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def server(addr, port, path):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, int(port)))
    ls.listen(65535)
    ls.settimeout(0.2)
    held = []
    status(path, "0")
    while True:
        n = len(held)
        try:
            c, _ = ls.accept()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            held.append(c)
        except socket.timeout:
            pass
        except OSError as e:
            if e.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            time.sleep(0.2)  # out of descriptors: hold what we have
        if len(held) != n and (len(held) % 500 == 0 or len(held) - n == 1):
            status(path, str(len(held)))
        if len(held) == n:
            status(path, str(len(held)))


def client(src, dst, port, count, path):
    count = int(count)
    ep = select.epoll()
    pending = {}  # fd -> (socket, deadline)
    held = []
    failed = streak = 0
    started = 0
    last = 0.0
    while (started < count or pending) and streak < GIVE_UP:
        while started < count and len(pending) < INFLIGHT:
            s = socket.socket()
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            s.bind((src, 0))
            s.setblocking(False)
            try:
                s.connect((dst, int(port)))
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                failed += 1
                streak += 1
                started += 1
                continue
            ep.register(s.fileno(), select.EPOLLOUT)
            pending[s.fileno()] = (s, time.monotonic() + CONNECT_TIMEOUT)
            started += 1
        for fd, _ in ep.poll(0.1):
            s, _ = pending.pop(fd)
            ep.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                held.append(s)
                streak = 0
            else:
                s.close()
                failed += 1
                streak += 1
        now = time.monotonic()
        for fd in [fd for fd, (_, dl) in pending.items() if dl < now]:
            s, _ = pending.pop(fd)
            ep.unregister(fd)
            s.close()
            failed += 1
            streak += 1
        if now - last > 0.2:
            status(path, f"connected {len(held)} failed {failed}")
            last = now
    for s, _ in pending.values():
        s.close()
    failed += count - len(held) - failed
    status(path, f"connected {len(held)} failed {failed} done")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    raise_nofile()
    {"server": server, "client": client}[sys.argv[1]](*sys.argv[2:])
