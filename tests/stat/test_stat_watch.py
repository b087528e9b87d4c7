#!/usr/bin/env python3
"""synfin-stat --watch: plain lines when stdout is not a terminal, JSON lines with --json, an
in-place screen with rates on a terminal (a pty here), and a clean stop on SIGINT."""
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import statlib as L  # noqa: E402
from tap import Tap, wait_until  # noqa: E402

t = Tap()


def field(line, state):
    return int(re.search(rf" {state}=(\d+)", line).group(1))


def time_waits(ns, n):
    """n TIME_WAIT sockets in ns: clients that close first on a listener kept open."""
    with ns:
        lst = L.listener("127.0.0.1")
        pairs = [L.connect_pair(lst) for _ in range(n)]
    for c, _ in pairs:
        c.close()
    for _, s in pairs:
        s.close()
    return lst


@t.test
def plain_lines_follow_the_counts():
    L.need_root_and_netns()
    ns = L.Netns("w")
    p = subprocess.Popen([L.stat_bin(), "--netns", ns.name, "--watch", "0.3", "--count", "40"],
                         stdout=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ CLOSED=0 LISTEN=0 ", first), first
        assert "|" not in first and field(first, "TIME_WAIT") == 0
        lst = time_waits(ns, 5)
        line = first
        for _ in range(30):  # refreshes until the five show up (bounded)
            line = p.stdout.readline()
            if field(line, "TIME_WAIT") == 5:
                break
        assert field(line, "TIME_WAIT") == 5 and field(line, "LISTEN") == 1, line
        moved = re.search(r"\| per second: (.*)$", line).group(1)
        assert re.search(r"TIME_WAIT=\+\d+\.\d", moved), line
        line = p.stdout.readline()
        assert line.rstrip().endswith("| per second: no change"), line
        lst.close()
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0
        p.stdout.close()
    ns.delete()


@t.test
def json_lines_carry_rates():
    r = subprocess.run([L.stat_bin(), "--watch", "0.1", "--count", "3", "--json"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    docs = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(docs) == 3
    assert docs[0]["rates"] is None
    for d in docs[1:]:
        assert list(d["rates"]) == L.STATES and list(d["tcp_states"]) == L.STATES
        assert d["interval"] == 0.1 and d["source"] == "kernel"


def read_until(fd, needle, timeout=10):
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in {buf[-500:]!r}"
        if select.select([fd], [], [], left)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty closes when the child exits
                chunk = b""
            if not chunk:
                assert needle in buf, f"no {needle!r} before EOF in {buf[-500:]!r}"
                break
            buf += chunk
    return buf


@t.test
def terminal_refreshes_in_place_until_interrupted():
    master, slave = pty.openpty()
    p = subprocess.Popen([L.stat_bin(), "--watch", "0.1"], stdout=slave, stderr=slave,
                         close_fds=True)
    os.close(slave)
    try:
        out = read_until(master, b"PER SECOND")
        assert out.startswith(b"\x1b[?25l\x1b[H\x1b[2J"), out[:40]  # cursor hidden, cleared
        out = read_until(master, b"TIME_WAIT")
        frame2 = read_until(master, b"TIME_WAIT")  # the next frame: homed, rates shown
        assert frame2.count(b"\x1b[H") >= 1 and b"\x1b[K" in frame2
        assert re.search(rb"TIME_WAIT +\d+ +[+-]\d+\.\d", frame2), frame2
        p.send_signal(signal.SIGINT)
        tail = read_until(master, b"\x1b[?25h")  # the cursor comes back
        assert tail
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


@t.test
def sigterm_stops_a_plain_watch():
    p = subprocess.Popen([L.stat_bin(), "--watch", "60"], stdout=subprocess.PIPE, text=True)
    p.stdout.readline()
    start = time.monotonic()
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 0
    assert time.monotonic() - start < 5  # the 60 s sleep was cut short
    p.stdout.close()


@t.test
def watch_with_by_peer_repeats_the_groups():
    L.need_root_and_netns()
    ns = L.Netns("wp")
    lst = time_waits(ns, 3)
    r = subprocess.run([L.stat_bin(), "--netns", ns.name, "--watch", "0.1", "--count", "2",
                        "--by-peer"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("TIME_WAIT: 3 sockets") == 2, r.stdout
    assert r.stdout.count(f"127.0.0.1:{lst.getsockname()[1]}") == 2, r.stdout
    lst.close()
    ns.delete()


t.done()
