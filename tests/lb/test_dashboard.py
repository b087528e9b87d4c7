#!/usr/bin/env python3
"""The dashboard (docs/dashboard.md) in a real browser: a headless Chromium from Debian,
driven through the DevTools protocol (tests/lib/cdp.py), loads the page a running synfin
serves at / while the test holds sessions through it, and the test reads the page's DOM
after its scripts ran: the eleven states are drawn, the counts equal /stats, closing the
sessions moves TIME_WAIT on the page as on /stats (and, on synfin's own TCP, the transitions
land on the right arrows with their causes), one session opens into its timeline, a reload
(SIGHUP) keeps the page live, there was no console error, and killing synfin makes the page
say it lost the connection. A screenshot goes to the test log directory."""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from lbtest import SERVER_BIND, STACK, Backend, Synfin, admin_json, connect  # noqa: E402
from tap import Tap, build_dir, free_port, wait_until  # noqa: E402
import cdp  # noqa: E402

t = Tap()
N = 5  # sessions the test holds
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
LOGS = os.path.join(ROOT, build_dir(), "test-logs")
SUFFIX = "-stack" if STACK else ""


def echo(c, b):
    """Echo until the client's FIN, then FIN back; a reset (the session killed) ends it."""
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)
        while c.recv(65536):
            pass
    except ConnectionResetError:
        pass


def page_counts(b):
    return b.eval("Object.fromEntries([...document.querySelectorAll('#diagram g.state')]"
                  ".map(g => [g.dataset.state, g.dataset.count]))")


def page_arrows(b):
    """Every arrow the page shows with a total: the figure's and the table of the others."""
    return b.eval("Object.fromEntries([...document.querySelectorAll('#diagram g.arrow, "
                  "#other-arrows tbody tr')].filter(e => +e.dataset.total > 0).map(e => "
                  "[e.dataset.from + '-' + e.dataset.to, [+e.dataset.total, "
                  "JSON.parse(e.dataset.causes)]]))")


def ticks(b):
    # While the page loads, there may be no body yet.
    return int(b.eval("(document.body && document.body.dataset.ticks) || '0'"))


def count_agrees(b, aport, state):
    """The page's count for state equals /stats's at that moment: /stats read before and
    after the page (its census may move between), one of them equal. Returns the count."""
    before = admin_json(aport)["tcp_states"][state]
    shown = page_counts(b)[state]
    after = admin_json(aport)["tcp_states"][state]
    return int(shown) if shown != "" and int(shown) in (before, after) else None


def main():
    if not cdp.chromium_binary():
        t.skip("dashboard_in_chromium", "chromium is not installed (Debian package chromium, "
               "installed by make test as root)")
        return
    os.makedirs(LOGS, exist_ok=True)
    be = Backend(echo)
    fport, aport = free_port(), free_port()
    conf = (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
            f"frontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
            f"backend b {{ server s1 127.0.0.1:{be.port}; }}\n")
    lb = Synfin(conf)
    browser = None
    clients = []
    try:
        browser = cdp.Browser(os.path.join(LOGS, f"test_dashboard{SUFFIX}.chromium.log"))
        for _ in range(N):
            c = connect(fport)
            c.sendall(b"ping")
            assert c.recv(4) == b"ping"
            clients.append(c)
        wait_until(lambda: admin_json(aport)["sessions"]["active"] == N, what="the sessions")
        browser.navigate(f"http://127.0.0.1:{aport}/#interval=300")
        wait_until(lambda: ticks(browser) >= 2, 15, 0.05, "the page's first refreshes")
    except Exception as e:  # noqa: BLE001 - the scene could not be set: one failure, said why
        t.ok(False, "dashboard_loads", f"reason: {type(e).__name__}: {e}\n{traceback.format_exc()}")
    else:
        run(browser, lb, aport, fport, clients)
    finally:
        for c in clients:
            c.close()
        if browser:
            browser.close()
        lb.stop()
        lb.cleanup()
        be.close()


def http_post(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
        out = b""
        while True:
            d = s.recv(4096)
            if not d:
                return out
            out += d


def run(b, lb, aport, fport, clients):
    @t.test
    def eleven_states_drawn():
        names = b.eval("[...document.querySelectorAll('#diagram g.state')].map(g => g.dataset.state)")
        assert sorted(names) == sorted(["CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED",
                                        "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
                                        "CLOSING", "LAST_ACK", "TIME_WAIT"]), names
        shown = b.eval("[...document.querySelectorAll('#diagram g.state .name')].map(e => e.textContent)")
        assert len(set(shown)) == 11, shown

    @t.test
    def established_matches_stats_and_sessions():
        # Each session is two connections (client, server); the admin listener's own
        # connections (the page's fetches, this test's) are counted too, a few at most.
        est = wait_until(lambda: count_agrees(b, aport, "ESTABLISHED"), 10, 0.05,
                         "the page's ESTABLISHED to equal /stats")
        assert 2 * N <= est <= 2 * N + 8, est
        rows = wait_until(lambda: b.eval(
            "[...document.querySelectorAll('#sessions tbody tr:not(.ended)')].map(r => r.dataset.clientState)")
            if len(b.eval("[...document.querySelectorAll('#sessions tbody tr:not(.ended)')]"
                          ".map(r => r.dataset.id)")) == N else None, 10, 0.05, "N session rows")
        assert rows == ["ESTABLISHED"] * N, rows
        assert b.eval("document.getElementById('sessions-note').textContent").startswith(f"{N} live")

    @t.test
    def stats_tables_shown():
        text = b.eval("document.getElementById('backends').textContent")
        assert "s1" in text and "UP" in text, text
        assert "f" in b.eval("document.getElementById('frontends').textContent")

    @t.test
    def session_opens_into_its_timeline():
        b.eval("document.querySelector('#sessions tbody tr:not(.ended)').click()")
        events = wait_until(lambda: b.eval(
            "[...document.querySelectorAll('#timeline-table tbody tr td:nth-child(2)')].map(e => e.textContent)"),
            10, 0.05, "the timeline")
        stamps = [e for e in events if not e.endswith("_tcp")]
        assert stamps == ["accepted", "connect", "server_established", "client_now", "server_now"], events
        if STACK:  # each transition of both connections, with its cause
            rows = b.eval("[...document.querySelectorAll('#timeline-table tbody tr')]"
                          ".map(r => r.cells[1].textContent + ': ' + r.cells[2].textContent)")
            assert "client_tcp: SYN_RECEIVED -> ESTABLISHED by ack" in rows, rows
            assert "server_tcp: SYN_SENT -> ESTABLISHED by syn_ack" in rows, rows

    tw0 = {}

    @t.test
    def closing_moves_time_wait():
        tw0["stats"] = admin_json(aport)["tcp_states"]["TIME_WAIT"]
        tw0["arrows"] = admin_json(aport, "/states")["transitions"]
        for c in clients:
            c.shutdown(1)  # the client closes first: synfin closes toward the server, the
            assert c.recv(16) == b""  # echo server answers with its FIN: TIME_WAIT on synfin's side
        for c in clients:
            c.close()
        clients.clear()
        wait_until(lambda: admin_json(aport)["tcp_states"]["TIME_WAIT"] >= tw0["stats"] + N, 10,
                   what="/stats TIME_WAIT to grow by N")
        tw = wait_until(lambda: count_agrees(b, aport, "TIME_WAIT"), 10, 0.05,
                        "the page's TIME_WAIT to equal /stats")
        assert tw >= tw0["stats"] + N, (tw, tw0)
        wait_until(lambda: b.eval("document.getElementById('sessions').querySelectorAll("
                                  "'tbody tr.ended').length") >= N, 10, 0.05, "the ended rows")
        causes = b.eval("[...document.querySelectorAll('#sessions tbody tr.ended td:last-child')]"
                        ".map(e => e.textContent)")
        assert set(causes[:N]) == {"client_fin"}, causes

    @t.test
    def transitions_on_the_right_arrows():
        if not STACK:
            # The kernel's sockets tell no transitions: the page says so.
            note = b.eval("document.getElementById('diagram-note').textContent")
            assert "counts only" in note, note
            assert page_arrows(b) == {}, page_arrows(b)
            return
        before = {f"{a['from']}-{a['to']}": a for a in (tw0["arrows"] or [])}

        def grew(key, causes, n=N):
            shown = page_arrows(b).get(key)
            old = sum(before.get(key, {"causes": {}})["causes"].get(c, 0) for c in causes)
            return shown and sum(shown[1].get(c, 0) for c in causes) >= old + n

        # synfin's client side: the client's FIN (ESTABLISHED -> CLOSE_WAIT), then synfin
        # passes the server's FIN on (shutdown) or closes.
        wait_until(lambda: grew("ESTABLISHED-CLOSE_WAIT", ["fin"]), 10, 0.05,
                   "ESTABLISHED -> CLOSE_WAIT by fin, N more")
        wait_until(lambda: grew("CLOSE_WAIT-LAST_ACK", ["shutdown", "close"]), 10, 0.05,
                   "CLOSE_WAIT -> LAST_ACK by shutdown or close, N more")
        # synfin's server side: it sent the first FIN (passing the client's on), and the
        # server's FIN put it in TIME_WAIT.
        wait_until(lambda: grew("ESTABLISHED-FIN_WAIT_1", ["shutdown", "close"]), 10, 0.05,
                   "ESTABLISHED -> FIN_WAIT_1 by shutdown or close, N more")
        def into_time_wait():
            n = 0
            for key, (total, causes) in page_arrows(b).items():
                if key.endswith("-TIME_WAIT"):
                    old = before.get(key, {"causes": {}})["causes"]
                    n += sum(causes.get(k, 0) - old.get(k, 0) for k in ("fin", "fin_ack", "ack"))
            return n >= N
        wait_until(into_time_wait, 10, 0.05, "N more into TIME_WAIT by the server's FIN")
        # Every arrow with a total equals /states (within a refresh).
        def agree():
            states = {f"{a['from']}-{a['to']}": [a["total"], a["causes"]]
                      for a in admin_json(aport, "/states")["transitions"]}
            return page_arrows(b) == states
        wait_until(agree, 10, 0.05, "every arrow to equal /states")

    @t.test
    def session_closed_by_synfin():
        before = {f"{a['from']}-{a['to']}": a for a in (admin_json(aport, "/states")["transitions"] or [])}
        c = connect(fport)
        clients.append(c)
        c.sendall(b"ping")
        assert c.recv(4) == b"ping"
        sid = wait_until(lambda: (admin_json(aport, "/sessions")["sessions"] or [{}])[0].get("id"),
                         what="the new session")
        r = http_post(aport, f"/sessions/{sid}/kill")
        assert r.startswith(b"HTTP/1.1 200"), r
        cause = wait_until(lambda: b.eval(
            f"(e => e && e.lastElementChild.textContent)(document.querySelector('#sessions tr.ended[data-id=\"{sid}\"]'))"),
            10, 0.05, "the killed session's row")
        assert cause == "admin_kill", cause
        if STACK:
            # synfin ended both connections itself: arrows out of ESTABLISHED by the owner's
            # call (close, shutdown, abort), not by a segment from the peers.
            def by_synfin():
                shown = page_arrows(b)
                n = 0
                for key, (total, causes) in shown.items():
                    if key.startswith("ESTABLISHED-"):
                        old = before.get(key, {"causes": {}})["causes"]
                        n += sum(causes.get(k, 0) - old.get(k, 0) for k in ("close", "shutdown", "abort"))
                return n >= 2
            wait_until(by_synfin, 10, 0.05, "two transitions out of ESTABLISHED by synfin")

    @t.test
    def host_view_counts_only():
        b.eval("(s => { s.value = 'host'; s.dispatchEvent(new Event('change')); })"
               "(document.getElementById('view'))")
        note = wait_until(lambda: (lambda n: n if "host" in n else None)(
            b.eval("document.getElementById('diagram-note').textContent")), 10, 0.05, "the host view")
        assert "counts only" in note, note
        # the admin listener at least listens on the host, whatever carries the sessions
        wait_until(lambda: int(page_counts(b)["LISTEN"] or 0) >= 1, 10, 0.05, "host LISTEN")
        assert b.eval("document.querySelectorAll('#diagram g.arrow.flow').length") == 0
        assert "view=host" in b.eval("location.hash")
        b.eval("(s => { s.value = 'synfin'; s.dispatchEvent(new Event('change')); })"
               "(document.getElementById('view'))")
        wait_until(lambda: "host" not in b.eval("document.getElementById('diagram-note').textContent"),
                   10, 0.05, "back to synfin's view")

    @t.test
    def reload_keeps_the_page_live():
        n = ticks(b)
        lb.send(signal.SIGHUP)
        wait_until(lambda: ticks(b) >= n + 3, 10, 0.05, "refreshes after the reload")
        assert b.eval("document.getElementById('conn').className") == "conn ok"

    @t.test
    def browser_reload_keeps_the_chart():
        points = "document.querySelector('#chart polyline[data-state=TIME_WAIT]')" \
                 ".getAttribute('points').trim().split(' ').length"
        before = b.eval(points)
        assert before >= 5, before
        b.eval("window.beforeReload = true")
        b.call("Page.reload")
        wait_until(lambda: not b.eval("window.beforeReload === true") and ticks(b) >= 1, 15, 0.05,
                   "a refresh of the reloaded page")
        assert b.eval(points) > before, (before, b.eval(points))  # the history came back

    @t.test
    def no_console_error_and_a_screenshot():
        b.call("Runtime.evaluate", expression="1")  # collects the events queued so far
        assert b.errors == [], b.errors
        path = os.path.join(LOGS, f"test_dashboard{SUFFIX}.png")
        b.screenshot(path)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        print(f"# screenshot: {path}")

    @t.test
    def killed_synfin_reads_connection_lost():
        log = lb.log()
        assert "Sanitizer" not in log and "runtime error" not in log, log[-3000:]
        lb.p.kill()
        lb.p.wait(10)
        text = wait_until(lambda: (lambda s: s if s.startswith("connection lost") else None)(
            b.eval("document.getElementById('conn').textContent")), 15, 0.05, "'connection lost'")
        assert f"127.0.0.1:{aport}" in text, text
        assert b.eval("document.getElementById('conn').className") == "conn lost"


# A backend that accepts and holds connections, in a process of its own (its descriptors
# do not count against this one's): prints its port, holds until stdin closes.
HOLDER = """
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 0))
s.listen(4096)
print(s.getsockname()[1], flush=True)
held = []
def run():
    while True:
        held.append(s.accept()[0])
threading.Thread(target=run, daemon=True).start()
sys.stdin.read()
"""


MANY = 10000


def many_sessions():
    """The page with 10,000 live sessions: it pages them (the newest 100, then older ones)
    and keeps refreshing."""
    global MANY
    # Descriptors: this process holds the clients; synfin on kernel sockets two per session
    # (it raises its soft limit to the hard one), on its own TCP none. Where the hard limit
    # cannot be raised (no CAP_SYS_RESOURCE) and is short for 2 x 10,000, the kernel run
    # takes as many sessions as fit: still thousands, the point being that the page pages.
    need = MANY + 500 if STACK else 2 * MANY + 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
        except (ValueError, OSError):
            MANY = min(MANY, (hard - 500) // (1 if STACK else 2)) // 100 * 100
            print(f"# RLIMIT_NOFILE hard limit {hard} (raising it needs CAP_SYS_RESOURCE): "
                  f"{MANY} sessions")
            if MANY < 1000:
                t.skip("many_sessions", f"RLIMIT_NOFILE hard limit {hard}: too few descriptors")
                return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, SERVER_BIND], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    holder.port = int(holder.stdout.readline())
    fport, aport = free_port(), free_port()
    lb = Synfin(f"log stderr;\nadmin 127.0.0.1:{aport};\n"
                f"frontend f {{ listen 127.0.0.1:{fport}; maxconn {MANY + 100}; backend b; }}\n"
                f"backend b {{ server s1 127.0.0.1:{holder.port}; }}\n")
    clients, browser = [], None
    try:
        for _ in range(MANY):
            clients.append(connect(fport))
        wait_until(lambda: admin_json(aport)["sessions"]["active"] == MANY, 60, 0.2,
                   f"{MANY} sessions")
        browser = cdp.Browser(os.path.join(LOGS, f"test_dashboard{SUFFIX}.many.chromium.log"))
        browser.navigate(f"http://127.0.0.1:{aport}/#interval=1000")

        @t.test
        def many_sessions_paged_and_live():
            b = browser
            wait_until(lambda: ticks(b) >= 2, 30, 0.1, "the page's first refreshes")
            note = b.eval("document.getElementById('sessions-note').textContent")
            assert note.startswith(f"{MANY} live"), note
            ids = [int(i) for i in b.eval("[...document.querySelectorAll('#sessions tbody "
                                          "tr:not(.ended)')].map(r => r.dataset.id)")]
            assert len(ids) == 100 and ids == sorted(ids, reverse=True), ids
            b.eval("document.getElementById('next').click()")
            older = wait_until(lambda: (lambda o: o if o and int(o[0]) < ids[-1] else None)(
                b.eval("[...document.querySelectorAll('#sessions tbody tr:not(.ended)')]"
                       ".map(r => r.dataset.id)")), 15, 0.1, "the next page")
            assert len(older) == 100 and int(older[0]) == ids[-1] - 1, (ids[-1], older[:3])
            n = ticks(b)
            wait_until(lambda: ticks(b) >= n + 3, 30, 0.1, "three more refreshes")
            est = wait_until(lambda: count_agrees(b, aport, "ESTABLISHED"), 30, 0.1,
                             "the page's ESTABLISHED to equal /stats")
            assert 2 * MANY <= est <= 2 * MANY + 8, est
            b.call("Runtime.evaluate", expression="1")
            assert b.errors == [], b.errors
    finally:
        for c in clients:
            c.close()
        if browser:
            browser.close()
        lb.stop()
        lb.cleanup()
        holder.stdin.close()
        holder.wait(10)


main()
many_sessions()
t.done()
