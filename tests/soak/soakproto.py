"""What the soak's clients and servers agree on: the session header, the kinds of session,
the seeded byte streams and the code that moves them (Python stdlib only).

A session starts with a 64-byte header from the client (counted in synfin's bytes_up); then
each direction carries bytes from a seeded generator (random.Random(seed).randbytes in
16 KiB blocks), so the receiver checks every byte against what the sender must have sent
without either keeping a copy, and both ends keep a SHA-256 of what they sent and received:
the driver compares the sender's with the receiver's. The first byte that differs is found by
comparison, so a report says where a stream went wrong, not only that it did."""
import errno
import hashlib
import random
import select
import socket
import struct
import time

MAGIC = b"SYNSOAK1"
HDR = struct.Struct("!8sQBBBBIQQQ16x")  # magic token kind fe flags pad slow_us up down rst_at
HDR_LEN = HDR.size
assert HDR_LEN == 64

# Kinds: how the two ends run a session. The server's behaviour follows from the kind.
SFIN = 1    # request/response, the server closes first
CFIN = 2    # request, then the client's FIN (nc -N); the server answers after it and closes
BOTH = 3    # request and FIN at once from the client; the server answers and closes at once
HALF_C = 4  # client half-close: a large upload and FIN, then a large answer
HALF_S = 5  # server half-close: the server sends everything and its FIN first, then the
            # client uploads and closes
STREAM = 6  # long session, both directions at once, each side FINs when done
SLOW_C = 7  # the client reads slowly (back-pressure through synfin)
SLOW_S = 8  # the server reads slowly
CRST = 9    # both stream; the client resets mid-stream
SRST = 10   # both stream; the server resets mid-stream

NAMES = {SFIN: "short_server_closes", CFIN: "short_client_closes", BOTH: "short_both_close",
         HALF_C: "half_close_client", HALF_S: "half_close_server", STREAM: "long_stream",
         SLOW_C: "slow_client_reader", SLOW_S: "slow_server_reader", CRST: "client_rst",
         SRST: "server_rst"}

FE_FIN, FE_RST = 0, 1  # the frontend: its backend closes servers with FIN, or with RST
ENDLESS = 1 << 50      # a stream that only a reset ends

BLOCK = 16384
CHUNK = 65536
LINGER0 = struct.pack("ii", 1, 0)


def seeds(token):
    return token * 2 + 1, token * 2 + 2  # up, down


class Gen:
    """A seeded stream: take(n) gives its next n bytes; sha holds what was taken."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.buf = b""
        self.pos = 0
        self.n = 0
        self.sha = hashlib.sha256()

    def take(self, n):
        out = []
        while n > 0:
            if self.pos == len(self.buf):
                self.buf = self.rng.randbytes(BLOCK)
                self.pos = 0
            k = min(n, len(self.buf) - self.pos)
            out.append(self.buf[self.pos:self.pos + k])
            self.pos += k
            n -= k
        b = b"".join(out)
        self.n += len(b)
        self.sha.update(b)
        return b


class Check:
    """The receiving end of a seeded stream: every byte compared with the generator's, a
    SHA-256 of what arrived. bad: offset of the first wrong byte (None while all are right);
    beyond: bytes received past the expected length."""

    def __init__(self, seed, expect):
        self.gen = Gen(seed)
        self.expect = expect
        self.n = 0
        self.sha = hashlib.sha256()
        self.bad = None
        self.beyond = 0

    def feed(self, data):
        self.sha.update(data)
        room = self.expect - self.n
        if len(data) > room:
            self.beyond += len(data) - room
        want = self.gen.take(min(len(data), max(room, 0)))
        if self.bad is None and data[:len(want)] != want:
            for i, (a, b) in enumerate(zip(data, want)):
                if a != b:
                    self.bad = self.n + i
                    break
        self.n += len(data)

    def ok(self):
        return self.bad is None and self.beyond == 0

    def complete(self):
        return self.ok() and self.n == self.expect


def header(token, kind, fe, up, down, rst_at=0, slow_us=0, flags=0):
    return HDR.pack(MAGIC, token, kind, fe, flags, 0, slow_us, up, down, rst_at)


def parse_header(b):
    magic, token, kind, fe, flags, _, slow_us, up, down, rst_at = HDR.unpack(b)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}")
    return {"token": token, "kind": kind, "fe": fe, "flags": flags, "slow_us": slow_us,
            "up": up, "down": down, "rst_at": rst_at}


class Stall(Exception):
    """No byte moved for the stall timeout: a hang."""


def is_reset(e):
    """Whether e says the peer reset the connection. ENOTCONN too: a shutdown() after the
    reset arrived (between the last send and the FIN) finds the socket no longer connected."""
    return isinstance(e, (ConnectionResetError, BrokenPipeError)) or \
        getattr(e, "errno", None) in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED,
                                      errno.ENOTCONN)


def keepalive(s, idle=4, intvl=1, cnt=5):
    """TCP keepalive, so that a reset lost on an impaired wire is found by probing (the
    peer answers the probe with an RST) rather than waited for forever."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, intvl)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, cnt)


def abort(s):
    """Close with RST (SO_LINGER 0)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    finally:
        s.close()


def send_all(s, gen, n, stall):
    """Blocking: n bytes of gen to s. Raises Stall after `stall` seconds without progress."""
    s.settimeout(stall)
    left = n
    while left > 0:
        b = gen.take(min(CHUNK, left))
        try:
            s.sendall(b)
        except socket.timeout:
            raise Stall(f"send stalled after {gen.n - len(b)} of {n} bytes") from None
        left -= len(b)


def recv_some(s, chk, n, stall, pace=0.0, piece=CHUNK):
    """Blocking: reads until n bytes arrived (n=None: to EOF). Returns 'eof' (EOF seen,
    whether or not n bytes came), or 'count' (n bytes came, EOF not read). A reset raises.
    pace: seconds to sleep after each read of at most `piece` bytes (a slow reader)."""
    s.settimeout(stall)
    while n is None or chk.n < n:
        want = piece if n is None else min(piece, n - chk.n)
        try:
            b = s.recv(want)
        except socket.timeout:
            raise Stall(f"receive stalled at {chk.n} bytes") from None
        if not b:
            return "eof"
        chk.feed(b)
        if pace:
            time.sleep(pace)
    return "count"


def duplex(s, gen, send_n, chk, stall, shut=True, rst_after_recv=None, rst_after_send=None):
    """Both directions at once on one thread (non-blocking, select): send send_n bytes of
    gen (then FIN if shut), read into chk until EOF. Ends with
      'eof'      both done: sent all (FIN sent if shut) and EOF read
      'reset'    the peer reset the connection (ECONNRESET, EPIPE)
      'rst_self' we reset it ourselves, after rst_after_recv bytes read or rst_after_send
                 sent (the socket is closed then)
    A stall raises Stall. The socket is left open except after 'rst_self'."""
    s.setblocking(False)
    gen.pending = b""
    try:
        return _duplex(s, gen, send_n, chk, stall, shut, rst_after_recv, rst_after_send)
    finally:
        gen.sent = gen.n - len(gen.pending)


def _duplex(s, gen, send_n, chk, stall, shut, rst_after_recv, rst_after_send):
    gen.pending = pending = b""
    sent_done = send_n == 0
    if sent_done and shut:
        s.shutdown(socket.SHUT_WR)
    eof = False
    last = time.monotonic()
    while not (eof and sent_done):
        if rst_after_recv is not None and chk.n >= rst_after_recv or \
                rst_after_send is not None and gen.n - len(pending) >= rst_after_send:
            abort(s)
            return "rst_self"
        w = [s] if not sent_done else []
        r = [s] if not eof else []
        rr, ww, _ = select.select(r, w, [], 0.5)
        moved = False
        try:
            if rr:
                b = s.recv(CHUNK)
                if b:
                    chk.feed(b)
                else:
                    eof = True
                moved = True
            if ww:
                if not pending:
                    k = min(CHUNK, send_n - gen.n)
                    if rst_after_send is not None:
                        k = min(k, max(1, rst_after_send - gen.n))
                    pending = gen.pending = gen.take(k)
                n = s.send(pending)
                pending = gen.pending = pending[n:]
                moved = True
                if not pending and gen.n >= send_n:
                    sent_done = True
                    if shut:
                        s.shutdown(socket.SHUT_WR)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            if is_reset(e):
                return "reset"
            raise
        now = time.monotonic()
        if moved:
            last = now
        elif now - last > stall:
            raise Stall(f"stalled: sent {gen.n - len(pending)} of {send_n}, received {chk.n}"
                        f"{', EOF' if eof else ''}")
    return "eof"
