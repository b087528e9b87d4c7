#!/usr/bin/env python3
"""synfin-drill's handling of the packetdrill language beyond tests/drill/*.pkt: scripts that
need a feature it lacks are reported unsupported (skipped, named, exit status 0), never
failed; #ifdef sections follow --define; packetdrill's cleanup command is accepted.

The scripts are written to a temporary directory: they are not part of the corpus, which
must pass."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, binary  # noqa: E402

DRILL = binary("synfin-drill")
t = Tap()
TMP = tempfile.mkdtemp(prefix="drill-lang-")

HANDSHAKE = """0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 7>
+.01 < . 1:1(0) ack 1 win 514
+0 accept(3, ..., ...) = 4
"""


def script(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def drill(*args):
    return subprocess.run([DRILL, *args], capture_output=True, text=True, timeout=60)


def skipped(path, line, what):
    p = drill("--tap", path)
    lines = p.stdout.splitlines()
    assert p.returncode == 0, p.stdout + p.stderr
    assert lines[0] == "1..1", lines
    want = f"ok 1 - {path} # SKIP unsupported: "
    assert lines[1].startswith(want) and what in lines[1], lines
    p = drill(path)
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith(f"{path}:{line}: unsupported: "), p.stderr


@t.test
def unknown_sysctl_is_unsupported():
    path = script("sysctl.pkt", "`sysctl -q net.ipv4.tcp_no_such_knob=1`\n" + HANDSHAKE)
    skipped(path, 1, "sysctl net.ipv4.tcp_no_such_knob: no engine setting for it")


@t.test
def fixed_behaviour_sysctl_is_unsupported_only_when_it_differs():
    path = script("fack.pkt", "0 `sysctl -q net.ipv4.tcp_fack=0`\n+" + HANDSHAKE)
    assert drill("--strict_end", path).returncode == 0
    path = script("fack1.pkt", "0 `sysctl -q net.ipv4.tcp_fack=1`\n+" + HANDSHAKE)
    skipped(path, 1, "net.ipv4.tcp_fack=1: the engine's behaviour is fixed")


@t.test
def other_shell_commands_are_unsupported():
    path = script("tc.pkt", "`tc qdisc replace dev tun0 root pfifo limit 0`\n" + HANDSHAKE)
    skipped(path, 1, "`tc qdisc replace dev tun0 root pfifo limit 0`: not a TCP setting")
    path = script("nstat.pkt", HANDSHAKE + "+0 `nstat | grep TcpExt > /dev/null`\n")
    skipped(path, 8, "a pipeline")


@t.test
def setting_changed_mid_script_is_unsupported():
    path = script("late.pkt", HANDSHAKE + "+0 `sysctl -q net.ipv4.tcp_sack=0`\n")
    skipped(path, 8, "changes an engine setting after the script started")


@t.test
def python_block_with_a_value_the_engine_lacks_is_unsupported():
    path = script("code.pkt", HANDSHAKE + "+0 %{ assert tcpi_rto == 1000000 }%\n"
                  "+0 %{ assert tcpi_lost == 0 }%\n")
    skipped(path, 9, "%{ python }% block: tcpi_lost (no engine value)")


@t.test
def unknown_call_and_name_are_unsupported():
    path = script("ioctl.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                  "+0 ioctl(3, 0x541b, [0]) = 0\n")
    skipped(path, 2, "system call ioctl")
    # epoll is level-triggered only: the edge-triggered and one-shot flags are named
    path = script("epollet.pkt", HANDSHAKE + "+0 epoll_create(1) = 5\n"
                  "+0 epoll_ctl(5, EPOLL_CTL_ADD, 4, {events=EPOLLIN|EPOLLET, fd=4}) = 0\n")
    skipped(path, 9, "EPOLLET, EPOLLONESHOT")
    # what the engine cannot give in a msghdr, and IP options it has no switch for
    path = script("cmsg.pkt", HANDSHAKE + "+0 < P. 1:11(10) ack 1 win 514\n"
                  "+0 recvmsg(4, {msg_name(...)=..., msg_iov(1)=[{..., 10}], msg_flags=0, "
                  "msg_control=[{cmsg_level=SOL_IP, cmsg_type=IP_TOS, cmsg_data=0}]}, 0) = 10\n")
    skipped(path, 9, "recvmsg: control messages")
    path = script("iptos.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                  "+0 setsockopt(3, SOL_IP, IP_TOS, [0x10], 4) = 0\n")
    skipped(path, 2, "IP_TOS 16 (the engine always sends 0)")
    path = script("savesyn.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                  "+0 setsockopt(3, SOL_TCP, TCP_SAVE_SYN, [1], 4) = 0\n")
    skipped(path, 2, "name 'TCP_SAVE_SYN'")
    # the per-socket no-cookie switch is named as what is missing (the sysctl bit is known)
    path = script("fastopen.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                  "+0 setsockopt(3, SOL_TCP, TCP_FASTOPEN_NO_COOKIE, [1], 4) = 0\n")
    skipped(path, 2, "TCP_FASTOPEN_NO_COOKIE")


@t.test
def noopt_on_and_eor_behind_unsent_data_are_unsupported():
    path = script("noopt.pkt", "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
                  "+0 setsockopt(3, IPPROTO_TCP, TCP_NOOPT, [1], 4) = 0\n")
    skipped(path, 2, "TCP_NOOPT on")
    path = script("eor.pkt", HANDSHAKE.replace("win 514", "win 1")
                  + "+0 send(4, ..., 1000, MSG_EOR) = 1000\n"
                  + "+0 send(4, ..., 10, 0) = 10\n")
    skipped(path, 9, "MSG_EOR: data written behind an unsent record")


@t.test
def md5_signatures_are_unsupported_by_name():
    what = "TCP MD5 signatures (RFC 2385)"
    opt = HANDSHAKE + "+0 < P. 1:11(10) ack 1 win 514 <md5 000102030405060708090a0b0c0d0e0f>\n"
    skipped(script("md5opt.pkt", opt), "8:33", what)
    digits = HANDSHAKE + "+0 < . 1:1(0) ack 1 win 514 <nop,nop,md5 1234abcd>\n"
    skipped(script("md5short.pkt", digits), "8:38", what)
    sockopt = ("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
               "+0 setsockopt(3, IPPROTO_TCP, TCP_MD5SIG, [1], 4) = 0\n")
    skipped(script("md5sig.pkt", sockopt), 2, what)
    # a digest packetdrill refuses is the script's error, not a missing feature
    for bad, msg in (("0123456789abcdef0123456789abcdef00", "longer than 16 bytes"),
                     ("xyz12", "not a valid hex string")):
        path = script("md5bad.pkt", HANDSHAKE + f"+0 < . 1:1(0) ack 1 win 514 <md5 {bad}>\n")
        p = drill(path)
        assert p.returncode == 1 and msg in p.stderr, p.stderr


@t.test
def ifdef_sections_follow_define():
    text = ("#ifdef SLOW\n--delack_ms=200\n#else\n--delack_ms=100\n#endif\n" + HANDSHAKE
            + "+.01 < P. 1:101(100) ack 1 win 514\n"
            + "#ifndef SLOW\n+.1 > . 1:1(0) ack 101\n#else\n+.2 > . 1:1(0) ack 101\n#endif\n")
    path = script("ifdef.pkt", text)
    assert drill("--strict_end", path).returncode == 0, drill(path).stderr
    p = drill("--strict_end", "--define=SLOW", path)
    assert p.returncode == 0, p.stderr
    p = drill("--strict_end", "--define=SLOW=1", path)
    assert p.returncode == 0, p.stderr
    # the lines keep their numbers: the ACK expected at line 17 (else branch) is late
    bad = script("ifdef-bad.pkt", text.replace("+.2 > .", "+.3 > ."))
    p = drill("--define=SLOW", bad)
    assert p.returncode == 1 and p.stderr.startswith(f"{bad}:17: "), p.stderr
    # a defined value stands for the word, as packetdrill's lexer reads it: a number, a
    # word, a "string"
    path = script("defval.pkt", HANDSHAKE.replace("accept(3, ..., ...) = 4", "accept(3, ..., ...) = FD")
                  + "+0 write(FD, ..., 3) = 3\n+0 > P. 1:4(3) ack 1\n")
    p = drill("--define=FD=4", "--strict_end", path)
    assert p.returncode == 0, p.stderr
    # accept gives the descriptor the script names when it is free (packetdrill), so a
    # defined 0x5 is read as 5 and the script runs on descriptor 5
    p = drill("-D", "FD=0x5", "--strict_end", path)
    assert p.returncode == 0, p.stderr
    p = drill("--define=FD", path)  # no value: the word stays a word
    assert p.returncode == 0 and "name 'FD'" in p.stderr, p.stderr
    p = drill(script("noend.pkt", "#ifdef X\n" + HANDSHAKE))
    assert p.returncode == 1 and "noend.pkt:1:1: #ifdef without #endif" in p.stderr, p.stderr


@t.test
def cleanup_command_is_accepted():
    path = script("cleanup.pkt", "`../common/nothing_here.sh`\n" + HANDSHAKE
                  + "`/tmp/sysctl_restore_${PPID}.sh`\n")
    p = drill(path)
    # the init command names a script that does not exist: unsupported, at line 1
    assert p.returncode == 0 and "1: unsupported: `../common/nothing_here.sh`" in p.stderr
    path = script("cleanup2.pkt", HANDSHAKE + "`/tmp/sysctl_restore_${PPID}.sh`\n")
    p = drill("--strict_end", path)
    assert p.returncode == 0 and p.stderr == "", p.stderr


@t.test
def gso_joins_back_to_back_segments():
    text = HANDSHAKE.replace("S 0:0(0) win 65535 <mss 1460", "S 0:0(0) win 65535 <mss 1000") + (
        "+0 write(4, ..., 2500) = 2500\n"
        "+0 > P. 1:2501(2500) ack 1\n")
    path = script("gso.pkt", text)
    p = drill("--strict_end", path)
    assert p.returncode == 0, p.stderr
    p = drill("--strict_end", "--gso=0", path)
    assert p.returncode == 1 and "actual: > . 1:1001(1000) ack 1" in p.stderr, p.stderr
    # a line wanting less than the segment still fails: nothing is split
    p = drill(script("gso-short.pkt", text.replace("1:2501(2500)", "1:501(500)")))
    assert p.returncode == 1 and "actual: > . 1:1001(1000)" in p.stderr, p.stderr


@t.test
def mtu_sets_the_offered_mss_per_family():
    # packetdrill's run_all.py runs IPv6 with --mtu=1520 so that scripts keep their mss 1460
    text = HANDSHAKE.replace("ack 1 <mss 1460,nop,wscale 7>", "ack 1 <mss MSS,nop,wscale 7>")
    for args, mss in ((["--ip_version=ipv6", "--mtu=1520"], 1460), (["--ip_version=ipv6"], 1440),
                      (["--mtu=1400", "--gateway_ip=192.168.0.1", "--netmask_ip=255.255.0.0"],
                       1360)):
        path = script(f"mtu{mss}.pkt", text.replace("MSS", str(mss)))
        p = drill("--strict_end", *args, path)
        assert p.returncode == 0, (args, p.stderr)
    p = drill("-D", "SLOW", "--strict_end", os.path.join(TMP, "ifdef.pkt"))
    assert p.returncode == 0, p.stderr


@t.test
def summary_counts_unsupported():
    good = script("good.pkt", HANDSHAKE)
    skip = script("skip.pkt", "`tc qdisc show`\n" + HANDSHAKE)
    bad = script("bad.pkt", HANDSHAKE.replace("ack 1 <mss", "ack 2 <mss"))
    p = drill(good, skip, bad)
    assert p.returncode == 1
    assert p.stdout.strip() == "3 scripts, 1 passed, 1 failed, 1 unsupported", p.stdout


t.done()
