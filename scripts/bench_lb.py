"""make bench-lb: the same client (wrk), the same backend (nginx, one worker, a small
response) and, in between, nothing (direct), synfin, HAProxy (TCP mode) or nginx stream,
each with one worker thread. Rounds are interleaved, each starting with the next balancer in
turn; every balancer run starts a fresh process on its own loopback addresses, so TIME_WAIT
entries are attributed exactly:

  client side      TIME_WAIT held by wrk's sockets (dst = the frontend address)
  balancer front   held on the balancer's frontend address (src = frontend address)
  balancer back    held on the balancer's backend-side source address
  backend          held by nginx toward that source address

Everything stays on 127.0.0.0/8. Figures: requests/s with Connection: close (one request
per TCP connection), requests/s keep-alive with p50/p99 latency, throughput of a large
transfer, the balancer's CPU seconds and peak RSS for its run, TIME_WAIT counts right
after the Connection: close test. Ratios are to HAProxy."""
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
BIG_CONNS = int(os.environ.get("BENCH_BIG_CONNS", "4"))
BIG = 8 << 20
SYNFIN_EXTRA = os.environ.get("BENCH_SYNFIN_EXTRA", "")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("O", "build")
SYNFIN = os.path.join(ROOT, BUILD, "bin", "synfin")
NGINX_STREAM_MOD = "/usr/lib/nginx/modules/ngx_stream_module.so"
BALANCERS = ["direct", "synfin", "haproxy", "nginx"]
# BENCH_THREADS="2" (or "2 4"): synfin with `threads N` and HAProxy with `nbthread N` too,
# in the same interleaved rounds (docs/architecture.md, "Threads").
for _n in os.environ.get("BENCH_THREADS", "").split():
    if int(_n) > 1:
        BALANCERS += [f"synfin-t{_n}", f"haproxy-t{_n}"]
IDX = {b: i for i, b in enumerate(BALANCERS)}


def threads_of(name):
    return int(name.split("-t")[1]) if "-t" in name else 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise SystemExit(f"bench-lb: nothing listens on {host}:{port}")


def tw(filt):
    out = subprocess.run(["ss", "-Htan", "state", "time-wait"] + filt.split(),
                         capture_output=True, text=True, check=True).stdout
    return sum(1 for l in out.splitlines() if l.strip())


def proc_usage(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    return cpu, rss


def wrk(url, close, conns=None):
    cmd = ["wrk", "-t1", f"-c{conns or CONNS}", f"-d{SECONDS}s", "--latency", url]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mult = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}[tr.group(2)]
    lat = {}
    for q in ("50", "99"):
        m = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        lat[q] = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else 0
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "total": total, "mbps": float(tr.group(1)) * mult, "p50": lat["50"], "p99": lat["99"],
            "errors": (errs.group(1) if errs else "") + (f" non2xx {non2xx.group(1)}" if non2xx
                                                          else "")}


def start(cmd, cwd):
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(cwd, "stderr"), "a"))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    for tool in ("wrk", "nginx", "haproxy", "ss"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"bench-lb: {tool} is missing (make bench-lb installs it as root)")
    if not os.path.exists(SYNFIN):
        raise SystemExit(f"bench-lb: {SYNFIN} not built")
    work = tempfile.mkdtemp(prefix="synfin-bench-")
    bport = free_port()
    with open(os.path.join(work, "big"), "wb") as f:
        f.write(b"\0" * BIG)
    direct_listens = "".join(f"        listen 127.3.0.{r + 1}:{bport} backlog=4096;\n"
                             for r in range(ROUNDS))
    with open(os.path.join(work, "backend.conf"), "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1;
pid {work}/backend.pid; error_log {work}/backend.err;
events {{ worker_connections 16000; }}
http {{
    access_log off; keepalive_requests 100000000; sendfile on;
    server {{
        listen 127.0.0.1:{bport} backlog=4096;
{direct_listens}        location = / {{ return 200 "hello from nginx\\n"; }}
        location = /big {{ alias {work}/big; }}
    }}
}}
""")
    backend = start(["nginx", "-c", os.path.join(work, "backend.conf"), "-p", work], work)
    wait_port("127.0.0.1", bport)
    results = {b: [] for b in BALANCERS}
    try:
        for r in range(ROUNDS):
            # Each round starts with another balancer: whoever runs just after the
            # Connection: close test of another inherits its TIME_WAIT entries and a warm or
            # cold cache, and that must not always be the same one.
            for name in BALANCERS[r % len(BALANCERS):] + BALANCERS[:r % len(BALANCERS)]:
                results[name].append(run_one(name, r, work, bport))
                print(f"bench-lb: round {r + 1}/{ROUNDS} {name}: "
                      f"close {results[name][-1]['close']['rps']:.0f} req/s, "
                      f"keep-alive {results[name][-1]['ka']['rps']:.0f} req/s, "
                      f"{results[name][-1]['big']['mbps']:.0f} MiB/s", flush=True)
    finally:
        stop(backend)
    table = render(results, bport)
    print(table)
    out = os.path.join(ROOT, BUILD, "bench-lb.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(table)
    print(f"bench-lb: table written to {out}")
    shutil.rmtree(work, ignore_errors=True)


def run_one(name, r, work, bport):
    b = IDX[name]
    fe = f"127.1.{b}.{r + 1}"
    src = f"127.2.{b}.{r + 1}"
    fport = free_port()
    d = os.path.join(work, f"{name}-{r}")
    os.makedirs(d)
    proc = None
    if name == "direct":
        fe, fport = f"127.3.0.{r + 1}", bport
    elif name.startswith("synfin"):
        with open(os.path.join(d, "synfin.conf"), "w") as f:
            f.write(f"""log off; threads {threads_of(name)};
frontend bench {{ listen {fe}:{fport}; backlog 4096; maxconn 8000; backend nginx; }}
backend nginx {{ server n 127.0.0.1:{bport}; source {src}; server_close rst; {SYNFIN_EXTRA} }}
""")
        proc = start([SYNFIN, "-c", os.path.join(d, "synfin.conf")], d)
    elif name.startswith("haproxy"):
        with open(os.path.join(d, "haproxy.cfg"), "w") as f:
            f.write(f"""global
    maxconn 8000
    nbthread {threads_of(name)}
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
frontend bench
    bind {fe}:{fport} backlog 4096
    default_backend nginx
backend nginx
    option nolinger
    source {src}
    server n 127.0.0.1:{bport}
""")
        proc = start(["haproxy", "-db", "-f", os.path.join(d, "haproxy.cfg")], d)
    else:
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""load_module {NGINX_STREAM_MOD};
daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 16000; }}
stream {{
    server {{ listen {fe}:{fport} backlog=4096; proxy_pass 127.0.0.1:{bport};
             proxy_bind {src}; }}
}}
""")
        proc = start(["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d], d)
    wait_port(fe, fport)
    url = f"http://{fe}:{fport}"
    cpu0 = proc_usage(proc.pid)[0] if proc else 0.0
    res = {"close": wrk(url + "/", True)}
    cpu1 = proc_usage(proc.pid)[0] if proc else 0.0
    res["tw"] = {
        "client": tw(f"dst {fe}:{fport}"),
        "front": 0 if name == "direct" else tw(f"src {fe}:{fport}"),
        "back": 0 if name == "direct" else tw(f"src {src}"),
        "backend": tw(f"src 127.0.0.1:{bport} dst {src}") if name != "direct"
        else tw(f"src {fe}:{fport}"),
    }
    res["ka"] = wrk(url + "/", False)
    cpu2 = proc_usage(proc.pid)[0] if proc else 0.0
    # the balancer's CPU per request (user + system), a steadier figure than req/s on a
    # machine whose cores are shared
    res["us_close"] = (cpu1 - cpu0) * 1e6 / max(res["close"]["total"], 1)
    res["us_ka"] = (cpu2 - cpu1) * 1e6 / max(res["ka"]["total"], 1)
    res["big"] = wrk(url + "/big", False, BIG_CONNS)
    res["cpu"], res["rss"] = proc_usage(proc.pid) if proc else (0.0, 0.0)
    if proc:
        stop(proc)
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
    ref = {k: med(h, *p) for k, p in
           {"close": ("close", "rps"), "ka": ("ka", "rps"), "big": ("big", "mbps")}.items()}

    def ratio(v, k):
        return f"{v / ref[k]:.2f}x" if ref[k] else "-"

    lines = [
        f"synfin bench-lb: {ROUNDS} interleaved rounds (order rotated), wrk -t1 -c{CONNS} -d{SECONDS}s per "
        f"test (large transfer: {BIG >> 20} MiB responses on -c{BIG_CONNS}), backend nginx (1 worker) on 127.0.0.1:{bport}, medians; ratios to HAProxy.",
        "",
        "| | close req/s | vs HAProxy | keep-alive req/s | vs HAProxy | p50 ms | p99 ms | "
        "large transfer MiB/s | vs HAProxy | CPU µs/req close | CPU µs/req keep-alive | "
        "CPU s/run | peak RSS MiB | TIME_WAIT client | "
        "TW balancer frontend | TW balancer backend-side | TW backend |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in BALANCERS:
        runs = results[name]
        close, ka, big = med(runs, "close", "rps"), med(runs, "ka", "rps"), med(runs, "big", "mbps")
        label = {"direct": "direct (no balancer)", "synfin": "synfin (server_close rst)",
                 "haproxy": "HAProxy 2.6 tcp (nolinger)",
                 "nginx": "nginx 1.22 stream"}.get(name)
        if not label:
            n = threads_of(name)
            label = (f"synfin, {n} threads" if name.startswith("synfin")
                     else f"HAProxy 2.6 tcp, nbthread {n}")
        lines.append(
            f"| {label} | {close:.0f} | {ratio(close, 'close')} | {ka:.0f} | {ratio(ka, 'ka')} | "
            f"{med(runs, 'ka', 'p50'):.2f} | {med(runs, 'ka', 'p99'):.2f} | {big:.0f} | "
            f"{ratio(big, 'big')} | {med(runs, 'us_close'):.1f} | {med(runs, 'us_ka'):.1f} | "
            f"{med(runs, 'cpu'):.2f} | {max(x['rss'] for x in runs):.1f} | "
            f"{med(runs, 'tw', 'client'):.0f} | {med(runs, 'tw', 'front'):.0f} | "
            f"{med(runs, 'tw', 'back'):.0f} | {med(runs, 'tw', 'backend'):.0f} |")
    errs = [f"{n} round {i + 1} {t}: {x[t]['errors'].strip()}" for n in BALANCERS
            for i, x in enumerate(results[n]) for t in ("close", "ka", "big")
            if x[t]["errors"].strip()]
    lines.append("")
    lines.append("wrk errors: " + ("; ".join(errs) if errs else "none"))
    lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
