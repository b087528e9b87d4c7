#!/usr/bin/env python3
"""synfin-stat against the kernel: sockets in every TCP state, made in a namespace of our own,
counted like `ss` counts them, for each filter; --netns, --json and --by-peer on the same scene.

Scene (namespace A; B is a peer namespace at the end of a veth pair):
  loopback IPv4, service L1 on 127.0.0.1:
    3 established pairs from 127.0.0.2                        -> 6 ESTABLISHED
    2 pairs from 127.0.0.3, the client closed                 -> 2 FIN_WAIT_2, 2 CLOSE_WAIT
    4 pairs from 127.0.0.2, client closed first, then server  -> 4 TIME_WAIT (outgoing)
    2 pairs from 127.0.0.4, server closed first, then client  -> 2 TIME_WAIT (incoming, on L1)
  L3 on 127.0.0.1 with backlog 1, 4 connects: 2 queued (4 ESTABLISHED), 2 dropped SYNs
                                                              -> 2 SYN_SENT
  L4 on 127.0.0.1 with TCP_DEFER_ACCEPT, 1 connect without data
                                                              -> 1 ESTABLISHED, 1 SYN_RECEIVED
  loopback IPv6, L6 on [::1]: 1 pair (2 ESTABLISHED), 1 client-closed pair (1 TIME_WAIT)
  veth to B (198.18.0.1 -> 198.18.0.2), then A's packets to B blackholed:
    B closed first, then A closed                             -> 1 LAST_ACK
    A closed                                                  -> 1 FIN_WAIT_1
    A closed, then B closed                                   -> 1 CLOSING
    untouched                                                 -> 1 ESTABLISHED
"""
import json
import os
import shutil
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import statlib as L  # noqa: E402
from tap import Tap, wait_until  # noqa: E402

t = Tap()

EXPECTED = {"CLOSED": 0, "LISTEN": 4, "SYN_SENT": 2, "SYN_RECEIVED": 1, "ESTABLISHED": 14,
            "FIN_WAIT_1": 1, "FIN_WAIT_2": 2, "CLOSE_WAIT": 2, "CLOSING": 1, "LAST_ACK": 1,
            "TIME_WAIT": 7}


class Scene:
    def __init__(self):
        self.a = L.Netns("a")
        self.b = L.Netns("b")
        L.veth_pair(self.a, self.b, "198.18.0.1", "198.18.0.2")
        self.keep = []
        with self.a:
            self._loopback()
        self._veth()
        wait_until(lambda: L.ss_hist(self.a) == EXPECTED, timeout=15,
                   what=f"the scene to settle at {EXPECTED}")

    def _loopback(self):
        k = self.keep
        self.l1 = L.listener("127.0.0.1")
        self.p1 = self.l1.getsockname()[1]
        k.append(self.l1)
        for _ in range(3):
            k.extend(L.connect_pair(self.l1, "127.0.0.2"))
        for _ in range(2):
            c, s = L.connect_pair(self.l1, "127.0.0.3")
            c.close()
            k.append(s)
        closed = []
        for _ in range(4):
            c, s = L.connect_pair(self.l1, "127.0.0.2")
            c.close()
            closed.append(s)
        wait_until(lambda: L.ss_hist(None, f"sport = :{self.p1}")["CLOSE_WAIT"] == 6, what="4 FINs")
        for s in closed:
            s.close()
        for _ in range(2):
            c, s = L.connect_pair(self.l1, "127.0.0.4")
            s.close()
            closed.append(c)
        wait_until(lambda: L.ss_hist(None, "src 127.0.0.4")["CLOSE_WAIT"] == 2, what="2 FINs")
        for c in closed[4:]:
            c.close()

        self.l3 = L.listener("127.0.0.1", backlog=1)
        self.p3 = self.l3.getsockname()[1]
        k.append(self.l3)
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(self.l3.getsockname())
            k.append(c)

        self.l4 = L.listener("127.0.0.1")
        self.l4.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 120)
        k.append(self.l4)
        c = socket.socket()
        c.connect(self.l4.getsockname())
        k.append(c)

        self.l6 = L.listener("::1", family=socket.AF_INET6)
        self.p6 = self.l6.getsockname()[1]
        k.append(self.l6)
        k.extend(L.connect_pair(self.l6))
        c, s = L.connect_pair(self.l6)
        c.close()
        wait_until(lambda: L.ss_hist(None, f"sport = :{self.p6}")["CLOSE_WAIT"] == 1)
        s.close()

    def _veth(self):
        with self.b:
            lb = L.listener("198.18.0.2")
        self.keep.append(lb)
        self.pb = lb.getsockname()[1]
        conns = []
        with self.a:
            for _ in range(4):
                c = socket.socket()
                c.connect(("198.18.0.2", self.pb))
                conns.append(c)
        srv = [lb.accept()[0] for _ in conns]
        self.keep.extend([conns[3], srv[3], srv[1]])
        srv[0].close()
        wait_until(lambda: L.ss_hist(self.a)["CLOSE_WAIT"] == 3, what="B's FIN")
        r = self.a.run(["ip", "route", "add", "blackhole", "198.18.0.2/32"])
        assert r.returncode == 0, r.stderr
        conns[0].close()  # LAST_ACK: its FIN never reaches B
        conns[1].close()  # FIN_WAIT_1
        conns[2].close()  # FIN_WAIT_1 until B's own FIN arrives: CLOSING
        srv[2].close()


def get_scene():
    return L.built_once("the scene", Scene)


@t.test
def every_state_counted_as_ss_counts():
    s = get_scene()
    got = L.stat_hist([], s.a)
    assert got == EXPECTED, f"synfin-stat {got}\nexpected   {EXPECTED}"
    assert got == L.ss_hist(s.a)


@t.test
def filters_count_as_ss_filters():
    s = get_scene()
    p1, p6 = s.p1, s.p6
    cases = [
        (["--port", str(p1)], f"( sport = :{p1} or dport = :{p1} )"),
        (["--local", f"127.0.0.1:{p1}"], f"src 127.0.0.1:{p1}"),
        (["--local", f":{p1}"], f"sport = :{p1}"),
        (["--local", "127.0.0.2"], "src 127.0.0.2"),
        (["--remote", f"127.0.0.1:{p1}"], f"dst 127.0.0.1:{p1}"),
        (["--remote", "*:" + str(s.pb)], f"dport = :{s.pb}"),
        (["--local", "198.18.0.0/30"], "src 198.18.0.0/30"),
        (["--remote", "198.18.0.2"], "dst 198.18.0.2"),
        (["--local", f"[::1]:{p6}"], f"src [::1]:{p6}"),
        (["--remote", "::1"], "dst [::1]"),
        (["--port", str(p1), "--local", "127.0.0.3"],
         f"( sport = :{p1} or dport = :{p1} ) and src 127.0.0.3"),
        (["--local", "127.0.0.0/8", "--remote", "127.0.0.4"], "src 127.0.0.0/8 and dst 127.0.0.4"),
    ]
    for args, expr in cases:
        got, want = L.stat_hist(args, s.a), L.ss_hist(s.a, expr)
        assert got == want, f"{args}: synfin-stat {got}\n ss '{expr}' {want}"
    # Known numbers, so that a filter matching nothing on both sides cannot pass unnoticed.
    assert L.stat_hist(["--local", f":{p1}"], s.a)["CLOSE_WAIT"] == 2
    assert L.stat_hist(["--remote", "198.18.0.2"], s.a)["CLOSING"] == 1
    assert L.stat_hist(["--remote", "::1"], s.a)["TIME_WAIT"] == 1
    assert L.stat_hist(["--local", "127.0.0.2"], s.a)["TIME_WAIT"] == 4


@t.test
def netns_option_enters_the_namespace():
    s = get_scene()
    for name in (s.a.name, f"/run/netns/{s.a.name}"):
        got = L.stat_hist(["--netns", name])
        assert got == EXPECTED, f"--netns {name}: {got}"
    doc = json.loads(L.stat(["--netns", s.a.name, "--json", "--port", str(s.p1)]).stdout)
    assert doc["netns"] == s.a.name and doc["source"] == "kernel" and doc["version"] == 1
    assert doc["filter"] == {"port": s.p1, "local": None, "remote": None}


@t.test
def netns_errors_exit_2_with_a_reason():
    L.need_root_and_netns()
    r = L.stat(["--netns", f"synfin-stat-none-{os.getpid()}"], check=False)
    assert r.returncode == 2 and "no network namespace" in r.stderr, r
    r = L.stat(["--netns", "/etc/hostname"], check=False)
    assert r.returncode == 2 and "is not a network namespace" in r.stderr, r
    s = get_scene()
    if not shutil.which("setpriv"):
        t.skip_test("needs setpriv (util-linux) to drop privileges")
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        L.stat_bin(), "--netns", s.a.name], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2 and "no permission" in r.stderr, r


def by_peer(args):
    s = get_scene()
    doc = json.loads(L.stat(["--by-peer", "--json"] + args, s.a).stdout)
    return s, doc["by_peer"]


@t.test
def by_peer_groups_time_wait_by_who_closed_first():
    s, bp = by_peer([])
    tw = bp["TIME_WAIT"]
    assert (tw["count"], tw["outgoing"], tw["incoming"]) == (7, 5, 2), tw
    remote = {(r["endpoint"], r["direction"]): r["count"] for r in tw["by_remote"]}
    assert remote == {(f"127.0.0.1:{s.p1}", "outgoing"): 4,
                      ("127.0.0.4:*", "incoming"): 2,
                      (f"[::1]:{s.p6}", "outgoing"): 1}, remote
    assert [r["count"] for r in tw["by_remote"]] == [4, 2, 1]  # largest first
    local = {(r["port"], r["direction"]): r["count"] for r in tw["by_local_port"]}
    assert local == {(None, "outgoing"): 5, (s.p1, "incoming"): 2}, local
    assert tw["exact"] and all(r["error"] == 0 for r in tw["by_remote"])
    assert "closed first" in tw["rule"]


@t.test
def by_peer_shows_close_wait_holders():
    s, bp = by_peer([])
    cw = bp["CLOSE_WAIT"]
    assert (cw["count"], cw["incoming"], cw["outgoing"]) == (2, 2, 0), cw
    assert [(r["endpoint"], r["count"]) for r in cw["by_remote"]] == [("127.0.0.3:*", 2)]
    assert [(r["port"], r["count"]) for r in cw["by_local_port"]] == [(s.p1, 2)]
    assert "has not called close()" in cw["rule"]


@t.test
def by_peer_text_top_and_filters():
    s = get_scene()
    out = L.stat(["--by-peer", "--top", "1"], s.a).stdout
    hist = L.parse_text_hist(out)
    assert hist == EXPECTED
    assert f"127.0.0.1:{s.p1}" in out and "127.0.0.4:*" not in out, out
    assert "2 more rows" in out, out
    assert "TIME_WAIT sits on the side that closed first" in out
    # Filters apply to the groups too: only the IPv6 service.
    _, bp = by_peer(["--port", str(s.p6)])
    assert [(r["endpoint"], r["count"]) for r in bp["TIME_WAIT"]["by_remote"]] == \
        [(f"[::1]:{s.p6}", 1)]
    assert bp["CLOSE_WAIT"]["count"] == 0


@t.test
def by_peer_tells_a_listening_port_from_the_same_port_elsewhere():
    """A client whose source port equals a listener's port on another address is still a
    client: the listener owns (address, port), not the port."""
    L.need_root_and_netns()
    ns = L.Netns("dir")
    with ns:
        svc = L.listener("127.0.0.1")
        other = L.listener("127.0.0.5")
        port = other.getsockname()[1]
        c = socket.socket()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        c.bind(("127.0.0.6", port))
        c.connect(svc.getsockname())
        srv, _ = svc.accept()
        w = socket.socket()  # a wildcard listener owns its port on every address
        w.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        w.bind(("0.0.0.0", 0))
        w.listen(4)
        c2, s2 = L.connect_pair(w)
        # A client on a low source port, outside the ephemeral range, calling a local service
        # whose port is inside it: the listener on the remote end says which side it is.
        c3 = socket.socket()
        c3.bind(("127.0.0.7", 2000))
        c3.connect(svc.getsockname())
        srv3, _ = svc.accept()
    c3.close()
    srv3.close()
    c.close()
    srv.close()
    s2.close()  # the server side of the wildcard listener closes first
    c2.close()
    wait_until(lambda: L.ss_hist(ns)["TIME_WAIT"] == 3, what="3 TIME_WAIT")
    tw = json.loads(L.stat(["--by-peer", "--json"], ns).stdout)["by_peer"]["TIME_WAIT"]
    rows = {(r["endpoint"], r["direction"], r["count"]) for r in tw["by_remote"]}
    assert rows == {(f"127.0.0.1:{svc.getsockname()[1]}", "outgoing", 2),
                    ("127.0.0.1:*", "incoming", 1)}, rows
    assert {(r["port"], r["direction"]) for r in tw["by_local_port"]} == \
        {(None, "outgoing"), (w.getsockname()[1], "incoming")}
    for s_ in (svc, other, w):
        s_.close()
    ns.delete()


t.done()
