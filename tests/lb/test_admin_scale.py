#!/usr/bin/env python3
"""The admin listener with thousands of idle sessions: /metrics and /stats report the
counts kept as sessions start and end (per frontend, per backend, also on a backend a reload
removed) and the TCP state census taken in the background, with its age; /sessions comes in
pages (?limit=N&after=ID, "next") that list every session alive from the first page to the
last exactly once, while sessions end and start between pages. Latency is the benchmark's
business (make bench-admin), not this test's."""
import os
import re
import signal
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import SERVER_BIND, Synfin, admin_json, connect, http_get  # noqa: E402
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()


class Holder:
    """A server that accepts connections and keeps them open, silent, until closed: the
    backend of idle sessions (one thread, whatever their number)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((SERVER_BIND, 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def reset(s):
    """Close with RST: synfin ends the session at once (a FIN would leave it half-closed)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def config(aport, fronts, backs):
    fe = "".join(f"frontend {n} {{ listen 127.0.0.1:{p}; maxconn 5000; backend {b}; "
                 f"idle_timeout 300s; }}\n" for n, p, b in fronts)
    be = "".join(f"backend {n} {{ server s 127.0.0.1:{p}; idle_timeout 300s; }}\n"
                 for n, p in backs)
    return f"log stderr;\nadmin 127.0.0.1:{aport};\n{fe}{be}"


def metric(text, name, labels=""):
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert m, (name, labels, text[:2000])
    return float(m.group(1))


def dial(port, n):
    return [connect(port) for _ in range(n)]


def page_through(aport, limit, between=None):
    """Every page of /sessions?limit=LIMIT: the list of pages (each a list of sessions).
    between(pages) runs before each page after the first."""
    pages, after = [], None
    while True:
        if pages and between:
            between(pages)
        q = f"/sessions?limit={limit}" + (f"&after={after}" if after is not None else "")
        doc = admin_json(aport, q)
        assert doc["version"] == 1 and "next" in doc, list(doc)
        assert len(doc["sessions"]) <= limit, (len(doc["sessions"]), limit)
        pages.append(doc["sessions"])
        if doc["next"] is None:
            return pages
        assert doc["next"] == doc["sessions"][-1]["id"], doc["next"]
        after = doc["next"]
        assert len(pages) < 1000


@t.test
def thousands_of_idle_sessions_counted_and_paged():
    n1, n2 = 1500, 1000
    h1, h2 = Holder(), Holder()
    f1, f2, aport = free_port(), free_port(), free_port()
    with Synfin(config(aport, [("f1", f1, "b1"), ("f2", f2, "b2")],
                       [("b1", h1.port), ("b2", h2.port)])):
        clients = dial(f1, n1) + dial(f2, n2)
        n = n1 + n2
        wait_until(lambda: len(h1.conns) + len(h2.conns) == n, 30, what="every session on a server")
        st = admin_json(aport)
        assert st["sessions"]["active"] == n, st["sessions"]
        assert [f["active"] for f in st["frontends"]] == [n1, n2], st["frontends"]
        assert [b["active"] for b in st["backends"]] == [n1, n2], st["backends"]
        # the census, once one taken after the last session started is served: every
        # session's two sockets, the three listeners, and the admin connection that was open
        # when it completed, if one was (a census completes in the background too)
        def census_done():
            s = admin_json(aport)
            return s if s["tcp_states"]["ESTABLISHED"] >= 2 * n else None

        st = wait_until(census_done, 30, what=f"a census of {2 * n} ESTABLISHED")
        assert st["tcp_states"]["ESTABLISHED"] in (2 * n, 2 * n + 1), st["tcp_states"]
        assert st["tcp_states"]["LISTEN"] == 3, st["tcp_states"]
        assert 0 <= st["census_age_s"] <= 2.0, st["census_age_s"]
        text = http_get(aport, "/metrics")[1].decode()
        assert metric(text, "synfin_backend_sessions_active", '{backend="b1"}') == n1
        assert metric(text, "synfin_backend_sessions_active", '{backend="b2"}') == n2
        assert metric(text, "synfin_sessions_active", '{frontend="f2"}') == n2
        assert metric(text, "synfin_tcp_sockets", '{state="ESTABLISHED"}') >= 2 * n
        assert 0 <= metric(text, "synfin_tcp_census_age_seconds") <= 2.0

        # the default page is bounded, with a cursor to the rest
        doc = admin_json(aport, "/sessions")
        assert len(doc["sessions"]) == 1000 and doc["next"] is not None, len(doc["sessions"])
        # a quiet listing: every session once, newest first across pages
        pages = page_through(aport, 700)
        ids = [s["id"] for p in pages for s in p]
        assert len(ids) == n and len(set(ids)) == n, (len(ids), len(set(ids)))
        assert ids == sorted(ids, reverse=True)
        # a client port can repeat across the two frontends: key by both
        fname = {f1: "f1", f2: "f2"}

        def key(c):
            return fname[c.getpeername()[1]], c.getsockname()[1]

        by_key = {(s["frontend"], int(s["client_addr"].rsplit(":", 1)[1])): s["id"]
                  for p in pages for s in p}
        assert sorted(by_key) == sorted(key(c) for c in clients)

        # between pages: sessions already listed end, sessions not yet listed end, new ones
        # start; the listing goes on from where it was
        alive = {by_key[key(c)]: c for c in clients}
        ended_unlisted, born = set(), []

        def churn(pages_so_far):
            listed = {s["id"] for p in pages_so_far for s in p}
            floor = pages_so_far[-1][-1]["id"]
            older = sorted((i for i in alive if i < floor), reverse=True)
            victims = dict.fromkeys([i for i in alive if i in listed][:5] + older[:3] + older[-3:])
            for i in victims:
                reset(alive.pop(i))
                ended_unlisted.update({i} - listed)
            born.extend(dial(f1, 5))
            wait_until(lambda: admin_json(aport)["sessions"]["active"] == len(alive) + len(born),
                       10, what="the ends and starts seen")

        first_ids = set(alive)
        pages = page_through(aport, 400, between=churn)
        ids = [s["id"] for p in pages for s in p]
        assert len(ids) == len(set(ids)), "a session listed twice"
        assert ended_unlisted and born
        assert set(ids) == first_ids - ended_unlisted, (
            len(set(ids)), len(first_ids - ended_unlisted))
        # the counters followed every end and start
        st = admin_json(aport)
        assert st["sessions"]["active"] == len(alive) + len(born)
        assert sum(b["active"] for b in st["backends"]) == len(alive) + len(born)
        assert http_get(aport, "/sessions?limit=0")[0] == 400
        assert http_get(aport, "/sessions?limit=20000")[0] == 400
        assert http_get(aport, "/sessions?after=x")[0] == 400
        for c in list(alive.values()) + born:
            c.close()
    h1.close()
    h2.close()


@t.test
def backend_count_follows_sessions_a_reload_left_behind():
    h2, h3 = Holder(), Holder()
    f, aport = free_port(), free_port()
    with Synfin(config(aport, [("f", f, "old")], [("old", h2.port)])) as lb:
        first = dial(f, 20)
        wait_until(lambda: len(h2.conns) == 20, what="the sessions on the old backend")
        lb.rewrite(config(aport, [("f", f, "new")], [("new", h3.port)]))
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_ok")
        later = dial(f, 7)
        wait_until(lambda: len(h3.conns) == 7, what="the sessions on the new backend")
        st = admin_json(aport)
        # the removed backend is not listed; its sessions do not count for the new one
        assert [(b["name"], b["active"]) for b in st["backends"]] == [("new", 7)], st["backends"]
        assert st["frontends"][0]["active"] == 27
        for s in first:
            reset(s)
        wait_until(lambda: admin_json(aport)["sessions"]["active"] == 7, what="the old ones gone")
        text = http_get(aport, "/metrics")[1].decode()
        assert metric(text, "synfin_backend_sessions_active", '{backend="new"}') == 7
        for s in later:
            reset(s)
        wait_until(lambda: admin_json(aport)["backends"][0]["active"] == 0, what="none left")
    h2.close()
    h3.close()


t.done()
