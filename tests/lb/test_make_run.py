#!/usr/bin/env python3
"""`make run` end to end: a bare synfin (what the target runs) on the embedded
conf/synfin.conf answers `curl localhost:8080` from both built-in backends in turn, serves
/metrics and /stats on 127.0.0.1:8081, says what it listens on, and stops on SIGINT."""
import errno
import json
import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import Synfin  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()

# The default configuration's addresses: frontend, admin, the two `respond` backends.
PORTS = (8080, 8081, 9001, 9002)
BODY = "hello from backend {0} (127.0.0.1:{1}, served by synfin)\n"


def in_use(family, host, port):
    """Whether binding host:port fails the way synfin's would (SO_REUSEADDR, like synfin)."""
    try:
        s = socket.socket(family)
    except OSError:
        return False  # no IPv6 here: nothing can listen there either
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return False
    except OSError as e:
        if e.errno == errno.EADDRNOTAVAIL:
            return False
        return True
    finally:
        s.close()


def curl(url):
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}",
                        url], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r
    body, _, code = r.stdout.rpartition("\n")
    return int(code), body


@t.test
def make_run_serves_the_default_config():
    busy = [p for p in PORTS if in_use(socket.AF_INET, "127.0.0.1", p)]
    # curl localhost may try [::1] first: something else listening there would answer
    if in_use(socket.AF_INET6, "::1", 8080):
        busy.append("[::1]:8080")
    if busy:
        t.skip_test(f"the default config's ports are in use here: {busy}")
    lb = Synfin("", args=[])  # no arguments: the embedded conf/synfin.conf, as `make run`
    try:
        out = lb.stdout()
        for line in ("synfin: frontend web listening on 127.0.0.1:8080 -> backend app "
                     "(roundrobin): a=127.0.0.1:9001 b=127.0.0.1:9002\n",
                     "synfin: respond on 127.0.0.1:9001 (built-in HTTP responder)\n",
                     "synfin: respond on 127.0.0.1:9002 (built-in HTTP responder)\n",
                     "synfin: admin on http://127.0.0.1:8081/ (dashboard; /metrics /stats /sessions)\n"):
            assert line in out, out
        # round robin over the two built-in backends: one answer from each
        answers = [curl("http://localhost:8080/") for _ in range(2)]
        assert sorted(answers) == [(200, BODY.format("a", 9001)), (200, BODY.format("b", 9002))], \
            answers
        code, metrics = curl("http://127.0.0.1:8081/metrics")
        assert code == 200, (code, metrics)
        for want in ('synfin_sessions_total{frontend="web"} 2\n',
                     'synfin_backend_sessions_total{backend="app"} 2\n',
                     'synfin_server_sessions_total{backend="app",server="a"} 1\n',
                     'synfin_server_sessions_total{backend="app",server="b"} 1\n',
                     'synfin_server_up{backend="app",server="a"} 1\n',
                     'synfin_server_up{backend="app",server="b"} 1\n'):
            assert want in metrics, (want, metrics)
        code, body = curl("http://127.0.0.1:8081/stats")
        assert code == 200, (code, body)
        st = json.loads(body)
        assert st["pid"] == lb.p.pid and st["sessions"]["total"] == 2, st
        assert [(f["name"], f["listen"]) for f in st["frontends"]] == [("web", "127.0.0.1:8080")]
        be = st["backends"][0]
        assert be["name"] == "app" and be["total"] == 2, be
        assert [(s["name"], s["up"], s["checked"], s["total"]) for s in be["servers"]] == \
            [("a", True, True, 1), ("b", True, True, 1)], be
        # SIGINT stops it: exit 0, nothing listening any more
        assert lb.stop(sig=signal.SIGINT) == 0, lb.log()
        assert "event=stop" in lb.log() and "event=exit sessions_total=2" in lb.log(), lb.log()
        for p in PORTS:
            try:
                socket.create_connection(("127.0.0.1", p), timeout=5).close()
                raise AssertionError(f"127.0.0.1:{p} still accepts after the stop")
            except ConnectionRefusedError:
                pass
    finally:
        lb.stop(timeout=10)
        lb.cleanup()


t.done()
