#!/usr/bin/env python3
"""synfin's TCP against Linux's (issue 4): curl, ab, wrk and nc in a namespace of the test's
own talk to synfin-serve over a TUN device; bytes are checked by SHA-256, close paths by the
engine's trace and by ss on the kernel side, and the captures judged by tshark."""
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop import (ADDR, KERNEL, TUN, Judge, Namespace, Serve,  # noqa: E402
                     ack_of_captured_segment, judge, peer, read_pcap, skip_reason,
                     sleep_at_least, tcp_of, wait_states)
from tap import Tap, binary, wait_until  # noqa: E402

t = Tap()
REASON = skip_reason()
NS = None if REASON else Namespace()
LOGS = os.path.join(os.environ.get("SYNFIN_BUILD", "build"), "test-logs")
WORK = os.path.join(LOGS, f"interop-{os.getpid()}")
# Captures of earlier runs go (the wrk one alone is over 100 MB); this run's stay for a look.
for old in glob.glob(os.path.join(LOGS, "interop-*")):
    shutil.rmtree(old, ignore_errors=True)
os.makedirs(WORK, exist_ok=True)
BODY = "hello from synfin\n"
BACKGROUND = {}  # name: Judge still running
MB = 1 << 20


def judge_later(name, cap, **kw):
    """Starts tshark on a big capture; big_captures_judged (after the impaired echo, which
    leaves the CPU idle) collects the verdict. Judged at once when that test will not run."""
    if t.only and "big_captures_judged" not in t.only.split(","):
        judge(cap, **kw)
    else:
        BACKGROUND[name] = Judge(cap, **kw)


def need_ns():
    if REASON:
        t.skip_test(REASON)


def pcap(name):
    return os.path.join(WORK, name + ".pcap")


def conn_of(trans, port):
    """The transitions of the connection whose remote end is 10.77.0.1:port."""
    return [x for x in trans if x[2] == f"10.77.0.1:{port}"]


@t.test
def bad_arguments_exit_2():
    # Checked before any device is touched: no root needed.
    base = [binary("synfin-serve"), "--tun", "sfx0", "--kernel-addr", "10.77.0.1/24"]
    for extra, why in ((["--addr", "zz"], "not an IPv4 or IPv6 address"),
                       (["--addr", ADDR, "--mode", "ftp"], "not echo, discard"),
                       (["--addr", ADDR, "--offload", "maybe"], "not on or off"),
                       (["--addr", ADDR, "--time-wait-ms", "x"], "--time-wait-ms"),
                       (["--addr", ADDR, "--port", "0"], "not a number in 1..65535"),
                       (["--addr", ADDR, "--rfc1337", "maybe"], "'maybe' is not on or off"),
                       (["--addr", ADDR, "--syncookies", "x"], "not a whole number in 0..2"),
                       ([], "are required")):
        p = subprocess.run(base + extra, capture_output=True, text=True, timeout=10)
        assert p.returncode == 2 and why in p.stderr, (extra, p.returncode, p.stderr)


@t.test
def curl_single_and_keepalive():

    need_ns()
    cap = pcap("curl")
    with Serve(NS, "http", pcap=cap) as s:
        assert NS.run(["curl", "-s", "-m", "5", f"http://{ADDR}/"]).stdout == BODY
        # The start line, then the listener's first transition.
        lines = s.text().splitlines()
        assert lines[0].startswith("synfin-serve: http on 10.77.0.2:80 over sft0"), lines[:2]
        assert lines[1].endswith(" CLOSED -> LISTEN (listen())"), lines[:2]
        # Two requests on one connection: the second needs no new connect.
        out = NS.run(["curl", "-s", "-m", "5", "-w", "[%{num_connects}]\n", f"http://{ADDR}/a",
                      f"http://{ADDR}/b"]).stdout
        assert out == f"{BODY}[1]\n{BODY}[0]\n", out
    judge(cap)


@t.test
def ab_close_and_keepalive():
    need_ns()
    cap = pcap("ab")
    with Serve(NS, "http", pcap=cap):
        for extra, keep in ((["-k"], 2000), ([], 0)):
            out = NS.run(["ab", "-q", "-n", "2000", "-c", "20"] + extra + [f"http://{ADDR}/"],
                         timeout=120).stdout
            assert "Complete requests:      2000" in out, out
            assert "Failed requests:        0" in out, out
            assert "Non-2xx" not in out, out
            if keep:
                assert f"Keep-Alive requests:    {keep}" in out, out
    judge(cap)


@t.test
def nc_half_close_to_sink():
    need_ns()
    data = os.urandom(5 * MB)
    path = os.path.join(WORK, "sink.in")
    with open(path, "wb") as f:
        f.write(data)
    cap = pcap("sink")
    with Serve(NS, "sink", pcap=cap):
        # nc -N: send the file, shut down writes, then read the whole answer.
        out = NS.run(["sh", "-c", f"nc -N {ADDR} 80 < {path}"], timeout=60).stdout
    assert out == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n", out
    judge(cap)


@t.test
def receive_offload_on_and_off():
    need_ns()
    # On: the kernel sends TSO packets (up to 64 KiB) with partial checksums, which
    # synfin-serve completes; off: MTU-sized packets. Same bytes, and tshark finds every
    # checksum right in both captures (the capture holds the completed packets).
    data = os.urandom(8 * MB)
    path = os.path.join(WORK, "offload.in")
    with open(path, "wb") as f:
        f.write(data)
    for mode in ("on", "off"):
        cap = pcap(f"offload-{mode}")
        with Serve(NS, "sink", "--offload", mode, pcap=cap) as s:
            assert f"offload {mode})" in s.text(), s.text()
            out = NS.run(["sh", "-c", f"nc -N {ADDR} 80 < {path}"], timeout=60).stdout

            s.stop()
            m = re.search(r"offload: (\d+) packets longer than the MTU, (\d+) checksums", s.text())
        assert out == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n", out
        assert m, s.text()
        big, completed = int(m[1]), int(m[2])
        if mode == "on":
            assert big > 0 and completed > 0, s.text()
        else:
            assert big == 0 and completed == 0, s.text()
        judge(cap)


@t.test
def receive_offload_trusts_the_kernels_checksums():
    # Offload on and no capture: the TSO packets' partial checksums are neither completed
    # nor verified (the virtio header says the kernel made the packet: the engine is told,
    # docs/serve.md), so synfin-serve sums none of their bytes; the bytes are right
    # (SHA-256 at the far end). With a capture they are completed (the test above).
    need_ns()
    data = os.urandom(8 * MB)
    path = os.path.join(WORK, "offload-trust.in")
    with open(path, "wb") as f:
        f.write(data)
    with Serve(NS, "sink", "--offload", "on") as s:
        out = NS.run(["sh", "-c", f"nc -N {ADDR} 80 < {path}"], timeout=60).stdout
        s.stop()
        m = re.search(r"offload: (\d+) packets longer than the MTU, (\d+) checksums completed "
                      r"\((\d+) left partial, (\d+) verified by the kernel\).*merged writes, "
                      r"(\d+) packets with their checksum left to the kernel", s.text())
    assert out == f"{len(data)} {hashlib.sha256(data).hexdigest()}\n", out
    assert m, s.text()
    big, completed, left, to_kernel = int(m[1]), int(m[2]), int(m[3]), int(m[5])
    assert big > 0 and left >= big and completed == 0, s.text()
    # and out: every packet synfin-serve wrote (ACKs here) carried a partial sum, none was
    # summed (sf_engine_params.tx_csum_partial)
    assert to_kernel > 0, s.text()


def echo_both_ways(total, serve_args=(), cap=None):

    with Serve(NS, "echo", *serve_args, pcap=cap):
        out = peer(NS, "echo", str(total), timeout=300).split()
    sent, hs, recvd, hr, tail = out
    assert int(sent) == total and int(recvd) == total, out
    assert hs == hr, "echo came back different"
    assert tail == "eof", out


@t.test
def echo_5mb_judged():
    need_ns()
    cap = pcap("echo")
    echo_both_ways(5 * MB, cap=cap)
    judge(cap)


@t.test
def echo_50mb_each_way():
    need_ns()
    echo_both_ways(50 * MB)


def netem_available():
    probe = f"sfnetem{os.getpid()}"
    NS.run(["ip", "link", "add", probe, "type", "veth", "peer", "name", probe + "b"],
           check=False)
    ok = NS.run(["tc", "qdisc", "add", "dev", probe, "root", "netem", "loss", "1%"],
                check=False).returncode == 0
    NS.run(["ip", "link", "del", probe], check=False)
    return ok


def open_conns(trans):
    """{id: (remote, last transition)} of the connections the trace has not seen end."""
    last = {}
    for x in trans:
        last[x[3]] = (x[2], x[0], x[4], x[5], x[6])
    return {k: v for k, v in last.items() if v[3] not in ("CLOSED", "TIME_WAIT")}


def tun_dropped(ns, dev=TUN):
    """(to synfin, from synfin): packets the kernel dropped at the TUN device, on their way
    to synfin-serve (the device's queue was full) and from it."""
    st = json.loads(ns.run(["ip", "-s", "-j", "link", "show", dev]).stdout)[0]["stats64"]
    return st["tx"]["dropped"], st["rx"]["dropped"]


@t.test
def syncookies_under_syn_flood():
    need_ns()
    cap = pcap("cookies")
    # At least 100,000 SYNs at 40,000 a second: 2.5 s of flood, about what synfin-serve can
    # take without the kernel dropping much at the device queue (flat out, it drops a
    # tenth). The flood goes on until 20 curls have been answered during it (a slow machine
    # runs fewer curls a second; the count is what is checked, not the speed), up to 400,000.
    flood_syns, rate, curls_wanted = 100000, 40000, 20
    with Serve(NS, "http", "--syncookies", "2", pcap=cap) as s:
        assert NS.run(["curl", "-s", "-m", "5", f"http://{ADDR}/"]).stdout == BODY
        assert "(ACK with syncookie)" in s.text()
        dropped_before = tun_dropped(NS)
        stop = os.path.join(WORK, "flood.stop")
        flood = subprocess.Popen(NS.cmd([sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "peer.py"), "flood", str(flood_syns), "80", str(rate),
            stop]), stdout=subprocess.PIPE, text=True)
        assert flood.stdout.readline() == "flooding\n"
        # curl after curl while the flood lasts: each starts before the flood has ended.
        done = os.path.join(WORK, "flood.done")
        answers = os.path.join(WORK, "flood.curls")
        open(answers, "w").close()
        loop = subprocess.Popen(NS.cmd(["sh", "-c", f"while [ ! -e {done} ]; do curl -s -m 5 "
                                        f"-w '%{{http_code}}\\n' http://{ADDR}/; done "
                                        f">>{answers}"]))
        t0 = time.monotonic()

        def answered():
            with open(answers) as f:
                return f.read().count(BODY + "200\n")
        wait_until(lambda: answered() >= curls_wanted or flood.poll() is not None, timeout=60,
                   what=f"{curls_wanted} curls answered during the flood")
        served = answered()  # during the flood: it has not been told to stop yet
        open(stop, "w").close()
        out, _ = flood.communicate(timeout=120)
        flood_secs = time.monotonic() - t0
        open(done, "w").close()
        loop.wait(timeout=30)
        with open(answers) as f:
            curls = f.read()
        assert flood.returncode == 0 and int(out.split()[0]) >= flood_syns, out
        flood_syns = int(out.split()[0])
        ranges = [tuple(map(int, r.split("-"))) for r in out.split()[1].split(",")]
        lo, hi = map(int, NS.run(["cat", "/proc/sys/net/ipv4/ip_local_port_range"]).stdout
                     .split())
        assert all(b < lo or a > hi for a, b in ranges), (ranges, lo, hi)  # not ephemeral
        assert curls == (BODY + "200\n") * curls.count(BODY + "200\n"), curls[-500:]  # in full
        assert served >= curls_wanted, f"only {served} curls completed during the flood"
        # No state was kept for the flood: no connection for any of its SYNs in the trace,
        # and the engine holds the listener and the curls' connections not yet closed (a
        # FIN the overrun kernel dropped waits for its retransmission), nothing else.
        now, log = s.counters_now()
        flooded = lambda port: any(a <= port <= b for a, b in ranges)  # noqa: E731
        assert not [x for x in s.transitions() if flooded(int(x[2].split(":")[1]))]
        still_open = open_conns(s.transitions(log))
        assert now["live_connections"] == len(still_open) <= 5, (now, still_open)
        assert [v[3] for v in still_open.values()].count("LISTEN") == 1, still_open
        assert NS.run(["curl", "-s", "-m", "5", f"http://{ADDR}/"]).stdout == BODY
        dropped, dropped_out = (b - a for a, b in zip(dropped_before, tun_dropped(NS)))
        s.stop()
        final = s.counters()
        dropped_out += int(re.search(r"dropped at the device (\d+)", s.text())[1])
    # Every flood SYN that reached synfin got its SYN-ACK (a cookie); any others were
    # dropped by the kernel at the device's queue (that count includes other packets).
    syns = synacks = 0
    for _, pkt in read_pcap(cap):
        h = tcp_of(pkt)
        if h and h[0] == KERNEL and flooded(h[2]) and h[4] == 0x02:
            syns += 1
        elif h and h[0] == ADDR and flooded(h[3]) and h[4] == 0x12:
            synacks += 1
    assert synacks == syns and syns + dropped >= flood_syns, (syns, synacks, dropped)
    # Half of the minimum is still a flood; how many more the device drops depends on how
    # much CPU synfin-serve gets on this machine, which is not what is tested here.
    assert syns >= 50000, f"only {syns} of {flood_syns} SYNs reached synfin"
    assert final["syncookies_sent"] >= synacks and final["live_connections"] == 0, final
    print(f"# flood: {syns} SYNs reached synfin, {synacks} SYN-ACKs; dropped at the device "
          f"{dropped} toward synfin, {dropped_out} from it; {served} curls during the flood "
          f"({flood_secs:.2f} s)")
    # Where the device dropped packets (a slower synfin-serve, as under ASan, falls behind),
    # the curls' connections may have had to retransmit; otherwise not. Nothing may be
    # acknowledged unseen. 300,000 packets: judged during the impaired echo, like wrk's.
    judge_later("cookies", cap, retransmissions_allowed=dropped + dropped_out > 0)


@t.test
def wrk_five_seconds():
    need_ns()
    cap = pcap("wrk")
    with Serve(NS, "http", pcap=cap):
        out = NS.run(["wrk", "-t1", "-c20", "-d5s", f"http://{ADDR}/"], timeout=60).stdout
    assert "Socket errors" not in out and "Non-2xx" not in out, out
    reqs = int(out.split(" requests in ")[0].split()[-1])
    assert reqs > 1000, out
    # About a million packets: tshark takes half a minute over them, so it judges them while
    # the next test runs (the impaired echo, which mostly waits on timers), and
    # big_captures_judged collects the verdict.
    judge_later("wrk", cap)


@t.test
def echo_50mb_under_loss_reorder_duplication():
    need_ns()
    # 2% loss, reordering and 2% duplication: with tc netem on the TUN device where the kernel
    # has it; otherwise (kernels built without CONFIG_NET_SCH_NETEM, as this machine's) with
    # synfin-serve's own seeded impairments, in both directions.
    netem = netem_available()
    # Offload off: a loss then costs one wire-sized packet, as on a link, not a 64 KiB one.
    args = ("--offload", "off") + (() if netem else
                                   ("--impair", "loss=2,dup=2,reorder=25,hold=2,seed=7"))
    with Serve(NS, "echo", *args) as s:
        if netem:
            NS.run(["tc", "qdisc", "add", "dev", TUN, "root", "netem", "loss", "2%",
                    "duplicate", "2%", "delay", "1ms", "reorder", "25%", "50%"])
        out = peer(NS, "echo", str(50 * MB), timeout=600).split()
        s.stop()
        log = s.text()
    sent, hs, recvd, hr, tail = out
    assert int(sent) == 50 * MB and int(recvd) == 50 * MB and hs == hr and tail == "eof", out
    if not netem:
        dropped = int(log.split("impaired: dropped ")[1].split(",")[0])
        assert dropped > 100, log[-500:]
    assert "retransmitted 0" not in log, "synfin never had to retransmit?"
    print(f"# impairments by {'tc netem' if netem else 'synfin-serve --impair'}")


@t.test
def big_captures_judged():
    if not BACKGROUND:
        t.skip_test(REASON or "neither wrk_five_seconds nor syncookies_under_syn_flood ran")
    for name in sorted(BACKGROUND):
        print(f"# {name}: {BACKGROUND.pop(name).verdict()}")


@t.test
def linux_closes_first():
    need_ns()
    cap = pcap("linux-closes")
    with Serve(NS, "echo", pcap=cap) as s:
        port = int(peer(NS, "close-first").strip())
        wait_until(lambda: any(x[5] == "CLOSED" for x in conn_of(s.transitions(), port)),
                   timeout=10, what="the connection to close")
        steps = [(x[4], x[5], x[6]) for x in conn_of(s.transitions(), port)]
        # The passive closer: CLOSE_WAIT, then LAST_ACK, never TIME_WAIT.
        assert steps[-3:] == [("ESTABLISHED", "CLOSE_WAIT", "FIN"),
                              ("CLOSE_WAIT", "LAST_ACK", "close()"),
                              ("LAST_ACK", "CLOSED", "ACK")], steps
        # Linux, which closed first, holds the TIME-WAIT.
        wait_states(NS, lambda ls: any("TIME-WAIT" in l and f"10.77.0.1:{port} " in l
                                       for l in ls))
    judge(cap)


@t.test
def synfin_closes_first_and_holds_time_wait():
    need_ns()
    port = 41001
    cap = pcap("synfin-closes")
    with Serve(NS, "http", "--time-wait-ms", "1500", pcap=cap) as s:
        out = NS.run(["curl", "-s", "-m", "5", "--local-port", str(port), "-H",
                      "Connection: close", f"http://{ADDR}/"]).stdout
        assert out == BODY
        wait_until(lambda: any(x[4] == "TIME_WAIT" for x in conn_of(s.transitions(), port)),
                   timeout=10, what="TIME_WAIT to end")
        tr = conn_of(s.transitions(), port)
        steps = [(x[4], x[5]) for x in tr]
        assert ("ESTABLISHED", "FIN_WAIT_1") in steps, steps
        assert steps[-1] == ("TIME_WAIT", "CLOSED") and tr[-1][6] == "time_wait timer", tr
        entered = [x[0] for x in tr if x[5] == "TIME_WAIT"][0]
        held = tr[-1][0] - entered
        assert 1.5 <= held < 1.6, f"TIME_WAIT lasted {held:.3f} s, not 1.5 s"
        # The kernel closed passively: no TIME-WAIT on its side.
        lines = NS.run(["ss", "-tanH"]).stdout.splitlines()
        assert not any(f"10.77.0.1:{port} " in l for l in lines), lines
    judge(cap)


@t.test
def abort_sends_rst():
    need_ns()
    port = 41002
    cap = pcap("abort")
    with Serve(NS, "http", pcap=cap) as s:
        p = NS.run(["curl", "-s", "-m", "5", "--local-port", str(port), f"http://{ADDR}/reset"],
                   check=False)
        assert p.returncode in (52, 56), f"curl exited {p.returncode}, wanted a reset"
        wait_until(lambda: any(x[5] == "CLOSED" for x in conn_of(s.transitions(), port)),
                   timeout=5, what="the abort")
        last = conn_of(s.transitions(), port)[-1]
        assert (last[4], last[5], last[6]) == ("ESTABLISHED", "CLOSED", "abort()"), last
        lines = NS.run(["ss", "-tanH"]).stdout.splitlines()
        assert not any(f"10.77.0.1:{port} " in l for l in lines), lines
    judge(cap)


@t.test
def icmp_frag_needed_shrinks_segments():
    need_ns()
    # A client one router away: the test's namespace forwards between synfin's TUN device
    # and a veth pair to a second namespace, and its route toward the client has MTU 1000
    # (both veth ends keep 1500, so the client still offers MSS 1460). synfin's 1500-byte
    # segments carry DF: the router drops them and sends ICMP fragmentation needed.
    client = Namespace("c")
    try:
        NS.run(["ip", "link", "add", "sfr0", "type", "veth", "peer", "name", "sfr1",
                "netns", client.name])
        NS.run(["ip", "addr", "add", "10.78.0.1/24", "dev", "sfr0"])
        NS.run(["ip", "link", "set", "sfr0", "up"])
        NS.run(["ip", "route", "replace", "10.78.0.0/24", "dev", "sfr0", "src", "10.78.0.1",
                "mtu", "1000"])
        NS.run(["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        client.run(["ip", "addr", "add", "10.78.0.2/24", "dev", "sfr1"])
        client.run(["ip", "link", "set", "sfr1", "up"])
        client.run(["ip", "route", "add", "default", "via", "10.78.0.1"])
        cap = pcap("pmtu")
        with Serve(NS, "echo", pcap=cap) as s:
            out = peer(client, "echo", str(MB), timeout=60).split()
            s.stop()
            final = s.counters()
        sent, hs, recvd, hr, tail = out
        assert int(sent) == MB and int(recvd) == MB and hs == hr and tail == "eof", out
        assert final["path_mtu_updates"] == 1, final
        pkts = read_pcap(cap)
        icmp = [i for i, (_, p) in enumerate(pkts) if p[9] == 1 and p[20:22] == b"\x03\x04"]
        assert icmp, "no ICMP fragmentation needed reached synfin"
        first = icmp[0]
        assert struct.unpack_from("!H", pkts[first][1], 26)[0] == 1000  # next-hop MTU
        ours = [(i, h[5]) for i, (_, p) in enumerate(pkts)
                if (h := tcp_of(p)) and h[0] == ADDR]
        before = [n for i, n in ours if i < first]
        after = [n for i, n in ours if i > first]
        assert max(before) == 1500, max(before)  # what the router refused
        assert max(after) <= 1000 and len(after) > MB // 1000, (max(after), len(after))
        print(f"# ICMP frag needed at packet {first}; {len(after)} segments after it, the "
              f"largest {max(after)} bytes")
        # The router dropped what it refused: synfin sends that again, in the new size (the
        # last of it with a new byte, which tshark misreads; see ack_of_captured_segment).
        judge(cap, retransmissions_allowed=True, acked_unseen_allowed=ack_of_captured_segment)
    finally:
        NS.run(["sysctl", "-qw", "net.ipv4.ip_forward=0"], check=False)
        NS.run(["ip", "link", "del", "sfr0"], check=False)
        client.close()


def cpu_and_wakeups(pid):
    """(CPU ticks in user and kernel mode, context switches) of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/status") as f:
        switches = sum(int(l.split()[1]) for l in f if "ctxt_switches:" in l)
    return int(fields[11]) + int(fields[12]), switches


@t.test
def idle_without_busy_polling_then_sigterm_closes():
    need_ns()
    s = Serve(NS, "echo")
    holder = None
    try:
        # ip netns exec replaces itself with the program: the pid is synfin-serve's.
        with open(f"/proc/{s.p.pid}/comm") as f:
            assert f.read().strip() == "synfin-serve"
        holder = subprocess.Popen(NS.cmd([sys.executable, os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "peer.py"), "hold"]), stdout=subprocess.PIPE, text=True)
        line = holder.stdout.readline().split()
        assert line[:1] == ["connected"], line
        port = int(line[1])
        wait_until(lambda: any(x[5] == "ESTABLISHED" for x in conn_of(s.transitions(), port)),
                   timeout=5, what="the connection")
        # Idle with a connection open: nothing to do and no timer due, so synfin-serve sleeps
        # in poll. A loop that polled (even with a 1 ms timeout) would wake thousands of times.
        ticks0, wakes0 = cpu_and_wakeups(s.p.pid)
        sleep_at_least(2.0)
        ticks1, wakes1 = cpu_and_wakeups(s.p.pid)
        hz = os.sysconf("SC_CLK_TCK")
        assert ticks1 - ticks0 <= 2, f"{ticks1 - ticks0} ticks of {hz}/s in 2 s of idleness"
        assert wakes1 - wakes0 <= 10, f"{wakes1 - wakes0} context switches in 2 s of idleness"
        # SIGTERM: the listener closes, the connection gets our FIN, the client reads EOF
        # and closes; synfin-serve exits 0 and its device is gone.
        s.p.send_signal(signal.SIGTERM)
        out, _ = holder.communicate(timeout=10)
        assert out == "eof\n", out
        assert s.p.wait(10) == 0, s.text()
        log = s.text()
        assert "signal 15: closing connections" in log, log
        # (Linux acknowledges our FIN, and sends its own once the client has closed: in one
        # segment or two, as the timing falls.)
        steps = [(x[4], x[5], x[6].replace("FIN+ACK", "FIN"))
                 for x in conn_of(s.transitions(), port)]
        assert steps[-3:] == [("ESTABLISHED", "FIN_WAIT_1", "close()"),
                              ("FIN_WAIT_1", "FIN_WAIT_2", "ACK"),
                              ("FIN_WAIT_2", "TIME_WAIT", "FIN")], steps
        # The user calls are stamped when they happened (the signal), not at the last
        # packet before the idle time.
        tr = s.transitions()
        est = [x[0] for x in conn_of(tr, port) if x[5] == "ESTABLISHED"][0]
        closes = [x[0] for x in tr if x[6] == "close()"]
        assert len(closes) == 2 and min(closes) >= est + 2.0, (est, closes)
        assert NS.run(["ip", "link", "show", TUN], check=False).returncode != 0, \
            "synfin-serve left its device behind"
    finally:
        if holder and holder.poll() is None:
            holder.kill()
            holder.wait()
        s.__exit__(None, None, None)


@t.test
def attaches_to_an_existing_device_and_leaves_it():
    need_ns()
    dev = "sft1"
    NS.run(["ip", "tuntap", "add", "dev", dev, "mode", "tun"])
    try:
        with Serve(NS, "http", tun=dev) as s:
            assert f"over {dev} (attached, kernel side {KERNEL}/24" in s.text(), s.text()
            assert NS.run(["curl", "-s", "-m", "5", f"http://{ADDR}/"]).stdout == BODY
            assert s.stop() == 0, s.text()
        # Still there, and usable again by the next synfin-serve.
        assert NS.run(["ip", "link", "show", dev], check=False).returncode == 0
        with Serve(NS, "http", tun=dev) as s:
            assert "(attached," in s.text()
            assert NS.run(["curl", "-s", "-m", "5", f"http://{ADDR}/"]).stdout == BODY
        assert NS.run(["ip", "link", "show", dev], check=False).returncode == 0
    finally:
        NS.run(["ip", "link", "del", dev], check=False)


@t.test
def answers_ping():
    need_ns()
    with Serve(NS, "http") as s:
        out = NS.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", ADDR], check=False).stdout
        assert "3 packets transmitted, 3 received" in out, out
        s.stop()
        assert re.search(r"pings 3,", s.text()), s.text()


def finish():
    for j in BACKGROUND.values():  # a verdict nobody collected (a test failed before)
        j.p.kill()
        j.p.wait()
    if NS:
        NS.close()


try:
    t.done()
finally:
    finish()
