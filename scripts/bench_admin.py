#!/usr/bin/env python3
"""make bench-admin: what admin scrapes cost the proxied traffic.

synfin (BENCH_SYNFIN, default build/bin/synfin) holds BENCH_SESSIONS idle sessions (3,000;
each costs synfin two descriptors) toward a server that keeps them open, and proxies probe
requests to a built-in responder run by a second synfin process. A probe client sends one
request (a new connection each, HTTP/1.0) every BENCH_INTERVAL_MS (2 ms) for BENCH_SECONDS
(5) and times each from when it was due to its answer, with no scrapes, then with one and with four concurrent
scrape loops (separate processes) of /metrics and of /sessions (every page, following
"next"), each starting a scrape at most every BENCH_SCRAPE_PERIOD_MS (100 ms; far more often
than any monitoring asks), and then four loops flat out (each scrape right after the last:
with cheap scrapes, the scrapers themselves then take most of the two cores). BENCH_BASELINE=PATH runs the same scenarios against another synfin binary too (the
code before a change). BENCH_NICE=N adds rows with synfin, the responder and the probe at
nice N (root); BENCH_ROWS="name;name" runs only those rows. Each row also reads synfin's
GET /loop (iterations over 1 ms, the slowest, what ran in them: on stderr) and
/proc/PID/schedstat (synfin's CPU time, and how long each process waited for a CPU). Prints a Markdown table (also written to $O/bench-admin.md).

Python stdlib only; run as `flock /tmp/synfin-heavy.lock make bench-admin` on a shared
machine. Figures move with the machine's load: compare rows of one run."""
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
O = os.environ.get("O", "build")
SESSIONS = int(os.environ.get("BENCH_SESSIONS", "3000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
INTERVAL = float(os.environ.get("BENCH_INTERVAL_MS", "2")) / 1000
PERIOD = float(os.environ.get("BENCH_SCRAPE_PERIOD_MS", "100")) / 1000
# BENCH_NICE=N (root, e.g. -10) adds rows run with synfin, the responder and the probe at
# that nice value, above the scrapers and whatever else the machine runs: if the tail comes
# from waiting for a CPU rather than from synfin's loop, it shrinks there.
# BENCH_NICE=fifo: SCHED_FIFO (priority 10) instead, ahead of every ordinary task.
NICE = os.environ.get("BENCH_NICE") or None
if NICE is not None and NICE != "fifo":
    NICE = int(NICE)
SCENARIOS = [("none", None, 0, 0), ("/metrics x1", "metrics", 1, PERIOD),
             ("/metrics x4", "metrics", 4, PERIOD), ("/sessions x1", "sessions", 1, PERIOD),
             ("/sessions x4", "sessions", 4, PERIOD), ("/metrics x4 flat out", "metrics", 4, 0),
             ("/sessions x4 flat out", "sessions", 4, 0)]
if NICE is not None:
    SCENARIOS += [(f"{name}, {'SCHED_FIFO' if NICE == 'fifo' else f'nice {NICE}'}", kind, k,
                   period, NICE)
                  for name, kind, k, period in SCENARIOS
                  if name in ("none", "/sessions x1", "/sessions x4 flat out")]
SCENARIOS = [sc + (None,) if len(sc) == 4 else sc for sc in SCENARIOS]
# BENCH_ROWS="none;/sessions x1": only those rows (names as in the table), in that order.
if os.environ.get("BENCH_ROWS"):
    _by_name = {sc[0]: sc for sc in SCENARIOS}
    SCENARIOS = [_by_name[n] for n in os.environ["BENCH_ROWS"].split(";")]


def renice(pids, value):
    """Every thread of pids at nice value, or SCHED_FIFO ("fifo"; None: back to normal);
    threads made later (the census's) inherit it."""
    for pid in pids:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                if value == "fifo":
                    os.sched_setscheduler(int(tid), os.SCHED_FIFO, os.sched_param(10))
                elif value is None:
                    os.sched_setscheduler(int(tid), os.SCHED_OTHER, os.sched_param(0))
                    os.setpriority(os.PRIO_PROCESS, int(tid), 0)
                else:
                    os.setpriority(os.PRIO_PROCESS, int(tid), value)
            except (OSError, ValueError):
                pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port, path):
    """One HTTP/1.0 GET: the body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        chunks = []
        while True:
            b = s.recv(262144)
            if not b:
                break
            chunks.append(b)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"GET {path}: {head[:80]!r}")
    return body


def scrape(port, kind, seconds, period):
    """A scrape loop (run in its own process), a scrape at most every period seconds: prints
    how many scrapes and their median ms."""
    times, t_last = [], 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.perf_counter()
        if times and t0 - t_last < period:
            time.sleep(period - (t0 - t_last))
            t0 = time.perf_counter()
        t_last = t0
        if kind == "metrics":
            get(port, "/metrics")
        else:
            after = None
            while True:
                q = "/sessions?limit=1000" + (f"&after={after}" if after else "")
                # only the cursor at the end: parsing 3,000 sessions in Python would take
                # more of the shared cores than synfin's listing does
                m = re.search(rb'"next":(\d+|null)\}\s*$', get(port, q)[-64:])
                after = int(m.group(1)) if m and m.group(1) != b"null" else None
                if after is None:  # a synfin without pages lists all at once, no "next"
                    break
        times.append(time.perf_counter() - t0)
    print(json.dumps({"n": len(times), "ms": statistics.median(times) * 1000 if times else 0}))


class Holder:
    """Accepts the idle sessions' server connections and keeps them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                self.conns.append(self.sock.accept()[0])
            except OSError:
                return

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def start(binary, conf, what):
    d = tempfile.mkdtemp(prefix="synfin-bench-admin-")
    path = os.path.join(d, "synfin.conf")
    with open(path, "w") as f:
        f.write(conf)
    err = open(os.path.join(d, "err"), "w+")
    p = subprocess.Popen([binary, "-c", path], stdout=subprocess.PIPE, stderr=err, text=True)
    line = ""
    while "SIGINT stops" not in line:
        line = p.stdout.readline()
        if not line:
            err.seek(0)
            raise RuntimeError(f"{what} did not start: {err.read()}")
    return p


def stop(p):
    p.send_signal(signal.SIGINT)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def probe(port, seconds):
    """One request every INTERVAL, each timed from when it was due, not from when it was sent:
    a request due while the last one was stuck (synfin's loop held by a scrape) would have
    been stuck as long, so the wait counts (no coordinated omission)."""
    lat = []
    t_next = time.perf_counter()
    end = t_next + seconds
    req = b"GET / HTTP/1.0\r\n\r\n"
    while t_next < end:
        now = time.perf_counter()
        if now < t_next:
            time.sleep(t_next - now)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(req)
            while s.recv(65536):
                pass
        lat.append((time.perf_counter() - t_next) * 1000)
        t_next += INTERVAL
    return lat


def loop_state(port):
    """GET /loop (synfin's loop iterations, docs/lb.md), or None from a synfin without it."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /loop HTTP/1.0\r\n\r\n")
            data = b""
            while True:
                b = s.recv(262144)
                if not b:
                    break
                data += b
        head, _, body = data.partition(b"\r\n\r\n")
        return json.loads(body) if head.startswith(b"HTTP/1.1 200") else None
    except (OSError, ValueError):
        return None


def run_delay_ms(pid, field=1):
    """The time pid's threads waited for a CPU while runnable (/proc/PID/schedstat), ms;
    field 0: the time they ran."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[field])
    except OSError:
        return None
    return total / 1e6


def loop_row(before, after):
    """Over a row: iterations over 1 ms, the slowest one's bucket (ms), and what the
    slow iterations the ring still holds spent on admin and census work (ms, CPU ms)."""
    if not before or not after:
        return None
    diff = [a["n"] - b["n"] for a, b in zip(after["buckets"], before["buckets"])]
    slow = sum(n for n, bk in zip(diff, after["buckets"]) if bk["le_ms"] is None or bk["le_ms"] > 1)
    top = max((i for i, n in enumerate(diff) if n), default=None)
    bound = None if top is None else after["buckets"][top]["le_ms"]
    seen = [it for it in after["slow"] if it["seq"] >= before["slow_total"]]
    work = {}
    for it in seen:
        for k, v in it["work_ms"].items():
            w = work.setdefault(k, [0.0, 0.0, 0])
            w[0] += v
            w[1] += it["work_cpu_ms"][k]
            w[2] += v > 0.5
    return {"slow": slow, "iters": after["iterations"] - before["iterations"],
            "max_le_ms": bound, "seen": seen, "work": work}


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


def run_binary(binary, label):
    rport, fport, iport, aport = free_port(), free_port(), free_port(), free_port()
    holder = Holder()
    resp = start(binary, f'log off;\nrespond 127.0.0.1:{rport} "ok\\n";\n', "the responder")
    conf = (f"log off;\nadmin 127.0.0.1:{aport};\n"
            f"frontend probe {{ listen 127.0.0.1:{fport}; backend resp; }}\n"
            f"frontend idle {{ listen 127.0.0.1:{iport}; maxconn 10000; backend hold; "
            f"idle_timeout 600s; }}\n"
            f"backend resp {{ server r 127.0.0.1:{rport}; }}\n"
            f"backend hold {{ server h 127.0.0.1:{holder.port}; idle_timeout 600s; }}\n")
    lb = start(binary, conf, "synfin")
    clients = []
    rows = []
    try:
        for _ in range(SESSIONS):
            clients.append(socket.create_connection(("127.0.0.1", iport)))
        deadline = time.monotonic() + 60
        while len(holder.conns) < SESSIONS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(holder.conns)} idle sessions reached the server")
            time.sleep(0.05)
        for name, kind, k, period, nice in SCENARIOS:
            scrapers = [subprocess.Popen([sys.executable, __file__, "--scrape", str(aport), kind,
                                          str(SECONDS + 0.5), str(period)],
                                         stdout=subprocess.PIPE, text=True) for _ in range(k)]
            time.sleep(0.3 if k else 0)  # the scrapers under way before the first probe
            pids = (lb.pid, resp.pid, os.getpid())
            if nice is not None:
                renice(pids, nice)
            lb_before, delay_before = loop_state(aport), [run_delay_ms(p) for p in pids]
            cpu_before = run_delay_ms(lb.pid, 0)
            lat = probe(fport, SECONDS)
            lb_after, delay_after = loop_state(aport), [run_delay_ms(p) for p in pids]
            cpu_after = run_delay_ms(lb.pid, 0)
            if nice is not None:
                renice(pids, None)
            lr = loop_row(lb_before, lb_after)
            delay = (None if None in delay_before + delay_after
                     else [a - b for a, b in zip(delay_after, delay_before)])
            outs = [json.loads(s.communicate()[0]) for s in scrapers]
            n = sum(o["n"] for o in outs)
            ms = statistics.median([o["ms"] for o in outs]) if outs else 0
            rows.append((label, name, n, ms, statistics.median(lat), pct(lat, 90), pct(lat, 99),
                         max(lat), lr, delay,
                         None if cpu_before is None or cpu_after is None
                         else cpu_after - cpu_before))
            print(f"# {label} {name}: p50 {rows[-1][4]:.2f} ms, p99 {rows[-1][6]:.2f} ms, "
                  f"{n} scrapes", file=sys.stderr, flush=True)
            if lr:
                print(f"#   loop: {lr['iters']} iterations, {lr['slow']} over 1 ms, "
                      f"slowest <= {lr['max_le_ms']} ms; waited for a CPU (synfin, responder, "
                      f"probe): {delay} ms; "
                      "work in the slow ones (ms, cpu ms, iterations with > 0.5 ms): "
                      f"{ {k: (round(v[0], 1), round(v[1], 1), v[2]) for k, v in lr['work'].items()} }",
                      file=sys.stderr, flush=True)
                for it in lr["seen"][:6]:
                    print(f"#     {json.dumps(it)}", file=sys.stderr, flush=True)
    finally:
        for c in clients:
            c.close()
        stop(lb)
        stop(resp)
        holder.close()
    return rows


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--scrape":
        scrape(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if 2 * SESSIONS + 200 > hard:
        sys.exit(f"bench-admin: {SESSIONS} sessions need {2 * SESSIONS + 200} descriptors here, "
                 f"the limit is {hard}")
    binaries = [(os.environ.get("BENCH_SYNFIN", os.path.join(O, "bin", "synfin")), "this build")]
    if os.environ.get("BENCH_BASELINE"):
        binaries.append((os.environ["BENCH_BASELINE"], "baseline"))
    rows = []
    for binary, label in binaries:
        rows += run_binary(binary, label)
    out = [f"synfin bench-admin: {SESSIONS} idle sessions, a probe request (new connection, "
           f"HTTP/1.0) due every {INTERVAL * 1000:g} ms for {SECONDS:g} s per row, timed from "
           "when it was due; scrape loops in "
           f"their own processes, a scrape at most every {PERIOD * 1000:g} ms unless flat out "
           "(/sessions: every page).", "",
           "| synfin | scrapes | scrapes done | scrape ms (median) | proxied p50 ms | p90 ms | "
           "p99 ms | max ms | loop iterations > 1 ms | slowest iteration ms | "
           "synfin CPU ms | waited for a CPU ms: synfin / responder / probe |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lr, delay, cpu = r[8], r[9], r[10]
        slowest = ("-" if not lr or lr["max_le_ms"] is None and not lr["slow"]
                   else "> 100" if lr["max_le_ms"] is None else f"<= {lr['max_le_ms']:g}")
        out.append(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.1f} | {r[4]:.2f} | {r[5]:.2f} | "
                   f"{r[6]:.2f} | {r[7]:.1f} | {lr['slow'] if lr else '-'} | {slowest} | "
                   f"{'-' if cpu is None else f'{cpu:.0f}'} | "
                   f"{'-' if delay is None else ' / '.join(f'{d:.0f}' for d in delay)} |")
    text = "\n".join(out) + "\n"
    print(text)
    os.makedirs(O, exist_ok=True)
    with open(os.path.join(O, "bench-admin.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
