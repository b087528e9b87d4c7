#!/usr/bin/env python3
"""synfin-serve over a TUN device with IPv6 addresses (--kernel-addr fd00:77::1/64 --addr
fd00:77::2): Linux's curl, nc and a Python peer talk to synfin's TCP over IPv6 in a namespace
of the test's own; bytes both ways checked by SHA-256, the close paths by the engine's trace
and ss, pings answered over ICMPv6, the capture judged by tshark. IPv4 and IPv6 on one device
at once too (--kernel-addr with one address of each family)."""
import hashlib
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop import Namespace, Serve, judge, peer, skip_reason, wait_states  # noqa: E402
from tap import Tap, wait_until  # noqa: E402

ADDR6 = "fd00:77::2"
KERNEL6 = "fd00:77::1"
TUN6 = "v6lbt0"
os.environ["SYNFIN_PEER_ADDR"] = ADDR6  # peer.py connects there
t = Tap()
REASON = skip_reason()
NS = None if REASON else Namespace("v6lb")
LOGS = os.path.join(os.environ.get("SYNFIN_BUILD", "build"), "test-logs")
WORK = os.path.join(LOGS, f"serve-ipv6-{os.getpid()}")
os.makedirs(WORK, exist_ok=True)
BODY = "hello from synfin\n"
MB = 1 << 20


def need_ns():
    if REASON:
        t.skip_test(REASON)
    if not os.path.exists("/proc/sys/net/ipv6"):
        t.skip_test("IPv6 is disabled in this kernel")


def serve(mode, *extra, **kw):
    kw.setdefault("kernel", f"{KERNEL6}/64")
    return Serve(NS, mode, *extra, tun=TUN6, addr=ADDR6, **kw)


def conn_of(trans, port):
    return [x for x in trans if x[2] == f"[{KERNEL6}]:{port}"]


@t.test
def curl_over_ipv6_judged():
    need_ns()
    cap = os.path.join(WORK, "curl6.pcap")
    with serve("http", pcap=cap) as s:
        lines = s.text().splitlines()
        assert lines[0].startswith(f"synfin-serve: http on [{ADDR6}]:80 over {TUN6}"), lines[:2]
        # IPv6's header is 20 bytes longer than IPv4's: 1500 - 40 - 20.
        assert "mtu 1500, mss 1440" in lines[0], lines[0]
        out = NS.run(["curl", "-s", "-m", "5", "-w", "[%{num_connects} %{remote_ip}]\n",
                      f"http://[{ADDR6}]/a", f"http://[{ADDR6}]/b"]).stdout
        assert out == f"{BODY}[1 {ADDR6}]\n{BODY}[0 {ADDR6}]\n", out
    judge(cap)


@t.test
def nc_half_close_to_sink_sha256():
    need_ns()
    data = os.urandom(5 * MB)
    path = os.path.join(WORK, "sink.in")
    with open(path, "wb") as f:
        f.write(data)
    with serve("sink"):
        out = NS.run(["sh", "-c", f"nc -N {ADDR6} 80 < {path}"], timeout=60).stdout
    assert out == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n", out


@t.test
def echo_both_ways_offload_on_and_off():
    need_ns()
    for offload in ("on", "off"):
        with serve("echo", "--offload", offload) as s:
            out = peer(NS, "echo", str(8 * MB), timeout=120).split()
            assert s.text().splitlines()[0].count(f"offload {offload}"), s.text()[:300]
            s.stop()
            m = re.search(r"offload: (\d+) packets longer than the MTU, (\d+) checksums "
                          r"completed \((\d+) left partial, \d+ verified by the kernel\), 0 bad "
                          r"headers; (\d+) segments sent in (\d+) merged", s.text())
            assert m, s.text()[-600:]
            big, done, left, merged, writes = map(int, m.groups())
            if offload == "on":  # TSO6 in (no capture: partial sums left so), GSO TCPV6 out
                assert big > 0 and left >= big and done == 0 and merged > writes > 0, m.group(0)
            else:
                assert big == done == left == merged == writes == 0, m.group(0)
        sent, hs, recvd, hr, tail = out
        assert int(sent) == 8 * MB and int(recvd) == 8 * MB, out
        assert hs == hr, "echo came back different"
        assert tail == "eof", out


@t.test
def linux_closes_first_over_ipv6():
    need_ns()
    with serve("echo") as s:
        port = int(peer(NS, "close-first").strip())
        wait_until(lambda: any(x[5] == "CLOSED" for x in conn_of(s.transitions(), port)),
                   timeout=10, what="the connection to close")
        steps = [(x[4], x[5], x[6]) for x in conn_of(s.transitions(), port)]
        assert steps == [("LISTEN", "SYN_RECEIVED", "SYN"),
                         ("SYN_RECEIVED", "ESTABLISHED", "ACK"),
                         ("ESTABLISHED", "CLOSE_WAIT", "FIN"),
                         ("CLOSE_WAIT", "LAST_ACK", "close()"),
                         ("LAST_ACK", "CLOSED", "ACK")], steps
        wait_states(NS, lambda ls: any("TIME-WAIT" in l and f"[{KERNEL6}]:{port} " in l
                                       for l in ls))


@t.test
def synfin_closes_first_and_holds_time_wait():
    need_ns()
    with serve("http", "--time-wait-ms", "1500") as s:
        # HTTP/1.0 without keep-alive: synfin closes after the answer.
        out = NS.run(["curl", "-s", "-0", "-m", "5", "--local-port", "41006",
                      f"http://[{ADDR6}]/"]).stdout
        assert out == BODY, out
        wait_until(lambda: any(x[5] == "CLOSED" for x in conn_of(s.transitions(), 41006)),
                   timeout=10, what="TIME_WAIT to end")
        steps = [(x[4], x[5]) for x in conn_of(s.transitions(), 41006)]
        assert steps[-4:] == [("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "FIN_WAIT_2"),
                              ("FIN_WAIT_2", "TIME_WAIT"), ("TIME_WAIT", "CLOSED")] or \
            steps[-3:] == [("ESTABLISHED", "FIN_WAIT_1"), ("FIN_WAIT_1", "TIME_WAIT"),
                           ("TIME_WAIT", "CLOSED")], steps
        tw = [x[0] for x in conn_of(s.transitions(), 41006) if x[5] in ("TIME_WAIT", "CLOSED")]
        assert 1.4 <= tw[-1] - tw[-2] <= 3.0, tw


@t.test
def answers_ping6():
    need_ns()
    with serve("http") as s:
        out = NS.run(["ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", ADDR6],
                     check=False).stdout
        assert "3 packets transmitted, 3 received" in out, out
        s.stop()
        assert re.search(r"pings 3,", s.text()), s.text()


@t.test
def ipv4_and_ipv6_on_one_device():
    need_ns()
    # The kernel side has one address of each family; synfin's is IPv6 (its listener), and
    # the IPv4 subnet still reaches the device (nobody there: counted, not answered).
    with serve("http", kernel=f"10.78.0.1/24,{KERNEL6}/64"):
        addrs = NS.run(["ip", "-o", "addr", "show", "dev", TUN6]).stdout
        assert "inet 10.78.0.1/24" in addrs and f"inet6 {KERNEL6}/64" in addrs, addrs
        assert NS.run(["curl", "-s", "-m", "5", f"http://[{ADDR6}]/"]).stdout == BODY


try:
    t.done()
finally:
    if NS:
        NS.close()
