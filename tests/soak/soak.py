#!/usr/bin/env python3
"""synfin's soak: the balancer under mixed traffic and faults, every byte checked, every
session accounted for, descriptors and memory back to where they were (docs/lb.md, "Soak").

    soak.py [--seconds N] [--transport kernel|stack|both] [--seed N] [--workers N]
            [--result FILE] [--keep]

--seconds is the traffic time of the whole run, split evenly between the transports (`make
soak`: SOAK_SECONDS, default 600; SOAK_TRANSPORT, default both). Each transport runs in a
child process of its own (`--one kernel|stack`), in a network namespace it makes and enters
(root; the stack transport needs it, the kernel transport runs on the host's loopback
without it). Exit status 0 when every check passed; the summary says what was checked.

What one transport's run does:
  1. starts four backend processes (soak_server.py): s1, s2 steady, s3 killed with SIGKILL
     and started again every few seconds, s4 whose health endpoint flaps up and down;
     synfin with two frontends (their backends close servers with FIN and with RST) over
     the four, HTTP health checks, keepalive, and on the stack a short time_wait, syncookies
     with a small SYN backlog and seeded loss, duplication and reordering on the wire;
  2. warm-up: the traffic mix for a few seconds and one reload, then quiet: the baseline of
     synfin's descriptors (/proc/PID/fd), RSS (VmRSS) and /metrics;
  3. the mix for the run's time, with SIGHUP every few seconds (the configuration
     alternates balance algorithm and a weight, and /stats must show the new one), the kills
     and the flaps; on the stack a SYN flood of 100,000 SYNs from random addresses in the
     middle, during which probe clients must all connect and complete;
  4. quiet again: descriptors back to the baseline exactly, RSS within its tolerance, no
     session, buffer, connection or TIME-WAIT entry left;
  5. every session judged (see judge()): completed with every byte verified at both ends
     and the expected cause in synfin's log line (matched by the client's address and port),
     or ended by a reset the driver asked for with the cause naming who, or, on a server the
     driver killed, ended by that kill without one wrong byte (or, on the flooded stack
     listener, reset by a failed cookie check: cookie_reset());
  6. counts: sessions, causes and bytes the same at the clients, in the log, in /metrics
     and at the servers (check_counts), with the flooded listener's cookie ghosts matched
     to the sessions they copy (cookie_ghost); descriptors and memory bounded during the run
     (check_bounds); the health faults' outcomes (check_health);
  7. SIGTERM with sessions live: they complete, new connections are refused, exit 0
     (drain_phase).
"""
import argparse
import collections
import ctypes
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import soakproto as P  # noqa: E402

CLONE_NEWNET = 0x40000000
KERNEL_SIDE, VIP = "10.79.0.1", "10.79.0.2"  # tests/lb/stacknet.py's layout
KILLABLE, FLAPPY = "s3", "s4"
SERVERS = ("s1", "s2", "s3", "s4")

# The session mix: kind, weight. Short request/response sessions dominate, as in real
# traffic; the rest are there for what they exercise.
MIX = [(P.SFIN, 18), (P.CFIN, 14), (P.BOTH, 12), (P.HALF_C, 8), (P.HALF_S, 8),
       (P.STREAM, 10), (P.SLOW_C, 7), (P.SLOW_S, 7), (P.CRST, 8), (P.SRST, 8)]

# Causes a session of each kind may end with when nothing interfered.
CAUSES = {P.SFIN: {"server_fin"}, P.SLOW_C: {"server_fin"}, P.CFIN: {"client_fin"},
          P.HALF_C: {"client_fin"}, P.SLOW_S: {"client_fin"},
          P.BOTH: {"client_fin", "server_fin"}, P.HALF_S: {"server_fin"},
          P.STREAM: {"client_fin", "server_fin"}, P.CRST: {"client_rst"},
          P.SRST: {"server_rst"}}
# How the server's end of a completed session may have ended: EOF, or (backend with
# server_close rst) an RST after every byte, when the server had finished first (docs/config.md,
# server_close).
SERVER_ENDS = {P.SFIN: {"closed"}, P.SLOW_C: {"closed"}, P.CFIN: {"eof"}, P.HALF_C: {"eof"},
               P.SLOW_S: {"eof"}, P.BOTH: {"eof"}, P.HALF_S: {"eof"}, P.STREAM: {"eof"}}
RST_AFTER_ALL = {P.BOTH, P.HALF_S, P.STREAM}
# Events in synfin's log that no soak run should cause.
BAD_EVENTS = {"reload_rejected", "accept_error", "connect_error", "fd_exhausted",
              "loop_detected", "check_error"}

KIB, MIB = 1024, 1024 * 1024
CONNECT_FAILED = ("connect_fail", "connect_timeout")  # causes of a last connect that failed
# After the flood, its half-open entries fill the SYN backlog until they time out (SYN-ACK
# sent 1 + synack_retries 2 times: 1 + 2 + 4 s), and cookies go on being sent meanwhile.
COOKIE_TAIL_S = 10.0
MSS_MAX = 1460         # the largest segment a ghost can carry
# Causes a cookie ghost (cookie_ghost) can end with: its client is a TIME-WAIT or no socket
# at all, so it never finishes (no client_fin, server_fin); the lb names every client-side
# error, keepalive's ETIMEDOUT too, client_rst.
GHOST_CAUSES = ("client_rst", "idle_timeout", "client_fin_timeout", "server_fin_timeout",
                "server_rst") + CONNECT_FAILED
IDLE_TIMEOUT_S = 60    # the configuration's idle_timeout: a ghost may live that long
KILL_EPS_S = 0.05      # after a killed server's wait() returns, its kernel's resets
KILL_AFTER_LOG_S = 3.0  # a session's last segments still on their way to its server
# How long a server's report may come after synfin's log line: a reset synfin sent that the
# impaired wire lost is found by the server's keepalive (4 s idle, 5 probes 1 s apart) or,
# at worst, its stall timeout (30 s).
REPORT_WAIT_S = 40.0
FLOOD_PROBES = 4       # clients that connect during the flood
# Kinds a session killer picks from: long enough to be found live, no reset of their own.
ADMIN_KILL_KINDS = {P.STREAM, P.SLOW_C, P.SLOW_S, P.HALF_C, P.HALF_S}
FD_SLACK = 32          # descriptors beyond the clients': health checks, admin requests
GROWTH_KIB = 4096      # RSS less the buffer pool: last third of the run over the first
PICK_EPS_S = 0.005     # log timestamps vs durations: microseconds, and two clocks
DRAIN_SESSIONS = 6     # live at SIGTERM
DRAIN_BYTES = 512 * 1024
DRAIN_SLOW_US = 20000  # the client reads 16 KiB every 20 ms: at least 0.64 s for 512 KiB
DRAIN_TIMEOUT_S = 15   # the configuration's drain_timeout: ample (a loss on the stack's
                       # wire to a reader whose window was shut costs persist backoff)


def log_uniform(rng, lo, hi):
    return int(round(lo * (hi / lo) ** rng.random()))


def now():
    return time.monotonic()


class Fail(Exception):
    pass


PR_SET_PDEATHSIG = 1


def die_with_parent():
    """In a child before exec: SIGKILL when the thread that started it ends (the main
    thread: the process), so that a soak killed (a suite timeout, ^C) leaves no synfin or
    transport's run behind."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def on_sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # the run's finally tears down


# ---------------------------------------------------------------------------------------
# synfin's log


FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def parse_line(line):
    """The fields of a log line; "_ts": its timestamp (seconds, synfin's wall clock)."""
    d = {k: v.strip('"') for k, v in FIELD.findall(line)}
    stamp = line.split(" ", 1)[0]
    try:
        d["_ts"] = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        pass
    return d


# ---------------------------------------------------------------------------------------
# One session as the driver sees it


class Sess:
    __slots__ = ("token", "kind", "fe", "up", "down", "rst_at", "slow_us", "addr", "probe",
                 "t_start", "t_end", "client", "log", "report", "t_log", "verdict", "why",
                 "warm", "admin_kill", "extra", "ghosts", "gate")

    def __init__(self, token, kind, fe, up, down, rst_at, slow_us, probe=False, warm=False):
        self.token, self.kind, self.fe = token, kind, fe
        self.up, self.down, self.rst_at, self.slow_us = up, down, rst_at, slow_us
        self.addr = None
        self.gate = None        # an Event the client waits for before it reads the answer
        self.probe = probe
        self.warm = warm
        self.admin_kill = None  # "asked" while the POST is out, then its HTTP status
        self.extra = []         # server reports beyond the first (a ghost's, see cookie_ghost)
        self.ghosts = []        # log lines of ghosts of this session
        self.t_start = self.t_end = self.t_log = None
        self.client = self.log = self.report = None
        self.verdict = self.why = None

    def describe(self):
        return (f"session token={self.token} kind={P.NAMES[self.kind]} "
                f"frontend={'fe_rst' if self.fe else 'fe_fin'} client={self.addr} "
                f"up={self.up} down={self.down} rst_at={self.rst_at}")


# ---------------------------------------------------------------------------------------
# Backend processes


class Server:
    def __init__(self, soak, name, port, flap=0.0):
        self.soak, self.name, self.port, self.flap = soak, name, port, flap
        self.p = None
        self.starts = 0

    def start(self):
        cmd = [sys.executable, os.path.join(HERE, "soak_server.py"), self.name,
               self.soak.server_bind, str(self.port), "--flap", str(self.flap),
               "--stall", str(self.soak.stall)]
        err = open(os.path.join(self.soak.dir, f"{self.name}.stderr"), "a")
        # Not die_with_parent: a server restarted by the killer thread would die with it
        # (PDEATHSIG follows the thread); the server watches its parent itself.
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                  stdin=subprocess.DEVNULL, text=True, bufsize=1)
        err.close()
        first = self.p.stdout.readline()
        if not first.startswith('{"ready"'):
            raise Fail(f"server {self.name} did not start: {first!r} "
                       f"(see {self.soak.dir}/{self.name}.stderr)")
        self.starts += 1
        threading.Thread(target=self._reader, args=(self.p,), daemon=True).start()

    def _reader(self, p):
        for line in p.stdout:
            try:
                rep = json.loads(line)
            except ValueError:
                self.soak.fail(f"server {self.name} printed {line!r}")
                continue
            self.soak.on_report(rep)

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
        if self.p:
            self.p.wait()

    def stop(self):
        self.kill()


# ---------------------------------------------------------------------------------------
# The run on one transport


class Soak:
    def __init__(self, transport, seconds, seed, workers, keep):
        self.transport = transport
        self.stack = transport == "stack"
        self.seconds = seconds
        self.seed = seed
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.keep = keep
        self.root = os.geteuid() == 0
        self.dir = tempfile.mkdtemp(prefix=f"synfin-soak-{transport}-")
        self.lock = threading.Lock()
        self.judging = threading.Lock()
        self.failures = []
        self.notes = []
        self.stall = 30.0
        self.workers = workers or (10 if self.stack else 16)
        self.next_token = seed * 1_000_000_000 + 1
        self.sessions = []           # every one started
        self.by_addr = {}            # "ip:port" -> Sess waiting for its log line
        self.by_token = {}           # token -> Sess
        self.last_addr = {}          # "ip:port" -> the last Sess that used it
        self.prev_addr = {}          # "ip:port" -> the Sess before that
        self.orphan_reports = []     # server reports for no known session (yet)
        self.silent = collections.Counter()  # server -> connections without one byte
        self.wall_off = time.time() - now()  # now() + wall_off: the log's clock
        self.pool = collections.deque()
        self.port_busy = 0
        self.stop_traffic = threading.Event()
        self.stop_chaos = threading.Event()
        self.flooding = threading.Event()
        self.kills = []              # [t_kill, t_dead, t_ready] (t_ready inf while down)
        self.reloads_sent = 0
        self.variant = 0
        self.events = collections.Counter()
        self.server_events = collections.Counter()  # (event, server)
        self.log_lines = 0
        self.samples = []            # (t, fds, rss_kib, phase, pool free KiB)
        self.health_log = []         # server_down / server_up lines, in order
        self.drain_log = []          # drain / exit lines
        self.drain_result = None
        self.sigterm_sent = False
        self.admin_kills = collections.Counter()  # HTTP status of each POST .../kill
        self.counts = None
        self.growth_kib = None
        self.flood_result = None
        self.flood_span = None       # (start, end) of the SYN flood
        self.flood_t0 = None
        self.synfin = None
        self.results = {}
        self.phase = "setup"

    # -- bookkeeping -------------------------------------------------------------------

    def fail(self, msg):
        with self.lock:
            self.failures.append(msg)
        print(f"soak[{self.transport}]: FAIL {msg}", file=sys.stderr, flush=True)

    def note(self, msg):
        print(f"soak[{self.transport}]: {msg}", flush=True)

    def rand(self):
        with self.rng_lock:
            return random.Random(self.rng.getrandbits(64))

    # -- network ---------------------------------------------------------------------

    def setup_network(self):
        if self.root:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNET) != 0:
                raise Fail(f"unshare(CLONE_NEWNET): errno {ctypes.get_errno()}")
            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            ports = iter(range(20001, 20100))
            port = lambda: next(ports)  # noqa: E731 - a namespace of our own: any port
        else:
            port = self.free_port
        if self.stack:
            self.fe_host, self.server_bind, self.server_addr = VIP, "0.0.0.0", KERNEL_SIDE
            client_ips = [KERNEL_SIDE]
        else:
            self.fe_host, self.server_bind, self.server_addr = "127.0.0.1", "127.0.0.1", \
                "127.0.0.1"
            # Four loopback sources: a client port comes back only after ~4x22k sessions,
            # long after the kernel's 60 s TIME_WAIT on synfin's side of an old one.
            client_ips = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
        self.fe_ports = [port(), port()]
        self.admin_port = port()
        self.server_ports = {n: port() for n in SERVERS}
        # Client ports the driver binds itself, below the ephemeral range (32768-60999), so
        # that no port synfin's own connections take can be one of them, and each session's
        # log line is matched by its client address alone. FIFO: a port is used again only
        # after every other one has been.
        ports = [(ip, p) for p in range(10000, 32000) for ip in client_ips]
        random.Random(self.seed).shuffle(ports)
        self.pool.extend(ports)

    @staticmethod
    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    # -- synfin ------------------------------------------------------------------------

    def conf_text(self, variant):
        """The configuration; variant alternates the balance algorithm and s1's weight, so
        that a reload changes something /stats shows."""
        balance = ("roundrobin", "leastconn")[variant % 2]
        w1 = (1, 3)[variant % 2]
        ka = "keepalive on; keepalive_idle 5s; keepalive_interval 1s; keepalive_count 5;"
        lines = [f"log {self.dir}/synfin.log;", f"admin 127.0.0.1:{self.admin_port};",
                 f"drain_timeout {DRAIN_TIMEOUT_S}s;"]
        cl = f"idle_timeout 60s; client_fin_timeout 60s; {ka}"
        sv = f"connect_timeout 3s; idle_timeout 60s; server_fin_timeout 60s; {ka}"
        if self.stack:
            lines.append(
                f"transport stack {{ tun sflt0; kernel_addr {KERNEL_SIDE}/24; address {VIP}; "
                f'impair "loss=1,dup=1,reorder=5,hold=2,seed={self.seed}";'
                + (f" pcap {self.dir}/synfin.pcap;" if os.environ.get("SOAK_PCAP") else "")
                + " }")
            # TIME-WAIT short enough to be gone before the run ends; cookies once 16
            # half-open connections wait (the flood's never complete: synack_retries 2
            # lets them go after 1+2+4 s).
            cl += (" time_wait 1000ms; syncookies on; max_syn_backlog 16; synack_retries 2;")
            sv += " time_wait 1000ms;"
        lines.append(f"profile cl {{ {cl} }}")
        lines.append(f"profile sv {{ {sv} }}")
        for i, (fe, be) in enumerate((("fe_fin", "b_fin"), ("fe_rst", "b_rst"))):
            lines.append(f"frontend {fe} {{ listen {self.fe_host}:{self.fe_ports[i]}; "
                         f"backend {be}; profile cl; }}")
        for be, close in (("b_fin", "fin"), ("b_rst", "rst")):
            servers = " ".join(
                f"server {n} {self.server_addr}:{self.server_ports[n]}"
                f"{' weight %d' % w1 if n == 's1' else ''};" for n in SERVERS)
            lines.append(f"backend {be} {{ balance {balance}; profile sv; server_close {close}; "
                         f"retries 3; {servers} check {{ type http; uri /health; interval 1s; "
                         f"timeout 1s; rise 2; fall 3; }} }}")
        return "\n".join(lines) + "\n"

    def write_conf(self, variant):
        tmp = os.path.join(self.dir, "synfin.conf.tmp")
        with open(tmp, "w") as f:
            f.write(self.conf_text(variant))
        os.replace(tmp, os.path.join(self.dir, "synfin.conf"))

    def start_synfin(self):
        self.write_conf(0)
        self.out_path = os.path.join(self.dir, "synfin.out")
        self.log_path = os.path.join(self.dir, "synfin.log")
        open(self.log_path, "a").close()
        with open(self.out_path, "w") as out, open(os.path.join(self.dir, "synfin.stderr"),
                                                   "w") as err:
            binary = os.path.join(ROOT, os.environ.get("SYNFIN_BUILD", "build"), "bin",
                                  "synfin")
            self.synfin = subprocess.Popen([binary, "-c", os.path.join(self.dir, "synfin.conf")],
                                           preexec_fn=die_with_parent,
                                           stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.wait(lambda: "SIGINT stops" in open(self.out_path).read() or
                  self.synfin.poll() is not None, 15, "synfin to start")
        if self.synfin.poll() is not None:
            raise Fail(f"synfin exited {self.synfin.returncode} at start: "
                       f"{open(os.path.join(self.dir, 'synfin.stderr')).read()[-2000:]}")
        self.pid = self.synfin.pid

    def alive(self):
        if self.synfin.poll() is not None:
            raise Fail(f"synfin died (exit {self.synfin.returncode}) during {self.phase}; "
                       f"log in {self.dir}")

    def admin(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}",
                                    timeout=10) as r:
            return r.read().decode()

    def stats(self):
        return json.loads(self.admin("/stats"))

    def metrics(self):
        out = {}
        for line in self.admin("/metrics").splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                out[k] = float(v)
        return out

    def wait(self, pred, timeout, what, interval=0.05):
        deadline = now() + timeout
        while True:
            v = pred()
            if v:
                return v
            if now() > deadline:
                raise Fail(f"timed out after {timeout}s waiting for {what}")
            time.sleep(interval)

    # -- the log -----------------------------------------------------------------------

    def tail_log(self):
        pos = 0
        rest = ""
        while True:
            with open(self.log_path) as f:
                f.seek(pos)
                chunk = f.read()
                pos = f.tell()
            if chunk:
                lines = (rest + chunk).split("\n")
                rest = lines.pop()
                for line in lines:
                    self.on_log_line(line)
            elif self.log_done.is_set():
                return
            else:
                time.sleep(0.05)

    def on_log_line(self, line):
        d = parse_line(line)
        self.log_lines += 1
        if "session" in d:
            with self.lock:
                s = self.by_addr.pop(d.get("client"), None)
                prev = self.last_addr.get(d.get("client"))
                if s is not None and s.t_start is not None and "_ts" in d and \
                        self.accepted_at(d) < s.t_start + self.wall_off - 0.5:
                    # accepted before s connected: not s's line (its port was used again
                    # while an earlier session's ghost lived); s waits on
                    self.by_addr[d.get("client")] = s
                    prev = self.prev_of(d.get("client"), s)
                    s = None
                if s is None and prev is not None and self.cookie_ghost(prev, d):
                    prev.ghosts.append(d)
                    return
                if s is None:
                    self.failures.append(f"a session log line that matches no session the "
                                         f"driver started: {line}")
                    return
                s.log = d
                s.t_log = now()
            return
        ev = d.get("event")
        if not ev:
            self.fail(f"a log line that is neither a session nor an event: {line}")
            return
        with self.lock:
            self.events[ev] += 1
            if "server" in d:
                self.server_events[(ev, d["server"])] += 1
            if ev in ("server_down", "server_up"):
                self.health_log.append(d)
            if ev in ("drain", "exit"):
                self.drain_log.append(d)
        if ev in BAD_EVENTS:
            self.fail(f"event {ev} in synfin's log: {line}")

    def on_report(self, rep):
        if rep.get("token") is None and rep.get("end") == "silent":
            with self.lock:  # an ACK ghost's (cookie_ghost), judged in check_counts
                self.silent[rep.get("server")] += 1
            return
        if rep.get("token") is None:
            self.fail(f"server {rep.get('server')}: a connection that was not a soak "
                      f"session or a health check: {rep.get('error')}")
            return
        with self.lock:
            s = self.by_token.get(rep["token"])
            if s is None:
                self.orphan_reports.append(rep)
                return
            if s.report is not None:
                s.extra.append(rep)  # judged with the ghosts (resolve_reports)
                return
            s.report = rep

    # -- clients -----------------------------------------------------------------------

    def new_session(self, rng, kind=None, probe=False):
        if kind is None:
            kind = rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        fe = P.FE_FIN if probe else rng.randrange(2)  # the flood is at fe_fin
        big = 1 if self.stack else 4  # the stack's wire is impaired: smaller transfers
        up = down = rst_at = slow = 0
        if probe:
            # One segment with the header (see cookie_reset): a flood probe must complete.
            up, down = log_uniform(rng, 16, 1 * KIB), log_uniform(rng, 16, 32 * KIB)
        elif kind in (P.SFIN, P.CFIN, P.BOTH):
            up, down = log_uniform(rng, 16, 4 * KIB), log_uniform(rng, 16, 32 * KIB)
        elif kind == P.HALF_C:
            up, down = log_uniform(rng, 64 * KIB, big * MIB), log_uniform(rng, 16, big * MIB)
        elif kind == P.HALF_S:
            up, down = log_uniform(rng, 16, big * MIB), log_uniform(rng, 64 * KIB, big * MIB)
        elif kind == P.STREAM:
            up = log_uniform(rng, 256 * KIB, 4 * big * MIB)
            down = log_uniform(rng, 256 * KIB, 4 * big * MIB)
        elif kind == P.SLOW_C:
            up, down = log_uniform(rng, 16, 4 * KIB), log_uniform(rng, 512 * KIB, big * MIB + 1)
            slow = 4000  # the client reads 16 KiB every 4 ms: 4 MB/s at most
        elif kind == P.SLOW_S:
            up, down = log_uniform(rng, 512 * KIB, big * MIB + 1), log_uniform(rng, 16, 4 * KIB)
            slow = 2000  # the server reads 8 KiB every 2 ms
        elif kind in (P.CRST, P.SRST):
            up = down = P.ENDLESS
            rst_at = log_uniform(rng, 1, 2 * big * MIB)
        with self.lock:
            token = self.next_token
            self.next_token += 1
        s = Sess(token, kind, fe, up, down, rst_at, slow, probe=probe, warm=self.phase == "warm-up")
        with self.lock:
            self.by_token[token] = s
            self.sessions.append(s)
            for rep in [r for r in self.orphan_reports if r["token"] == token]:
                self.orphan_reports.remove(rep)
                s.report = rep
        return s

    def connect(self, s):
        """A client socket bound to a pool address, connected to s's frontend, registered
        for its log line before the SYN leaves. Ports the client's own kernel still holds
        (its TIME_WAIT of an earlier session) are skipped: nothing reached synfin."""
        for _ in range(100):
            with self.lock:
                ip, port = self.pool.popleft()
            key = f"{ip}:{port}"
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            P.keepalive(c)
            try:
                c.bind((ip, port))
            except OSError:
                c.close()
                with self.lock:
                    self.port_busy += 1
                    self.pool.append((ip, port))
                continue
            with self.lock:
                if key in self.by_addr:  # still waiting for its last session's line
                    c.close()
                    self.pool.append((ip, port))
                    continue
                self.by_addr[key] = s
                self.prev_addr[key] = self.last_addr.get(key)
                self.last_addr[key] = s
            s.addr = key
            c.settimeout(30 if self.stack else 10)
            s.t_start = now()
            try:
                c.connect((self.fe_host, self.fe_ports[s.fe]))
            except OSError as e:
                c.close()
                if e.errno in (99, 98):  # EADDRNOTAVAIL, EADDRINUSE: the client's TIME_WAIT
                    with self.lock:
                        self.by_addr.pop(key, None)
                        self.port_busy += 1
                        self.pool.append((ip, port))
                    continue
                raise
            return c
        raise Fail("no free client port in 100 tries")

    def run_client(self, s):
        up_seed, down_seed = P.seeds(s.token)
        gen = P.Gen(up_seed)
        chk = P.Check(down_seed, P.ENDLESS if s.kind in (P.CRST, P.SRST) else s.down)
        res = {"end": None, "phase": "connect", "error": None}
        c = None
        k = s.kind
        try:
            c = self.connect(s)
            res["phase"] = "header"
            c.settimeout(self.stall)
            hdr = P.header(s.token, k, s.fe, s.up, s.down, s.rst_at, s.slow_us)
            if s.probe:  # header and request in one segment
                c.sendall(hdr + gen.take(s.up))
            else:
                c.sendall(hdr)
            if k in (P.SFIN, P.SLOW_C):
                res["phase"] = "request"
                P.send_all(c, gen, s.up - gen.n, self.stall)
                res["phase"] = "answer"
                if s.gate is not None:
                    s.gate.wait(self.stall)
                res["end"] = P.recv_some(c, chk, None, self.stall,
                                         pace=s.slow_us / 1e6 if k == P.SLOW_C else 0,
                                         piece=16384 if k == P.SLOW_C else P.CHUNK)
            elif k in (P.CFIN, P.HALF_C, P.SLOW_S, P.BOTH):
                res["phase"] = "request"
                P.send_all(c, gen, s.up, self.stall)
                c.shutdown(socket.SHUT_WR)
                res["phase"] = "answer"
                res["end"] = P.recv_some(c, chk, None, self.stall)
            elif k == P.HALF_S:
                res["phase"] = "answer"
                if P.recv_some(c, chk, None, self.stall) != "eof":
                    raise Fail("no EOF")
                res["phase"] = "upload"
                P.send_all(c, gen, s.up, self.stall)
                c.shutdown(socket.SHUT_WR)
                res["phase"] = "after"
                b = c.recv(1)
                res["end"] = "eof" if not b else "data after EOF"
            elif k == P.STREAM:
                res["phase"] = "stream"
                res["end"] = P.duplex(c, gen, s.up, chk, self.stall)
            elif k == P.CRST:
                res["phase"] = "stream"
                res["end"] = P.duplex(c, gen, P.ENDLESS, chk, self.stall,
                                      rst_after_recv=s.rst_at)
                if res["end"] == "rst_self":
                    c = None
            elif k == P.SRST:
                res["phase"] = "stream"
                res["end"] = P.duplex(c, gen, P.ENDLESS, chk, self.stall)
        except P.Stall as e:
            res["end"], res["error"] = "stall", str(e)
        except Fail:
            raise
        except OSError as e:
            if P.is_reset(e):
                res["end"] = "reset"
            elif isinstance(e, socket.timeout) and res["phase"] == "connect":
                res["end"], res["error"] = "connect_timeout", str(e)
            else:
                res["end"], res["error"] = "error", f"{type(e).__name__}: {e}"
        finally:
            if c is not None:
                try:
                    c.close()
                except OSError:
                    pass
        s.t_end = now()
        res.update(up_n=getattr(gen, "sent", gen.n), up_sha=gen.sha.hexdigest(),
                   down_n=chk.n, down_bad=chk.bad, down_beyond=chk.beyond,
                   down_sha=chk.sha.hexdigest())
        s.client = res
        if s.addr is None:  # never connected
            with self.lock:
                s.t_log = now()

    def worker(self, i):
        rng = self.rand()
        while not self.stop_traffic.is_set():
            s = self.new_session(rng)
            try:
                self.run_client(s)
            except Exception as e:  # noqa: BLE001 - a driver bug must not pass silently
                self.fail(f"client of {s.describe()} raised {type(e).__name__}: {e}\n"
                          f"{traceback.format_exc()}")
                s.client = s.client or {"end": "driver_error", "error": str(e)}
                s.t_end = s.t_end or now()

    def traffic(self, seconds):
        try:
            self._traffic(seconds)
        except Fail as e:
            self.fail(str(e))
            self.stop_traffic.set()

    def _traffic(self, seconds):
        self.stop_traffic.clear()
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                   for i in range(self.workers)]
        for t in threads:
            t.start()
            time.sleep(0.01)
        deadline = now() + seconds
        while now() < deadline:
            self.alive()
            time.sleep(min(0.5, max(0.0, deadline - now())))
        self.stop_traffic.set()
        # Each client ends within its stall timeout (a hang is reported as one).
        for t in threads:
            t.join(timeout=self.stall * 4)
            if t.is_alive():
                raise Fail("a client thread did not finish within 4 stall timeouts")

    # -- chaos -------------------------------------------------------------------------

    def reloader(self, every):
        while not self.stop_chaos.wait(every):
            self.reload()

    def reload(self):
        self.variant += 1
        want = self.events["reload_ok"] + 1
        self.write_conf(self.variant)
        self.synfin.send_signal(signal.SIGHUP)
        self.reloads_sent += 1
        try:
            self.wait(lambda: self.events["reload_ok"] >= want or
                      self.events["reload_rejected"], 10, f"reload {self.reloads_sent}")
            st = self.stats()
        except Exception as e:  # noqa: BLE001
            self.fail(f"reload {self.reloads_sent}: {e}")
            return
        want_bal = ("roundrobin", "leastconn")[self.variant % 2]
        want_w = (1, 3)[self.variant % 2]
        for b in st["backends"]:
            w = {s["name"]: s["weight"] for s in b["servers"]}
            if b["balance"] != want_bal or w.get("s1") != want_w:
                self.fail(f"reload {self.reloads_sent} did not apply: backend {b['name']} has "
                          f"balance {b['balance']} and s1 weight {w.get('s1')}, the "
                          f"configuration says {want_bal} and {want_w}")

    def session_killer(self, lo, hi):
        """Every lo-hi seconds, POST /sessions/ID/kill for a live session of a long kind,
        picked from GET /sessions and matched to its client by address."""
        rng = self.rand()
        while not self.stop_chaos.wait(rng.uniform(lo, hi)):
            try:
                live = json.loads(self.admin("/sessions?limit=1000"))["sessions"]
            except (OSError, ValueError, KeyError) as e:
                self.fail(f"GET /sessions: {type(e).__name__}: {e}")
                continue
            cands = []
            with self.lock:
                for x in live:
                    s = self.by_addr.get(x.get("client_addr"))
                    if s and s.kind in ADMIN_KILL_KINDS and s.admin_kill is None and \
                            x.get("state") == "established":
                        cands.append((x["id"], s))
            if not cands:
                continue
            sid, s = rng.choice(cands)
            s.admin_kill = "asked"
            req = urllib.request.Request(
                f"http://127.0.0.1:{self.admin_port}/sessions/{sid}/kill", method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    code = r.status
            except urllib.error.HTTPError as e:
                code = e.code
            except OSError as e:
                self.fail(f"POST /sessions/{sid}/kill: {type(e).__name__}: {e}")
                code = None
            if code not in (200, 404):
                self.fail(f"POST /sessions/{sid}/kill answered {code}")
            s.admin_kill = code
            with self.lock:
                self.admin_kills[code] += 1

    def killer(self, lo, hi):
        rng = self.rand()
        srv = self.servers[KILLABLE]
        first = True
        while not self.stop_chaos.wait(rng.uniform(1.0, 3.0) if first else rng.uniform(lo, hi)):
            first = False
            while self.flooding.is_set() and not self.stop_chaos.wait(0.2):
                pass  # not during the flood: its probes must all complete
            if self.stop_chaos.is_set():
                break
            kill = [now(), float("inf"), float("inf")]
            self.kills.append(kill)
            srv.kill()
            kill[1] = now()
            dead = rng.uniform(0.5, 2.0)
            self.stop_chaos.wait(dead)  # down for a while even when stopping
            srv.start()
            kill[2] = now()

    def sampler(self):
        while not self.stop_sampling.wait(1.0):
            try:
                fds, rss = self.fd_count(), self.rss_kib()
                try:
                    pool = self.metrics().get("synfin_buffers_free_bytes", 0) / 1024
                except OSError:
                    pool = None
                self.samples.append((now(), fds, rss, self.phase, pool))
            except FileNotFoundError:
                return

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    # -- SYN flood (stack) -------------------------------------------------------------

    def flood(self, count, seconds):
        """count SYNs from random addresses and ports at fe_fin's VIP:port through a raw
        socket, paced over `seconds`. They go into the TUN like any packet to the VIP;
        synfin's answers to them go nowhere (the addresses are no one's)."""
        rng = random.Random(self.seed ^ 0x5F5F)
        dst = socket.inet_aton(VIP)
        dport = self.fe_ports[P.FE_FIN]
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        # Constant parts of the TCP checksum: the pseudo-header's destination, protocol and
        # length, the destination port, data offset and flags, window and the MSS option.
        tcp_len = 24
        const = (struct.unpack("!H", dst[:2])[0] + struct.unpack("!H", dst[2:])[0] + 6 +
                 tcp_len + dport + ((6 << 12) | 0x02) + 65535 + 0x0204 + 1460)
        sent = 0
        t0 = now()
        batch = 200
        while sent < count:
            pkts = []
            for _ in range(min(batch, count - sent)):
                while True:
                    a = rng.getrandbits(32)
                    top = a >> 24
                    if top not in (0, 10, 127) and top < 224:
                        break
                sport = rng.randrange(1024, 65536)
                seq = rng.getrandbits(32)
                c = const + (a >> 16) + (a & 0xFFFF) + sport + (seq >> 16) + (seq & 0xFFFF)
                while c >> 16:
                    c = (c & 0xFFFF) + (c >> 16)
                csum = ~c & 0xFFFF
                ip = struct.pack("!BBHHHBBHI4s", 0x45, 0, 20 + tcp_len, 0, 0, 64, 6, 0, a, dst)
                tcp = struct.pack("!HHIIBBHHHBBH", sport, dport, seq, 0, 6 << 4, 0x02, 65535,
                                  csum, 0, 2, 4, 1460)
                pkts.append(ip + tcp)
            for p in pkts:
                raw.sendto(p, (VIP, 0))
            sent += len(pkts)
            ahead = t0 + seconds * sent / count - now()
            if ahead > 0:
                time.sleep(ahead)
        raw.close()
        return sent, now() - t0

    def flood_phase(self):
        count = 100_000
        m0 = self.metrics()
        tun0 = self.tun_tx_dropped()
        probes = []
        probe_lock = threading.Lock()
        done = threading.Event()

        def prober():
            rng = self.rand()
            while not done.is_set():
                s = self.new_session(rng, kind=P.SFIN, probe=True)
                with probe_lock:
                    probes.append(s)
                self.run_client(s)

        self.flooding.set()
        threads = [threading.Thread(target=prober, daemon=True) for _ in range(FLOOD_PROBES)]
        for t in threads:
            t.start()
        t0 = self.flood_t0 = now()
        sent, took = self.flood(count, 5.0)
        self.flood_span = (t0, now())
        done.set()
        for t in threads:
            t.join(self.stall * 2)
        self.flooding.clear()
        m1 = self.metrics()
        key = 'synfin_stack_syncookies_total{result="%s"}'
        self.flood_result = {
            "syns": sent, "seconds": round(took, 2), "probes": len(probes),
            "cookies_sent": int(m1[key % "sent"] - m0[key % "sent"]),
            "cookies_validated": int(m1[key % "validated"] - m0[key % "validated"]),
            "cookies_rejected": int(m1[key % "rejected"] - m0[key % "rejected"]),
            "tun_dropped": self.tun_tx_dropped() - tun0,
            "device_drops": int(m1["synfin_stack_device_drops_total"] -
                                m0["synfin_stack_device_drops_total"]),
            "probe_tokens": [s.token for s in probes]}
        self.note(f"SYN flood: {sent} SYNs in {took:.1f} s, {len(probes)} probe sessions, "
                  f"cookies sent {self.flood_result['cookies_sent']} validated "
                  f"{self.flood_result['cookies_validated']}")

    def tun_tx_dropped(self):
        """Packets the kernel could not queue to synfin's TUN (its queue was full)."""
        try:
            with open("/sys/class/net/sflt0/statistics/tx_dropped") as f:
                return int(f.read())
        except OSError:
            return 0

    # -- quiet points ------------------------------------------------------------------

    def quiet(self, what):
        """No session, no buffer, no connection but the listeners, no TIME-WAIT entry of
        synfin's own (the stack's; the kernel's TIME_WAIT is the kernel's, 60 s)."""
        def settled():
            m = self.metrics()
            self._quiet_metrics = m
            act = sum(v for k, v in m.items() if k.startswith("synfin_sessions_active"))
            if act or m.get("synfin_buffers_in_use"):
                return False
            if self.stack:
                if m.get("synfin_stack_time_wait_entries"):
                    return False
                if m.get("synfin_transport_connections") != \
                        m.get('synfin_tcp_sockets{state="LISTEN"}'):
                    return False
            return True
        try:
            # an ACK ghost made late in the flood's tail lives up to idle_timeout
            self.wait(settled, IDLE_TIMEOUT_S + 30, f"synfin to be quiet ({what})",
                      interval=0.25)
        except Fail as e:
            m = self._quiet_metrics
            left = {k: v for k, v in m.items() if v and (
                k.startswith("synfin_sessions_active") or k.startswith("synfin_tcp_sockets") or
                k in ("synfin_buffers_in_use", "synfin_stack_time_wait_entries",
                      "synfin_transport_connections"))}
            raise Fail(f"{e}: {left}") from None
        return self._quiet_metrics

    def steady_fds(self):
        """The descriptor count without transients (a health check's socket lives a few
        milliseconds): the least of a few samples."""
        vals = []
        for _ in range(10):
            vals.append(self.fd_count())
            time.sleep(0.05)
        return min(vals)

    def steady_keys(self):
        keys = ["synfin_transport_connections"]
        if self.stack:
            keys += ["synfin_stack_connection_bytes", "synfin_stack_time_wait_entries"]
        return keys

    def steady_metrics(self):
        """The least of a few samples of steady_keys(): without transients, as steady_fds."""
        out = {}
        for _ in range(10):
            m = self.metrics()
            for k in self.steady_keys():
                out[k] = min(out.get(k, float("inf")), m.get(k, 0))
            time.sleep(0.05)
        return out

    def baseline(self):
        m = self.quiet("baseline")
        self.base = {"fds": self.steady_fds(), "rss_kib": self.rss_kib(), "metrics": m,
                     "steady": self.steady_metrics(), "t": now()}
        self.note(f"baseline: {self.base['fds']} descriptors, RSS {self.base['rss_kib']} KiB, "
                  f"pool {int(m.get('synfin_buffers_free_bytes', 0)) // 1024} KiB free")

    # -- judging -----------------------------------------------------------------------

    def exposed(self, s):
        """Whether a kill of the killable server fell inside s's life and s was on it (or
        lost every connect attempt while it was down)."""
        L = s.log or {}
        # Until synfin ended the session, not only the client: a client that has sent all
        # and read to EOF is done while synfin still relays its upload to the server.
        # And a little after: synfin's log line comes when it has passed the last bytes and
        # FIN on, which may still be on their way to the server (a loss on the stack's wire).
        t0 = s.t_start or 0
        t1 = max(s.t_end or now(), s.t_log or now()) + KILL_AFTER_LOG_S
        for tk, td, tr in self.kills:
            # Until the process is gone, its listener still completes handshakes: those
            # connections are reset when it closes, so a session that started between the
            # signal and the death is exposed too.
            if L.get("server") == KILLABLE and t0 <= td + KILL_EPS_S and tk <= t1:
                return True
            if L.get("cause") == "connect_fail" and tk <= t1 and tr >= t0:
                return True
        return False

    def judge(self, s):
        """None when s is accounted for, else a precise reason."""
        c, L, R = s.client or {}, s.log, s.report
        if c.get("end") in ("stall", "error", "connect_timeout", "driver_error", None):
            return f"client ended with {c.get('end')} in {c.get('phase')}: {c.get('error')}"
        if L is None:
            return "no log line"
        why = self.resolve_reports(s)
        if why:
            return why
        R = s.report
        if self.cookie_reset(s, c, L, R):
            s.verdict = "cookie_reset"
            return None
        if L.get("cause") == "admin_kill" or s.admin_kill == 200:
            return self.judge_admin_kill(s, c, L, R)
        why = self.judge_normal(s, c, L, R)
        if why is None:
            return None
        if not self.exposed(s):
            return why
        # A kill of its server: the session may end early, but no byte may be wrong, the
        # cause must be a server's, and a FIN must come after every byte synfin passed on.
        s.verdict = "killed"
        if c.get("down_bad") is not None:
            return f"(server killed) byte {c['down_bad']} from the server is wrong"
        if R and R.get("up_bad") is not None:
            return f"(server killed) byte {R['up_bad']} from the client is wrong"
        allowed = CAUSES[s.kind] | {"server_rst", "server_fin", "connect_fail"}
        if L["cause"] not in allowed:
            return f"(server killed) cause {L['cause']}, expected one of {sorted(allowed)}"
        if c["end"] == "eof" and c["down_n"] != int(L["bytes_down"]):
            return (f"(server killed) the client saw EOF after {c['down_n']} bytes, synfin "
                    f"passed on {L['bytes_down']}: bytes lost before a FIN")
        if c["end"] not in ("eof", "reset", "rst_self", "count"):
            return f"(server killed) client ended with {c['end']}"
        return None

    def cookie_reset(self, s, c, L, R):
        """Whether s is a client the flooded listener reset, as syncookies must. Under the
        flood, fe_fin answers SYNs with cookies, and a cookie is checked against the client's
        ISN, taken as SEG.SEQ - 1 of the first ACK-bearing segment that arrives. When the
        impaired wire puts a later data segment ahead of the handshake's ACK, the check fails
        and the listener answers RST <SEQ=SEG.ACK> (RFC 9293 3.10.7.2; Linux's
        cookie_v4_check does the same), which resets the client before any byte came back.
        The ACK arriving after it makes the connection; the client's kernel resets that one
        (cause client_rst). Nothing was delivered, and no byte may be wrong."""
        if not (self.stack and s.fe == P.FE_FIN and self.flood_t0 and s.t_start):
            return False
        f1 = self.flood_span[1] if self.flood_span else float("inf")  # judged mid-flood
        if not self.flood_t0 - 1.0 <= s.t_start <= f1 + COOKIE_TAIL_S:
            return False
        if c.get("end") != "reset" or c.get("down_n") or c.get("down_bad") is not None:
            return False
        if L.get("cause") != "client_rst" or L.get("bytes_down") != "0":
            return False
        return R is None or (R.get("end") == "reset" and R.get("up_bad") is None and
                             R.get("up_n", 0) + P.HDR_LEN <= int(L.get("bytes_up", 0)))

    def accepted_at(self, d):
        """When synfin accepted the connection of log line d (its clock, seconds)."""
        return d["_ts"] - float(d.get("duration_ms", 0)) / 1000

    def prev_of(self, key, s):
        """The session that used client address key before s."""
        return self.prev_addr.get(key) if self.last_addr.get(key) is s else None

    def cookie_ghost(self, prev, d):
        """Whether log line d, for a client address whose session (prev) has ended, is that
        session's ghost: a connection the flooded listener made from a late copy (held back
        by the wire's reordering, or duplicated) of one of prev's segments that carried its
        cookie, after prev's connection was gone. A cookie connection is made from any ACK
        whose cookie checks out (SEG.ACK - 1, against SEG.SEQ - 1 as the client's ISN: the
        handshake's ACK and the first data segment), and nothing holds the 4-tuple once prev
        ended by a reset or its client closed first (synfin, the passive closer, keeps no
        TIME-WAIT); Linux's syncookies behave the same. Two kinds, by the segment:
        - an ACK ghost, from the handshake's ACK: established with no byte either way; its
          server gets a connection without one byte (a silent one, on_report);
        - a data ghost, from the first data segment: it brings that one segment (the header,
          with prev's token) to a server, whose report must hold no wrong byte.
        The client's kernel resets a ghost at its first segment if it has no socket
        (client_rst); its TIME-WAIT instead answers every segment with an ACK of the old
        connection, which the ghost takes as no news: keepalive ends it (client_rst), or,
        once its server has closed and the ghost's FIN waits (retransmitted for minutes),
        its idle_timeout does (test_tcp_mechanisms, cookie_ghost_*). Both are made from a
        handshake done with a cookie, during the flood or its tail, and are accepted after
        prev was."""
        if not (self.stack and self.flood_t0 and prev.log and "_ts" in d and "_ts" in prev.log):
            return False
        if d.get("frontend") != "fe_fin" or prev.fe != P.FE_FIN or not prev.t_start:
            return False
        f1 = self.flood_span[1] if self.flood_span else now()
        if not self.flood_t0 - 1.0 <= prev.t_start <= f1 + COOKIE_TAIL_S:
            return False  # prev's handshake had no cookie
        born = self.accepted_at(d)
        # cookies stay good two 64 s periods; the wire holds a segment back a moment only
        if not self.accepted_at(prev.log) <= born <= self.wall_off + f1 + COOKIE_TAIL_S + 5:
            return False
        if d.get("cause") not in GHOST_CAUSES:
            return False
        up, down = int(d.get("bytes_up", 1 << 30)), int(d.get("bytes_down", 1 << 30))
        if up == 0:
            return down == 0
        return up <= P.HDR_LEN + MSS_MAX and down <= prev.down

    def resolve_reports(self, s):
        """With ghosts, a token has more than one server report: the session's is the one
        from the server its log line names (the larger, if a ghost went there too); every
        other must be a data ghost's, without a wrong byte and no more than the ghost
        brought. None, or why not."""
        if not s.extra:
            return None
        if not s.ghosts:
            return f"{1 + len(s.extra)} server reports and no ghost: {[s.report] + s.extra}"
        reps = [s.report] + s.extra
        mine = [r for r in reps if r.get("server") == (s.log or {}).get("server")]
        real = max(mine, key=lambda r: r.get("up_n", 0) + r.get("down_n", 0)) if mine else None
        others = [r for r in reps if r is not real]
        if len(others) > len(s.ghosts):
            return f"{len(others)} extra server reports for {len(s.ghosts)} ghosts: {others}"
        most = max(int(g.get("bytes_up", 0)) for g in s.ghosts)
        for r in others:
            if r.get("up_bad") is not None or r.get("up_beyond") or \
                    r.get("up_n", 0) + P.HDR_LEN > most:
                return f"a ghost's server report has a wrong byte or more than it brought: {r}"
            if r.get("server") not in [g.get("server") for g in s.ghosts]:
                return f"a ghost's server report from {r.get('server')}, no ghost went there"
        s.report, s.extra = real, others
        return None

    def judge_admin_kill(self, s, c, L, R):
        """A session the admin API killed: the kill answered 200 exactly when the cause is
        admin_kill; RST both ways, so each end saw a reset or had already finished; no wrong
        byte, and the log's bytes within what each end sent and received."""
        if L.get("cause") != "admin_kill" or s.admin_kill != 200:
            return (f"POST .../kill answered {s.admin_kill}, the session ended with cause "
                    f"{L.get('cause')}: a kill answers 200 exactly when it ends the session")
        if c.get("down_bad") is not None or c.get("down_beyond"):
            return f"(admin kill) byte {c.get('down_bad')} from the server is wrong at the client"
        done_c = c.get("end") == "eof" and c.get("down_n") == s.down
        if c.get("end") != "reset" and not done_c:
            return f"(admin kill) the client ended {c.get('end')}, not reset"
        if R is None:
            # A server reports a session once it has its header: none without one.
            if self.exposed(s) or int(L["bytes_up"]) < P.HDR_LEN:
                s.verdict = "admin_kill"
                return None
            return "(admin kill) no report from the server"
        if R.get("up_bad") is not None or R.get("up_beyond"):
            return f"(admin kill) byte {R.get('up_bad')} from the client is wrong at the server"
        if R.get("end") not in ("reset", "eof", "closed"):
            return f"(admin kill) the server ended {R.get('end')} ({R.get('error')})"
        b_up, b_down = int(L["bytes_up"]), int(L["bytes_down"])
        if not R["up_n"] + P.HDR_LEN <= b_up <= c["up_n"] + P.HDR_LEN:
            return (f"(admin kill) bytes_up {b_up} outside [{R['up_n'] + P.HDR_LEN}, "
                    f"{c['up_n'] + P.HDR_LEN}] (server got, client sent)")
        if not c["down_n"] <= b_down <= R["down_n"]:
            return f"(admin kill) bytes_down {b_down} outside [{c['down_n']}, {R['down_n']}]"
        s.verdict = "admin_kill"
        return None

    def judge_normal(self, s, c, L, R):
        k = s.kind
        cause = L.get("cause")
        b_up, b_down = int(L.get("bytes_up", -1)), int(L.get("bytes_down", -1))
        if c.get("down_bad") is not None:
            return f"byte {c['down_bad']} of the server's stream arrived wrong at the client"
        if c.get("down_beyond"):
            return f"{c['down_beyond']} bytes arrived at the client beyond the stream's end"
        if R is None:
            return "no report from the server"
        if R.get("up_bad") is not None:
            return f"byte {R['up_bad']} of the client's stream arrived wrong at the server"
        if R.get("up_beyond"):
            return f"{R['up_beyond']} bytes arrived at the server beyond the stream's end"
        if R.get("server") != L.get("server"):
            return f"the server that reported ({R.get('server')}) is not the log's"
        if k in CAUSES and cause not in CAUSES[k]:
            return f"cause {cause}, expected {'/'.join(sorted(CAUSES[k]))}"
        if k == P.CRST:
            if c["end"] != "rst_self":
                return f"the client was to reset after {s.rst_at} bytes, it ended {c['end']}"
            if R["end"] != "reset":
                return f"the client reset, the server saw {R['end']} ({R.get('error')})"
        elif k == P.SRST:
            if R["end"] != "rst_self":
                return f"the server was to reset after {s.rst_at} bytes, it ended {R['end']}"
            if c["end"] != "reset":
                return f"the server reset, the client saw {c['end']} after {c['down_n']} bytes"
        if k in (P.CRST, P.SRST):
            # Resets discard what was in flight: only bounds hold.
            if not (R["up_n"] + P.HDR_LEN <= b_up <= c["up_n"] + P.HDR_LEN):
                return (f"bytes_up {b_up} outside [{R['up_n'] + P.HDR_LEN}, "
                        f"{c['up_n'] + P.HDR_LEN}] (server got, client sent)")
            if not (c["down_n"] <= b_down <= R["down_n"]):
                return f"bytes_down {b_down} outside [{c['down_n']}, {R['down_n']}]"
            s.verdict = "reset"
            return None
        if c["end"] != "eof" or c["down_n"] != s.down:
            return f"the client ended with {c['end']} after {c['down_n']} of {s.down} bytes"
        if R["up_n"] != s.up or R["down_n"] != s.down:
            return (f"the server got {R['up_n']} of {s.up} bytes and sent {R['down_n']} of "
                    f"{s.down} (ended {R['end']} in {R['phase']}: {R.get('error')})")
        ends = set(SERVER_ENDS[k])
        if s.fe == P.FE_RST and k in RST_AFTER_ALL:
            ends.add("reset")  # server_close rst: after every byte, the RST ends its side
        if R["end"] not in ends:
            return f"the server's end was {R['end']} in {R['phase']}, expected {sorted(ends)}"
        if R["up_sha"] != c["up_sha"]:
            return "SHA-256 of the client's stream differs between the two ends"
        if R["down_sha"] != c["down_sha"]:
            return "SHA-256 of the server's stream differs between the two ends"
        if b_up != s.up + P.HDR_LEN or b_down != s.down:
            return (f"log bytes_up={b_up} bytes_down={b_down}, sent {s.up + P.HDR_LEN} and "
                    f"{s.down}")
        s.verdict = "complete"
        return None

    def settle_sessions(self, final):
        """Judges the sessions that have everything they will get. final: the traffic is
        over; wait (bounded) for the last log lines and reports, then judge all."""
        with self.judging:
            return self._settle(final)

    def _settle(self, final):
        deadline = now() + (REPORT_WAIT_S + 20 if final else 0)
        while True:
            pending = []
            with self.lock:
                todo = [s for s in self.sessions if s.verdict is None and s.why is None]
            for s in todo:
                if s.client is None:
                    pending.append(s)
                    continue
                ready = s.log is not None and s.admin_kill != "asked" and (
                    s.report is not None or
                                               now() - (s.t_log or now()) > REPORT_WAIT_S or
                                               self.exposed(s))
                if not ready and not final:
                    continue
                if not ready and now() < deadline:
                    pending.append(s)
                    continue
                why = self.judge(s)
                if why:
                    s.why = why
                    s.verdict = "FAILED"
                    self.fail(f"{s.describe()}: {why}\n    client: {s.client}\n    log: "
                              f"{s.log}\n    server: {s.report}")
                with self.lock:
                    if s.addr and s.log is not None:
                        ip, port = s.addr.rsplit(":", 1)
                        self.pool.append((ip, int(port)))
            if not final or not pending or now() > deadline:
                return pending
            time.sleep(0.25)

    def judge_loop(self):
        while not self.stop_judging.wait(0.5):
            self.settle_sessions(False)

    # -- the run -----------------------------------------------------------------------

    def run(self):
        try:
            self._run()
        except Fail as e:
            self.fail(str(e))
        except Exception as e:  # noqa: BLE001
            self.fail(f"driver error: {type(e).__name__}: {e}\n{traceback.format_exc()}")
        finally:
            self.teardown()
        return self.report_result()

    def _run(self):
        self.setup_network()
        self.servers = {n: Server(self, n, self.server_ports[n], flap=5.0 if n == FLAPPY else 0)
                        for n in SERVERS}
        for srv in self.servers.values():
            srv.start()
        self.start_synfin()
        self.log_done = threading.Event()
        self.tailer = threading.Thread(target=self.tail_log, daemon=True)
        self.tailer.start()
        self.stop_judging = threading.Event()
        threading.Thread(target=self.judge_loop, daemon=True).start()
        self.stop_sampling = threading.Event()
        threading.Thread(target=self.sampler, daemon=True).start()

        # Warm-up: the mix and one reload, then the baseline at a quiet point.
        self.phase = "warm-up"
        warm = max(3.0, min(15.0, self.seconds * 0.05))
        th = threading.Thread(target=self.traffic, args=(warm,), daemon=True)
        th.start()
        time.sleep(warm / 2)
        self.reload()
        th.join()
        self.phase = "warm-up drain"
        self.settle_sessions(True)
        self.baseline()

        # The run: traffic, reloads, kills, flaps (s4's own), and on the stack a flood.
        self.phase = "run"
        self.stop_chaos.clear()
        chaos = [threading.Thread(target=self.reloader, args=(3.0,), daemon=True),
                 threading.Thread(target=self.killer, args=(5.0, 9.0), daemon=True),
                 threading.Thread(target=self.session_killer, args=(1.0, 3.0), daemon=True)]
        for t in chaos:
            t.start()
        th = threading.Thread(target=self.traffic, args=(self.seconds,), daemon=True)
        t_run = now()
        th.start()
        if self.stack:
            self.wait(lambda: now() - t_run > self.seconds * 0.4 or not th.is_alive(),
                      self.seconds + 60, "the flood's time")
            self.flood_phase()
        while th.is_alive():
            self.alive()
            th.join(0.5)
        self.stop_chaos.set()
        for t in chaos:
            t.join(30)
        self.phase = "drain"
        pending = self.settle_sessions(True)
        for s in pending:
            s.verdict = "FAILED"
            s.why = "never judged: " + ("no log line" if s.log is None else "no server report")
            self.fail(f"{s.describe()}: {s.why}\n    client: {s.client}\n    log: {s.log}\n"
                      f"    server: {s.report}")
        self.end_checks()
        self.check_counts(self.end["metrics"])
        self.check_bounds()
        self.check_health()
        with self.lock:
            orphans = list(self.orphan_reports)
        if orphans:
            self.fail(f"{len(orphans)} server reports for sessions the driver never started, "
                      f"first: {orphans[0]}")
        self.drain_phase()

    def end_checks(self):
        self.phase = "end checks"
        m = self.quiet("end")
        base = self.base
        # Descriptors: exactly the baseline (polled: a health check's socket is transient).
        fds = []
        try:
            self.wait(lambda: fds.append(self.fd_count()) or fds[-1] == base["fds"], 15,
                      "descriptors back to the baseline", interval=0.1)
        except Fail:
            self.fail(f"descriptors: {min(fds)} at best in 15 s after the run, baseline "
                      f"{base['fds']}: {self.fd_listing()}")
        rss = self.rss_kib()
        # RSS: the pool of free pipe buffers may have grown to the run's peak (it keeps up
        # to 64 MiB for reuse, by design; /metrics has its size); beyond that, 4 MiB for
        # the allocator's own caches and fragmentation (glibc keeps freed chunks in its
        # arenas rather than trimming them at once).
        pool_growth = (m.get("synfin_buffers_free_bytes", 0) -
                       base["metrics"].get("synfin_buffers_free_bytes", 0)) / 1024
        slack = 4096
        allowed = base["rss_kib"] + max(0, pool_growth) + slack
        if rss > allowed:
            self.fail(f"RSS {rss} KiB after the run, baseline {base['rss_kib']} KiB + pool "
                      f"growth {pool_growth:.0f} KiB + {slack} KiB allowed: {allowed:.0f} KiB")
        # Connections and their memory: back to the baseline's, polled (a health check's
        # connection, request in its buffer, is there now and then, as its descriptor).
        for k in self.steady_keys():
            seen = []
            try:
                self.wait(lambda: seen.append(self.metrics().get(k)) or
                          seen[-1] == base["steady"][k], 15, f"{k} back to the baseline",
                          interval=0.1)
            except Fail:
                self.fail(f"{k} is {min(seen)} at best in 15 s after the run, "
                          f"{base['steady'][k]} at the baseline")
        self.end = {"fds": fds[-1] if fds else None, "rss_kib": rss, "metrics": m,
                    "pool_growth_kib": pool_growth}

    def check_counts(self, m):
        """Every session since the baseline counted the same at the client (the driver),
        in synfin's /metrics, in its log and at the servers: per frontend, per close cause,
        bytes each way, and per server."""
        base = self.base["metrics"]

        def delta(key):
            return int(m.get(key, 0) - base.get(key, 0))

        def labelled(prefix):  # {labels: delta} of one metric family
            out = {}
            for k in set(m) | set(base):
                if k.startswith(prefix + "{"):
                    out[k[len(prefix) + 1:-1]] = delta(k)
            return out

        after = [s for s in self.sessions if s.t_start and s.t_start >= self.base["t"]]
        logged = [s for s in after if s.log]
        ghosts = [(g, s) for s in after for g in s.ghosts]
        counts = {"client": len(after), "log": len(logged), "metrics": 0, "servers": 0,
                  "no_report": 0, "ghosts": len(ghosts),
                  "ack_ghosts": sum(1 for g, _ in ghosts if g.get("bytes_up") == "0")}
        for i, fe in enumerate(("fe_fin", "fe_rst")):
            mine = [s for s in logged if s.fe == i]
            n_client = sum(1 for s in after if s.fe == i)
            n_metric = delta(f'synfin_sessions_total{{frontend="{fe}"}}')
            lines = [s.log for s in mine] + [g for g, s in ghosts if g["frontend"] == fe]
            n_ghosts = len(lines) - len(mine)
            counts["metrics"] += n_metric - n_ghosts
            if not n_client == len(mine) == n_metric - n_ghosts:
                self.fail(f"sessions on {fe}: {n_client} started by the clients, {len(mine)} "
                          f"in synfin's log, {n_metric} in /metrics synfin_sessions_total "
                          f"({n_ghosts} of them ghosts)")
            want = collections.Counter(x["cause"] for x in lines)
            got = {k.split('cause="')[1].rstrip('"'): v
                   for k, v in labelled("synfin_sessions_closed_total").items()
                   if f'frontend="{fe}"' in k and v}
            if dict(want) != got:
                self.fail(f"close causes on {fe}: the log says {dict(sorted(want.items()))}, "
                          f"/metrics synfin_sessions_closed_total {dict(sorted(got.items()))}")
            for d, field in (("in", "bytes_up"), ("out", "bytes_down")):
                n_log = sum(int(x[field]) for x in lines)
                n_met = delta(f'synfin_frontend_bytes_total{{frontend="{fe}",direction="{d}"}}')
                if n_log != n_met:
                    self.fail(f"{fe} bytes {d}: {n_log} in the log, {n_met} in /metrics")
        # A server counts every attempt given to it: the log names only the last server of
        # a session whose connect was retried, so a failed attempt counts at its server
        # (connect_failures) besides.
        per_server = labelled("synfin_server_sessions_total")
        failures = labelled("synfin_server_connect_failures_total")
        n_fail = sum(failures.values())
        all_lines = [s.log for s in logged] + [g for g, _ in ghosts]
        n_retries = sum(int(x.get("retries", 0)) for x in all_lines)
        n_final = sum(1 for x in all_lines if x.get("cause") in CONNECT_FAILED)
        if n_fail != n_retries + n_final:
            self.fail(f"/metrics counts {n_fail} failed connects to servers, the log "
                      f"{n_retries} retries and {n_final} sessions ended by connect_fail "
                      "or connect_timeout")
        for n in SERVERS:
            on = [s for s in logged if s.log.get("server") == n]
            on_ghosts = [g for g, _ in ghosts if g.get("server") == n]
            final = sum(1 for x in [s.log for s in on] + on_ghosts
                        if x.get("cause") in CONNECT_FAILED)
            n_met = sum(v for k, v in per_server.items() if f'server="{n}"' in k) - \
                sum(v for k, v in failures.items() if f'server="{n}"' in k) + final
            reported = [s for s in on if s.report and s.report.get("server") == n]
            missing = [s for s in on if s not in reported]
            counts["servers"] += len(reported)
            counts["no_report"] += len(missing)
            excused = [s for s in missing if s.verdict in ("killed", "cookie_reset") or
                       s.verdict == "admin_kill" and (
                           self.exposed(s) or int(s.log["bytes_up"]) < P.HDR_LEN)]
            # A server connection that got no byte before the server's stall timeout is an
            # ACK ghost's (cookie_ghost): no more of them than ACK ghosts given to that server.
            ack_on = sum(1 for g in on_ghosts if g.get("bytes_up") == "0")
            if self.silent[n] > ack_on:
                self.fail(f"server {n}: {self.silent[n]} connections without one byte, "
                          f"{ack_on} ACK ghosts given to it")
            if len(on) + len(on_ghosts) != n_met:
                self.fail(f"sessions on server {n}: {len(on)} in synfin's log and "
                          f"{len(on_ghosts)} ghosts, {n_met} in "
                          "/metrics (synfin_server_sessions_total less the failed connects)")
            if len(excused) != len(missing):
                self.fail(f"server {n} reported {len(reported)} of the {len(on)} sessions "
                          f"synfin's log gives it, and only {len(excused)} of the others "
                          "were on a killed server")
        self.counts = counts
        self.note(f"sessions since the baseline: {counts['client']} at the clients, "
                  f"{counts['log']} in synfin's log, {counts['metrics']} in /metrics, "
                  f"{counts['servers']} reported by the servers (+{counts['no_report']} "
                  "ended by a kill of their server or a cookie reset); "
                  f"{counts['ghosts']} cookie ghosts ({counts['ack_ghosts']} of a handshake's "
                  f"ACK; {sum(self.silent.values())} silent at the servers)")

    def check_bounds(self):
        """Descriptors and memory during the run (the end is end_checks'): descriptors
        within what the clients can hold open, and no growth of the memory that is not the
        buffer pool's between the first and last third of the run (a leak shows there)."""
        run = [x for x in self.samples if x[3] == "run" and x[4] is not None]
        if len(run) < 6:
            self.fail(f"only {len(run)} samples of descriptors and memory during the run")
            return
        # Each client has a session at a time: two descriptors each on the kernel transport
        # (none on the stack), and the health checks and admin requests their own.
        bound = self.base["fds"] + 2 * (self.workers + FLOOD_PROBES) + FD_SLACK
        worst = max(run, key=lambda x: x[1])
        if worst[1] > bound:
            self.fail(f"{worst[1]} descriptors during the run, bound {bound} (baseline "
                      f"{self.base['fds']} + 2 per client + {FD_SLACK})")
        third = len(run) // 3
        first = max(x[2] - x[4] for x in run[:third])
        last = max(x[2] - x[4] for x in run[-third:])
        self.growth_kib = int(last - first)
        if self.growth_kib > GROWTH_KIB:
            self.fail(f"memory grew during the run: RSS less the buffer pool peaked at "
                      f"{first:.0f} KiB in the first third, {last:.0f} KiB in the last "
                      f"(bound {GROWTH_KIB} KiB)")

    def check_health(self):
        """The health faults had the outcome they must: s1 and s2 never went down, no
        session was given to the flapping server while its check had it down, and at the
        end every server but the flapping one is up (the killed one back after restart)."""
        for n in SERVERS:
            if n not in (KILLABLE, FLAPPY) and self.server_events[("server_down", n)]:
                self.fail(f"server {n} went down {self.server_events[('server_down', n)]} "
                          "times; nothing was done to it")
        down = {}  # backend -> time s4 went down
        spans = collections.defaultdict(list)
        for d in self.health_log:
            if d.get("server") != FLAPPY or "_ts" not in d:
                continue
            if d["event"] == "server_down":
                down[d["backend"]] = d["_ts"]
            elif d["backend"] in down:
                spans[d["backend"]].append((down.pop(d["backend"]), d["_ts"]))
        for b, t in down.items():
            spans[b].append((t, float("inf")))
        for s in self.sessions:
            L = s.log
            if not L or L.get("server") != FLAPPY or L.get("retries") != "0" or "_ts" not in L:
                continue
            picked = L["_ts"] - float(L["duration_ms"]) / 1000 + float(L["queue_ms"]) / 1000
            for t0, t1 in spans[L["backend"]]:
                if t0 + PICK_EPS_S < picked < t1 - PICK_EPS_S:
                    self.fail(f"{s.describe()} went to {FLAPPY} at {picked:.3f}, while "
                              f"{L['backend']} had it down ({t0:.3f} to {t1:.3f})")
        key = 'synfin_server_up{backend="%s",server="%s"}'
        want = [key % (b, n) for b in ("b_fin", "b_rst") for n in SERVERS if n != FLAPPY]
        try:
            self.wait(lambda: all(self.metrics().get(k) == 1 for k in want), 15,
                      "every server but the flapping one to be up")
        except Fail as e:
            m = self.metrics()
            self.fail(f"{e}: {[(k, m.get(k)) for k in want if m.get(k) != 1]}")

    def drain_phase(self):
        """SIGTERM with sessions in flight: the listeners close at once (a new connection
        is refused), the live sessions finish with every byte (no cause `drain`), synfin
        logs event=drain with their number and exits 0 (docs/lb.md, Signals)."""
        self.phase = "drain (SIGTERM)"
        self.stop_sampling.set()
        rng = self.rand()
        sess = []
        # The clients read nothing until SIGTERM, so that all six are live at once however
        # long the lossy wire makes one's connect (a lost SYN to its server costs 1 s, and
        # a slow reader alone lasts only 0.64 s).
        gate = threading.Event()
        for i in range(DRAIN_SESSIONS):
            s = self.new_session(rng, kind=P.SLOW_C)
            s.up, s.down, s.slow_us = 512, DRAIN_BYTES, DRAIN_SLOW_US
            s.fe = i % 2
            s.gate = gate
            sess.append(s)
        threads = [threading.Thread(target=self._drain_client, args=(s,), daemon=True)
                   for s in sess]
        for t in threads:
            t.start()
        # Until every one is live, with bytes moving: then SIGTERM.
        act = 'synfin_sessions_active{frontend="%s"}'
        self.wait(lambda: sum(self.metrics().get(act % f, 0) for f in ("fe_fin", "fe_rst"))
                  == DRAIN_SESSIONS, 20, "the drain sessions to be live")
        t0 = now()
        self.sigterm_sent = True
        self.synfin.send_signal(signal.SIGTERM)
        self.wait(lambda: self.events["drain"], 10, "event=drain in the log")
        gate.set()
        refused = None
        for _ in range(50):
            try:
                with socket.create_connection((self.fe_host, self.fe_ports[0]), timeout=10):
                    pass
                time.sleep(0.02)  # the listener may not be closed yet
            except ConnectionRefusedError:
                refused = True
                break
            except OSError as e:
                refused = f"{type(e).__name__}: {e}"
                break
        if refused is not True:
            self.fail(f"a connection after SIGTERM was not refused ({refused or 'accepted'})")
        try:
            rc = self.synfin.wait(DRAIN_TIMEOUT_S + 15)
        except subprocess.TimeoutExpired:
            raise Fail(f"synfin did not exit within {DRAIN_TIMEOUT_S + 15} s of SIGTERM "
                       f"with {DRAIN_SESSIONS} sessions to drain") from None
        took = now() - t0
        if rc != 0:
            self.fail(f"synfin exited {rc} after draining")
        for t in threads:
            t.join(self.stall * 2)
        pending = self.settle_sessions(True)
        for s in pending:
            self.fail(f"(drain) {s.describe()}: never judged")
        bad = [s for s in sess if s.verdict != "complete"]
        if bad:
            self.fail(f"(drain) {len(bad)} of {DRAIN_SESSIONS} sessions live at SIGTERM did "
                      f"not complete: {[(s.token, s.verdict, s.why) for s in bad[:3]]}")
        drained = [d for d in self.drain_log if d.get("event") == "drain"]
        n_live = int(drained[0].get("sessions", -1)) if drained else None
        if n_live != DRAIN_SESSIONS:
            self.fail(f"event=drain says sessions={n_live}, {DRAIN_SESSIONS} were live")
        self.drain_result = {"sessions": DRAIN_SESSIONS, "complete": DRAIN_SESSIONS - len(bad),
                             "refused": refused is True, "exit": rc, "seconds": round(took, 2)}
        self.note(f"drain: {DRAIN_SESSIONS} sessions live at SIGTERM, "
                  f"{DRAIN_SESSIONS - len(bad)} completed, new connection refused: "
                  f"{refused is True}, exit {rc} after {took:.1f} s")

    def _drain_client(self, s):
        try:
            self.run_client(s)
        except Exception as e:  # noqa: BLE001
            self.fail(f"(drain) client of {s.describe()} raised {type(e).__name__}: {e}")
            s.client = s.client or {"end": "driver_error", "error": str(e)}

    def fd_listing(self):
        out = collections.Counter()
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                out[re.sub(r"\[\d+\]", "", os.readlink(f"/proc/{self.pid}/fd/{fd}"))] += 1
            except OSError:
                pass
        return dict(out)

    def teardown(self):
        self.phase = "teardown"
        self.stop_chaos.set()
        self.stop_traffic.set()
        if getattr(self, "stop_judging", None):
            self.stop_judging.set()
        if getattr(self, "stop_sampling", None):
            self.stop_sampling.set()
        if self.synfin and self.synfin.poll() is None:
            self.synfin.send_signal(signal.SIGTERM)
            try:
                rc = self.synfin.wait(20)
                if rc != 0:
                    self.fail(f"synfin exited {rc} after SIGTERM")
            except subprocess.TimeoutExpired:
                self.fail("synfin did not exit within 20 s of SIGTERM")
                self.synfin.kill()
                self.synfin.wait()
        elif self.synfin and not self.sigterm_sent:
            self.fail(f"synfin had exited with {self.synfin.returncode}")
        if getattr(self, "log_done", None):
            self.log_done.set()
            self.tailer.join(10)
        for srv in getattr(self, "servers", {}).values():
            srv.stop()

    # -- results -----------------------------------------------------------------------

    def report_result(self):
        kinds = collections.defaultdict(collections.Counter)
        causes = collections.Counter()
        retries = collections.Counter()
        verified = 0
        for s in self.sessions:
            kinds[P.NAMES[s.kind]][s.verdict or "unjudged"] += 1
            kinds[P.NAMES[s.kind]]["started"] += 1
            if s.log:
                causes[s.log.get("cause")] += 1
                retries[int(s.log.get("retries", 0))] += 1
            if s.verdict in ("complete", "reset", "killed", "admin_kill") and s.client and \
                    s.report:
                verified += s.client.get("down_n", 0) + s.report.get("up_n", 0)
            elif s.verdict in ("reset", "killed", "admin_kill") and s.client:
                verified += s.client.get("down_n", 0)
        probes = [s for s in self.sessions if s.probe]
        flood = dict(self.flood_result or {})
        if self.stack and self.flood_result:
            flood.pop("probe_tokens", None)
            bad = [s for s in probes if s.verdict != "complete"]
            flood["probes_failed"] = len(bad)
            if not probes:
                self.fail("SYN flood: no probe session was made during the flood")
            if bad:
                self.fail(f"SYN flood: {len(bad)} of {len(probes)} probe sessions did not "
                          f"complete: {[(s.token, s.verdict, s.why) for s in bad[:5]]}")
            resets = sum(1 for s in self.sessions if s.verdict == "cookie_reset")
            rejected = int(self.end["metrics"].get(
                'synfin_stack_syncookies_total{result="rejected"}', 0)) if getattr(
                self, "end", None) else 0
            flood["cookie_resets"] = resets
            if resets > rejected:
                self.fail(f"SYN flood: {resets} clients taken as reset by a failed cookie "
                          f"check, but synfin rejected only {rejected} cookies")
            if flood["cookies_validated"] < 1:
                self.fail(f"SYN flood: no syncookie validated ({flood})")
            # Every flood SYN that reached the listener found its SYN backlog full: a cookie
            # each, less the wire's 1 % loss both ways, and what the TUN queue dropped.
            want = 0.95 * (flood["syns"] - flood["tun_dropped"])
            if flood["cookies_sent"] < want:
                self.fail(f"SYN flood: {flood['cookies_sent']} syncookies sent for "
                          f"{flood['syns']} SYNs ({flood['tun_dropped']} dropped by the TUN "
                          f"queue): fewer than {want:.0f}")
        elif self.stack and not self.failures:
            self.fail("SYN flood did not run")
        downs = {n: self.server_events[("server_down", n)] for n in SERVERS}
        ups = {n: self.server_events[("server_up", n)] for n in SERVERS}
        if self.phase != "setup" and getattr(self, "end", None):
            if downs[FLAPPY] < 2 or ups[FLAPPY] < 2:
                self.fail(f"the flapping server went down {downs[FLAPPY]} and up "
                          f"{ups[FLAPPY]} times (per backend, both counted): its check "
                          "should have seen it flap")
            if not self.kills:
                self.fail("no server was killed")
            if self.reloads_sent < 2:
                self.fail(f"only {self.reloads_sent} reloads")
            if not self.admin_kills.get(200):
                self.fail(f"no session was killed through the admin API "
                          f"({dict(self.admin_kills)})")
        samples = [x for x in self.samples if x[3] in ("run", "drain", "end checks")]
        res = {
            "transport": self.transport, "seconds": self.seconds, "seed": self.seed,
            "workers": self.workers, "sessions": len(self.sessions),
            "kinds": {k: dict(v) for k, v in sorted(kinds.items())},
            "causes": dict(causes), "retries": {str(k): v for k, v in sorted(retries.items())},
            "bytes_verified": verified, "reloads": self.reloads_sent,
            "reload_ok": self.events["reload_ok"], "kills": len(self.kills),
            "server_down": downs, "server_up": ups, "events": dict(self.events),
            "port_busy": self.port_busy, "log_lines": self.log_lines,
            "baseline": {k: v for k, v in getattr(self, "base", {}).items() if k != "metrics"},
            "end": {k: v for k, v in getattr(self, "end", {}).items() if k != "metrics"},
            "fds_max": max((x[1] for x in samples), default=None),
            "rss_max_kib": max((x[2] for x in samples), default=None),
            "flood": flood or None, "failures": self.failures, "dir": self.dir,
            "counts": self.counts, "growth_kib": self.growth_kib, "drain": self.drain_result,
            "admin_kills": {str(k): v for k, v in self.admin_kills.items()},
        }
        if self.stack and getattr(self, "end", None):
            m = self.end["metrics"]
            res["stack"] = {k: int(m.get(k, 0)) for k in (
                "synfin_stack_retransmits_total", "synfin_stack_time_wait_entries",
                "synfin_stack_time_wait_bytes", "synfin_stack_connection_bytes",
                "synfin_stack_keepalive_probes_total", "synfin_stack_keepalive_timeouts_total",
                "synfin_stack_resets_sent_total", "synfin_stack_device_drops_total",
                'synfin_stack_syncookies_total{result="sent"}',
                'synfin_stack_syncookies_total{result="validated"}',
                'synfin_stack_syncookies_total{result="rejected"}')}
        if not self.failures and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
            res["dir"] = None
        return res


# ---------------------------------------------------------------------------------------
# Summary


def summary(r):
    out = [f"== soak on {r['transport']}: {r['seconds']:.0f} s, seed {r['seed']}, "
           f"{r['workers']} clients: {'PASS' if not r['failures'] else 'FAIL'}"]
    tot = collections.Counter()
    cols = ("started", "complete", "reset", "killed", "admin_kill", "cookie_reset", "FAILED")
    out.append(f"   {'kind':<22}" + "".join(f"{c.lower():>13}" for c in cols))
    for k, v in r["kinds"].items():
        tot.update(v)
        out.append(f"   {k:<22}" + "".join(f"{v.get(c, 0):>13}" for c in cols))
    out.append(f"   {'all':<22}" + "".join(f"{tot[c]:>13}" for c in cols))
    if r.get("counts"):
        c = r["counts"]
        out.append(f"   sessions since the baseline: clients {c['client']}, synfin log "
                   f"{c['log']}, /metrics {c['metrics']}, server reports {c['servers']} "
                   f"(+{c['no_report']} ended by a kill of their server or a cookie reset); "
                   f"{c.get('ghosts', 0)} cookie ghosts ({c.get('ack_ghosts', 0)} of a "
                   "handshake's ACK)")
    out.append(f"   bytes verified at both ends: {r['bytes_verified'] / 1e9:.2f} GB")
    out.append("   causes: " + ", ".join(f"{k} {v}" for k, v in sorted(r["causes"].items())))
    out.append("   connect retries: " + ", ".join(f"{k}: {v}" for k, v in r["retries"].items()))
    out.append(f"   reloads {r['reloads']} (reload_ok {r['reload_ok']}), kills of s3 "
               f"{r['kills']}, server_down/up: " +
               ", ".join(f"{n} {r['server_down'][n]}/{r['server_up'][n]}"
                         for n in r["server_down"]))
    b, e = r.get("baseline") or {}, r.get("end") or {}
    out.append(f"   descriptors: baseline {b.get('fds')}, max {r['fds_max']}, end {e.get('fds')}"
               f"; RSS KiB: baseline {b.get('rss_kib')}, max {r['rss_max_kib']}, end "
               f"{e.get('rss_kib')} (buffer pool grew {e.get('pool_growth_kib', 0):.0f} KiB; "
               f"RSS less the pool, last third of the run over the first: "
               f"{r.get('growth_kib') if r.get('growth_kib') is not None else '?'} KiB)")
    if r.get("admin_kills") is not None:
        k = r["admin_kills"]
        out.append(f"   admin kills: {sum(k.values())} asked, {k.get('200', 0)} ended a session "
                   f"(cause admin_kill), {k.get('404', 0)} found it gone")
    if r.get("drain"):
        d = r["drain"]
        out.append(f"   drain (SIGTERM): {d['sessions']} live sessions, {d['complete']} "
                   f"completed, new connection refused {d['refused']}, exit {d['exit']} "
                   f"after {d['seconds']} s")
    if r.get("stack"):
        s = r["stack"]
        out.append("   stack: " + ", ".join(
            f"{k.replace('synfin_stack_', '')} {v}" for k, v in s.items()))
    if r.get("flood"):
        out.append("   flood: " + ", ".join(f"{k} {v}" for k, v in r["flood"].items()))
    out.append(f"   client ports skipped (client's own TIME_WAIT): {r['port_busy']}")
    for f in r["failures"][:20]:
        out.append("   FAIL " + f.replace("\n", "\n        "))
    if len(r["failures"]) > 20:
        out.append(f"   ... {len(r['failures']) - 20} more failures")
    if r.get("dir"):
        out.append(f"   files kept in {r['dir']}")
    return "\n".join(out)


def stack_skip_reason():
    if os.geteuid() != 0:
        return "the stack transport needs root (a network namespace and a TUN device)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if not shutil.which("ip"):
        return "ip (iproute2) is not installed"
    return None


def run_children(transports, seconds, seed, workers, keep, stream=True):
    """Runs each transport's soak in a child process (each enters its own namespace);
    returns their results (None for one that printed none)."""
    results = {}
    for tp in transports:
        fd, path = tempfile.mkstemp(prefix=f"soak-{tp}-", suffix=".json")
        os.close(fd)
        cmd = [sys.executable, os.path.abspath(__file__), "--one", tp, "--seconds",
               str(seconds), "--seed", str(seed), "--result", path]
        if workers:
            cmd += ["--workers", str(workers)]
        if keep:
            cmd.append("--keep")
        p = subprocess.run(cmd, preexec_fn=die_with_parent,
                           stdout=None if stream else subprocess.PIPE,
                           stderr=None if stream else subprocess.STDOUT, text=True)
        try:
            with open(path) as f:
                results[tp] = json.load(f)
        except (OSError, ValueError):
            results[tp] = {"transport": tp, "failures": [
                f"the {tp} soak exited {p.returncode} without a result"
                + (f": {p.stdout[-3000:]}" if not stream and p.stdout else "")]}
        os.unlink(path)
    return results


def main():
    try:
        _main()
    except KeyboardInterrupt as e:  # SIGINT, or SIGTERM (on_sigterm): torn down by now
        print(f"soak: interrupted ({e or 'SIGINT'})", file=sys.stderr)
        sys.exit(130)


def _main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS") or 600))
    ap.add_argument("--transport", default=os.environ.get("SOAK_TRANSPORT") or "both",
                    choices=("kernel", "stack", "both"))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED") or 0) or
                    random.SystemRandom().randrange(1, 1 << 20))
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--keep", action="store_true", help="keep the run's files")
    ap.add_argument("--one", choices=("kernel", "stack"), help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    if a.one:
        soak = Soak(a.one, a.seconds, a.seed, a.workers, a.keep)
        res = soak.run()
        if a.result:
            with open(a.result, "w") as f:
                json.dump(res, f)
        print(summary(res), flush=True)
        sys.exit(1 if res["failures"] else 0)
    transports = ["kernel", "stack"] if a.transport == "both" else [a.transport]
    per = a.seconds / len(transports)
    todo = []
    for tp in transports:
        why = stack_skip_reason() if tp == "stack" else None
        if why:
            print(f"soak: the stack half is skipped: {why}")
        else:
            todo.append(tp)
    print(f"soak: {', '.join(todo)} for {per:.0f} s each, seed {a.seed} "
          f"(again: SOAK_SEED={a.seed})", flush=True)
    results = run_children(todo, per, a.seed, a.workers, a.keep)
    print()
    for tp in todo:
        r = results[tp]
        print(summary(r) if "kinds" in r else f"== soak on {tp}: FAIL {r['failures']}")
    failed = [tp for tp in todo if results[tp]["failures"]]
    if failed:
        tp = failed[0]
        first = results[tp]["failures"][0].splitlines()[0]
        print(f"soak: FAIL ({', '.join(failed)}; SOAK_SEED={a.seed}): {tp}: {first}")
        sys.exit(1)
    print(f"soak: PASS ({', '.join(todo)}, SOAK_SEED={a.seed})")


if __name__ == "__main__":
    main()
