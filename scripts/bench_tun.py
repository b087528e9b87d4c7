"""make bench-tun: synfin's TCP (synfin-serve over a TUN device) against Linux's TCP (nginx,
and bench-kserve for bulk) behind the same client, in one run, rounds interleaved.

Layout: the client (wrk, peer.py) runs in namespace sfbc<pid> and always talks to
10.77.0.2:80 from 10.77.0.1, one device away:

  synfin   client ns: tun sft0 (10.77.0.1/24)  ->  synfin-serve's own stack (10.77.0.2)
  kernel   client ns: veth sfv0 (10.77.0.1/24)  ->  server ns sfbs<pid>: veth sfv1
           (10.77.0.2/24), nginx (one process, no master) or bench-kserve

Figures per server: requests/s with Connection: close (one request per TCP connection) and
with keep-alive (wrk -t1, fixed connections and duration; p50/p99), bulk throughput to a sink
(hashes what it gets and answers with count and SHA-256 on FIN) and through an echo, the
server's CPU seconds, and packets per second through the device (TUN: synfin-serve's own
count; veth: the interface counters). Medians over rounds; ratios synfin / kernel.

Both servers run one thread; the kernel server's TCP work is done in softirq context, partly
charged to other processes, which CPU s/run cannot see: compare requests/s and MB/s first.
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
CONNS = int(os.environ.get("BENCH_CONNS", "20"))
BULK = int(os.environ.get("BENCH_BULK_MB", "200")) << 20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("O", "build")
SERVE = os.path.join(ROOT, BUILD, "bin", "synfin-serve")
KSERVE = os.path.join(ROOT, BUILD, "bin", "bench-kserve")
PEER = os.path.join(ROOT, "tests", "interop", "peer.py")
BODY = "hello from synfin\n"
URL = "http://10.77.0.2/"
SERVE_EXTRA = os.environ.get("BENCH_SERVE_EXTRA", "").split()
CLIENT = f"sfbc{os.getpid()}"
SERVER = f"sfbs{os.getpid()}"
STACKS = ["synfin", "kernel"]


def sh(*argv, ns=None, timeout=60, check=True):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise SystemExit(f"bench-tun: {' '.join(cmd)}: {p.stderr.strip()[-500:]}")
    return p.stdout


def wait_until(pred, what, timeout=10):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench-tun: timed out waiting for {what}")
        time.sleep(0.02)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reachable():
    return subprocess.run(["ip", "netns", "exec", CLIENT, "ip", "route", "get", "10.77.0.2"],
                          capture_output=True).returncode == 0


class Synfin:
    """synfin-serve in the client namespace, its stack behind tun sft0."""
    name = "synfin"

    def __init__(self, work, mode):
        self.log = open(os.path.join(work, f"serve-{mode}.log"), "w+")
        self.p = subprocess.Popen(
            ["ip", "netns", "exec", CLIENT, SERVE, "--tun", "sft0", "--kernel-addr",
             "10.77.0.1/24", "--addr", "10.77.0.2", "--port", "80", "--mode", mode,
             "--http-body", BODY] + SERVE_EXTRA, stdout=self.log,
 stderr=subprocess.STDOUT, text=True)
        wait_until(lambda: "synfin-serve:" in self.text() or self.p.poll() is not None,
                   "synfin-serve")
        if self.p.poll() is not None:
            raise SystemExit("bench-tun: synfin-serve did not start: " + self.text())
        wait_until(reachable, "the route to synfin")

    def text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def cpu(self):
        return cpu_seconds(self.p.pid)

    def packets(self):
        return None  # known once it exits

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        self.p.wait(15)
        m = re.search(r"packets in (\d+) out (\d+) \(dropped at the device (\d+)\)", self.text())
        self.log.close()
        if not m:
            raise SystemExit("bench-tun: synfin-serve did not report its packets")
        return int(m[1]) + int(m[2]), int(m[3])


class Kernel:
    """nginx or bench-kserve in the server namespace, behind a veth pair."""
    name = "kernel"

    def __init__(self, work, mode):
        sh("ip", "link", "add", "sfv0", "netns", CLIENT, "type", "veth", "peer", "name", "sfv1",
           "netns", SERVER)
        sh("ip", "addr", "add", "10.77.0.1/24", "dev", "sfv0", ns=CLIENT)
        sh("ip", "link", "set", "sfv0", "up", ns=CLIENT)
        sh("ip", "addr", "add", "10.77.0.2/24", "dev", "sfv1", ns=SERVER)
        sh("ip", "link", "set", "sfv1", "up", ns=SERVER)
        if mode == "http":
            conf = os.path.join(work, "nginx.conf")
            with open(conf, "w") as f:
                f.write(f"""daemon off; master_process off; worker_processes 1;
pid {work}/nginx.pid; error_log {work}/nginx.err;
events {{ worker_connections 16000; }}
http {{
    access_log off; keepalive_requests 100000000; default_type text/plain;
    server {{
        listen 10.77.0.2:80 backlog=4096;
        location / {{ return 200 "{BODY.strip()}\\n"; }}
    }}
}}
""")
            argv = ["nginx", "-c", conf, "-p", work]
        else:
            argv = [KSERVE, "10.77.0.2", "80", mode]
        self.p = subprocess.Popen(["ip", "netns", "exec", SERVER] + argv,
                                  stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(work, "kernel.err"), "a"))
        wait_until(lambda: "10.77.0.2:80 " in sh("ss", "-Hltn", ns=SERVER) or
                   self.p.poll() is not None, "the kernel server")
        if self.p.poll() is not None:
            raise SystemExit(f"bench-tun: {argv[0]} did not start (see {work}/kernel.err)")
        self.base = self.counters()

    def counters(self):
        out = sh("ip", "-s", "link", "show", "sfv0", ns=CLIENT).split("\n")
        rx = int(out[out.index(next(x for x in out if "RX:" in x)) + 1].split()[1])
        tx = int(out[out.index(next(x for x in out if "TX:" in x)) + 1].split()[1])
        return rx + tx

    def cpu(self):
        return cpu_seconds(self.p.pid)

    def stop(self):
        pkts = self.counters() - self.base
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        sh("ip", "link", "del", "sfv0", ns=CLIENT, check=False)
        return pkts, 0


def wrk(close):
    cmd = ["wrk", "-t1", f"-c{CONNS}", f"-d{SECONDS}s", "--latency", URL]
    if close:
        cmd[1:1] = ["-H", "Connection: close"]
    out = sh(*cmd, ns=CLIENT, timeout=SECONDS + 60)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for q in ("50", "99"):
        m = re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s)", out)
        lat[q] = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else 0
    errs = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"],
            "errors": (errs.group(1) if errs else "") +
            (f" non2xx {non2xx.group(1)}" if non2xx else "")}


def bulk(mode):
    """MB/s of BULK bytes through a sink (one way) or an echo (both ways at once)."""
    t0 = time.monotonic()
    out = sh(sys.executable, PEER, mode, str(BULK), ns=CLIENT, timeout=600).split()
    secs = time.monotonic() - t0
    if mode == "sink":
        ok = out[0] == str(BULK) and out[2] == str(BULK) and out[1] == out[3]
    else:
        ok = out[0] == out[2] == str(BULK) and out[1] == out[3] and out[4] == "eof"
    if not ok:
        raise SystemExit(f"bench-tun: {mode} of {BULK} bytes came back wrong: {out}")
    return {"mbps": BULK / secs / 1e6, "errors": ""}


def measure(stack, work, test):
    mode = {"close": "http", "ka": "http", "sink": "sink", "echo": "echo"}[test]
    srv = stack(work, mode)
    try:
        c0, t0 = srv.cpu(), time.monotonic()
        r = wrk(test == "close") if mode == "http" else bulk(mode)
        wall, cpu = time.monotonic() - t0, srv.cpu() - c0
    finally:
        pkts, drops = srv.stop()
    r.update(cpu=cpu, pps=pkts / wall, drops=drops)
    return r


def setup():
    for ns in (CLIENT, SERVER):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)


def teardown():
    for ns in (CLIENT, SERVER):
        for pid in sh("ip", "netns", "pids", ns, check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def med(runs, test, key):
    return statistics.median(r[test][key] for r in runs)


def render(results):
    s, k = results["synfin"], results["kernel"]
    lines = [
        f"synfin bench-tun: {ROUNDS} interleaved rounds; wrk -t1 -c{CONNS} -d{SECONDS}s; bulk "
        f"{BULK >> 20} MiB per transfer (peer.py, SHA-256 checked); medians; ratio = synfin / "
        "kernel.",
        "synfin = synfin-serve (its own TCP, TUN sft0); kernel = nginx (http) or bench-kserve "
        "(echo, sink) on Linux TCP over veth, same client namespace and addresses.",
        "",
        "| test | unit | synfin | kernel | ratio | synfin CPU s | kernel CPU s | "
        "synfin pkt/s (TUN) | kernel pkt/s (veth) | synfin p50/p99 ms | kernel p50/p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for test, unit, key in (("close", "req/s, Connection: close", "rps"),
                            ("ka", "req/s, keep-alive", "rps"), ("sink", "MB/s, one way", "mbps"),
                            ("echo", "MB/s, each way", "mbps")):
        sv, kv = med(s, test, key), med(k, test, key)
        lat = ("", "")
        if key == "rps":
            lat = tuple(f"{med(x, test, 'p50'):.2f} / {med(x, test, 'p99'):.2f}" for x in (s, k))
        lines.append(
            f"| {test} | {unit} | {sv:.0f} | {kv:.0f} | {sv / kv:.2f}x | "
            f"{med(s, test, 'cpu'):.2f} | {med(k, test, 'cpu'):.2f} | "
            f"{med(s, test, 'pps'):.0f} | {med(k, test, 'pps'):.0f} | {lat[0]} | {lat[1]} |")
    errs = [f"{n} round {i + 1} {t}: {x[t]['errors'].strip()}" for n in STACKS
            for i, x in enumerate(results[n]) for t in x if x[t]["errors"].strip()]
    drops = sum(x[t]["drops"] for x in s for t in x)
    lines += ["", "wrk errors: " + ("; ".join(errs) if errs else "none"),
              f"packets synfin-serve could not write to the TUN device: {drops}", ""]
    return "\n".join(lines)


def main():
    if os.geteuid() != 0:
        raise SystemExit("bench-tun: needs root (network namespaces, TUN, veth)")
    for tool in ("wrk", "nginx", "ip"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            raise SystemExit(f"bench-tun: {tool} is missing (make bench-tun installs it as root)")
    for b in (SERVE, KSERVE):
        if not os.path.exists(b):
            raise SystemExit(f"bench-tun: {b} not built")
    work = tempfile.mkdtemp(prefix="synfin-bench-tun-")
    results = {n: [] for n in STACKS}
    setup()
    try:
        for r in range(ROUNDS):
            for stack in ((Synfin, Kernel) if r % 2 == 0 else (Kernel, Synfin)):
                row = {t: measure(stack, work, t) for t in ("close", "ka", "sink", "echo")}
                results[stack.name].append(row)
                print(f"round {r + 1} {stack.name}: " + ", ".join(
                    f"{t} {v.get('rps', v.get('mbps')):.0f}" for t, v in row.items()),
                      file=sys.stderr, flush=True)
    finally:
        teardown()
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
