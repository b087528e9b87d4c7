#!/usr/bin/env python3
"""A server address that leads back to a frontend (issue 11, defect 2): the config check
rejects the forms it can see, naming the server's position and the frontend's line, and at
run time a connection from synfin's own server side to its own listener is reset at once
instead of becoming one more session of an endless storm."""
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import Synfin, admin_json, http_get, kernel_only  # noqa: E402
from tap import Tap, binary, free_port, wait_until  # noqa: E402

t = Tap()


def check(text):
    fd, path = tempfile.mkstemp(prefix="synfin-loop-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    try:
        r = subprocess.run([binary("synfin"), "-c", path, "-t"], capture_output=True, text=True,
                           timeout=20)
    finally:
        os.unlink(path)
    return r, path


@t.test
def check_rejects_a_server_that_is_a_frontend():
    p = free_port()
    r, path = check(f"frontend web {{\n    listen 127.0.0.1:{p};\n    backend app;\n"
                    f"    maxconn 50;\n}}\nbackend app {{\n    server a 127.0.0.1:{p};\n}}\n")
    assert r.returncode == 2, r
    assert (f"{path}:7:14: server 'a' at 127.0.0.1:{p} is frontend 'web''s own listening "
            f"address: every connection to it would come back to synfin (a loop) at line 2"
            in r.stderr), r.stderr
    # a wildcard listener takes every local address of its port
    r, path = check(f"frontend web {{ listen 0.0.0.0:{p}; backend app; }}\n"
                    f"backend app {{ server a 127.0.0.2:{p}; }}\n")
    assert r.returncode == 2 and f"{path}:2:24: server 'a' at 127.0.0.2:{p}" in r.stderr, r
    # a responder as a server is what the default configuration does: still valid
    r, _ = check(f"frontend web {{ listen 127.0.0.1:{free_port()}; backend app; }}\n"
                 f"backend app {{ server a 127.0.0.1:{p}; }}\nrespond 127.0.0.1:{p} \"hi\";\n")
    assert r.returncode == 0, r


def request(port, timeout=5):
    """One request; how the connection ended: "rst", "fin", or "still open" after timeout.
    On loopback the reset can come before connect() has returned."""
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        while s.recv(65536):
            pass
        return "fin"
    except (ConnectionResetError, BrokenPipeError):
        return "rst"
    except socket.timeout:
        return "still open"
    finally:
        s.close()


@kernel_only(t, "every address the stack listens on is its own: the check sees the loops")
def loop_the_check_cannot_see_is_cut_at_run_time():
    """Connecting to 0.0.0.0 reaches the local host, so a server at 0.0.0.0:P is the
    frontend on 127.0.0.1:P; the check does not see it. The session's server connection is
    met at the frontend's accept: reset there, it fails with cause loop, the client gets its
    RST at once, and one session is all it ever made (the storm made tens of thousands)."""
    fport, aport = free_port(), free_port()
    conf = (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
            f"frontend web {{ listen 127.0.0.1:{fport}; maxconn 50; backend app; }}\n"
            f"backend app {{ server a 0.0.0.0:{fport}; }}\n")
    with Synfin(conf) as lb:
        t0 = time.monotonic()
        how = request(fport)
        took = time.monotonic() - t0
        st = admin_json(aport)
        assert how == "rst", (how, st["sessions"])
        assert st["sessions"]["total"] == 1, st["sessions"]
        fe = st["frontends"][0]
        assert 1 <= fe["loops"] <= 4 and fe["close_causes"]["loop"] == 1, fe
        wait_until(lambda: lb.sessions_logged(), what="the session's log line")
        assert [r["cause"] for r in lb.sessions_logged()] == ["loop"], lb.sessions_logged()
        assert len(lb.log_lines("event=loop_detected")) == 1, lb.log()
        _, body = http_get(aport, "/metrics")
        assert f'synfin_frontend_loops_total{{frontend="web"}} {fe["loops"]}' in body.decode()
        # the server came back to us: passively ejected, the next client is not looped
        assert request(fport) == "rst"
        assert admin_json(aport)["frontends"][0]["close_causes"]["no_server"] == 1
        assert len(lb.log_lines("event=loop_detected")) == 1
    print(f"# the looping client was reset after {took * 1000:.1f} ms")


t.done()
