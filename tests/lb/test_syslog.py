#!/usr/bin/env python3
"""The log's destinations and forms (docs/lb.md, "Log"): `log syslog` sends one datagram per
line to a unix datagram socket the test binds (RFC 3164 by default there, RFC 5424 when
asked), with the facility and a severity; `log_format json` makes each line a JSON object
with the same keys (to syslog and to stderr); under the journal (JOURNAL_STREAM naming
stderr) lines leave the time stamp to it; bad `log` lines fail the check with positions."""
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import Synfin, binary, free_port, http_get, wait_until  # noqa: E402
from tap import Tap  # noqa: E402

t = Tap()
BODY = "logged\n"
SESSION_KEYS = ["session", "frontend", "client", "backend", "server", "server_addr", "cause",
                "bytes_up", "bytes_down", "queue_ms", "connect_ms", "duration_ms", "retries",
                "client_close", "server_close"]


class Collector:
    """A unix datagram socket standing in for /dev/log."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="synfin-syslog-")
        self.path = os.path.join(self.dir, "log")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.got = []

    def poll(self):
        while True:
            try:
                self.got.append(self.sock.recv(65536).decode())
            except BlockingIOError:
                return self.got

    def wait(self, pred, what):
        return wait_until(lambda: pred(self.poll()), 10, what=what)

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def kv(text):
    return dict(w.split("=", 1) for w in text.split() if "=" in w)


def conf_for(log_lines):
    fe, srv = free_port(), free_port()
    return fe, (f"{log_lines}\nfrontend f {{ listen 127.0.0.1:{fe}; backend b; }}\n"
                f"backend b {{ server s 127.0.0.1:{srv}; }}\n"
                f'respond 127.0.0.1:{srv} "{BODY[:-1]}\\n";\n')


def two_sessions(fe):
    """Two requests through synfin; the bytes each client got (the respond answer)."""
    got = []
    for _ in range(2):
        status, body = http_get(fe, "/")
        assert (status, body) == (200, BODY.encode()), (status, body)
        got.append(status)
    return got


RFC3164 = re.compile(r"<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) synfin\[(\d+)\]: (.*)\Z", re.S)
RFC5424 = re.compile(r"<(\d+)>1 (\S+) (\S+) synfin (\d+) (\S+) - (.*)\Z", re.S)


@t.test
def syslog_rfc3164_key_value_on_a_unix_socket():
    col = Collector()
    try:
        fe, text = conf_for(f"log syslog local3 {col.path};")
        with Synfin(text) as lb:
            two_sessions(fe)
            col.wait(lambda g: sum(" session=" in m for m in g) >= 2, "two session lines")
            pid = lb.p.pid
        col.wait(lambda g: any("event=exit" in m for m in g), "the exit line")
        parsed = []
        for m in col.got:
            r = RFC3164.match(m)
            assert r, m
            pri, _, mpid, msg = r.groups()
            assert int(mpid) == pid, m
            assert "\n" not in msg, m  # one line per datagram, no newline
            parsed.append((int(pri), kv(msg)))
        # local3 (19) * 8 + info (6)
        assert {p for p, _ in parsed} == {158}, parsed
        sessions = [f for _, f in parsed if "session" in f]
        assert [s["session"] for s in sessions] == ["1", "2"], sessions
        for s in sessions:
            assert list(s) == SESSION_KEYS, list(s)
            assert s["cause"] == "server_fin" and s["frontend"] == "f" and s["server"] == "s", s
            assert s["bytes_up"] == str(len("GET / HTTP/1.0\r\n\r\n")), s
        events = [f["event"] for _, f in parsed if "event" in f]
        assert events == ["start", "stop", "exit"], events
        # the time stamp is syslog's own, not repeated in the message
        assert not any(re.search(r"\d{4}-\d\d-\d\dT", m.split(": ", 1)[1]) for m in col.got)
    finally:
        col.close()


@t.test
def syslog_rfc5424_json():
    col = Collector()
    try:
        fe, text = conf_for(f"log syslog daemon {col.path} rfc5424;\nlog_format json;")
        with Synfin(text) as lb:
            two_sessions(fe)
            col.wait(lambda g: sum(" session " in m for m in g) >= 2, "two session lines")
            pid = lb.p.pid
        sessions = []
        for m in col.poll():
            r = RFC5424.match(m)
            assert r, m
            pri, ts, host, mpid, msgid, msg = r.groups()
            assert int(pri) == 3 * 8 + 6 and int(mpid) == pid, m
            assert host == socket.gethostname(), (host, socket.gethostname())
            stamp = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
            assert abs((datetime.datetime.utcnow() - stamp).total_seconds()) < 60, ts
            obj = json.loads(msg)
            assert msgid == next(iter(obj)), (msgid, obj)  # session, event
            if msgid == "session":
                sessions.append(obj)
        assert [s["session"] for s in sessions] == [1, 2], sessions
        for s in sessions:
            assert list(s) == SESSION_KEYS, list(s)
            assert isinstance(s["duration_ms"], float) and isinstance(s["bytes_down"], int), s
            assert s["cause"] == "server_fin" and isinstance(s["client"], str), s
    finally:
        col.close()


@t.test
def json_on_stderr_keeps_the_time():
    fe, text = conf_for("log stderr;\nlog_format json;")
    with Synfin(text) as lb:
        two_sessions(fe)
        wait_until(lambda: lb.log().count('"session":') >= 2, 10, what="two session lines")
        lines = lb.log().splitlines()
    objs = [json.loads(line) for line in lines]  # every line is one object
    sessions = [o for o in objs if "session" in o]
    assert [s["session"] for s in sessions] == [1, 2], sessions
    for s in sessions:
        assert list(s) == ["time"] + SESSION_KEYS, list(s)
        datetime.datetime.strptime(s["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert objs[0]["event"] == "start", objs[0]


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@t.test
def under_the_journal_lines_leave_the_time_out():
    fe, text = conf_for("log stderr;")
    d = tempfile.mkdtemp(prefix="synfin-journal-")
    try:
        conf = os.path.join(d, "c.conf")
        with open(conf, "w") as f:
            f.write(text)
        for journal in (True, False):
            err_path = os.path.join(d, f"err{journal}")
            with open(err_path, "w") as err:
                st = os.fstat(err.fileno())
                env = dict(os.environ)
                # a JOURNAL_STREAM that names another stream changes nothing
                env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino if journal else st.st_ino + 1}"
                p = subprocess.Popen([binary("synfin"), "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=err, env=env)
                try:
                    # the log is flushed after each batch of events: start, then serve
                    wait_until(lambda: listening(fe) or p.poll() is not None, 10,
                               what="synfin to listen")
                    assert p.poll() is None, open(err_path).read()
                    two_sessions(fe)
                    wait_until(lambda: open(err_path).read().count("session=") >= 2, 10,
                               what="two session lines")
                finally:
                    p.send_signal(signal.SIGINT)
                    assert p.wait(10) == 0
            lines = open(err_path).read().splitlines()
            if journal:
                assert lines[0] == f"event=start pid={p.pid}", lines
                assert all(line.split()[0].split("=")[0] in ("event", "session")
                           for line in lines), lines
            else:
                assert re.match(r"\d{4}-\d\d-\d\dT\S+Z event=start ", lines[0]), lines
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def a_rejected_reload_is_a_warning():
    col = Collector()
    try:
        fe, text = conf_for(f"log syslog local0 {col.path};")
        with Synfin(text) as lb:
            lb.rewrite("frontend broken {\n")
            lb.send(signal.SIGHUP)
            col.wait(lambda g: any("event=reload_rejected" in m for m in g), "the rejection")
            two_sessions(fe)  # still serving
        rejected = [m for m in col.poll() if "event=reload_rejected" in m]
        assert rejected[0].startswith(f"<{16 * 8 + 4}>"), rejected  # local0, warning
    finally:
        col.close()


@t.test
def no_syslog_daemon_costs_lines_not_service():
    d = tempfile.mkdtemp(prefix="synfin-syslog-")
    try:
        fe, text = conf_for(f"log syslog {os.path.join(d, 'nobody-listens')};")
        with Synfin(text):
            two_sessions(fe)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def bad_log_lines_name_their_position():
    d = tempfile.mkdtemp(prefix="synfin-syslog-")
    try:
        cases = [
            ("log syslog local0 local1;", "1:19: log syslog: a second facility 'local1'"),
            ("log syslog local9;", "1:12: log syslog takes a facility"),
            ("log syslog /a /b;", "1:15: log syslog: a second destination '/b'"),
            ("log syslog rfc5424 rfc3164;", "1:20: log syslog: a second format 'rfc3164'"),
            ("log syslog 127.0.0.1:0;", "1:12: '127.0.0.1:0': port 0"),
            ("log_format xml;", "1:12: log_format takes kv or json, not 'xml'"),
            ("log_format json;\nlog_format kv;", "2:1: duplicate 'log_format'"),
            ("log sys;", "1:5: log takes stderr, stdout, off, an absolute path or syslog"),
        ]
        for i, (line, want) in enumerate(cases):
            path = os.path.join(d, f"{i}.conf")
            with open(path, "w") as f:
                f.write(line + '\nrespond 127.0.0.1:9 "x";\n')
            r = subprocess.run([binary("synfin"), "-c", path, "-t"], capture_output=True,
                               text=True)
            assert r.returncode == 2 and f"{path}:{want}" in r.stderr, (line, r.stderr)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.test
def check_prints_what_it_read():
    d = tempfile.mkdtemp(prefix="synfin-syslog-")
    try:
        for line, want in (
                ("log syslog;", 'log syslog daemon "/dev/log" rfc3164;\nlog_format kv;\n'),
                ("log syslog 127.0.0.1:514 local7;\nlog_format json;",
                 "log syslog local7 127.0.0.1:514 rfc5424;\nlog_format json;\n"),
                ("log syslog user /run/x rfc5424;",
                 'log syslog user "/run/x" rfc5424;\nlog_format kv;\n')):
            path = os.path.join(d, "c.conf")
            with open(path, "w") as f:
                f.write(line + '\nrespond 127.0.0.1:9 "x";\n')
            r = subprocess.run([binary("synfin"), "-c", path, "-T"], capture_output=True,
                               text=True)
            assert r.returncode == 0 and want in r.stdout, (line, r.stdout)
            # and what it prints reads back the same
            with open(path, "w") as f:
                f.write(r.stdout)
            r2 = subprocess.run([binary("synfin"), "-c", path, "-T"], capture_output=True,
                                text=True)
            assert r2.returncode == 0 and r2.stdout == r.stdout, (r2.stdout, r.stdout)
    finally:
        shutil.rmtree(d, ignore_errors=True)


t.done()
