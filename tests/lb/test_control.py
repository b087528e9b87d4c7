#!/usr/bin/env python3
"""Running synfin: config check (-t) and errors with file:line:col, ad-hoc flags, SIGHUP
reload keeping live sessions, a bad reload rejected, SIGTERM drain with its deadline,
SIGINT, and the admin listener (/metrics, /stats, /sessions, kill, bad requests)."""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lbtest import (STACK, TRANSPORT, Backend, Synfin, admin_json, connect, echo,  # noqa: E402
                    ended_how, hold, hold_open, http_get, named, recv_all)
from tap import Tap, binary, free_port, wait_until  # noqa: E402

t = Tap()


ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def run(args, **kw):
    return subprocess.run([binary("synfin")] + args, capture_output=True, text=True, timeout=20,
                          **kw)


def write(text):
    fd, path = tempfile.mkstemp(prefix="synfin-conf-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


def base(fport, sport, aport=None, body="", be=""):
    a = f"admin 127.0.0.1:{aport};\n" if aport else ""
    return (f"log stderr;\n{a}frontend f {{ listen 127.0.0.1:{fport}; backend b; {body} }}\n"
            f"backend b {{ server s1 127.0.0.1:{sport}; {be} }}\n")


@t.test
def check_mode_reports_file_line_col():
    good = write(base(free_port(), free_port()))
    r = run(["-c", good, "-t"])
    assert r.returncode == 0 and "valid" in r.stdout, r
    bad = write("frontend f {\n    listen 127.0.0.1:1;\n    backend b;\n}\n"
                "backend b {\n    server s1 127.0.0.1:2 weight lots;\n}\n")
    r = run(["-c", bad, "-t"])
    assert r.returncode == 2, r
    assert f"{bad}:6:34: expected a number, found 'lots'" in r.stderr, r.stderr
    # the same file does not half-start: exit 2, nothing listening
    r = run(["-c", bad])
    assert r.returncode == 2 and ":6:34:" in r.stderr, r
    r = run(["-c", "/nonexistent.conf", "-t"])
    assert r.returncode == 2 and "No such file" in r.stderr, r
    # a directive the frontend would ignore (source addresses are for server connections)
    side = write("frontend f {\n    listen 127.0.0.1:1;\n    source 127.0.0.2;\n    backend b;\n}\n"
                 "backend b { server s1 127.0.0.1:2; }\n")
    r = run(["-c", side, "-t"])
    assert r.returncode == 2, r
    assert f"{side}:3:5: 'source' concerns the connection to the server" in r.stderr, r.stderr
    os.unlink(side)
    # the embedded default (make run) is valid
    r = run(["-t"])
    assert r.returncode == 0 and "embedded" in r.stdout, r
    for p in (good, bad):
        os.unlink(p)


@t.test
def stack_settings_are_checked():
    """The stack's words in the check (no device needed: -t starts nothing): a stack-only
    profile directive under the kernel transport, a kernel listener option under the stack,
    an address the stack does not own, each an error at its position; the run-stack demo
    and a full F5-style profile are valid."""
    cases = [
        ("profile p {\n    time_wait 2s;\n}\nfrontend f { listen 127.0.0.1:1; backend b; }\n"
         "backend b { server s 127.0.0.1:2; }\n", ":2:5: 'time_wait' needs synfin's own TCP"),
        ("transport stack { tun t0; address 10.9.0.2; }\n"
         "frontend f {\n    listen 10.9.0.2:80;\n    defer_accept on;\n    backend b;\n}\n"
         "backend b { server s 10.9.0.1:2; }\n", ":4:5: 'defer_accept' is a kernel listener"),
        ("transport stack { tun t0; address 10.9.0.2; }\n"
         "frontend f {\n    listen 127.0.0.1:80;\n    backend b;\n}\n"
         "backend b { server s 10.9.0.1:2; }\n", ":3:12: '127.0.0.1:80' is not an address of the stack"),
        ("transport stack { tun t0; address 10.9.0.2; max_time_wait lots; }\n"
         "frontend f { listen 10.9.0.2:80; backend b; }\nbackend b { server s 10.9.0.1:2; }\n",
         ":1:59: max_time_wait takes a count"),
        ("transport stack { address 10.9.0.2; }\n"
         "frontend f { listen 10.9.0.2:80; backend b; }\nbackend b { server s 10.9.0.1:2; }\n",
         ":1:1: transport stack needs 'tun NAME;'"),
    ]
    for text, want in cases:
        path = write(text)
        r = run(["-c", path, "-t"])
        os.unlink(path)
        assert r.returncode == 2 and f"{path}{want}" in r.stderr, (want, r.stderr)
    f5 = write("transport stack { tun t0; kernel_addr 10.9.0.1/24; address 10.9.0.2 10.9.0.3; "
               "max_time_wait 1000; }\n"
               "profile f5 { time_wait 2000ms; fin_wait_2_timeout 5s; syn_retries 3; "
               "synack_retries 2; rto_min 100ms; rto_max 10s; delayed_ack 20ms; nagle off; "
               "initial_cwnd 16; receive_window 256k; mss 1400; window_scale 9; sack on; "
               "timestamps off; syncookies always; rfc1337 off; time_wait_reuse on; "
               "keepalive on; keepalive_interval 1800s; idle_timeout 300s; }\n"
               "frontend f { listen 10.9.0.2:80; profile f5; backend b; }\n"
               "backend b { server s 10.9.0.1:2; source 10.9.0.3; profile f5; }\n")
    for argv in (["-c", f5, "-t"], ["-c", os.path.join(ROOT, "conf", "synfin-stack.conf"), "-t"]):
        r = run(argv)
        assert r.returncode == 0 and "valid" in r.stdout, (argv, r.stderr)
    # -T writes the transport block and every stack setting, and what it writes prints the same
    r = run(["-c", f5, "-T"])
    assert r.returncode == 0 and "    time_wait 2000ms;" in r.stdout, r
    assert "    syncookies always;" in r.stdout and "    window_scale 9;" in r.stdout, r.stdout
    assert "transport stack {" in r.stdout and "address 10.9.0.2 10.9.0.3;" in r.stdout, r.stdout
    printed = write(r.stdout)
    r2 = run(["-c", printed, "-T"])
    assert r2.returncode == 0, r2
    assert r2.stdout.split("\n", 1)[1] == r.stdout.split("\n", 1)[1], (r.stdout, r2.stdout)
    for p in (f5, printed):
        os.unlink(p)


@t.test
def print_mode_writes_the_effective_config():
    # -T: the check, then the configuration with defaults and profiles resolved, as text that
    # is itself a valid configuration printing the same
    src = write(base(free_port(), free_port(), body="idle_timeout 90s;",
                     be="server_close rst;"))
    r = run(["-c", src, "-T"])
    assert r.returncode == 0 and r.stdout.startswith("# synfin: "), r
    assert "    idle_timeout 90s;" in r.stdout and "    server_close rst;" in r.stdout, r.stdout
    assert "    connect_timeout 5s;" in r.stdout, r.stdout  # a default, written out
    printed = write(r.stdout)
    r2 = run(["-c", printed, "-T"])
    assert r2.returncode == 0, r2
    assert r2.stdout.split("\n", 1)[1] == r.stdout.split("\n", 1)[1], (r.stdout, r2.stdout)
    for p in (src, printed):
        os.unlink(p)


@t.test
def adhoc_flags_mode():
    bes = [Backend(named("a")), Backend(named("b"))]
    fport, aport = free_port(), free_port()
    args = ["--listen", f"127.0.0.1:{fport}", "--server", f"127.0.0.1:{bes[0].port}",
            "--server", f"127.0.0.1:{bes[1].port}", "--balance", "roundrobin",
            "--admin", f"127.0.0.1:{aport}", "--idle-timeout", "30s", "--server_close", "rst"]
    with Synfin("", args=args):
        names = [http_get(fport, "/")[1] for _ in range(4)]
        assert sorted(names) == [b"a", b"a", b"b", b"b"], names
        st = admin_json(aport)
        assert st["backends"][0]["balance"] == "roundrobin"
    r = run(["--listen", "127.0.0.1:1", "--server", "127.0.0.1:2", "--idle_timeout", "5"])
    assert r.returncode == 2 and "--idle_timeout" in r.stderr and "unit" in r.stderr, r
    r = run(["--listen", "127.0.0.1:1"])
    assert r.returncode == 2 and "--server" in r.stderr, r
    for b in bes:
        b.close()


@t.test
def adhoc_check_flag_anywhere_and_errors_name_the_flag():
    fport, sport = free_port(), free_port()
    flags = ["--listen", f"127.0.0.1:{fport}", "--server", f"127.0.0.1:{sport}",
             "--idle_timeout", "30s"]
    # -t first, among the flags, or last: a check, nothing started
    for at in (0, 2, len(flags)):
        r = run(flags[:at] + ["-t"] + flags[at:])
        assert r.returncode == 0, (at, r)
        assert "synfin: command line: configuration is valid" in r.stdout, (at, r)
    r = run(flags + ["--keepalive_idle", "1500ms", "-t"])
    assert r.returncode == 2, r
    assert "command line, --keepalive_idle: '1500ms': whole seconds" in r.stderr, r.stderr
    # --admin on the frontend's address: the message names --admin (the later flag) and the
    # flag holding the address, not the lines of the generated configuration
    for extra in (["-t"], []):
        r = run(flags + ["--admin", f"127.0.0.1:{fport}"] + extra)
        assert r.returncode == 2, (extra, r)
        want = (f"synfin: command line, --admin: address '127.0.0.1:{fport}' is already used "
                "by --listen\n")
        assert r.stderr == want, (extra, r.stderr)
    r = run(flags + ["-c", "/dev/null"])
    assert r.returncode == 2 and "-c and ad-hoc flags do not mix" in r.stderr, r
    # a file still names the line of the first use
    dup = write(f"admin 127.0.0.1:{fport};\n"
                f"frontend f {{ listen 127.0.0.1:{fport}; backend b; }}\n"
                f"backend b {{ server s1 127.0.0.1:{sport}; }}\n")
    r = run(["-c", dup, "-t"])
    assert r.returncode == 2, r
    assert (f"{dup}:2:21: address '127.0.0.1:{fport}' is already used at line 1"
            in r.stderr), r.stderr
    os.unlink(dup)


@t.test
def small_config_defects_of_issue_11():
    fport, sport = free_port(), free_port()
    r = run(["-c"])
    assert r.returncode == 2 and "synfin: -c needs a configuration file" in r.stderr, r
    r = run(["-c", "/tmp", "-t"])
    assert r.returncode == 2 and "synfin: /tmp: Is a directory" in r.stderr, r
    cases = [  # (config text, the word -t must point at, message)
        (base(fport, sport).replace("log stderr;", "log /nonexistent/dir/x.log;"),
         "/nonexistent", "log file '/nonexistent/dir/x.log': directory /nonexistent/dir: No such"),
        (base(fport, sport, be="check { interval 1s; timeout 5s; }"), "5s;",
         "check timeout '5s' is longer than its interval (1000ms)"),
        (base(fport, 0), "127.0.0.1:0", "'127.0.0.1:0': port 0 is not a port"),
        (base(fport, sport).replace(f"127.0.0.1:{fport}", f"::1:{fport}"), "::1",
         f"'::1:{fport}': an IPv6 address with a port is written in brackets"),
        (base(fport, sport, body="maxconn 99999999999999999999;"), "999",
         "99999999999999999999 is out of range (1-1000000)"),
    ]
    for text, word, msg in cases:
        line = next(i for i, l in enumerate(text.splitlines(), 1) if word in l)
        want = f"{line}:{text.splitlines()[line - 1].index(word) + 1}: {msg}"
        path = write(text)
        for args in (["-c", path, "-t"], ["-c", path]):  # nothing starts either
            r = run(args)
            assert r.returncode == 2 and f"synfin: {path}:{want}" in r.stderr, (want, r.stderr)
        os.unlink(path)
    # an admin listener open to other hosts: valid, with a warning naming its line, at -t
    # and at start
    aport = free_port()
    text = f"log stderr;\nadmin 0.0.0.0:{aport};\n" + base(fport, sport).split("\n", 1)[1]
    path = write(text)
    r = run(["-c", path, "-t"])
    want = f"synfin: {path}:2:7: warning: admin on 0.0.0.0:{aport} is reachable from other hosts"
    assert r.returncode == 0 and want in r.stderr and "token" in r.stderr, r
    with Synfin(text) as lb:
        lb.wait_log(f":2:7: warning: admin on 0.0.0.0:{aport}")
        assert admin_json(aport)["version"] == 1
    r = run(["--listen", f"127.0.0.1:{fport}", "--server", f"127.0.0.1:{sport}",
             "--admin", f"0.0.0.0:{aport}", "-t"])
    assert r.returncode == 0 and "command line, --admin: warning: admin on" in r.stderr, r
    os.unlink(path)


@t.test
def reload_keeps_live_session_and_applies_new_config():
    old = Backend(echo)
    new = Backend(named("new"))
    fport, aport = free_port(), free_port()
    with Synfin(base(fport, old.port, aport)) as lb:
        live = connect(fport)
        live.sendall(b"before ")
        assert live.recv(100) == b"before "
        lb.rewrite(base(fport, new.port, aport))
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_ok")
        # the live session still flows both ways on its old server
        live.sendall(b"after")
        assert live.recv(100) == b"after"
        live.shutdown(socket.SHUT_WR)
        assert recv_all(live) == b""
        live.close()
        # new sessions follow the new config
        assert http_get(fport, "/")[1] == b"new"
        st = admin_json(aport)
        assert st["reloads"] == 1 and st["sessions"]["total"] == 2, st
        assert [s["address"] for s in st["backends"][0]["servers"]] == [
            f"{lb.server_host}:{new.port}"]
        recs = lb.sessions_logged()
        assert recs[0]["cause"] == "client_fin" and recs[0]["bytes_up"] == "12", recs
    old.close()
    new.close()


@t.test
def bad_reload_is_rejected():
    be = Backend(named("still"))
    fport, aport = free_port(), free_port()
    with Synfin(base(fport, be.port, aport)) as lb:
        lb.rewrite(base(fport, be.port, aport) + "backend broken {\n")
        lb.send(signal.SIGHUP)
        lb.wait_log("event=reload_rejected")
        line = lb.log_lines("event=reload_rejected")[0]
        assert f"{lb.conf_path}:5:16: '{{' is never closed" in line, line
        assert http_get(fport, "/")[1] == b"still"
        st = admin_json(aport)
        assert st["reload_failures"] == 1 and st["reloads"] == 0, st
        # An address that cannot be bound is rejected too, and nothing changes. (On the stack
        # no other program can hold one of its ports: the case is the kernel's.)
        if not STACK:
            blocker = socket.socket()
            blocker.bind(("127.0.0.1", 0))
            blocker.listen(1)
            taken = blocker.getsockname()[1]
            lb.rewrite(base(fport, be.port, aport) +
                       f"frontend g {{ listen 127.0.0.1:{taken}; backend b; }}\n")
            lb.send(signal.SIGHUP)
            lb.wait_log("event=reload_rejected", 2)
            assert "Address already in use" in lb.log_lines("event=reload_rejected")[1]
            assert admin_json(aport)["reload_failures"] == 2
            assert http_get(fport, "/")[1] == b"still"
            blocker.close()
    be.close()


@t.test
def sigterm_drains_then_exits():
    be = Backend(echo)
    fport = free_port()
    lb = Synfin(base(fport, be.port).replace("log stderr;", "log stderr; drain_timeout 10s;"))
    live = connect(fport)
    live.sendall(b"x")
    assert live.recv(1) == b"x"
    lb.send(signal.SIGTERM)
    lb.wait_log("event=drain")
    # no new connections
    try:
        s = connect(fport, timeout=2)
        s.close()
        raise AssertionError("still accepting while draining")
    except ConnectionRefusedError:
        pass
    # the live session finishes normally, then synfin exits 0
    live.sendall(b"y")
    assert live.recv(1) == b"y"
    live.shutdown(socket.SHUT_WR)
    assert recv_all(live) == b""
    live.close()
    assert lb.stop(sig=signal.SIGTERM, timeout=10) == 0  # already exiting: just waits
    assert lb.sessions_logged()[0]["cause"] == "client_fin"
    lb.cleanup()
    be.close()


@t.test
def drain_deadline_closes_the_rest():
    """At the deadline the sessions still open end with cause drain, each side closed as its
    profile's reset_on_timeout says: RST (the default) or FIN."""
    for reset, how in (("on", "rst"), ("off", "fin")):
        be = Backend(hold)
        fport = free_port()
        prof = f"reset_on_timeout {reset};"
        lb = Synfin(base(fport, be.port, body=prof, be=prof)
                    .replace("log stderr;", "log stderr; drain_timeout 300ms;"))
        live = connect(fport)
        wait_until(lambda: be.accepted == 1, what="session")
        lb.send(signal.SIGTERM)
        got = ended_how(live)
        assert got == how, f"reset_on_timeout {reset}: the client's connection ended with {got}"
        live.close()
        assert lb.p.wait(10) == 0
        lb.stop()
        rec = lb.sessions_logged()[0]
        assert (rec["cause"], rec["client_close"], rec["server_close"]) == ("drain", how, how), rec
        lb.cleanup()
        wait_until(lambda: be.ends, what="the server's end of the session")
        assert be.ends == [how], f"reset_on_timeout {reset}: the server's ended with {be.ends}"
        be.close()


@t.test
def second_sigterm_stops_at_once():
    """A second SIGTERM while draining does not wait for drain_timeout: the sessions are
    closed as on SIGINT (FIN, cause stop) and synfin exits 0."""
    be = Backend(hold)
    fport = free_port()
    lb = Synfin(base(fport, be.port).replace("log stderr;", "log stderr; drain_timeout 60s;"))
    live = connect(fport)
    wait_until(lambda: be.accepted == 1, what="session")
    lb.send(signal.SIGTERM)
    lb.wait_log("event=drain")
    assert lb.p.poll() is None, "exited on the first SIGTERM with a session open"
    lb.send(signal.SIGTERM)
    try:
        rc = lb.p.wait(10)
    except subprocess.TimeoutExpired:
        raise AssertionError("still running 10 s after the second SIGTERM (drain_timeout 60s)")
    assert rc == 0, rc
    how = ended_how(live)
    assert how == "fin", f"the client's connection ended with {how}"
    live.close()
    lb.stop()
    rec = lb.sessions_logged()[0]
    assert (rec["cause"], rec["client_close"], rec["server_close"]) == ("stop", "fin", "fin"), rec
    assert len(lb.log_lines("event=stop sessions=1")) == 1, lb.log()
    lb.cleanup()
    wait_until(lambda: be.ends, what="the server's end of the session")
    assert be.ends == ["fin"], f"the server's connection ended with {be.ends}"
    be.close()


@t.test
def sigint_stops_at_once():
    be = Backend(hold)
    fport = free_port()
    lb = Synfin(base(fport, be.port))
    live = connect(fport)
    wait_until(lambda: be.accepted == 1, what="session")
    assert lb.stop(sig=signal.SIGINT) == 0
    how = ended_how(live)
    assert how == "fin", f"the client's connection ended with {how}"
    live.close()
    rec = lb.sessions_logged()[0]
    assert (rec["cause"], rec["client_close"], rec["server_close"]) == ("stop", "fin", "fin"), rec
    lb.cleanup()
    wait_until(lambda: be.ends, what="the server's end of the session")
    assert be.ends == ["fin"], f"the server's connection ended with {be.ends}"
    be.close()


@t.test
def sessions_list_each_connections_state_and_age():
    be = Backend(hold_open)
    fport, aport = free_port(), free_port()
    with Synfin(base(fport, be.port, aport).replace(
            f"127.0.0.1:{be.port};", f"127.0.0.1:{be.port} maxconn 1; queue_timeout 30s;")):
        first = connect(fport)
        wait_until(lambda: be.accepted == 1, what="the first session on the server")
        second = connect(fport)

        def queued():
            ss = admin_json(aport, "/sessions")["sessions"]
            return [x for x in ss if x["state"] == "queued"]

        q = wait_until(queued, what="the second session queued (server maxconn 1)")[0]
        t_queued = time.monotonic()
        # queued: the client connection exists and ages, the server connection does not
        assert q["server_conn"] is None and q["server"] is None, q
        assert q["client"]["state"] == "ESTABLISHED" and q["client"]["age_ms"] >= 0, q
        # the first ends (RST): the slot frees, the queued session connects only now
        t_freed = time.monotonic()
        first.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        first.close()
        wait_until(lambda: be.accepted == 2, what="the queued session on the server")
        wait_until(lambda: be.ends, what="the first session's end on the server")
        assert be.ends == ["rst"], f"the client's reset reached the server as {be.ends}"
        ss = admin_json(aport, "/sessions")["sessions"]
        t_listed = time.monotonic()
        assert len(ss) == 1 and ss[0]["id"] == q["id"] and ss[0]["state"] == "established", ss
        cl, sv = ss[0]["client"], ss[0]["server_conn"]
        assert cl["state"] == "ESTABLISHED" and sv["state"] == "ESTABLISHED", ss
        # the client connection's age counts from accept, the server's from its connect,
        # which came after the slot freed: the two differ by at least the time queued
        assert cl["age_ms"] - sv["age_ms"] >= (t_freed - t_queued) * 1000, (cl, sv)
        assert 0 <= sv["age_ms"] <= (t_listed - t_freed) * 1000 + 0.001, (sv, t_listed - t_freed)
        assert ss[0]["age_ms"] == cl["age_ms"], ss
        # the client half-closes: synfin's client socket has its FIN (CLOSE_WAIT), the server
        # socket has sent it on (FIN_WAIT_2, the server keeps its side open)
        second.shutdown(socket.SHUT_WR)

        def half_closed():
            x = admin_json(aport, "/sessions")["sessions"][0]
            return x if (x["client"]["state"], x["server_conn"]["state"]) == (
                "CLOSE_WAIT", "FIN_WAIT_2") else None

        x = wait_until(half_closed, what="client CLOSE_WAIT, server FIN_WAIT_2")
        assert x["client_fin"] and not x["server_fin"], x
        be.close()  # the server's FIN: the session ends
        assert recv_all(second) == b""
        second.close()


@t.test
def admin_endpoints():
    be = Backend(hold)
    fport, aport = free_port(), free_port()
    with Synfin(base(fport, be.port, aport)) as lb:
        live = connect(fport)
        wait_until(lambda: be.accepted == 1, what="session")
        st = admin_json(aport)
        assert st["version"] == 1 and st["transport"] == TRANSPORT
        keys = ["CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
                "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT"]
        assert list(st["tcp_states"].keys()) == keys, st["tcp_states"]
        # frontend + admin listening; the session's two sockets, the admin request's own
        assert st["tcp_states"]["LISTEN"] == 2, st["tcp_states"]
        assert st["tcp_states"]["ESTABLISHED"] >= 2, st["tcp_states"]
        assert st["sessions"]["active"] == 1
        sess = admin_json(aport, "/sessions")["sessions"]
        assert len(sess) == 1 and sess[0]["state"] == "established", sess
        assert sess[0]["client"]["state"] == "ESTABLISHED"
        assert sess[0]["server_conn"]["state"] == "ESTABLISHED"
        assert sess[0]["age_ms"] >= 0
        assert sess[0]["client"]["age_ms"] >= sess[0]["server_conn"]["age_ms"] >= 0, sess
        status, body = http_get(aport, "/metrics")
        text = body.decode()
        assert status == 200
        assert 'synfin_tcp_sockets{state="LISTEN"} 2' in text, text
        assert 'synfin_sessions_active{frontend="f"} 1' in text
        assert 'synfin_server_up{backend="b",server="s1"} 1' in text
        # backend-level sessions: a gauge of live ones, a counter of those given a server
        assert "# TYPE synfin_backend_sessions_active gauge\n" in text, text
        assert "# TYPE synfin_backend_sessions_total counter\n" in text, text
        assert 'synfin_backend_sessions_active{backend="b"} 1\n' in text, text
        assert 'synfin_backend_sessions_total{backend="b"} 1\n' in text, text
        assert st["backends"][0]["active"] == 1 and st["backends"][0]["total"] == 1, st
        for line in text.splitlines():
            assert line.startswith("#") or len(line.split(" ")) == 2, line
        # kill the session from the admin side: RST both ways (docs/lb.md)
        status, _ = http_get(aport, f"/sessions/{sess[0]['id']}/kill", method="POST")
        assert status == 200
        how = ended_how(live)
        assert how == "rst", f"the client's connection ended with {how}"
        live.close()
        wait_until(lambda: be.ends, what="the server's end of the session")
        assert be.ends == ["rst"], f"the server's connection ended with {be.ends}"
        wait_until(lambda: lb.sessions_logged(), what="session log")
        rec = lb.sessions_logged()[0]
        assert (rec["cause"], rec["client_close"], rec["server_close"]) == \
            ("admin_kill", "rst", "rst"), rec
        st = admin_json(aport)
        assert st["close_causes"]["admin_kill"] == 1
        assert st["frontends"][0]["close_causes"]["admin_kill"] == 1
        assert st["backends"][0]["active"] == 0 and st["backends"][0]["total"] == 1, st
        text = http_get(aport, "/metrics")[1].decode()
        assert 'synfin_backend_sessions_active{backend="b"} 0\n' in text, text
        assert 'synfin_backend_sessions_total{backend="b"} 1\n' in text, text
        # bad requests: answered, never a crash
        assert http_get(aport, "/nope")[0] == 404
        assert http_get(aport, "/sessions/999/kill", method="POST")[0] == 404
        assert http_get(aport, "/stats", method="DELETE")[0] == 405
        for raw in (b"garbage\r\n\r\n", b"GET\r\n\r\n", b"GET /stats HTTP/9\r\n\r\n",
                    b"GET nopath HTTP/1.0\r\n\r\n", b"G\x00T / HTTP/1.0\r\n\r\n",
                    b"GET / HTTP/1.0\r\n" + b"X: " + b"a" * 9000 + b"\r\n\r\n", b"\r\n\r\n"):
            status, _ = http_get(aport, "", raw=raw)
            assert status in (400, 431), (raw[:20], status)
        s = connect(aport)
        s.sendall(b"GET /st")
        s.close()  # half a request, then gone
        assert json.loads(http_get(aport, "/stats")[1])["version"] == 1  # still serving
    be.close()


t.done()
