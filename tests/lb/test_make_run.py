#!/usr/bin/env python3
"""`make run` end to end: a bare synfin (what the target runs) on the embedded
conf/synfin.conf answers `curl localhost:8080` from both built-in backends in turn, serves
/metrics and /stats on 127.0.0.1:8081, says what it listens on, and stops on SIGINT. And
`make run CONF=path` runs that file, on its own ports."""
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import Synfin  # noqa: E402
from tap import Tap, build_dir, free_port, wait_until  # noqa: E402

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


@t.test
def make_run_takes_another_config():
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    fe, srv = free_port(), free_port()
    d = tempfile.mkdtemp(prefix="synfin-make-run-")
    conf = os.path.join(d, "my.conf")
    with open(conf, "w") as f:
        f.write(f"log stderr;\nfrontend mine {{ listen 127.0.0.1:{fe}; backend b; }}\n"
                f"backend b {{ server here 127.0.0.1:{srv}; }}\nrespond 127.0.0.1:{srv} \"mine\\n\";\n")
    out = os.path.join(d, "out")
    with open(out, "w") as o:
        # its own session: SIGINT reaches make and synfin alike, as a terminal's ^C would
        p = subprocess.Popen(["make", "--no-print-directory", "-C", top, "run", f"CONF={conf}",
                              f"O={build_dir()}"], stdout=o, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        def text():
            with open(out) as f:
                return f.read()
        wait_until(lambda: "SIGINT stops" in text() or p.poll() is not None, 60,
                   what="make run to start synfin")
        assert p.poll() is None, text()
        assert f"-c {conf}" in text(), text()
        assert f"synfin: frontend mine listening on 127.0.0.1:{fe} -> backend b (roundrobin): " \
            f"here=127.0.0.1:{srv}\n" in text(), text()
        code, body = curl(f"http://127.0.0.1:{fe}/")
        assert (code, body) == (200, "mine\n"), (code, body)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


t.done()
