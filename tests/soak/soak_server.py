#!/usr/bin/env python3
"""A soak backend: one process per server, so that the driver can SIGKILL it and start it
again. Each connection is either synfin's HTTP health check (GET ...: 200, or 503 while a
flapping server is "down") or a soak session (soakproto's header), run by its kind. What
happened to each session is one JSON line on stdout when it ends: bytes received and whether
each was right, the SHA-256 of both directions, and how the connection ended. The driver
judges; this process only reports.

    soak_server.py NAME HOST PORT [--flap SECONDS] [--stall SECONDS]
"""
import argparse
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soakproto as P  # noqa: E402

out_lock = threading.Lock()


def emit(d):
    line = json.dumps(d, separators=(",", ":"))
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def healthy(flap):
    return not flap or int(time.monotonic() / flap) % 2 == 0


def health(c, first, flap):
    data = first
    c.settimeout(2)
    while b"\r\n\r\n" not in data and len(data) < 4096:
        b = c.recv(4096)
        if not b:
            break
        data += b
    status = b"200 OK" if healthy(flap) else b"503 Service Unavailable"
    c.sendall(b"HTTP/1.0 " + status + b"\r\nContent-Length: 0\r\n\r\n")


def session(c, h, name, stall):
    up_seed, down_seed = P.seeds(h["token"])
    k = h["kind"]
    rep = {"token": h["token"], "server": name, "kind": k, "fe": h["fe"], "end": None,
           "phase": None, "error": None}
    up = P.Check(up_seed, P.ENDLESS if k in (P.CRST, P.SRST) else h["up"])
    down = P.Gen(down_seed)
    phase = "start"
    try:
        if k in (P.SFIN, P.SLOW_C):
            phase = "request"
            if P.recv_some(c, up, h["up"], stall) == "eof":
                raise EOFError(f"EOF after {up.n} of {h['up']} request bytes")
            phase = "answer"
            P.send_all(c, down, h["down"], stall)
            rep["end"] = "closed"
        elif k in (P.CFIN, P.HALF_C, P.SLOW_S):
            phase = "request"
            slow = k == P.SLOW_S
            P.recv_some(c, up, None, stall, pace=h["slow_us"] / 1e6 if slow else 0,
                        piece=8192 if slow else P.CHUNK)
            phase = "answer"
            P.send_all(c, down, h["down"], stall)
            rep["end"] = "eof"  # the client's FIN came before the answer
        elif k == P.BOTH:
            phase = "request"
            if P.recv_some(c, up, h["up"], stall) == "eof":
                raise EOFError(f"EOF after {up.n} of {h['up']} request bytes")
            phase = "answer"
            P.send_all(c, down, h["down"], stall)
            c.shutdown(socket.SHUT_WR)
            phase = "after"
            P.recv_some(c, up, None, stall)
            rep["end"] = "eof"
        elif k == P.HALF_S:
            phase = "answer"
            P.send_all(c, down, h["down"], stall)
            c.shutdown(socket.SHUT_WR)
            phase = "upload"
            P.recv_some(c, up, None, stall)
            rep["end"] = "eof"
        elif k == P.STREAM:
            phase = "stream"
            rep["end"] = P.duplex(c, down, h["down"], up, stall)
        elif k == P.CRST:
            phase = "stream"
            rep["end"] = P.duplex(c, down, P.ENDLESS, up, stall)
        elif k == P.SRST:
            phase = "stream"
            rep["end"] = P.duplex(c, down, P.ENDLESS, up, stall, rst_after_send=h["rst_at"])
        else:
            raise ValueError(f"unknown kind {k}")
    except P.Stall as e:
        rep["end"] = "stall"
        rep["error"] = str(e)
    except EOFError as e:
        rep["end"] = "early_eof"
        rep["error"] = str(e)
    except OSError as e:
        if P.is_reset(e):
            rep["end"] = "reset"
        else:
            rep["end"] = "error"
            rep["error"] = f"{type(e).__name__}: {e}"
    rep["phase"] = phase
    rep.update(up_n=up.n, up_bad=up.bad, up_beyond=up.beyond, up_sha=up.sha.hexdigest(),
               down_n=getattr(down, "sent", down.n), down_sha=down.sha.hexdigest())
    emit(rep)


def handle(c, name, flap, stall):
    first = b""
    try:
        P.keepalive(c)
        c.settimeout(stall)
        while len(first) < 8:
            b = c.recv(8 - len(first))
            if not b:
                return  # a connect-and-close probe
            first += b
        if first.startswith(b"GET "):
            health(c, first, flap)
            return
        hdr = first
        while len(hdr) < P.HDR_LEN:
            b = c.recv(P.HDR_LEN - len(hdr))
            if not b:
                raise EOFError(f"EOF inside the header ({len(hdr)} bytes)")
            hdr += b
        h = P.parse_header(hdr)
        session(c, h, name, stall)
    except TimeoutError:
        # Not one byte: on the stack, a cookie connection made again from a late duplicate
        # of a handshake's ACK (the driver's cookie_ghost) brings none; the driver counts
        # these against such ghosts. Any other stall is a bad session.
        emit({"token": None, "server": name, "end": "silent" if not first else "bad_session",
              "error": f"no byte in {stall} s" if not first else "stalled in the header"})
    except (OSError, EOFError, ValueError) as e:
        if not P.is_reset(e):  # a health check resets after reading the status line
            emit({"token": None, "server": name, "end": "bad_session",
                  "error": f"{type(e).__name__}: {e}"})
    finally:
        try:
            c.close()
        except OSError:
            pass


def orphan_watch(parent):
    """Exits once the driver is gone (killed without its teardown)."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--flap", type=float, default=0.0)
    ap.add_argument("--stall", type=float, default=30.0)
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.host, a.port))
    ls.listen(1024)
    emit({"ready": a.port, "pid": os.getpid()})
    threading.Thread(target=orphan_watch, args=(os.getppid(),), daemon=True).start()
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handle, args=(c, a.name, a.flap, a.stall), daemon=True).start()


if __name__ == "__main__":
    main()
