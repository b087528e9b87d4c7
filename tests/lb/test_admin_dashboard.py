#!/usr/bin/env python3
"""The admin listener's endpoints behind the dashboard (docs/dashboard.md): / and its files
from the binary, /states (the census by state and, on synfin's own TCP, the transitions by
arrow and cause), /sessions/ID with its timeline, live and ended, /sessions/ended, and /host
(the host's sockets as synfin-stat reads them). Bad requests get 404/405, never a crash."""
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import STACK, Backend, Synfin, admin_json, connect, echo, http_get  # noqa: E402
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()
STATES = ["CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
          "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"]


def raw(port, request):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d


def tcp_events(d):
    """A timeline's TCP transitions, by side, in order."""
    out = {"client_tcp": [], "server_tcp": []}
    for e in d["timeline"]:
        if e["event"] in out:
            out[e["event"]].append(e["detail"])
    return out


def host_threads(pid):
    """synfin's threads named synfin-host (one per /host request being made)."""
    n = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                n += f.read().strip() == "synfin-host"
        except OSError:
            pass  # ended meanwhile
    return n


def setup():
    be = Backend(echo)
    fport, aport = free_port(), free_port()
    lb = Synfin(f"log stderr;\nadmin 127.0.0.1:{aport};\n"
                f"frontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
                f"backend b {{ server s1 127.0.0.1:{be.port}; }}\n")
    return be, lb, fport, aport


@t.test
def page_and_files_from_the_binary():
    be, lb, fport, aport = setup()
    with lb:
        status, body = http_get(aport, "/")[:2]
        assert status == 200 and body.startswith(b"<!doctype html>"), (status, body[:80])
        assert b'<script src="dash.js">' in body and b'href="dash.css"' in body
        for path, ctype in (("/dash.js", b"text/javascript"), ("/dash.css", b"text/css")):
            r = raw(aport, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head, body = r.split(b"\r\n\r\n", 1)
            assert head.startswith(b"HTTP/1.1 200") and b"Content-Type: " + ctype in head, head
            with open(os.path.join(os.path.dirname(__file__), "..", "..", "src", "ctl",
                                   "dashboard", path[1:]), "rb") as f:
                assert body == f.read(), path  # the very bytes of the tree's file
        assert raw(aport, b"GET /nope.js HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404")
        assert raw(aport, b"POST / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405")
        assert raw(aport, b"DELETE /states HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 405")
    be.close()


@t.test
def states_counts_and_arrows():
    be, lb, fport, aport = setup()
    with lb:
        c = connect(fport)
        c.sendall(b"x")
        assert c.recv(1) == b"x"
        st = admin_json(aport, "/states")
        assert list(st["states"]) == STATES, st
        assert st["sessions_active"] == 1 and st["transport"] == ("stack" if STACK else "kernel")
        assert st["states"]["ESTABLISHED"] >= 2 and st["states"]["LISTEN"] >= 1, st
        if not STACK:
            assert st["transitions"] is None, st  # the kernel tells no transitions
        else:
            arrows = {(a["from"], a["to"]): a for a in st["transitions"]}
            for a in arrows.values():
                assert a["total"] == sum(a["causes"].values()) > 0, a
            # synfin accepted one connection and made one: the figure's opening arrows
            assert arrows[("SYN_RECEIVED", "ESTABLISHED")]["causes"].get("ack", 0) >= 1, arrows
            assert arrows[("SYN_SENT", "ESTABLISHED")]["causes"].get("syn_ack", 0) >= 1, arrows
            # what /metrics counts by cause, /states splits by arrow: the sums agree
            by_cause = {}
            for a in st["transitions"]:
                for k, n in a["causes"].items():
                    by_cause[k] = by_cause.get(k, 0) + n
            metrics = http_get(aport, "/metrics")[1].decode()
            st2 = admin_json(aport, "/states")
            for line in metrics.splitlines():
                if line.startswith("synfin_stack_transitions_total{"):
                    cause = line.split('"')[1]
                    n = int(line.split()[-1])
                    later = sum(a["causes"].get(cause, 0) for a in st2["transitions"])
                    assert by_cause.get(cause, 0) <= n <= later, (cause, by_cause, n, later)
        c.close()
    be.close()


@t.test
def session_timeline_live_then_ended():
    be, lb, fport, aport = setup()
    with lb:
        c = connect(fport)
        c.sendall(b"hello")
        assert c.recv(5) == b"hello"
        sid = wait_until(lambda: (admin_json(aport, "/sessions")["sessions"] or [{}])[0].get("id"))
        d = admin_json(aport, f"/sessions/{sid}")
        assert d["live"] is True and d["session"]["id"] == sid, d
        assert d["session"]["bytes_up"] == 5 and d["session"]["bytes_down"] == 5, d
        ev = [e["event"] for e in d["timeline"] if not e["event"].endswith("_tcp")]
        assert ev == ["accepted", "connect", "server_established", "client_now", "server_now"], ev
        times = [e["at_ms"] for e in d["timeline"]]
        assert times == sorted(times) and times[0] == 0, times
        now = {e["event"]: e["detail"] for e in d["timeline"]}
        assert now["client_now"].startswith("client connection ESTABLISHED now"), now
        assert d["first_fin"] == "no FIN yet"
        tcp = tcp_events(d)
        if STACK:  # the engine's transitions of both connections, with their causes
            assert tcp["client_tcp"] == ["LISTEN -> SYN_RECEIVED by syn",
                                         "SYN_RECEIVED -> ESTABLISHED by ack"], tcp
            assert tcp["server_tcp"] == ["CLOSED -> SYN_SENT by connect",
                                         "SYN_SENT -> ESTABLISHED by syn_ack"], tcp
        else:
            assert tcp == {"client_tcp": [], "server_tcp": []}, tcp  # the kernel tells none
        c.shutdown(socket.SHUT_WR)
        assert c.recv(16) == b""
        c.close()
        wait_until(lambda: admin_json(aport)["sessions"]["active"] == 0)
        if STACK:  # the client side's last ACK may come a moment after the session's end
            wait_until(lambda: tcp_events(admin_json(aport, f"/sessions/{sid}"))["client_tcp"][-1:]
                       == ["LAST_ACK -> CLOSED by ack"], what="the client's LAST_ACK -> CLOSED")
        d = admin_json(aport, f"/sessions/{sid}")
        assert d["live"] is False and d["session"]["close_cause"] == "client_fin", d
        assert d["first_fin"] == "the client closed first (its FIN)", d
        ev = [e["event"] for e in d["timeline"] if not e["event"].endswith("_tcp")]
        assert ev == ["accepted", "connect", "server_established", "ended"], ev
        assert [e["detail"] for e in d["timeline"] if e["event"] == "ended"] == ["client_fin"]
        tcp = tcp_events(d)
        if STACK:
            # the client closed first: synfin's client side passes through CLOSE_WAIT, its
            # server side closes first and holds the TIME_WAIT
            assert tcp["client_tcp"][2:] == ["ESTABLISHED -> CLOSE_WAIT by fin",
                                             "CLOSE_WAIT -> LAST_ACK by shutdown",
                                             "LAST_ACK -> CLOSED by ack"], tcp
            assert tcp["server_tcp"][2] == "ESTABLISHED -> FIN_WAIT_1 by shutdown", tcp
            assert tcp["server_tcp"][-1].split(" by ")[0].endswith("-> TIME_WAIT"), tcp
        ended = admin_json(aport, "/sessions/ended")["ended"]
        assert ended[0]["id"] == sid and ended[0]["bytes_up"] == 5, ended
        r = raw(aport, b"GET /sessions/987654 HTTP/1.1\r\n\r\n")
        assert r.startswith(b"HTTP/1.1 404") and b"no session 987654" in r, r
        assert raw(aport, b"GET /sessions/x1 HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404")
    be.close()


@t.test
def ended_ring_keeps_the_last_64():
    be, lb, fport, aport = setup()
    with lb:
        for i in range(70):
            c = connect(fport)
            c.sendall(b"y")
            assert c.recv(1) == b"y"
            c.shutdown(socket.SHUT_WR)
            assert c.recv(1) == b""
            c.close()
        wait_until(lambda: admin_json(aport)["sessions"]["active"] == 0)
        ended = admin_json(aport, "/sessions/ended")["ended"]
        ids = [e["id"] for e in ended]
        assert len(ids) == 64 and ids == sorted(ids, reverse=True), ids
        assert ids[0] - ids[-1] == 63, ids
    be.close()


@t.test
def host_is_synfin_stats_view():
    be, lb, fport, aport = setup()
    with lb:
        h = admin_json(aport, "/host")
        assert h["error"] is None, h
        assert list(h["tcp_states"]) == STATES
        assert h["sockets"] == sum(h["tcp_states"].values()) > 0
        # the admin listener and the frontend listen here (on the stack only the admin)
        assert h["tcp_states"]["LISTEN"] >= 1
        for held in ("TIME_WAIT", "CLOSE_WAIT"):
            p = h["by_peer"][held]
            assert p["count"] == p["incoming"] + p["outgoing"], p
            assert isinstance(p["by_remote"], list) and isinstance(p["by_local_port"], list)
        ids = {f["id"] for f in h["findings"]}
        assert "port-range" in ids, ids  # a note the advisor always gives
        assert all(f["title"] and f["evidence"] for f in h["findings"])
        # collected on a thread per request, which frees what it made once the body lets go
        # of it: clients that leave before their answer, and several at once, each of which
        # gets a whole document
        for _ in range(8):
            with socket.create_connection(("127.0.0.1", aport), timeout=5) as s:
                s.sendall(b"GET /host HTTP/1.0\r\n\r\n")
        socks = [socket.create_connection(("127.0.0.1", aport), timeout=10) for _ in range(4)]
        for s in socks:
            s.sendall(b"GET /host HTTP/1.0\r\n\r\n")
        for s in socks:
            data = b""
            while (d := s.recv(65536)):
                data += d
            s.close()
            head, _, body = data.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            assert list(json.loads(body)["tcp_states"]) == STATES
        # every thread of theirs has ended, those whose clients left too (no census runs: no
        # /metrics or /stats was asked)
        wait_until(lambda: host_threads(lb.p.pid) == 0, 10, what="the /host threads ended")
        assert admin_json(aport, "/stats")["version"] == 1
        # the admin work, polls included, is in the loop's account
        lp = admin_json(aport, "/loop")
        assert lp["work_s"]["admin"] > 0, lp
    be.close()


t.done()
