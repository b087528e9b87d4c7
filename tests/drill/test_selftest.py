#!/usr/bin/env python3
"""synfin-drill must fail each script in tests/drill/selftest/, at the line it names.

Each script starts with a line `// drill-selftest: line N: TEXT`: the run must exit with
status 1 and report `FILE:N:` followed (on the same line) by TEXT.
"""
import glob
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from tap import Tap, binary  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DRILL = binary("synfin-drill")
t = Tap()


def expectation(path):
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    m = re.match(r"//\s*drill-selftest:\s*line (\d+):\s*(.+?)\s*$", first)
    assert m, f"{path}: first line must be '// drill-selftest: line N: TEXT'"
    return int(m.group(1)), m.group(2)


def check(path):
    line, text = expectation(path)
    # --unsupported_fails: an unknown option is a typo here, as in our corpus
    p = subprocess.run([DRILL, "--unsupported_fails", path], capture_output=True, text=True,
                       timeout=60)
    out = p.stdout + p.stderr
    assert p.returncode == 1, f"exit status {p.returncode}, output:\n{out}"
    where = f"{path}:{line}:"
    hits = [ln for ln in out.splitlines() if ln.startswith(where)]
    assert hits, f"no message at {where}; output:\n{out}"
    assert any(text in ln for ln in hits), f"'{text}' not in:\n{out}"


for path in sorted(glob.glob(os.path.join(HERE, "selftest", "*.pkt"))):
    name = os.path.splitext(os.path.basename(path))[0].replace("-", "_")

    def run(path=path):
        check(path)

    run.__name__ = name
    t.test(run)


@t.test
def tap_output_counts_each_script():
    good = os.path.join(HERE, "handshake-passive.pkt")
    bad = os.path.join(HERE, "selftest", "wrong-ack.pkt")
    p = subprocess.run([DRILL, "--tap", good, bad], capture_output=True, text=True, timeout=60)
    lines = p.stdout.splitlines()
    assert p.returncode == 1, p.stdout
    assert lines[0] == "1..2", lines
    assert lines[1] == f"ok 1 - {good}", lines
    assert lines[2] == f"not ok 2 - {bad}", lines
    assert lines[3].startswith(f"# {bad}:6: expected: > S. 0:0(0) ack 2"), lines


@t.test
def usage_errors_exit_2():
    assert subprocess.run([DRILL], capture_output=True, timeout=60).returncode == 2
    p = subprocess.run([DRILL, "-x", "a.pkt"], capture_output=True, timeout=60)
    assert p.returncode == 2
    p = subprocess.run([DRILL, "/nonexistent.pkt"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "/nonexistent.pkt: cannot open" in p.stderr, p.stderr


@t.test
def command_line_options_reach_the_engine():
    # --mss from the command line changes the MSS the engine offers: the SYN-ACK line of the
    # script (mss 1460) no longer matches
    script = os.path.join(HERE, "handshake-passive.pkt")
    assert subprocess.run([DRILL, script], capture_output=True, timeout=60).returncode == 0
    p = subprocess.run([DRILL, "--mss=1000", script], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and "TCP option 1 differs" in p.stderr, p.stderr
    # the script's own options win over the command line's
    script = os.path.join(HERE, "close-active-fourway.pkt")
    p = subprocess.run([DRILL, "--time_wait_ms=60000", script], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([DRILL, "--no_such=1", script], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and "command line: --no_such: unknown option" in p.stderr, p.stderr


@t.test
def pcap_capture_is_written():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "x.pcap")
        script = os.path.join(HERE, "close-active-fourway.pkt")
        p = subprocess.run([DRILL, f"--pcap={out}", script], capture_output=True, timeout=60)
        assert p.returncode == 0, p.stderr
        with open(out, "rb") as f:
            data = f.read()
        assert data[:4] == bytes.fromhex("d4c3b2a1"), data[:4]
        # 3 packets of handshake, 4 of close, the late ACK and the RST answering it
        n, off = 0, 24
        while off < len(data):
            incl = int.from_bytes(data[off + 8:off + 12], "little")
            off += 16 + incl
            n += 1
        assert off == len(data) and n == 9, (n, off, len(data))


t.done()
