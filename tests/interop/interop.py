"""Helpers for the interop tests: a network namespace of the test's own, synfin-serve in it
over a TUN device, and commands run inside it with bounded time.

Layout inside the namespace "sfi<pid>":  Linux 10.77.0.1 (kernel side of tun sft0)  <->
synfin 10.77.0.2 (synfin-serve). Everything is removed on exit, also on failure.
"""
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import binary, is_root, wait_until  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ADDR = "10.77.0.2"
KERNEL = "10.77.0.1"
TUN = "sft0"


def skip_reason():
    """A one-line reason these tests cannot run here, or None."""
    if not is_root():
        return "needs root (network namespaces and TUN)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    for tool in ("ip", "curl", "ab", "wrk", "nc", "tshark", "tc", "ss", "ping"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return None


class Namespace:
    def __init__(self, tag="i"):
        self.name = f"sf{tag}{os.getpid()}"
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.run(["ip", "link", "set", "lo", "up"])

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, timeout=60, check=True, input=None):
        """Runs argv in the namespace; returns the CompletedProcess (text)."""
        p = subprocess.run(self.cmd(argv), capture_output=True, text=True, timeout=timeout,
                           input=input)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {p.returncode}: {p.stderr[-2000:]}")
        return p

    def close(self):
        subprocess.run(["ip", "netns", "pids", self.name], capture_output=True)
        for pid in subprocess.run(["ip", "netns", "pids", self.name], capture_output=True,
                                  text=True).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


class Serve:
    """synfin-serve in the namespace. Its stdout (the --trace lines) is kept in self.out."""

    started = 0  # in this test process: names each one's log

    def __init__(self, ns, mode, *extra, pcap=None, port=80, tun=TUN, kernel=f"{KERNEL}/24",
                 addr=ADDR):
        self.ns = ns
        self.tun = tun
        self.killed = False  # by stop(), after SIGINT went unanswered
        argv = [binary("synfin-serve"), "--tun", tun, "--kernel-addr", kernel,
                "--addr", addr, "--port", str(port), "--mode", mode, "--trace",
                "--max-seconds", "600"] + list(extra)
        if pcap:
            argv += ["--pcap", pcap]
        # a log of its own per process: one left running must not write into the next's
        Serve.started += 1
        self.log = open(os.path.join(os.environ.get("SYNFIN_BUILD", "build"),
                                     f"test-logs/serve-{mode}-{os.getpid()}-{Serve.started}.log"),
                        "w+")
        self.p = subprocess.Popen(ns.cmd(argv), stdout=self.log, stderr=subprocess.STDOUT,
                                  text=True)
        try:
            wait_until(lambda: "synfin-serve:" in self.text() or self.p.poll() is not None,
                       timeout=10, what="synfin-serve to start")
        except AssertionError:
            # not left holding the device: the next test's synfin-serve would fail on it
            self.p.kill()
            self.p.wait()
            raise AssertionError("synfin-serve printed nothing in 10 s (log "
                                 f"{self.log.name}): {self.text()[-800:]}") from None
        if self.p.poll() is not None:
            raise AssertionError("synfin-serve did not start: " + self.text())
        # The device is up once the line is printed; the kernel needs a moment for its route.
        wait_until(lambda: ns.run(["ip", "route", "get", addr], check=False).returncode == 0,
                   timeout=5, what="the route to synfin")

    def text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def transitions(self, text=None):
        """[(time, local, remote, id, from, to, cause)] from the trace (of text, a part of
        self.text(), if given)."""
        rx = re.compile(r"^\s*([\d.]+) (\S+) <-> (\S+) id=(\d+) (\w+) -> (\w+) \((.*)\)$")
        return [(float(m[1]), m[2], m[3], int(m[4]), m[5], m[6], m[7])
                for m in map(rx.match, (self.text() if text is None else text).splitlines())
                if m]

    def counters(self, when="exit"):
        """The last engine counters line ("exit", or "now" after a SIGUSR1) as a dict."""
        lines = [l for l in self.text().splitlines()
                 if l.startswith(f"synfin-serve: engine ({when}):")]
        if not lines:
            return None
        return {re.sub(r"[ -]", "_", k): int(v) for k, v in
                re.findall(r"([a-z][a-z -]*?) (\d+)", lines[-1].split("):", 1)[1])}

    def counters_now(self, timeout=10):
        """Asks the running synfin-serve for its counters (SIGUSR1) and waits for them.
        Returns them and the log up to them (the trace as of that moment)."""
        mark = "synfin-serve: engine (now):"
        seen = self.text().count(mark)
        self.p.send_signal(signal.SIGUSR1)
        wait_until(lambda: self.text().count(mark) > seen, timeout=timeout,
                   what="synfin-serve's counters")
        text = self.text()
        return self.counters("now"), text[:text.rindex(mark)]

    def stop(self, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                self.killed = True
        return self.p.returncode

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        rc = self.stop()
        text = self.text()
        self.log.close()
        # A capture is complete only when synfin-serve closed it: one killed, or one that
        # failed, leaves a file tshark would misjudge later and far from the cause.
        if exc_type is None and (self.killed or rc != 0):
            how = "had to be killed" if self.killed else f"exited with status {rc}"
            raise AssertionError(f"synfin-serve {how}: ...{text[-800:]}")


def peer(ns, *args, timeout=120):
    """Runs tests/interop/peer.py in the namespace; returns its stdout."""
    return ns.run([sys.executable, os.path.join(HERE, "peer.py")] + list(args),
                  timeout=timeout).stdout


def read_pcap(path, count_only=False):
    """[(seconds, ip packet bytes)] of a LINKTYPE_RAW capture (synfin-serve --pcap), or
    with count_only the number of packets."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data)[0]
    end = "<" if magic == 0xA1B2C3D4 else ">"
    assert struct.unpack_from(end + "I", data)[0] == 0xA1B2C3D4, "not a pcap file"
    assert struct.unpack_from(end + "I", data, 20)[0] in (101, 228), "not raw IP"
    out, off, n = [], 24, 0
    rec = struct.Struct(end + "IIII")
    while off + 16 <= len(data):
        sec, usec, incl, _ = rec.unpack_from(data, off)
        off += 16
        if not count_only:
            out.append((sec + usec / 1e6, data[off:off + incl]))
        n += 1
        off += incl
    return n if count_only else out


def tcp_of(pkt):
    """(src, dst, sport, dport, flags, ip total length) of an IPv4 TCP packet, else None."""
    if len(pkt) < 40 or pkt[0] >> 4 != 4 or pkt[9] != 6:
        return None
    ihl = (pkt[0] & 15) * 4
    sport, dport = struct.unpack_from("!HH", pkt, ihl)
    return (socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20]), sport, dport,
            pkt[ihl + 13], struct.unpack_from("!H", pkt, 2)[0])


def tcp_seq(pkt):
    """(4-tuple, seq, ack, end) of an IPv4 TCP packet: end = seq + payload (+1 for SYN and
    FIN), the sequence number just after what the segment carries."""
    h = tcp_of(pkt)
    if not h:
        return None
    ihl = (pkt[0] & 15) * 4
    seq, ack, off = struct.unpack_from("!IIB", pkt, ihl + 4)
    size = h[5] - ihl - (off >> 4) * 4 + (1 if h[4] & 0x03 else 0)
    return (h[0], h[2], h[1], h[3]), seq, ack, (seq + size) & 0xFFFFFFFF


def ack_of_captured_segment(frame, pkts):
    """For Judge(acked_unseen_allowed=...): whether the ACK in frame (1-based) acknowledges
    exactly the end of a segment captured before it in the other direction. tshark flags such
    an ACK when that segment both resent bytes and carried one new one (it does not advance
    its idea of the highest sequence number on a segment it calls a retransmission)."""
    me = tcp_seq(pkts[frame - 1][1])
    if not me:
        return False
    (src, sport, dst, dport), _, ack, _ = me
    for _, p in pkts[:frame - 1]:
        o = tcp_seq(p)
        if o and o[0] == (dst, dport, src, sport) and o[3] == ack:
            return True
    return False


def tsval(pkt):
    """The TCP timestamp option's TSval of an IPv4 TCP packet, else None."""
    ihl = (pkt[0] & 15) * 4
    i, end = ihl + 20, ihl + (pkt[ihl + 12] >> 4) * 4
    while i < end and pkt[i] != 0:
        if pkt[i] == 1:
            i += 1
            continue
        if i + 1 >= end or pkt[i + 1] < 2:
            return None
        if pkt[i] == 8 and pkt[i + 1] == 10:
            return struct.unpack_from("!I", pkt, i + 2)[0]
        i += pkt[i + 1]
    return None


def queued_with_original(frame, pkts, look_back=20000):
    """Whether the retransmission in frame (1-based) reached synfin together with its
    original: by the sender's own clock (TSval, 1 ms ticks) it waited at least 2 ms before
    sending it again, yet the capture, taken as synfin-serve read each packet, has the two
    less than that apart, minus a tick. Then both sat in the device queue while synfin-serve
    was off the CPU; the sender's timer fired meanwhile, nothing was lost or dropped."""
    t, pkt = pkts[frame - 1]
    me, ts = tcp_seq(pkt), tsval(pkt)
    if not me or ts is None:
        return False
    for t0, p in reversed(pkts[max(0, frame - 1 - look_back):frame - 1]):
        o = tcp_seq(p)
        if o and o[0] == me[0] and o[1] == me[1]:
            ts0 = tsval(p)
            waited = (ts - ts0) & 0xFFFFFFFF if ts0 is not None else 0
            return 2 <= waited < 1 << 31 and (t - t0) * 1000 < waited - 1
    return False


# What the judge counts, as tshark display filters (one tshark pass computes them all).
VERDICTS = {
    # Linux writes a computed 0 as 0xffff (skb_checksum_help's CSUM_MANGLED_0, a UDP
    # habit); the same sum in one's complement, valid for TCP, but this tshark calls it
    # bad. Seen on 1 SYN in ~30,000 from the kernel side.
    # An ICMP error quotes the start of a segment, whose checksum cannot be verified: only
    # TCP segments themselves are judged.
    "bad_tcp_checksum": "tcp.checksum.status == 0 and !icmp and "
                        "!(tcp.checksum == 0xffff and tcp.checksum_calculated == 0x0000)",
    "bad_ip_checksum": "ip.checksum.status == 0",
    "acked_unseen": "tcp.analysis.ack_lost_segment",
    "retransmissions": "tcp.analysis.retransmission or tcp.analysis.fast_retransmission",
}



class Judge:
    """tshark's verdict on a capture: no bad checksum, no ACK of a segment it never saw,
    and (unless allowed) no retransmission, Linux's timing ones apart (see verdict()). tshark
    starts at once and runs on its own; verdict() waits for it, so a big capture can be
    judged while other tests run.
    acked_unseen_allowed(frame, packets) may excuse a flagged frame whose cause the caller
    knows and names."""

    FIELDS = ["frame.number", "icmp.type", "tcp.checksum.status", "tcp.checksum", "tcp.checksum_calculated",
              "ip.checksum.status", "tcp.analysis.ack_lost_segment",
              "tcp.analysis.retransmission", "tcp.analysis.fast_retransmission",
              "tcp.analysis.spurious_retransmission", "ip.src"]

    def __init__(self, pcap, retransmissions_allowed=False, acked_unseen_allowed=None):
        self.pcap = pcap
        self.retransmissions_allowed = retransmissions_allowed
        self.acked_unseen_allowed = acked_unseen_allowed
        # One pass: the frames matching any verdict, with the fields each verdict is made of
        # (tshark has no per-filter output), sorted out below. No HTTP dissection and no
        # stream reassembly: neither changes a verdict, and both cost time on big captures.
        argv = ["tshark", "-n", "-r", pcap, "-o", "tcp.check_checksum:TRUE",
                "-o", "ip.check_checksum:TRUE", "-o", "tcp.desegment_tcp_streams:FALSE",
                "--disable-protocol", "http",
                "-Y", " or ".join(f"({f})" for f in VERDICTS.values()),
                "-T", "fields", "-E", "separator=|", "-E", "occurrence=f"]
        for f in self.FIELDS:
            argv += ["-e", f]
        self.out = open(pcap + ".verdict", "w+")
        self.err = open(pcap + ".tshark-err", "w+")
        self.p = subprocess.Popen(argv, stdout=self.out, stderr=self.err, text=True)

    def frames(self, timeout=600):
        """{verdict: [frame numbers]}."""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError(f"tshark took more than {timeout}s on {self.pcap}")
        self.out.seek(0)
        self.err.seek(0)
        if rc != 0:
            raise AssertionError(f"tshark failed on {self.pcap}: {self.err.read()[-1000:]}")
        got = {n: [] for n in VERDICTS}
        got["linux_spurious"], got["linux_other"] = [], []
        for line in self.out.read().splitlines():
            num, icmp, tcs, tc, tcc, ics, lost, rtx, frtx, spurious, src = line.split("|")
            if tcs == "0" and not icmp and not (tc == "0xffff" and tcc == "0x0000"):
                got["bad_tcp_checksum"].append(int(num))
            if ics == "0":
                got["bad_ip_checksum"].append(int(num))
            if lost:
                got["acked_unseen"].append(int(num))
            if rtx or frtx:
                by_linux = "linux_spurious" if spurious else "linux_other"
                got["retransmissions" if src == ADDR else by_linux].append(int(num))
        self.out.close()
        self.err.close()
        return got

    def verdict(self, timeout=600):
        """Raises unless the capture passes; returns a dict of counts.
        Linux's retransmissions of two kinds are counted, not failed: both come from its
        timer firing while synfin-serve was off the CPU, as on any loaded 2-core machine.
        linux_spurious: it sent again what synfin had already acknowledged (tshark saw the
        ACK first; a tail loss probe fires after two RTTs, here a few milliseconds).
        linux_queued: the copy reached synfin together with its original
        (queued_with_original). Any other Linux retransmission counts as one."""
        got = self.frames(timeout)
        pkts = None
        other = got.pop("linux_other")
        got["linux_queued"] = []
        if other:
            pkts = read_pcap(self.pcap)
            for n in other:
                got["linux_queued" if queued_with_original(n, pkts) else "retransmissions"] \
                    .append(n)
        if self.acked_unseen_allowed and got["acked_unseen"]:
            pkts = pkts or read_pcap(self.pcap)
            got["acked_unseen"] = [n for n in got["acked_unseen"]
                                   if not self.acked_unseen_allowed(n, pkts)]
        v = {k: len(x) for k, x in got.items()}
        v["packets"] = len(pkts) if pkts else read_pcap(self.pcap, count_only=True)
        bad = v["bad_tcp_checksum"] or v["bad_ip_checksum"] or v["acked_unseen"] or (
            v["retransmissions"] and not self.retransmissions_allowed)
        if bad or not v["packets"]:
            raise AssertionError(f"tshark judged {self.pcap}: {v}; frames: "
                                 f"{ {k: x[:10] for k, x in got.items() if x} }")
        # A capture that passed has said all it can; the failing ones stay for a look. (The
        # suite's captures add up to a few hundred MB, more than some machines can spare.)
        for f in (self.pcap, self.pcap + ".verdict", self.pcap + ".tshark-err"):
            os.remove(f)
        return v


def judge(pcap, **kw):
    """Judge(pcap, **kw).verdict(): tshark's verdict, waited for."""
    return Judge(pcap, **kw).verdict()


def wait_states(ns, pred, timeout=10):
    """Polls `ss -tan` in the namespace until pred(lines) is true; returns the lines."""
    out = []

    def check():
        out[:] = ns.run(["ss", "-tanH"]).stdout.splitlines()
        return pred(out)
    wait_until(check, timeout=timeout, what="socket states")
    return out


def sleep_at_least(seconds):
    """For waiting out a protocol timer that is the subject of the test (TIME-WAIT): the
    engine's own timer is what is checked, by its trace; this only lets time pass."""
    time.sleep(seconds)
