#!/usr/bin/env python3
"""/metrics beyond the balancer's counters: the process collector's families (process_*, as
every Prometheus client library names them) against /proc of the synfin under test, the
backends' connect time and session duration histograms (Prometheus histogram form), the
loop's iteration histogram and GET /loop, and
`promtool check metrics` on the whole page when promtool is installed."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from contextlib import closing

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import STACK, Backend, Synfin, connect, http_get, named, recv_all  # noqa: E402
from tap import Tap, free_port, wait_until  # noqa: E402

t = Tap()


def conf(fport, sport, aport):
    return (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
            f"frontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
            f"backend b {{ server s1 127.0.0.1:{sport}; }}\n")


def metrics(aport):
    status, body = http_get(aport, "/metrics")
    assert status == 200, status
    return body.decode()


def samples(text):
    """{(name, labels string): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)", line)
        assert m, line
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def one_session(fport):
    with connect(fport) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        return recv_all(s)


def histogram(smp, name, backend):
    """The buckets [(le, cumulative count)], _sum and _count of one backend's histogram."""
    buckets = []
    for (n, labels), v in smp.items():
        if n == f"{name}_bucket" and f'backend="{backend}"' in labels:
            le = re.search(r'le="([^"]+)"', labels).group(1)
            buckets.append((float("inf") if le == "+Inf" else float(le), v))
    buckets.sort()
    lb = f'{{backend="{backend}"}}'
    return buckets, smp[(f"{name}_sum", lb)], smp[(f"{name}_count", lb)]


@t.test
def process_collector_matches_proc():
    fport, aport = free_port(), free_port()
    with closing(Backend(named("p"))) as be, Synfin(conf(fport, be.port, aport)) as lb:
        pid = lb.p.pid
        before = len(os.listdir(f"/proc/{pid}/fd"))
        smp = samples(metrics(aport))
        after = len(os.listdir(f"/proc/{pid}/fd"))
        for n in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                  "process_open_fds", "process_max_fds", "process_start_time_seconds",
                  "process_virtual_memory_bytes"):
            assert (n, "") in smp, n
        # the admin connection of the scrape is open in both counts
        lo, hi = min(before, after), max(before, after)
        assert lo - 1 <= smp[("process_open_fds", "")] <= hi + 1, (before, after, smp)
        soft = None
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    soft = line.split()[3]
        assert smp[("process_max_fds", "")] == (-1 if soft == "unlimited" else int(soft)), soft
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tck = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as f:
            btime = int(next(l for l in f if l.startswith("btime")).split()[1])
        start = btime + int(fields[19]) / tck
        assert abs(smp[("process_start_time_seconds", "")] - start) < 0.011, (smp, start)
        rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        assert 0.5 * rss <= smp[("process_resident_memory_bytes", "")] <= 2 * rss, (smp, rss)
        cpu = (int(fields[11]) + int(fields[12])) / tck
        assert cpu - 0.011 <= smp[("process_cpu_seconds_total", "")] <= cpu + 0.5, (smp, cpu)


@t.test
def connect_and_duration_histograms():
    fport, aport = free_port(), free_port()
    with closing(Backend(named("h"))) as be, Synfin(conf(fport, be.port, aport)):
        smp = samples(metrics(aport))
        buckets, total, count = histogram(smp, "synfin_backend_connect_seconds", "b")
        assert count == 0 and total == 0 and all(v == 0 for _, v in buckets), buckets
        for _ in range(7):
            assert one_session(fport).endswith(b"h")
        wait_until(lambda: samples(metrics(aport))[
            ("synfin_backend_session_duration_seconds_count", '{backend="b"}')] == 7,
            5, what="seven sessions ended")
        text = metrics(aport)
        assert "# TYPE synfin_backend_connect_seconds histogram\n" in text, text
        assert "# TYPE synfin_backend_session_duration_seconds histogram\n" in text, text
        smp = samples(text)
        for name in ("synfin_backend_connect_seconds", "synfin_backend_session_duration_seconds"):
            buckets, total, count = histogram(smp, name, "b")
            assert count == 7, (name, count)
            assert len(buckets) == 15 and buckets[-1] == (float("inf"), 7), buckets
            assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
            assert 0 < total < 7 * 10, (name, total)  # seven local sessions, well under 10 s
        # a connect on this host takes under 10 ms
        buckets, _, _ = histogram(smp, "synfin_backend_connect_seconds", "b")
        assert dict(buckets)[0.01] == 7, buckets


@t.test
def loop_iterations_counted():
    """synfin_loop_* and GET /loop: every iteration in the histogram, the admin and census
    work counted, the slow ones (over 1 ms) in the ring as many as above the 1 ms bucket."""
    fport, aport = free_port(), free_port()
    with closing(Backend(named("l"))) as be, Synfin(conf(fport, be.port, aport)):
        first = samples(metrics(aport))  # the first scrape waits for a census
        for _ in range(5):
            assert one_session(fport).endswith(b"l")
        smp = samples(metrics(aport))
        name = "synfin_loop_iteration_seconds"
        buckets = sorted((float("inf") if lbl == '{le="+Inf"}' else float(lbl[5:-2]), v)
                         for (n, lbl), v in smp.items() if n == name + "_bucket")
        assert len(buckets) == 12 and buckets[-1][1] == smp[(name + "_count", "")], buckets
        assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), buckets
        # five sessions take iterations of their own: accept, connect, relay, close
        assert smp[(name + "_count", "")] >= first[(name + "_count", "")] + 5, (first, smp)
        assert 0 < smp[(name + "_sum", "")] <= smp[(name + "_count", "")] * 0.1, smp
        work = "synfin_loop_work_seconds_total"
        # the stack's census is the engine's own counts, read inside the admin's request
        for w in ("admin",) if STACK else ("admin", "census"):
            assert smp[(work, f'{{work="{w}"}}')] > 0, (w, smp)
            assert smp[("synfin_loop_work_cpu_seconds_total", f'{{work="{w}"}}')] > 0, (w, smp)
        assert smp[(work, '{work="admin"}')] > first[(work, '{work="admin"}')], (first, smp)
        status, body = http_get(aport, "/loop")
        assert status == 200, status
        lp = json.loads(body)
        assert lp["iterations"] > smp[(name + "_count", "")], lp
        assert sum(b["n"] for b in lp["buckets"]) == lp["iterations"], lp
        above = sum(b["n"] for b in lp["buckets"] if b["le_ms"] is None or b["le_ms"] > 1)
        assert lp["slow_total"] == above, lp
        assert len(lp["slow"]) == min(above, 32), lp
        seqs = [it["seq"] for it in lp["slow"]]
        assert seqs == list(range(above - 1, above - 1 - len(seqs), -1)), seqs
        for it in lp["slow"]:
            assert it["busy_ms"] > 1 and set(it["work_ms"]) == {"admin", "census"}, it
            assert it["events_ms"] + it["timers_ms"] + it["hooks_ms"] <= it["busy_ms"] + 0.002
        assert http_get(aport, "/loop", method="POST")[0] == 405


@t.test
def promtool_checks_the_page():
    if not shutil.which("promtool"):
        t.skip_test("promtool not installed (Debian package prometheus)")
    fport, aport = free_port(), free_port()
    with closing(Backend(named("x"))) as be, Synfin(conf(fport, be.port, aport)):
        one_session(fport)
        text = metrics(aport)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


t.done()
