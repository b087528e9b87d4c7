#!/usr/bin/env python3
"""The Linux side of the interop tests, run inside the test's namespace.

  peer.py echo BYTES [PORT]      send BYTES of deterministic data to synfin's echo while
                                 reading it back; print "sent sha256 received sha256"
  peer.py close-first [PORT]     connect, exchange a little, close first (Linux active close);
                                 print the local port
  peer.py flood COUNT [PORT [RATE]]
                                 COUNT SYNs through a raw socket, from random source ports
                                 outside the kernel's ephemeral range (so that none lands on
                                 a 4-tuple a real connection of the test is using or holds in
                                 TIME-WAIT), RATE per second (0: as fast as it can); print
                                 "flooding" once the first thousand are out, and at the end
                                 the count and the ports used, "COUNT LO-HI,LO-HI"
  peer.py hold [PORT]            connect and print "connected LOCALPORT"; then read until the
                                 peer closes and print "eof" (or "reset"), and close
  peer.py sink BYTES [PORT]      send BYTES to a sink, shut down writing, read its answer;
                                 print "sent sha256 answer"
"""
import hashlib
import os
import random
import selectors
import socket
import struct
import sys
import time

ADDR = os.environ.get("SYNFIN_PEER_ADDR", "10.77.0.2")  # synfin-serve's (IPv6 tests: theirs)


def echo(total, port):
    s = socket.create_connection((ADDR, port), timeout=60)
    s.setblocking(False)
    rng = random.Random(1234)
    block = rng.randbytes(65536)
    hs, hr = hashlib.sha256(), hashlib.sha256()
    sent = recvd = 0
    sel = selectors.DefaultSelector()
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
    shut = False
    while recvd < total:
        events = sel.select(timeout=60)
        if not events:
            raise SystemExit(f"stalled: sent {sent} received {recvd}")
        for _, ev in events:
            if ev & selectors.EVENT_WRITE and sent < total:
                chunk = block[: min(len(block), total - sent)]
                try:
                    n = s.send(chunk)
                except BlockingIOError:
                    n = 0
                hs.update(chunk[:n])
                sent += n
                if sent == total and not shut:
                    s.shutdown(socket.SHUT_WR)  # half-close: echo sends the rest, then FIN
                    shut = True
                    sel.modify(s, selectors.EVENT_READ)
            if ev & selectors.EVENT_READ:
                try:
                    data = s.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    raise SystemExit(f"early EOF: sent {sent} received {recvd}")
                hr.update(data)
                recvd += len(data)
    s.setblocking(True)
    tail = s.recv(1)  # the peer's FIN after the last byte
    s.close()
    print(sent, hs.hexdigest(), recvd, hr.hexdigest(), "eof" if tail == b"" else "extra")


def sink(total, port):
    s = socket.create_connection((ADDR, port), timeout=60)
    block = random.Random(1234).randbytes(65536)
    hs = hashlib.sha256()
    sent = 0
    while sent < total:
        chunk = block[: min(len(block), total - sent)]
        s.sendall(chunk)
        hs.update(chunk)
        sent += len(chunk)
    s.shutdown(socket.SHUT_WR)
    answer = b""
    while True:
        data = s.recv(4096)
        if not data:
            break
        answer += data
    s.close()
    print(sent, hs.hexdigest(), answer.decode().strip())


def close_first(port):
    s = socket.create_connection((ADDR, port), timeout=10)
    s.sendall(b"x" * 1000)
    got = b""
    while len(got) < 1000:
        got += s.recv(1000 - len(got))
    print(s.getsockname()[1])
    sys.stdout.flush()
    s.close()  # Linux sends the first FIN


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def hold(port):
    s = socket.create_connection((ADDR, port), timeout=60)
    print("connected", s.getsockname()[1], flush=True)
    s.settimeout(60)
    try:
        while s.recv(4096):
            pass
        print("eof", flush=True)
    except ConnectionResetError:
        print("reset", flush=True)
    s.close()


def flood_ports():
    """Source ports for the flood: 1024..65535 without the ephemeral range of this
    namespace, which is where curl's connections (and their TIME-WAIT) are."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = map(int, f.read().split())
    ranges = [(a, b) for a, b in ((1024, lo - 1), (hi + 1, 65535)) if a <= b]
    if not ranges:
        raise SystemExit(f"no ports outside the ephemeral range {lo}-{hi}")
    return ranges


def flood(count, port, rate, stop_path=None):
    """count SYNs at rate per second; with stop_path, more after those until that file
    exists, up to four times count. Prints how many it sent and the port ranges used."""
    src, dst = socket.inet_aton("10.77.0.1"), socket.inet_aton(ADDR)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    rng = random.Random(7)
    ranges = flood_ports()
    ports = [p for a, b in ranges for p in range(a, b + 1)]
    start = time.monotonic()
    sent = 0
    for i in range(count * 4 if stop_path else count):
        if i >= count and i % 100 == 0 and os.path.exists(stop_path):
            break
        if i % 100 == 0 and i:  # in bursts of 100: fewer than the TUN device queues
            if i == 1000:
                print("flooding", flush=True)
            ahead = start + i / rate - time.monotonic() if rate else 0
            if ahead > 0:
                time.sleep(ahead)  # pacing: the schedule of a flood at RATE per second
        sport = ports[rng.randrange(len(ports))]
        seq = rng.getrandbits(32)
        tcp = struct.pack("!HHIIBBHHH", sport, port, seq, 0, 5 << 4, 0x02, 65535, 0, 0)
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), i & 0xFFFF, 0, 64, 6, 0,
                         src, dst)
        raw.sendto(ip + tcp, (ADDR, 0))
        sent += 1
    print(sent, ",".join(f"{a}-{b}" for a, b in ranges))


if __name__ == "__main__":
    cmd = sys.argv[1]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 80
    if cmd == "echo":
        echo(int(sys.argv[2]), port)
    elif cmd == "close-first":
        close_first(int(sys.argv[2]) if len(sys.argv) > 2 else 80)
    elif cmd == "sink":
        sink(int(sys.argv[2]), port)
    elif cmd == "flood":
        flood(int(sys.argv[2]), port, int(sys.argv[4]) if len(sys.argv) > 4 else 0,
              sys.argv[5] if len(sys.argv) > 5 else None)
    elif cmd == "hold":
        hold(int(sys.argv[2]) if len(sys.argv) > 2 else 80)
    else:
        raise SystemExit(__doc__)
