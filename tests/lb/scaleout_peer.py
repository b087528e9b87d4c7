#!/usr/bin/env python3
"""The parts of test_scaleout.py that run inside its network namespaces (started there with
`ip netns exec`): the servers behind the nodes, and the clients in front of the router.
Each prints one JSON document on stdout.

Servers answer a first line:
  who            -> "NAME PEER\n", then close (PEER is the node's address: which node came)
  get N RATE     -> "NAME PEER\n" then N bytes of pattern() at RATE bytes/s, then close
  hold           -> "NAME PEER\n", then "pong\n" for every "ping\n" until the peer closes
"""
import hashlib
import json
import socket
import socketserver
import sys
import threading
import time

VIP = ("10.99.0.1", 80)
SO_MARK = 36


def pattern(n):
    """n bytes that both ends can make and hash (sha256 blocks of a counter)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:n])


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode(errors="replace").split()
        if not line:
            return
        head = f"{self.server.name} {self.client_address[0]}\n".encode()
        self.wfile.write(head)
        if line[0] == "get":
            n, rate = int(line[1]), int(line[2])
            body, sent, t0 = pattern(n), 0, time.monotonic()
            while sent < n:
                chunk = body[sent:sent + 65536]
                self.wfile.write(chunk)
                sent += len(chunk)
                ahead = sent / rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)  # pacing the sender, not waiting for a result
        elif line[0] == "hold":
            for req in self.rfile:
                if req.strip() == b"ping":
                    self.wfile.write(b"pong\n")


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def serve(addr, names_ports):
    servers = []
    for spec in names_ports:
        name, port = spec.split("=")
        s = Server((addr, int(port)), Handler)
        s.name = name
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
    print(json.dumps({"serving": len(servers)}), flush=True)
    sys.stdin.read()  # until the test closes our stdin


def dial(mark=0, bind=None, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    if mark:
        s.setsockopt(socket.SOL_SOCKET, SO_MARK, mark)
    if bind:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(bind)
    s.connect(VIP)
    return s


def head(s):
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            raise ConnectionError("closed before the head")
        buf += c
    name, peer = buf.decode().split()
    return name, peer


def who(mark=0, bind=None):
    s = dial(mark, bind)
    try:
        s.sendall(b"who\n")
        return head(s)
    finally:
        if bind:  # the same 4-tuple comes again at once: leave no TIME-WAIT behind
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        s.close()


def spread(n, conc):
    results, errors, lock = [], [], threading.Lock()
    todo = iter(range(n))

    def worker():
        for _ in iter(lambda: next(todo, None), None):
            try:
                r = who()
                with lock:
                    results.append(r)
            except OSError as e:
                with lock:
                    errors.append(str(e))

    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    nodes, servers = {}, {}
    for name, peer in results:
        nodes[peer] = nodes.get(peer, 0) + 1
        servers[name] = servers.get(name, 0) + 1
    print(json.dumps({"ok": len(results), "errors": errors[:5], "nerrors": len(errors),
                      "nodes": nodes, "servers": servers}))


def steer(src, first_port, count, marks):
    """The same client address and port, sent to each node in turn by its firewall mark."""
    out = {}
    for p in range(first_port, first_port + count):
        out[p] = {}
        for m in marks:
            name, peer = who(mark=m, bind=(src, p))
            out[p][m] = [name, peer]
    print(json.dumps(out))


def download(n, rate, mark, src):
    s = dial(mark, (src, 0) if src else None, timeout=30)
    s.sendall(f"get {n} {rate}\n".encode())
    name, peer = head(s)
    print(json.dumps({"started": True, "server": name, "node": peer}), flush=True)
    h, got = hashlib.sha256(), 0
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        h.update(b)
        got += len(b)
    print(json.dumps({"bytes": got, "sha_ok": h.hexdigest() == hashlib.sha256(pattern(n)).hexdigest()}))


def hold(count, src=None):
    """Opens count held connections, says where they landed, then on each line from stdin
    checks every one with a ping and says which still answer."""
    conns = []
    for _ in range(count):
        s = dial(bind=(src, 0) if src else None)
        s.sendall(b"hold\n")
        conns.append((s, head(s)[1]))
    print(json.dumps({"nodes": [peer for _, peer in conns],
                      "ports": [s.getsockname()[1] for s, _ in conns]}), flush=True)
    for _ in sys.stdin:
        alive = []
        for s, _peer in conns:
            try:
                s.settimeout(3)
                s.sendall(b"ping\n")
                alive.append(s.recv(5) == b"pong\n")
            except OSError:
                alive.append(False)
        print(json.dumps({"alive": alive}), flush=True)


def main(argv):
    cmd = argv[1]
    if cmd == "serve":
        serve(argv[2], argv[3:])
    elif cmd == "spread":
        spread(int(argv[2]), int(argv[3]))
    elif cmd == "steer":
        steer(argv[2], int(argv[3]), int(argv[4]), [int(m) for m in argv[5:]])
    elif cmd == "download":
        download(int(argv[2]), int(argv[3]), int(argv[4]), argv[5] if len(argv) > 5 else None)
    elif cmd == "hold":
        hold(int(argv[2]), argv[3] if len(argv) > 3 else None)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
