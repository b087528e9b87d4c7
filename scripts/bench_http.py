#!/usr/bin/env python3
"""make bench-http: synfin `mode http` against HAProxy `mode http` (`http-reuse safe`) and
nginx `proxy_pass` to an `upstream` with `keepalive`, in front of the same nginx backend
(one worker, a 17-byte answer), driven by the same wrk (one thread), in interleaved rounds
(each round starts with the next balancer in turn). synfin runs twice: with `http_reuse
always` (what pooling is for: Connection: close clients share the server connections) and
with `http_reuse safe` (HAProxy's rule, the like-for-like row). Each balancer has one worker
thread and adds X-Forwarded-For; client keep-alive is not capped by a request count on any
of them (synfin `keepalive_requests 0`, nginx `keepalive_requests` 10^9, HAProxy has none).
Idle server connections kept: as many as there are clients (BENCH_CONNS) for synfin
(`pool_max_idle`) and nginx (`keepalive`), unbounded in HAProxy; with fewer than the
clients' concurrency each burst of answers closes the surplus and the next opens it again
(with the defaults, 32 for 64 clients: about 350 server connections per 1,000 keep-alive
requests for both synfin and nginx). synfin closes server connections with `server_close
rst`, as HAProxy does the idle ones it kills (no TIME_WAIT on the balancer's side).

Every balancer run starts a fresh process on loopback addresses of its own, so TIME_WAIT is
attributed exactly (client side: wrk's sockets; balancer frontend; balancer backend side:
its source address toward nginx; backend: nginx's toward that source). Connections the
backend accepted and requests it served come from nginx's stub_status, read before and after
each wrk run (on a listener of its own; its own connection and request are subtracted): the
server-side connections opened per 1,000 requests. The balancer's CPU time (user + system
from /proc) per request is the figure least moved by a shared machine.

Environment: BENCH_ROUNDS (3), BENCH_SECONDS (5 per test), BENCH_CONNS (64), O (build dir),
BENCH_PERF=1 (perf record synfin's keep-alive and close runs of the last round: perf report
paths printed)."""
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
CONNS = int(os.environ.get("BENCH_CONNS", "64"))
PERF = os.environ.get("BENCH_PERF") == "1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("O", "build")
SYNFIN = os.path.join(ROOT, BUILD, "bin", "synfin")
BALANCERS = ["synfin", "synfin_safe", "haproxy", "nginx"]
LABEL = {"synfin": "synfin mode http, http_reuse always",
         "synfin_safe": "synfin mode http, http_reuse safe",
         "haproxy": "HAProxy 2.6 mode http, http-reuse safe",
         "nginx": "nginx 1.22 proxy_pass, upstream keepalive"}
IDX = {b: i for i, b in enumerate(BALANCERS)}
TESTS = ("close", "ka")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10):
    """Until something listens on host:port (ss: a probe connection would leave a TIME_WAIT
    where the counts look)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-Htln", f"src {host}:{port}"], capture_output=True,
                             text=True).stdout
        if out.strip():
            return
        time.sleep(0.02)
    raise SystemExit(f"bench-http: nothing listens on {host}:{port}")


def tw(filt):
    out = subprocess.run(["ss", "-Htan", "state", "time-wait"] + filt.split(),
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for l in out.splitlines() if l.strip())


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stub_status(port):
    """nginx's (accepted connections, requests) so far, this query's own included."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /status HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
    m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\n", data)
    return int(m.group(1)), int(m.group(3))


def wrk(url, close):
    cmd = ["wrk", "-t1", f"-c{CONNS}", f"-d{SECONDS}s", "--latency", url]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {}
    for q in ("50", "99"):
        m = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        lat[q] = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else 0
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "total": total, "p50": lat["50"], "p99": lat["99"],
            "errors": (errs.group(1) if errs else "") +
            (f" non2xx {non2xx.group(1)}" if non2xx else "")}


def start(cmd, cwd):
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(cwd, "stderr"), "a"))


def stop(p, sig=signal.SIGINT):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def backend_conf(work, bport, sport):
    return f"""daemon off; master_process off; worker_processes 1;
pid {work}/backend.pid; error_log {work}/backend.err;
events {{ worker_connections 16000; }}
http {{
    access_log off; keepalive_requests 1000000000;
    server {{
        listen 127.0.0.1:{bport} backlog=4096;
        location = / {{ return 200 "hello from nginx\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{sport};
        location = /status {{ stub_status; }}
    }}
}}
"""


def balancer_conf(name, d, fe, fport, src, bport):
    if name.startswith("synfin"):
        reuse = "always" if name == "synfin" else "safe"
        path = os.path.join(d, "synfin.conf")
        text = f"""log off;
frontend bench {{ listen {fe}:{fport}; backlog 4096; maxconn 8000; mode http;
    keepalive_requests 0; forwarded_proto off; backend nginx; }}
backend nginx {{ server n 127.0.0.1:{bport}; source {src}; http_reuse {reuse};
    pool_max_idle {CONNS}; server_close rst; }}
"""
        cmd = [SYNFIN, "-c", path]
    elif name == "haproxy":
        path = os.path.join(d, "haproxy.cfg")
        text = f"""global
    maxconn 8000
    nbthread 1
defaults
    mode http
    option forwardfor
    http-reuse safe
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
frontend bench
    bind {fe}:{fport} backlog 4096
    default_backend nginx
backend nginx
    source {src}
    server n 127.0.0.1:{bport}
"""
        cmd = ["haproxy", "-db", "-f", path]
    else:
        path = os.path.join(d, "nginx.conf")
        text = f"""daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 16000; }}
http {{
    access_log off; keepalive_requests 1000000000; keepalive_timeout 30s;
    upstream be {{ server 127.0.0.1:{bport}; keepalive {CONNS}; }}
    server {{
        listen {fe}:{fport} backlog=4096;
        location / {{
            proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_bind {src};
        }}
    }}
}}
"""
        cmd = ["nginx", "-c", path, "-p", d]
    with open(path, "w") as f:
        f.write(text)
    return cmd


def run_one(name, r, work, bport, sport):
    b = IDX[name]
    fe, src, fport = f"127.4.{b}.{r + 1}", f"127.5.{b}.{r + 1}", free_port()
    d = os.path.join(work, f"{name}-{r}")
    os.makedirs(d)
    proc = start(balancer_conf(name, d, fe, fport, src, bport), d)
    wait_port(fe, fport)
    url = f"http://{fe}:{fport}/"
    res = {}
    for test in TESTS:
        perf = None
        if PERF and name == "synfin" and r == ROUNDS - 1:
            out = os.path.join(ROOT, BUILD, f"bench-http-perf-{test}.data")
            perf = subprocess.Popen(["perf", "record", "-g", "-q", "-o", out, "-p",
                                     str(proc.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        a0, q0 = stub_status(sport)
        c0 = cpu_s(proc.pid)
        w = wrk(url, test == "close")
        c1 = cpu_s(proc.pid)
        a1, q1 = stub_status(sport)
        if perf:
            stop(perf)
            print(f"bench-http: perf report -i {out}", flush=True)
        w["us"] = (c1 - c0) * 1e6 / max(w["total"], 1)
        # between the two queries: the second one's connection and request, and wrk's
        w["conns_per_k"] = (a1 - a0 - 1) * 1000 / max(q1 - q0 - 1, 1)
        if test == "close":  # right after the close run: where its TIME_WAIT went
            w["tw"] = {"client": tw(f"dst {fe}:{fport}"), "front": tw(f"src {fe}:{fport}"),
                       "back": tw(f"src {src}"),
                       "backend": tw(f"src 127.0.0.1:{bport} dst {src}")}
        res[test] = w
    res["rss"] = peak_rss_mib(proc.pid)
    stop(proc, signal.SIGTERM if name == "haproxy" else signal.SIGINT)
    return res


def med(runs, *path):
    vals = []
    for x in runs:
        for k in path:
            x = x[k]
        vals.append(x)
    return statistics.median(vals)


def render(results, bport):
    h = results["haproxy"]
    ref = {t: med(h, t, "rps") for t in TESTS}

    def ratio(v, t):
        return f"{v / ref[t]:.2f}x" if ref[t] else "-"

    lines = [
        f"synfin bench-http: {ROUNDS} interleaved rounds (order rotated), wrk -t1 -c{CONNS} "
        f"-d{SECONDS}s per test, backend nginx (1 worker) on 127.0.0.1:{bport}, medians; "
        "ratios to HAProxy. Server conns/1k req: connections the backend accepted per 1,000 "
        "requests it served (nginx stub_status).",
        "",
        "| | close req/s | vs HAProxy | close server conns/1k req | close CPU µs/req | "
        "keep-alive req/s | vs HAProxy | keep-alive p50 ms | p99 ms | keep-alive server "
        "conns/1k req | keep-alive CPU µs/req | peak RSS MiB | TIME_WAIT client | "
        "TW balancer frontend | TW balancer backend-side | TW backend |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in BALANCERS:
        runs = results[name]
        close, ka = med(runs, "close", "rps"), med(runs, "ka", "rps")
        lines.append(
            f"| {LABEL[name]} | {close:.0f} | {ratio(close, 'close')} | "
            f"{med(runs, 'close', 'conns_per_k'):.1f} | {med(runs, 'close', 'us'):.1f} | "
            f"{ka:.0f} | {ratio(ka, 'ka')} | {med(runs, 'ka', 'p50'):.2f} | "
            f"{med(runs, 'ka', 'p99'):.2f} | {med(runs, 'ka', 'conns_per_k'):.2f} | "
            f"{med(runs, 'ka', 'us'):.1f} | {max(x['rss'] for x in runs):.1f} | "
            f"{med(runs, 'close', 'tw', 'client'):.0f} | {med(runs, 'close', 'tw', 'front'):.0f} | "
            f"{med(runs, 'close', 'tw', 'back'):.0f} | "
            f"{med(runs, 'close', 'tw', 'backend'):.0f} |")
    errs = [f"{n} round {i + 1} {t}: {x[t]['errors'].strip()}" for n in BALANCERS
            for i, x in enumerate(results[n]) for t in TESTS if x[t]["errors"].strip()]
    lines += ["", "wrk errors: " + ("; ".join(errs) if errs else "none"), ""]
    return "\n".join(lines) + "\n"


def main():
    for tool in ("wrk", "nginx", "haproxy", "ss") + (("perf",) if PERF else ()):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"bench-http: {tool} is missing (make bench-http installs it as "
                             "root)")
    if not os.path.exists(SYNFIN):
        raise SystemExit(f"bench-http: {SYNFIN} not built")
    work = tempfile.mkdtemp(prefix="synfin-bench-http-")
    bport, sport = free_port(), free_port()
    with open(os.path.join(work, "backend.conf"), "w") as f:
        f.write(backend_conf(work, bport, sport))
    backend = start(["nginx", "-c", os.path.join(work, "backend.conf"), "-p", work], work)
    wait_port("127.0.0.1", bport)
    wait_port("127.0.0.1", sport)
    results = {b: [] for b in BALANCERS}
    try:
        for r in range(ROUNDS):
            # Each round starts with another balancer: whoever runs right after another's
            # Connection: close test inherits its TIME_WAIT entries and a warm or cold cache.
            for name in BALANCERS[r % len(BALANCERS):] + BALANCERS[:r % len(BALANCERS)]:
                x = run_one(name, r, work, bport, sport)
                results[name].append(x)
                print(f"bench-http: round {r + 1}/{ROUNDS} {name}: close {x['close']['rps']:.0f} "
                      f"req/s ({x['close']['conns_per_k']:.1f} server conns/1k), keep-alive "
                      f"{x['ka']['rps']:.0f} req/s ({x['ka']['conns_per_k']:.2f}/1k)", flush=True)
    finally:
        stop(backend)
    table = render(results, bport)
    print(table)
    out = os.path.join(ROOT, BUILD, "bench-http.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(table)
    print(f"bench-http: table written to {out}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
