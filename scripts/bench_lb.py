"""make bench-lb: the same client (wrk, one thread), the same backend (nginx, one worker, a
small response) and, in between, nothing (direct), synfin, HAProxy (TCP mode) or nginx
stream, each with one worker thread. Rounds are interleaved, each starting with the next
balancer in turn; every balancer run starts a fresh process on addresses of its own, so
TIME_WAIT entries are attributed exactly:

  client side      TIME_WAIT held by wrk's sockets (dst = the frontend address)
  balancer front   held on the balancer's frontend address (src = frontend address)
  balancer back    held on the balancer's backend-side source address
  backend          held by nginx toward that source address

As root (the default there) the run is on a real wire (scripts/benchnet.py): client,
balancer and server each in a network namespace of the run's own, joined by veth pairs, the
balancer namespace forwarding. Rows: direct (wrk to nginx through the balancer namespace's
forwarding), synfin on kernel sockets, synfin on its own TCP (transport stack: its TUN
device in the balancer namespace, the VIP on the stack; its TIME_WAIT is its own engine's,
read from its admin /stats), HAProxy, nginx stream. Without root: everything on
127.0.0.0/8 and no stack row (BENCH_WIRE=0 asks for that as root too).

Figures: requests/s with Connection: close (one request per TCP connection), requests/s
keep-alive with p50/p99 latency, a 1 GiB transfer (BENCH_BIG_CONNS connections, each fetching
one body of 1 GiB / BENCH_BIG_CONNS; MiB/s over the slowest one's time), the balancer's CPU
microseconds per request (user + system from /proc) and peak RSS, TIME_WAIT counts right
after the Connection: close test. Ratios are to HAProxy. As root, the session-capacity
section follows (scripts/bench_sessions_wire.py; BENCH_SESSIONS=0 skips it)."""
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchnet  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
CONNS = int(os.environ.get("BENCH_CONNS", "64"))
BIG_CONNS = int(os.environ.get("BENCH_BIG_CONNS", "4"))
BIG_TOTAL = 1 << 30
BIG = BIG_TOTAL // BIG_CONNS
BIG_LIMIT_S = 120  # one large transfer at most (wrk -d); it ends as soon as all bodies are in
SYNFIN_EXTRA = os.environ.get("BENCH_SYNFIN_EXTRA", "")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("O", "build")
SYNFIN = os.path.join(ROOT, BUILD, "bin", "synfin")
NGINX_STREAM_MOD = "/usr/lib/nginx/modules/ngx_stream_module.so"
LABELS = {"direct": "direct (no balancer)",
          "synfin": "synfin kernel sockets (server_close rst)",
          "synfin-stack": "synfin-stack, own TCP over TUN (server_close rst)",
          "haproxy": "HAProxy 2.6 tcp, 1 thread (nolinger)",
          "nginx": "nginx 1.22 stream, 1 worker"}
# BENCH_THREADS="2" (or "2 4"): synfin with `threads N` and HAProxy with `nbthread N` too, in
# the same interleaved rounds (docs/architecture.md, "Threads"), on kernel sockets and, where
# the stack runs (the wire), on synfin's own TCP (a TUN queue per thread).
THREADS = [int(n) for n in os.environ.get("BENCH_THREADS", "").split() if int(n) > 1]
for _n in THREADS:
    LABELS[f"synfin-t{_n}"] = f"synfin kernel sockets, {_n} threads (server_close rst)"
    # its TIME_WAIT and engine counters are thread 0's (/stats and /metrics, for now)
    LABELS[f"synfin-stack-t{_n}"] = f"synfin-stack, {_n} threads (server_close rst)"
    LABELS[f"haproxy-t{_n}"] = f"HAProxy 2.6 tcp, {_n} threads (nolinger)"


def with_threads(balancers):
    return balancers + [f"{b}-t{n}" for n in THREADS
                        for b in ("synfin", "synfin-stack", "haproxy") if b in balancers]


def threads_of(name):
    return int(name.split("-t")[1]) if "-t" in name else 1

# wrk's large transfer: each connection fetches one body, then sends half a request (no
# response, no load) while the others finish; the last one to finish stops wrk (SIGINT ends
# its sleep; popen, not os.execute: system() ignores SIGINT while it waits). Each body's
# time is its latency; the slowest one is the transfer's time.
BIG_LUA = """
local conns, issued, finished = %d, 0, 0
function request()
  issued = issued + 1
  if issued <= conns + 1 then return wrk.format("GET", "/big") end -- +1: wrk's check call
  finished = finished + 1
  if finished == conns then io.popen("kill -INT $PPID") end
  return "GET /idle HTTP/1.1\\r\\nHost: idle\\r\\n"
end
function done(summary, latency, requests)
  io.write(string.format("bench-big: max_us %%d bytes %%d requests %%d\\n",
                         latency.max, summary.bytes, summary.requests))
end
"""


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


def connect_ok(host, port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def http_get(host, port, path):
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1].decode()


def parse_wrk(out):
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise SystemExit(f"bench-lb: wrk said:\n{out[-1500:]}")
    total = int(re.search(r"(\d+) requests in", out).group(1))
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mult = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1, "GB": 1024}[tr.group(2)]
    lat = {}
    for q in ("50", "99"):
        m2 = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        lat[q] = float(m2.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m2.group(2)] if m2 else 0
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res = {"rps": float(m.group(1)), "total": total, "mbps": float(tr.group(1)) * mult,
           "p50": lat["50"], "p99": lat["99"],
           "errors": (errs.group(1) if errs else "") + (f" non2xx {non2xx.group(1)}" if non2xx
                                                         else "")}
    big = re.search(r"bench-big: max_us (\d+) bytes (\d+) requests (\d+)", out)
    if big:
        us, nbytes, reqs = (int(x) for x in big.groups())
        res["mbps"] = nbytes / 2**20 / (us / 1e6) if us else 0.0
        res["big_s"] = us / 1e6
        if reqs < BIG_CONNS:
            res["errors"] += f" only {reqs} of {BIG_CONNS} bodies in {BIG_LIMIT_S}s"
    return res


class Loopback:
    """Everything on 127.0.0.0/8 in the caller's namespace (no root needed)."""
    wire = False
    balancers = with_threads(["direct", "synfin", "haproxy", "nginx"])

    def __init__(self, work):
        self.work = work
        self.bport = self.free_port()
        self.backend = "127.0.0.1"
        self.procs = []  # killed at close if still running (an error's way out too)

    @staticmethod
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def backend_listens(self):
        return [f"127.0.0.1:{self.bport}"] + [f"127.3.0.{r + 1}:{self.bport}"
                                              for r in range(ROUNDS)]

    def addrs(self, name, r):
        """frontend address, frontend port, the balancer's source toward the backend."""
        b = self.balancers.index(name)
        if name == "direct":
            return f"127.3.0.{r + 1}", self.bport, None
        return f"127.1.{b}.{r + 1}", self.free_port(), f"127.2.{b}.{r + 1}"

    def start(self, role, cmd, cwd):
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                             stderr=open(os.path.join(cwd, "stderr"), "a"))
        self.procs.append(p)
        return p

    def run(self, role, cmd, timeout):
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout).stdout

    def reachable(self, host, port):
        return connect_ok(host, port)

    def packets(self):
        return 0

    def tw(self, role, filt):
        out = subprocess.run(["ss", "-Htan", "state", "time-wait"] + filt.split(),
                             capture_output=True, text=True, check=True).stdout
        return sum(1 for line in out.splitlines() if line.strip())

    def describe(self):
        return f"everything on 127.0.0.0/8, backend nginx (1 worker) on 127.0.0.1:{self.bport}"

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


class Wire:
    """Client, balancer and server namespaces joined by veth (scripts/benchnet.py)."""
    wire = True
    balancers = with_threads(["direct", "synfin", "synfin-stack", "haproxy", "nginx"])

    def __init__(self, work):
        self.work = work
        self.net = benchnet.Net("bench-lb")
        self.next_port = 20000
        self.bport = self.free_port()
        self.backend = benchnet.SERVER_ADDR
        for r in range(ROUNDS):
            self.net.add_addr("server", f"{benchnet.NET}.48.{r + 1}/32")
            for b, name in enumerate(self.balancers):
                if name != "direct" and not name.startswith("synfin-stack"):
                    self.net.add_addr("balancer", f"{benchnet.NET}.{16 + b}.{r + 1}/32")
                    self.net.add_addr("balancer", f"{benchnet.NET}.{32 + b}.{r + 1}/32")

    def free_port(self):
        self.next_port += 1  # the namespaces are this run's: nothing else takes ports there
        return self.next_port

    def backend_listens(self):
        return [f"0.0.0.0:{self.bport}"]

    def addrs(self, name, r):
        b = self.balancers.index(name)
        if name == "direct":
            return f"{benchnet.NET}.48.{r + 1}", self.bport, None
        if name.startswith("synfin-stack"):
            vip = self.stack_vip(r)
            return vip, self.free_port(), vip
        return (f"{benchnet.NET}.{16 + b}.{r + 1}", self.free_port(),
                f"{benchnet.NET}.{32 + b}.{r + 1}")

    @staticmethod
    def stack_vip(r):
        return f"{benchnet.NET}.{64 + r}.2"

    @staticmethod
    def stack_transport(r, tun):
        return (f"transport stack {{ tun {tun}; kernel_addr {benchnet.NET}.{64 + r}.1/24; "
                f"address {Wire.stack_vip(r)}; }}\n")

    def start(self, role, cmd, cwd):
        return self.net.popen(role, cmd, cwd=cwd, stdout=subprocess.DEVNULL,
                              stderr=open(os.path.join(cwd, "stderr"), "a"))

    def run(self, role, cmd, timeout):
        return subprocess.run(self.net.argv(role, cmd), capture_output=True, text=True,
                              timeout=timeout).stdout

    def reachable(self, host, port):
        return benchnet.in_ns(self.net.ns("client"), connect_ok, host, port)

    def tw(self, role, filt):
        return self.net.tw(role, filt)

    def packets(self):
        """Packets (skbs: a GSO train is one) through the balancer namespace's two veth
        ends, both directions: the wire's work per request, whoever makes the packets."""
        import json
        links = json.loads(self.net.sh("balancer", "ip", "-s", "-j", "link", "show"))
        return sum(ln["stats64"]["rx"]["packets"] + ln["stats64"]["tx"]["packets"]
                   for ln in links if ln["ifname"] in ("c0", "s0"))

    def admin(self, port, path):
        return benchnet.in_ns(self.net.ns("balancer"), http_get, "127.0.0.1", port, path)

    def describe(self):
        return (f"client, balancer and server in network namespaces joined by veth "
                f"(wrk in the client's, balancers in the balancer's, backend nginx (1 worker) "
                f"on {self.backend}:{self.bport} in the server's)")

    def close(self):
        self.net.close()


def wrk(topo, url, close, conns=None, script=None):
    cmd = ["wrk", "-t1", f"-c{conns or CONNS}", f"-d{SECONDS}s", "--latency", url]
    timeout = SECONDS + 60
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    if script:
        cmd[1:1] = ["-s", script, "--timeout", f"{BIG_LIMIT_S}s"]
        cmd[cmd.index(f"-d{SECONDS}s")] = f"-d{BIG_LIMIT_S}s"
        timeout = BIG_LIMIT_S + 60
    return parse_wrk(topo.run("client", cmd, timeout))


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
    why = benchnet.skip_reason()
    if os.environ.get("BENCH_WIRE", "1") == "0":
        why = why or "BENCH_WIRE=0"
    if why:
        print(f"bench-lb: loopback only, no synfin-stack row and no session capacity: {why}",
              flush=True)
    # SIGTERM unwinds like SIGINT (the finally below); on the wire benchnet handles both
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit("bench-lb: stopped by SIGTERM"))
    work = tempfile.mkdtemp(prefix="synfin-bench-")
    os.chmod(work, 0o755)
    topo = Wire(work) if not why else Loopback(work)
    try:
        table = bench(topo, work)
        print(table, flush=True)
        out = os.path.join(ROOT, BUILD, "bench-lb.md")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            f.write(table)
        if topo.wire and os.environ.get("BENCH_SESSIONS", "") != "0":
            import bench_sessions_wire
            sessions = bench_sessions_wire.bench(topo.net, work)
            print(sessions)
            with open(out, "a") as f:
                f.write("\n" + sessions)
        print(f"bench-lb: table written to {out}")
    finally:
        topo.close()
        shutil.rmtree(work, ignore_errors=True)


def bench(topo, work):
    with open(os.path.join(work, "big"), "wb") as f:
        f.truncate(BIG)  # sparse: zeros, read from the page cache like any file
    with open(os.path.join(work, "big.lua"), "w") as f:
        f.write(BIG_LUA % BIG_CONNS)
    listens = "".join(f"        listen {a} backlog=4096;\n" for a in topo.backend_listens())
    with open(os.path.join(work, "backend.conf"), "w") as f:
        f.write(f"""daemon off; master_process off; worker_processes 1;
pid {work}/backend.pid; error_log {work}/backend.err;
events {{ worker_connections 16000; }}
http {{
    access_log off; keepalive_requests 100000000; sendfile on;
    server {{
{listens}        location = / {{ return 200 "hello from nginx\\n"; }}
        location = /big {{ alias {work}/big; }}
    }}
}}
""")
    backend = topo.start("server", ["nginx", "-c", os.path.join(work, "backend.conf"), "-p", work],
                         work)
    if not topo.reachable(topo.backend, topo.bport):
        raise SystemExit(f"bench-lb: nginx does not answer on {topo.backend}:{topo.bport}")
    results = {b: [] for b in topo.balancers}
    n = len(topo.balancers)
    try:
        for r in range(ROUNDS):
            # Each round starts with another balancer: whoever runs just after the
            # Connection: close test of another inherits its TIME_WAIT entries and a warm or
            # cold cache, and that must not always be the same one.
            for name in topo.balancers[r % n:] + topo.balancers[:r % n]:
                res = run_one(topo, name, r, work)
                results[name].append(res)
                print(f"bench-lb: round {r + 1}/{ROUNDS} {name}: "
                      f"close {res['close']['rps']:.0f} req/s, "
                      f"keep-alive {res['ka']['rps']:.0f} req/s, "
                      f"1 GiB at {res['big']['mbps']:.0f} MiB/s, "
                      f"{res['us_close']:.1f}/{res['us_ka']:.1f} CPU µs/req", flush=True)
    finally:
        stop(backend)
    return render(topo, results)


def run_one(topo, name, r, work):
    fe, fport, src = topo.addrs(name, r)
    d = os.path.join(work, f"{name}-{r}")
    os.makedirs(d)
    os.chmod(d, 0o755)
    be = f"{topo.backend}:{topo.bport}"
    proc, aport = None, None
    if name == "synfin" or name.startswith("synfin-t"):
        with open(os.path.join(d, "synfin.conf"), "w") as f:
            f.write(f"""log off;
threads {threads_of(name)};
frontend bench {{ listen {fe}:{fport}; backlog 4096; maxconn 8000; backend nginx; }}
backend nginx {{ server n {be}; source {src}; server_close rst; {SYNFIN_EXTRA} }}
""")
        proc = topo.start("balancer", [SYNFIN, "-c", os.path.join(d, "synfin.conf")], d)
    elif name.startswith("synfin-stack"):
        aport = topo.free_port()
        with open(os.path.join(d, "synfin.conf"), "w") as f:
            f.write(f"""log off;
threads {threads_of(name)};
admin 127.0.0.1:{aport};
{topo.stack_transport(r, f"bencht{r}")}\
frontend bench {{ listen {fe}:{fport}; backlog 4096; maxconn 8000; backend nginx; }}
backend nginx {{ server n {be}; server_close rst; {SYNFIN_EXTRA} }}
""")
        proc = topo.start("balancer", [SYNFIN, "-c", os.path.join(d, "synfin.conf")], d)
    elif name == "haproxy" or name.startswith("haproxy-t"):
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
    server n {be}
""")
        proc = topo.start("balancer", ["haproxy", "-db", "-f", os.path.join(d, "haproxy.cfg")], d)
    elif name == "nginx":
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write(f"""load_module {NGINX_STREAM_MOD};
daemon off; master_process off; worker_processes 1;
pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 16000; }}
stream {{
    server {{ listen {fe}:{fport} backlog=4096; proxy_pass {be};
             proxy_bind {src}; }}
}}
""")
        proc = topo.start("balancer", ["nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d], d)
    if not topo.reachable(fe, fport):
        err = open(os.path.join(d, "stderr")).read()[-1500:] if proc else ""
        raise SystemExit(f"bench-lb: {name} does not answer on {fe}:{fport}\n{err}")
    url = f"http://{fe}:{fport}"
    cpu0 = proc_usage(proc.pid)[0] if proc else 0.0
    pk0 = topo.packets()
    with Perf(proc, name, r, "close"):
        res = {"close": wrk(topo, url + "/", True)}
    cpu1 = proc_usage(proc.pid)[0] if proc else 0.0
    pk1 = topo.packets()
    res["tw"] = tw_counts(topo, name, fe, fport, src, aport)
    pk2 = topo.packets()
    with Perf(proc, name, r, "keepalive"):
        res["ka"] = wrk(topo, url + "/", False)
    cpu2 = proc_usage(proc.pid)[0] if proc else 0.0
    pk3 = topo.packets()
    res["pk_close"] = (pk1 - pk0) / max(res["close"]["total"], 1)
    res["pk_ka"] = (pk3 - pk2) / max(res["ka"]["total"], 1)
    # the balancer's CPU per request (user + system), a steadier figure than req/s on a
    # machine whose cores are shared
    res["us_close"] = (cpu1 - cpu0) * 1e6 / max(res["close"]["total"], 1)
    res["us_ka"] = (cpu2 - cpu1) * 1e6 / max(res["ka"]["total"], 1)
    with Perf(proc, name, r, "big"):
        res["big"] = wrk(topo, url + "/big", False, BIG_CONNS, os.path.join(work, "big.lua"))
    res["cpu"], res["rss"] = proc_usage(proc.pid) if proc else (0.0, 0.0)
    if name.startswith("synfin-stack"):
        text = topo.admin(aport, "/metrics")
        if os.environ.get("BENCH_PERF"):
            with open(os.path.join(os.environ["BENCH_PERF"], f"{name}-r{r + 1}.metrics"),
                      "w") as f:
                f.write(text)
        res["engine"] = {k: sum(int(v) for v in re.findall(rf"^{k}(?:{{[^}}]*}})? (\d+)$",
                                                           text, re.M))
                         for k in STACK_COUNTERS}
    if proc:
        stop(proc)
    return res


class Perf:
    """With BENCH_PERF=DIR: `perf record -g` of the balancer (synfin-stack and HAProxy, to
    compare) during one test (close, keep-alive, the 1 GiB transfer), to DIR/NAME-rROUND-TEST.data, and its system calls by name
    (`perf stat` on the syscall tracepoints) to DIR/NAME-rROUND-TEST.syscalls. Diagnostic:
    the figures of such a run are perturbed by perf itself."""
    NAMES = ("synfin-stack", "haproxy")
    SYSCALLS = ("readv", "writev", "read", "write", "epoll_wait", "accept4", "connect",
                "recvfrom", "sendto", "recvmsg", "sendmsg", "splice", "close", "shutdown",
                "setsockopt", "getsockopt", "socket", "epoll_ctl")

    def __init__(self, proc, name, r, test):
        self.dir = os.environ.get("BENCH_PERF")
        self.on = bool(self.dir and proc and name in self.NAMES and shutil.which("perf"))
        if self.on:
            self.base = os.path.join(self.dir, f"{name}-r{r + 1}-{test}")
            self.pid = str(proc.pid)

    def __enter__(self):
        if not self.on:
            return self
        os.makedirs(self.dir, exist_ok=True)
        self.rec = subprocess.Popen(["perf", "record", "-q", "-g", "-p", self.pid, "-o",
                                     self.base + ".data"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        ev = ",".join(["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{c}"
                                                    for c in self.SYSCALLS])
        self.stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ev, "-p", self.pid,
                                      "-o", self.base + ".syscalls"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # perf attached before the load starts
        return self

    def __exit__(self, *exc):
        if self.on:
            for p in (self.rec, self.stat):
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
        return False


# the stack's own counters after its run: loss, drops and resets show here first
STACK_COUNTERS = ("synfin_stack_retransmits_total", "synfin_stack_device_drops_total",
                  "synfin_stack_segments_dropped_total", "synfin_stack_resets_sent_total",
                  "synfin_stack_time_wait_refused_total", "synfin_stack_syncookies_total")


def tw_counts(topo, name, fe, fport, src, aport):
    """TIME_WAIT right after the close test, by side (see the module's docstring)."""
    back_ns = "server" if topo.wire else None
    bal_ns = "balancer" if topo.wire else None
    res = {"client": topo.tw("client" if topo.wire else None, f"dst {fe}:{fport}")}
    if name == "direct":
        res.update(front=0, back=0, backend=topo.tw(back_ns, f"src {fe}:{fport}"))
        return res
    if name.startswith("synfin-stack"):
        import json
        st = json.loads(topo.admin(aport, "/stats"))["time_wait"]  # the engine's own table
        res.update(front=st["frontend"], back=st["backend"])
    else:
        res.update(front=topo.tw(bal_ns, f"src {fe}:{fport}"), back=topo.tw(bal_ns, f"src {src}"))
    res["backend"] = topo.tw(back_ns, f"src {topo.backend}:{topo.bport} dst {src}")
    return res


def med(runs, *path):
    vals = []
    for x in runs:
        for k in path:
            x = x[k]
        vals.append(x)
    return statistics.median(vals)


def render(topo, results):
    h = results["haproxy"]
    ref = {k: med(h, *p) for k, p in
           {"close": ("close", "rps"), "ka": ("ka", "rps"), "big": ("big", "mbps")}.items()}

    def ratio(v, k):
        return f"{v / ref[k]:.2f}x" if ref[k] else "-"

    lines = [
        f"synfin bench-lb: {topo.describe()}; {ROUNDS} interleaved rounds (order rotated), "
        f"wrk -t1 -c{CONNS} -d{SECONDS}s per test, large transfer 1 GiB ({BIG_CONNS} "
        f"connections x {BIG >> 20} MiB); medians; ratios to HAProxy.",
        "",
        "| | close req/s | vs HAProxy | keep-alive req/s | vs HAProxy | p50 ms | p99 ms | "
        "1 GiB transfer MiB/s | vs HAProxy | CPU µs/req close | CPU µs/req keep-alive | "
        "CPU s/run | peak RSS MiB | TIME_WAIT client | "
        "TW balancer frontend | TW balancer backend-side | TW backend |"
        + (" link packets/req close | link packets/req keep-alive |" if topo.wire else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        + ("---:|---:|" if topo.wire else ""),
    ]
    for name in topo.balancers:
        runs = results[name]
        close, ka, big = med(runs, "close", "rps"), med(runs, "ka", "rps"), med(runs, "big", "mbps")
        lines.append(
            f"| {LABELS[name]} | {close:.0f} | {ratio(close, 'close')} | {ka:.0f} | "
            f"{ratio(ka, 'ka')} | {med(runs, 'ka', 'p50'):.2f} | {med(runs, 'ka', 'p99'):.2f} | "
            f"{big:.0f} | {ratio(big, 'big')} | {med(runs, 'us_close'):.1f} | "
            f"{med(runs, 'us_ka'):.1f} | {med(runs, 'cpu'):.2f} | "
            f"{max(x['rss'] for x in runs):.1f} | "
            f"{med(runs, 'tw', 'client'):.0f} | {med(runs, 'tw', 'front'):.0f} | "
            f"{med(runs, 'tw', 'back'):.0f} | {med(runs, 'tw', 'backend'):.0f} |"
            + (f" {med(runs, 'pk_close'):.1f} | {med(runs, 'pk_ka'):.1f} |" if topo.wire else ""))
    errs = [f"{n} round {i + 1} {t}: {x[t]['errors'].strip()}" for n in topo.balancers
            for i, x in enumerate(results[n]) for t in ("close", "ka", "big")
            if x[t]["errors"].strip()]
    lines.append("")
    lines.append("wrk errors: " + ("; ".join(errs) if errs else "none"))
    for n in THREADS:  # scaling: N threads against 1, same run
        parts = []
        for b in ("synfin", "synfin-stack", "haproxy"):
            one, many = results.get(b), results.get(f"{b}-t{n}")
            if not one or not many:
                continue
            parts.append(
                f"{b} close {med(many, 'close', 'rps') / med(one, 'close', 'rps'):.2f}x, "
                f"keep-alive {med(many, 'ka', 'rps') / med(one, 'ka', 'rps'):.2f}x, CPU/req "
                f"close {med(many, 'us_close') / med(one, 'us_close'):.2f}x")
        lines.append("")
        lines.append(f"{n} threads against 1: " + "; ".join(parts) + ".")
    if "synfin-stack" in results:
        s = results["synfin-stack"]
        lines.append("")
        lines.append("synfin-stack's engine per run (its /metrics, all three tests): " + "; ".join(
            f"{k.replace('synfin_stack_', '').replace('_total', '')} "
            + "/".join(str(x["engine"][k]) for x in s) for k in STACK_COUNTERS) + ".")
        lines.append("")
        lines.append(
            "Goals (issue 9) for synfin-stack against HAProxy: Connection: close "
            f"{med(s, 'close', 'rps') / ref['close']:.2f}x (>= 1.5x), keep-alive "
            f"{med(s, 'ka', 'rps') / ref['ka']:.2f}x (>= 1.2x), 1 GiB transfer "
            f"{med(s, 'big', 'mbps') / ref['big']:.2f}x (>= 1.0x).")
    lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
