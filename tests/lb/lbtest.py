"""Helpers for the load balancer's system tests: a synfin process under test, backend
servers the test controls, admin queries and socket-state counts (ss).

Both transports. With SYNFIN_TRANSPORT=stack (the `@stack` suites `make test` runs) the
suite runs in a network namespace of its own (stacknet.py) and every synfin it starts runs on
synfin's own TCP: its configuration (or ad-hoc flags) gets a `transport stack` block, its
frontends and responders listen on the stack's VIP instead of 127.0.0.1, and its servers are
the test's backends reached at the kernel side of the TUN. Tests reach frontends through FE
(or connect(port), http_get(port), fe_addr(port), which know the frontends' ports), and
tests of a kernel mechanism itself (ss, SOCK_DESTROY, socket options read from the kernel)
are registered with kernel_only and do not run on the stack."""
import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import binary, free_port, wait_until  # noqa: E402

TRANSPORT = os.environ.get("SYNFIN_TRANSPORT", "kernel")
STACK = TRANSPORT == "stack"
if STACK:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import stacknet  # noqa: E402

    _why = stacknet.skip_reason()
    if _why:
        # One line for the whole suite: nothing of it can run here.
        print(f"ok 1 - {os.path.basename(sys.argv[0])} on the stack transport # SKIP {_why}")
        print("1..1")
        sys.exit(0)
    stacknet.enter()
FE = stacknet.VIP if STACK else "127.0.0.1"  # the first instance's frontends
# Where a test's own server binds so that synfin reaches it (Backend does so).
SERVER_BIND = "0.0.0.0" if STACK else "127.0.0.1"
# What a client binds to: one address that reaches every synfin instance the test runs.
CLIENT_HOST = stacknet.kernel(0) if STACK else "127.0.0.1"
_fe_hosts = {}  # port -> address synfin listens on it at (frontends, responders on the stack)
_slots = set()  # stack instances running (each its device and /24)


def on_stack(conf, slot=0):
    """The configuration moved onto synfin's own TCP (instance slot): a transport block,
    frontends and responders on its VIP, servers at its device's kernel side. Identity on
    kernel sockets."""
    if not STACK:
        return conf
    vip, kern = stacknet.vip(slot), stacknet.kernel(slot)
    responders = {int(p) for p in re.findall(r"\brespond 127\.0\.0\.1:(\d+)", conf)}

    def fe(m):
        _fe_hosts[int(m.group(2))] = vip
        return f"{m.group(1)}{vip}:{m.group(2)}"

    def server(m):
        # synfin's own responders are on the stack too; the test's backends are the kernel's
        host = vip if int(m.group(2)) in responders else kern
        return f"{m.group(1)}{host}:{m.group(2)}"

    conf = re.sub(r"\b(listen |respond )127\.0\.0\.1:(\d+)", fe, conf)
    conf = re.sub(r"\b(server \S+ )127\.0\.0\.1:(\d+)", server, conf)
    # On the first line, before what it holds: line numbers in messages stay the file's own.
    return stacknet.transport_block(slot).rstrip("\n") + " " + conf


def on_stack_args(args, slot=0):
    """Ad-hoc flags moved onto the stack (as on_stack does for a file)."""
    if not STACK or "-c" in args or "--transport" in args:
        return args
    out = list(stacknet.adhoc_flags(slot))
    for i, a in enumerate(args):
        prev = args[i - 1] if i else ""
        if prev == "--listen" and a.startswith("127.0.0.1:"):
            _fe_hosts[int(a.split(":")[1])] = stacknet.vip(slot)
            a = f"{stacknet.vip(slot)}:{a.split(':')[1]}"
        elif prev == "--server" and a.startswith("127.0.0.1:"):
            a = f"{stacknet.kernel(slot)}:{a.split(':')[1]}"
        out.append(a)
    return out


def fe_host(port):
    """Where a client reaches synfin's port: a frontend's VIP on the stack, loopback otherwise
    (the admin listener, a backend, the kernel transport)."""
    return _fe_hosts.get(port, "127.0.0.1")


def fe_addr(port):
    return (fe_host(port), port)


def kernel_only(t, why):
    """A decorator for a test of a kernel mechanism itself: registered with Tap t on kernel
    sockets; on the stack it does not exist (a comment line says so, not a skip)."""
    def register(fn):
        if STACK:
            print(f"# {fn.__name__}: kernel transport only ({why})", flush=True)
            return fn
        return t.test(fn)
    return register


class Synfin:
    """synfin -c CONF with its stdout/stderr kept in files; stopped by stop(). preexec: run
    in the child before exec (drop_capability below)."""

    def __init__(self, conf, args=None, expect_start=True, preexec=None):
        self.dir = tempfile.mkdtemp(prefix="synfin-test-")
        self.conf_path = os.path.join(self.dir, "synfin.conf")
        self.slot = min(set(range(len(_slots) + 1)) - _slots) if STACK else 0
        _slots.add(self.slot)
        # Where this synfin reaches the test's backends, as /stats names servers.
        self.server_host = stacknet.kernel(self.slot) if STACK else "127.0.0.1"
        conf = on_stack(conf, self.slot)
        if args is not None:
            args = on_stack_args(args, self.slot)
        with open(self.conf_path, "w") as f:
            f.write(conf)
        self.out_path = os.path.join(self.dir, "out")
        self.err_path = os.path.join(self.dir, "err")
        self.out = open(self.out_path, "w")
        self.err = open(self.err_path, "w")
        cmd = [binary("synfin")] + (args if args is not None else ["-c", self.conf_path])
        self.p = subprocess.Popen(cmd, stdout=self.out, stderr=self.err, stdin=subprocess.DEVNULL,
                                  preexec_fn=preexec)
        if expect_start:
            wait_until(lambda: "SIGINT stops" in self.stdout() or self.p.poll() is not None,
                       10, what="synfin to start")
            if self.p.poll() is not None:
                _slots.discard(self.slot)
                raise AssertionError(f"synfin exited {self.p.returncode}: {self.log()}")

    def stdout(self):
        with open(self.out_path) as f:
            return f.read()

    def log(self):
        with open(self.err_path) as f:
            return f.read()

    def log_lines(self, word):
        return [l for l in self.log().splitlines() if word in l]

    def sessions_logged(self):
        """Session log lines as dicts of their key=value fields."""
        out = []
        for line in self.log().splitlines():
            if " session=" not in line:
                continue
            out.append(dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv))
        return out

    def wait_log(self, word, count=1, timeout=10):
        wait_until(lambda: len(self.log_lines(word)) >= count, timeout, what=f"log '{word}'")

    def rewrite(self, conf):
        with open(self.conf_path, "w") as f:
            f.write(on_stack(conf, self.slot))

    def send(self, sig):
        self.p.send_signal(sig)

    def stop(self, sig=signal.SIGINT, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = -9
        self.out.close()
        self.err.close()
        _slots.discard(self.slot)
        return rc

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        rc = self.stop()
        log = self.log()
        shutil.rmtree(self.dir, ignore_errors=True)
        if exc[0] is None and rc != 0:
            raise AssertionError(f"synfin exited with {rc} (leak or crash?):\n{log[-3000:]}")


def http_get(port, path, host=None, method="GET", raw=None, timeout=5):
    """One HTTP/1.0 request; returns (status, body bytes). host: where port is (fe_addr)."""
    with socket.create_connection((host, port) if host else fe_addr(port), timeout=timeout) as s:
        s.sendall(raw if raw is not None else f"{method} {path} HTTP/1.0\r\n\r\n".encode())
        data = recv_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


def admin_json(port, path="/stats"):
    status, body = http_get(port, path)
    assert status == 200, (status, body)
    return json.loads(body)


def recv_all(s, limit=1 << 30):
    chunks = []
    n = 0
    while n < limit:
        b = s.recv(65536)
        if not b:
            break
        chunks.append(b)
        n += len(b)
    return b"".join(chunks)


class Backend:
    """A TCP server on 127.0.0.1:free_port() whose connections run handler(conn, backend)
    in threads. It counts accepted connections. An exception in a handler (a reset where
    the handler expects a FIN, a failed assert) would die with its thread: it is kept, and
    close() raises it, so the test fails. A handler expecting a reset catches it itself, or
    uses hold, which records how each connection ended in `ends`."""

    def __init__(self, handler, backlog=128, accept=True, port=None):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((SERVER_BIND, port or 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.lock = threading.Lock()
        self.conns = []
        self.closed = False
        self.errors = []  # (exception, traceback) from handlers
        self.ends = []  # filled by handlers that record how a connection ended (hold)
        self.stop = threading.Event()
        if accept:
            self.t = threading.Thread(target=self._run, daemon=True)
            self.t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.handler(c, self)
        except Exception as e:  # noqa: BLE001 - reported by close()
            # After close() the test itself pulled the sockets away: not the handler's fault.
            if not self.closed:
                with self.lock:
                    self.errors.append((e, traceback.format_exc()))
        finally:
            try:
                c.close()
            except OSError:
                pass

    def stop_listening(self):
        """Refuses new connections (the listener closes); those accepted go on."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def check(self):
        """Raises the first handler error, if any."""
        with self.lock:
            errors = list(self.errors)
        if errors:
            e, tb = errors[0]
            raise AssertionError(f"backend on port {self.port}: {len(errors)} handler error(s), "
                                 f"the first: {type(e).__name__}: {e}\n{tb}")

    def close(self):
        """Stops the server; raises if a handler failed before (check)."""
        with self.lock:
            self.closed = True
        self.stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass
        self.check()


def head_or_eof(c, data=b""):
    """Reads a request: up to the end of an HTTP head, or to the client's FIN. data: what
    was read of it already."""
    while b"\r\n\r\n" not in data:
        chunk = c.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def named(name):
    """HTTP-ish: read the request head (or EOF), answer with the name, close first. A reset
    before the first byte is what a TCP health check does (connect, then RST): recorded in
    b.ends as 'rst', not an error; a reset later is one."""
    def handler(c, b):
        try:
            first = c.recv(4096)
        except ConnectionResetError:
            with b.lock:
                b.ends.append("rst")
            return
        head_or_eof(c, first)
        body = name.encode()
        c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    return handler


def echo(c, b):
    """Echo until the client's FIN, then FIN back."""
    while True:
        d = c.recv(65536)
        if not d:
            break
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)
    recv_all(c)


def ended_how(s):
    """'rst' if the connection was reset, 'fin' if it saw EOF with nothing before it, 'data'
    if bytes came before the EOF."""
    try:
        return "fin" if recv_all(s) == b"" else "data"
    except ConnectionResetError:
        return "rst"


def refused_how(port):
    """Connects to port and reads to the end: how synfin ended it ('rst', 'fin', 'data'). A
    reset can beat connect() itself: synfin accepts and resets at once while the client is
    still being woken from its connect; that is 'rst' too."""
    try:
        s = connect(port)
    except ConnectionResetError:
        return "rst"
    with s:
        return ended_how(s)


def hold(c, b):
    """Accept and wait for the peer to go away, sending nothing; how it went ('fin', 'rst',
    'data') is appended to b.ends."""
    how = ended_how(c)
    with b.lock:
        b.ends.append(how)


def hold_open(c, b):
    """Read to the peer's FIN (or reset: how it ended goes to b.ends, as with hold), then keep
    the connection open and silent until the backend is closed."""
    hold(c, b)
    b.stop.wait(30)


CAP_SETPCAP = 8
CAP_NET_ADMIN = 12


def drop_capability(cap):
    """A preexec function: removes cap from the bounding set, so the program exec'd next runs
    without it even as root (PR_CAPBSET_DROP needs CAP_SETPCAP; it raises otherwise)."""
    def drop():
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")
    return drop


def has_capability(cap):
    """Whether this process has cap in its effective set."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> cap & 1)
    return False


_tw_destroy = []


def kernel_destroys_time_wait():
    """Whether this kernel, for this process, removes a TIME_WAIT entry through sock_diag
    SOCK_DESTROY (CAP_NET_ADMIN, CONFIG_INET_DIAG_DESTROY, Linux 6.0+), found with iproute2's
    `ss -K` on an entry made here: decided without synfin, so that a refusal synfin reports
    is a synfin bug wherever the kernel would have complied. Returns (bool, reason)."""
    if _tw_destroy:
        return _tw_destroy[0]
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    c = socket.socket()
    c.bind(("127.0.0.1", 0))
    c.connect(lst.getsockname())
    a, _ = lst.accept()
    where = "src {}:{} dst {}:{}".format(*c.getsockname(), *lst.getsockname())
    c.shutdown(socket.SHUT_WR)  # our FIN first: the TIME_WAIT entry will be ours
    a.recv(1)
    a.close()
    c.recv(1)
    c.close()
    lst.close()
    wait_until(lambda: ss_count(f"state time-wait {where}") == 1, what="the probe's TIME_WAIT")
    r = subprocess.run(["ss", "-HtanK", "state", "time-wait"] + where.split(),
                       capture_output=True, text=True)
    left = ss_count(f"state time-wait {where}")
    reason = (f"the kernel keeps TIME_WAIT entries against ss -K (exit {r.returncode}"
              f"{': ' + r.stderr.strip() if r.stderr.strip() else ''}): SOCK_DESTROY on "
              "TIME_WAIT needs CAP_NET_ADMIN and Linux 6.0+")
    _tw_destroy.append((left == 0, None if left == 0 else reason))
    return _tw_destroy[0]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def ss_count(filter_expr):
    """Number of sockets `ss -Htan` lists for a filter (iproute2)."""
    out = subprocess.run(["ss", "-Htan"] + filter_expr.split(), capture_output=True, text=True,
                         check=True).stdout
    return len([l for l in out.splitlines() if l.strip()])


def conf(frontends, backends, extra="", admin_port=None, log="stderr"):
    a = f"admin 127.0.0.1:{admin_port};\n" if admin_port else ""
    return f"log {log};\n{a}{extra}\n{frontends}\n{backends}\n"


def connect(port, timeout=5):
    return socket.create_connection(fe_addr(port), timeout=timeout)


def listen_queue(port):
    """Connections waiting in the accept queue of the listener on port (ss Recv-Q)."""
    out = subprocess.run(["ss", "-Htln", f"sport = :{port}"], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[1]) if len(out) > 1 else -1


SYS_pidfd_getfd = 438  # the same number on every architecture (Linux 5.6)


@contextlib.contextmanager
def sockets_of(pid):
    """Duplicates of the TCP sockets process pid holds (pidfd_open + pidfd_getfd), to read
    their options with getsockopt: what the process really set, seen from outside. Needs the
    right to ptrace pid (a parent has it under Yama's default, root always). Yields a list of
    socket objects; closing a duplicate leaves the process's socket as it was."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    socks = []
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                    continue
            except FileNotFoundError:
                continue  # closed meanwhile
            fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
            if fd < 0:
                err = ctypes.get_errno()
                if err == 9:  # EBADF: closed meanwhile
                    continue
                raise OSError(err, f"pidfd_getfd({pid}, {name})")
            s = socket.socket(fileno=fd)
            if s.family in (socket.AF_INET, socket.AF_INET6) and s.type == socket.SOCK_STREAM:
                socks.append(s)
            else:
                s.close()
        yield socks
    finally:
        for s in socks:
            s.close()
        os.close(pidfd)


def peer_of(s):
    try:
        return s.getpeername()
    except OSError:
        return None


def tcp_opts(s):
    """The options a profile sets, as the kernel holds them on socket s."""
    g = s.getsockopt
    return {"keepalive": g(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
            "keepalive_idle": g(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
            "keepalive_interval": g(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
            "keepalive_count": g(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            "user_timeout_ms": g(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
            "nodelay": g(socket.IPPROTO_TCP, socket.TCP_NODELAY)}


def ss_timer(filter_expr, state="established"):
    """The timers `ss -tno` shows for the sockets a filter selects: [(name, seconds)]. ss
    prints 76 s as 1min16sec, 4.992 s as 4.992ms (seconds, '.', then milliseconds)."""
    out = subprocess.run(["ss", "-Htno", "state", state] + filter_expr.split(),
                         capture_output=True, text=True, check=True).stdout
    timers = []
    for name, txt in re.findall(r"timer:\((\w+),([^,)]*)", out):
        m = re.fullmatch(r"(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?", txt)
        assert m, (txt, out)
        mins, secs, ms = (int(x) if x else 0 for x in m.groups())
        timers.append((name, mins * 60 + secs + ms / 1000))
    return timers
