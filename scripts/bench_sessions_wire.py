"""Concurrent idle sessions held by one balancer process on the real wire (root): client,
balancer and server namespaces joined by veth (scripts/benchnet.py). For each balancer
(synfin-stack, synfin on kernel sockets, HAProxy with one thread), client processes in the
client namespace (one per 10,000 connections, each from its own source address) open idle
connections through it to accept-and-hold servers in the server namespace (one per 10,000,
each on its own port; the balancer balances round robin over them), all scripts/bench_hold.py.
This machine's open-file hard limit (20,000 per process) is what caps the kernel-socket
balancers (two descriptors per session); the stack needs none.

Reported per balancer: connections the clients completed, sessions held end to end (what the
servers accepted), the balancer's own count (/stats), its RSS before and after and the RSS
per idle session, and the kernel's slab memory per session (whole machine: the client's and
server's sockets, plus the balancer's two on kernel sockets; the difference to the stack's
row is the kernel-socket balancer's own kernel cost).

Environment: BENCH_SESSIONS (100000: attempted through synfin-stack), BENCH_SESSIONS_KERNEL
(15000: attempted through each kernel-socket balancer, past their descriptor cap).
Run alone: `make bench-sessions-wire`; `make bench-lb` runs it after its table."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchnet  # noqa: E402

ROOT = os.path.dirname(HERE)
BUILD = os.environ.get("O", "build")
SYNFIN = os.path.join(ROOT, BUILD, "bin", "synfin")
HOLD = os.path.join(HERE, "bench_hold.py")
STACK_TARGET = int(os.environ.get("BENCH_SESSIONS", "100000"))
KERNEL_TARGET = int(os.environ.get("BENCH_SESSIONS_KERNEL", "15000"))
PER_PROC = 10000
BALANCERS = ["synfin-stack", "synfin", "haproxy"]
LABELS = {"synfin-stack": "synfin-stack (own TCP over TUN)",
          "synfin": "synfin kernel sockets",
          "haproxy": "HAProxy 2.6 tcp, 1 thread"}
NET = benchnet.NET
SETTLE_S = 60  # at most, for the sessions to settle once the clients are done
STILL_S = 10  # settled: no change at the servers for this long


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def read_status(path):
    try:
        with open(path) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def wait_for(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def kill_all(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            pass


def run_one(net, name, work, index):
    target = STACK_TARGET if name == "synfin-stack" else KERNEL_TARGET
    nproc = max(1, -(-target // PER_PROC))
    d = os.path.join(work, f"sessions-{name}")
    os.makedirs(d)
    port0 = 30000 + 100 * index
    servers, clients, procs = [], [], []
    for i in range(nproc):
        st = os.path.join(d, f"server-{i}")
        procs.append(net.popen("server", [sys.executable, HOLD, "server", benchnet.SERVER_ADDR,
                                          str(port0 + i), st], stderr=subprocess.DEVNULL))
        servers.append(st)
    srv_lines = "".join(f"server h{i} {benchnet.SERVER_ADDR}:{port0 + i}; "
                        for i in range(nproc))
    aport = port0 + 99
    fport = port0 + 98
    if name == "synfin-stack":
        fe = f"{NET}.{80 + index}.2"
        conf = (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
                f"transport stack {{ tun benchh{index}; kernel_addr {NET}.{80 + index}.1/24; "
                f"address {fe}; }}\n"
                f"frontend f {{ listen {fe}:{fport}; maxconn 1000000; backend b; }}\n"
                f"backend b {{ {srv_lines}}}\n")
    elif name == "synfin":
        fe = f"{NET}.{80 + index}.1"
        net.add_addr("balancer", f"{fe}/32")
        # two descriptors per session, and a few for the listeners and the admin side
        conf = (f"log stderr;\nadmin 127.0.0.1:{aport};\n"
                f"frontend f {{ listen {fe}:{fport}; backlog 4096; maxconn 9950; backend b; }}\n"
                f"backend b {{ {srv_lines}}}\n")
    else:
        fe = f"{NET}.{80 + index}.1"
        net.add_addr("balancer", f"{fe}/32")
        # no global maxconn: HAProxy derives it from the open-file limit, as it does by default
        conf = ("global\n    nbthread 1\ndefaults\n    mode tcp\n    timeout connect 5s\n"
                "    timeout client 300s\n    timeout server 300s\n"
                f"frontend f\n    bind {fe}:{fport} backlog 4096\n    default_backend b\n"
                "backend b\n" + "".join(f"    server h{i} {benchnet.SERVER_ADDR}:{port0 + i}\n"
                                        for i in range(nproc)))
    cfg = os.path.join(d, "haproxy.cfg" if name == "haproxy" else "synfin.conf")
    with open(cfg, "w") as f:
        f.write(conf)
    argv = ["haproxy", "-db", "-f", cfg] if name == "haproxy" else [SYNFIN, "-c", cfg]
    # the servers listen before the balancer starts: a refused probe would eject them
    if not wait_for(lambda: all(read_status(s) for s in servers), 20):
        raise SystemExit("bench-sessions: the accept-and-hold servers did not start")
    bal = net.popen("balancer", argv, cwd=d, stdout=subprocess.DEVNULL,
                    stderr=open(os.path.join(d, "stderr"), "w"))
    procs.append(bal)
    try:
        import bench_lb
        if not benchnet.in_ns(net.ns("client"), bench_lb.connect_ok, fe, fport):
            raise SystemExit(f"bench-sessions: {name} does not answer on {fe}:{fport}\n"
                             + open(os.path.join(d, "stderr")).read()[-1500:])
        def held():
            return sum(int((read_status(s) or ["0"])[0]) for s in servers)

        def own():
            if name == "haproxy":
                return None
            st = json.loads(benchnet.in_ns(net.ns("balancer"), bench_lb.http_get, "127.0.0.1",
                                           aport, "/stats"))
            return st["sessions"]["active"]

        time.sleep(0.5)
        # the probe's session stays (a holder never closes): counted out
        held0, own0 = held(), own()
        rss0, slab0 = rss(bal.pid), meminfo("Slab")
        t0 = time.monotonic()
        sources = net.add_client_sources(nproc)
        for i in range(nproc):
            st = os.path.join(d, f"client-{i}")
            n = min(PER_PROC, target - i * PER_PROC)
            procs.append(net.popen("client", [sys.executable, HOLD, "client", sources[i], fe,
                                              str(fport), str(n), st],
                                   stderr=subprocess.DEVNULL))
            clients.append(st)
        wait_for(lambda: all("done" in read_status(c) for c in clients), 600, 0.5)
        opened_s = time.monotonic() - t0

        # settled: the servers' count has not moved for STILL_S. Connects toward the servers
        # whose SYN or SYN-ACK was lost (a full device queue) are retried after 1, 3, 7 s: a
        # shorter quiet spell would stop between two retransmissions and count them as lost.
        last, still = -1, time.monotonic()
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            h = held()
            if h != last:
                last, still = h, time.monotonic()
            elif time.monotonic() - still >= STILL_S:
                break
            time.sleep(0.25)
        connected = sum(int(read_status(c)[1]) for c in clients)
        res = {"target": target, "connected": connected, "held": held() - held0,
               "open_s": opened_s, "rss0": rss0, "rss1": rss(bal.pid),
               "slab": meminfo("Slab") - slab0, "own": None if own0 is None else own() - own0}
        if name == "synfin-stack":
            # packets the kernel could not queue toward synfin (the TUN's queue was full)
            link = json.loads(net.sh("balancer", "ip", "-s", "-j", "link", "show",
                                     f"benchh{index}"))[0]["stats64"]
            res["tun_drops"] = link["tx"]["dropped"]
            m = benchnet.in_ns(net.ns("balancer"), bench_lb.http_get, "127.0.0.1", aport,
                               "/metrics")
            res["cookies"] = sum(int(x) for x in re.findall(
                r'^synfin_stack_syncookies_total\{result="sent"\} (\d+)$', m, re.M))
        if bal.poll() is not None:
            res["died"] = bal.returncode
        return res
    finally:
        kill_all(procs)
        if os.environ.get('BENCH_KEEP'):
            shutil.copytree(d, os.environ['BENCH_KEEP'] + '/' + name, dirs_exist_ok=True)
        time.sleep(1)


def bench(net, work):
    if not shutil.which("haproxy") and not os.path.exists("/usr/sbin/haproxy"):
        raise SystemExit("bench-sessions: haproxy is missing (make bench-lb installs it)")
    results = {}
    for i, name in enumerate(BALANCERS):
        try:
            results[name] = run_one(net, name, work, i)
        except Exception as e:  # noqa: BLE001 - reported in the table, the others still run
            results[name] = {"error": str(e)[-300:]}
            print(f"bench-sessions: {name}: failed: {e}", flush=True)
            continue
        r = results[name]
        print(f"bench-sessions: {name}: {r['held']} held of {r['target']} attempted "
              f"({r['connected']} connected at the client), RSS "
              f"{(r['rss1'] - r['rss0']) / max(r['held'], 1):.0f} bytes/session", flush=True)
    return render(results)


def sockets(name, r):
    """Kernel TCP sockets alive at the measurement: every client's and every server's; on
    kernel sockets also the balancer's two per held session, and one per connection still
    in its accept queue (connected at the client, not held)."""
    if name == "synfin-stack":
        return r["connected"] + r["held"]
    return r["connected"] + r["held"] + 2 * r["held"] + (r["connected"] - r["held"])


def render(res):
    hard = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[1]
    failed = [f"{n}: {r['error']}" for n, r in res.items() if "error" in r]
    res = {n: r for n, r in res.items() if "error" not in r}
    if "synfin-stack" not in res:
        return "Idle sessions: the synfin-stack measurement failed: " + "; ".join(failed) + "\n"
    lines = [
        f"Idle sessions held by one balancer process on the wire (client, balancer, server "
        f"namespaces; open-file hard limit {hard}; clients and servers one process per "
        f"{PER_PROC:,} connections; scripts/bench_sessions_wire.py):",
        "",
        "| | attempted | connected at the client | held end to end | balancer's own count | "
        "RSS before MiB | RSS after MiB | RSS per idle session, bytes | kernel TCP sockets "
        "(all namespaces) | kernel slab per socket, bytes | the balancer's kernel memory per "
        "session, bytes | the balancer's memory per idle session, bytes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in [n for n in BALANCERS if n in res]:
        r = res[name]
        held = max(r["held"], 1)
        socks = sockets(name, r)
        per_sock = r["slab"] / max(socks, 1)
        kmem = 0 if name == "synfin-stack" else 2 * per_sock
        user = (r["rss1"] - r["rss0"]) / held
        own = "-" if r["own"] is None else f"{r['own']:,}"
        lines.append(
            f"| {LABELS[name]} | {r['target']:,} | {r['connected']:,} | {r['held']:,} | {own} | "
            f"{r['rss0'] / 2**20:.1f} | {r['rss1'] / 2**20:.1f} | {user:,.0f} | {socks:,} | "
            f"{per_sock:,.0f} | {kmem:,.0f} | {user + kmem:,.0f} |")
    s = res["synfin-stack"]
    per = (s["rss1"] - s["rss0"]) / max(s["held"], 1)
    lines += [
        "",
        f"Goals (issue 9): synfin-stack held {s['held']:,} sessions in one process (>= 50,000: "
        f"{'met' if s['held'] >= 50000 else 'MISSED'}), {per:,.0f} bytes of RSS per idle session "
        f"(<= 2 KiB: {'met' if per <= 2048 else 'MISSED'}); opened in {s['open_s']:.1f} s.",
        "",
    ]
    if s["connected"] < s["target"]:
        lines += [
            f"synfin-stack: {s['target'] - s['connected']:,} of the {s['target']:,} connects "
            f"failed at the client (each given 3 s: one SYN retransmission); meanwhile the "
            f"kernel dropped {s.get('tun_drops', 0):,} packets on the TUN device's queue toward "
            f"synfin, and synfin sent {s.get('cookies', 0):,} syncookies.", ""]
    died = [f"{n} exited with {r['died']}" for n, r in res.items() if "died" in r] + failed
    if died:
        lines += ["Failed or died under the load: " + "; ".join(died), ""]
    return "\n".join(lines) + "\n"


def main():
    why = benchnet.skip_reason()
    if why:
        print(f"bench-sessions-wire: {why}")
        return 0
    if not os.path.exists(SYNFIN):
        raise SystemExit(f"bench-sessions: {SYNFIN} not built")
    work = tempfile.mkdtemp(prefix="synfin-sessions-")
    os.chmod(work, 0o755)
    net = benchnet.Net("bench-sessions")
    try:
        table = bench(net, work)
        print(table)
        out = os.path.join(ROOT, BUILD, "bench-sessions-wire.md")
        with open(out, "w") as f:
            f.write(table)
        print(f"bench-sessions-wire: table written to {out}")
    finally:
        net.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
