#!/usr/bin/env python3
"""synfin-stat --advise in namespaces of our own: one with deliberately poor settings and the
load that exposes them (every finding reported, exit 1), one with good settings (exit 0), and
one left as the kernel makes it (exit 0: what RFC 1122 requires, such as the 7200 s keepalive
time, is a note, not a finding). It reads the namespace's own sysctls and never writes one."""
import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import statlib as L  # noqa: E402
from tap import Tap, wait_until  # noqa: E402

t = Tap()

POOR = {
    "net.ipv4.tcp_tw_reuse": 0,
    "net.ipv4.tcp_fin_timeout": 300,
    "net.ipv4.tcp_max_tw_buckets": 500,
    "net.ipv4.tcp_syncookies": 0,
    "net.ipv4.tcp_max_syn_backlog": 64,
    "net.core.somaxconn": 128,
    "net.ipv4.ip_local_port_range": "60000 60799",
    "net.ipv4.tcp_keepalive_time": 3600,  # set by hand: 7200, the default, is a note
    "net.ipv4.tcp_timestamps": 0,
}
GOOD = {
    "net.ipv4.tcp_tw_reuse": 1,
    "net.ipv4.tcp_fin_timeout": 30,
    "net.ipv4.tcp_max_tw_buckets": 262144,
    "net.ipv4.tcp_syncookies": 1,
    "net.ipv4.tcp_max_syn_backlog": 4096,
    "net.core.somaxconn": 4096,
    "net.ipv4.ip_local_port_range": "1024 65535",
    "net.ipv4.tcp_keepalive_time": 120,
    "net.ipv4.tcp_keepalive_intvl": 30,
    "net.ipv4.tcp_keepalive_probes": 4,
    "net.ipv4.tcp_timestamps": 1,
}
POOR_FINDINGS = {"port-exhaustion", "tw-reuse", "max-tw-buckets", "timestamps", "fin-timeout",
                 "syncookies", "syn-backlog", "somaxconn", "accept-queue", "keepalive",
                 "close-wait"}


def net_sysctls(ns):
    """Every readable net sysctl of ns, to show --advise leaves them as they were."""
    r = ns.run(["sh", "-c", "for f in $(find /proc/sys/net/ipv4 /proc/sys/net/core -maxdepth 1"
                " -type f -perm -u+r); do printf '%s=' $f; cat $f 2>/dev/null; done"])
    return r.stdout


def advise(ns, *extra):
    return subprocess.run([L.stat_bin(), "--advise", "--netns", ns.name] + list(extra),
                          capture_output=True, text=True, timeout=60)


class PoorHost:
    def __init__(self):
        self.ns = L.Netns("poor")
        for k, v in POOR.items():
            self.ns.sysctl(k, v)
        self.keep = []
        with self.ns:
            # 600 connections from 127.0.0.1 to one service, closed by this side first: the
            # TIME_WAIT bucket limit (500) caps what remains.
            svc = L.listener("127.0.0.2")
            self.keep.append(svc)
            for _ in range(6):
                pairs = [L.connect_pair(svc, "127.0.0.1") for _ in range(100)]
                for c, _s in pairs:
                    c.close()
                for _c, s in pairs:
                    s.close()
            # 100 connections whose peer closed and whose server never does: CLOSE_WAIT.
            app = L.listener("127.0.0.3")
            self.app_port = app.getsockname()[1]
            self.keep.append(app)
            for _ in range(100):
                c, s = L.connect_pair(app)
                c.close()
                self.keep.append(s)
            # A listener that never accepts, backlog 4: its accept queue fills (4 + 1).
            slow = L.listener("127.0.0.4", backlog=4)
            self.keep.append(slow)
            for _ in range(6):
                c = socket.socket()
                c.setblocking(False)
                c.connect_ex(slow.getsockname())
                self.keep.append(c)
        wait_until(lambda: L.ss_hist(self.ns)["CLOSE_WAIT"] == 100, what="100 CLOSE_WAIT")
        wait_until(lambda: L.ss_hist(self.ns)["TIME_WAIT"] == 500, what="500 TIME_WAIT")


def get_poor():
    return L.built_once("the poor host", PoorHost)


@t.test
def poor_settings_are_each_reported():
    p = get_poor()
    before = net_sysctls(p.ns)
    r = advise(p.ns, "--json")
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    doc = json.loads(r.stdout)
    found = {f["id"]: f for f in doc["findings"] if f["attention"]}
    assert set(found) == POOR_FINDINGS, f"missing {POOR_FINDINGS - set(found)}, " \
        f"unexpected {set(found) - POOR_FINDINGS}"
    assert doc["attention"] is True and doc["netns"] == p.ns.name
    for f in doc["findings"]:
        assert all(f[k] for k in ("title", "evidence", "risk", "change", "reason")), f
    # The namespace's own values were read, not the host's.
    sc = doc["sysctls"]
    assert sc["net.ipv4.ip_local_port_range"] == [60000, 60799], sc
    assert sc["net.core.somaxconn"] == 128 and sc["net.ipv4.tcp_max_tw_buckets"] == 500
    ev = {k: f["evidence"] for k, f in found.items()}
    assert "500 outgoing TIME_WAIT from 127.0.0.1 to 127.0.0.2:" in ev["port-exhaustion"], ev
    assert "(800 ports)" in ev["port-exhaustion"]
    assert "13 new connections per second" in found["port-exhaustion"]["risk"]  # 800 / 60
    assert "500 TIME_WAIT; net.ipv4.tcp_max_tw_buckets = 500" in ev["max-tw-buckets"]
    assert f"100 CLOSE_WAIT; 100 of them on local port {p.app_port}" in ev["close-wait"], ev
    assert "No sysctl" in found["close-wait"]["change"]
    assert "5 connections wait to be accepted on 127.0.0.4:" in ev["accept-queue"], ev
    assert "tcp_fin_timeout = 300" in ev["fin-timeout"]
    assert net_sysctls(p.ns) == before, "--advise changed a sysctl"


@t.test
def poor_settings_in_text():
    p = get_poor()
    r = advise(p.ns)
    assert r.returncode == 1, r.stderr
    assert r.stdout.startswith(f"synfin-stat --advise: {len(POOR_FINDINGS)} findings need "
                               "attention"), r.stdout[:200]
    for fid in POOR_FINDINGS:
        assert f"\n[attention] {fid}: " in r.stdout, fid
    for part in ("  evidence  ", "  risk      ", "  change    ", "  reason    "):
        assert r.stdout.count(part) >= len(POOR_FINDINGS), part
    assert "Nothing was changed" in r.stdout
    assert max(len(ln) for ln in r.stdout.splitlines()) <= 100


@t.test
def filters_narrow_the_evidence():
    """With --port on the CLOSE_WAIT service only, the TIME_WAIT findings have no load to
    report; the settings alone still need attention."""
    p = get_poor()
    doc = json.loads(advise(p.ns, "--json", "--port", str(p.app_port)).stdout)
    ids = {f["id"] for f in doc["findings"] if f["attention"]}
    assert "close-wait" in ids and "port-exhaustion" not in ids and "max-tw-buckets" not in ids
    assert "port-range-narrow" in ids  # no load, but 800 ports is narrow by itself


@t.test
def ignored_findings_are_shown_but_not_counted():
    p = get_poor()
    r = advise(p.ns, "--ignore", "keepalive")
    assert r.returncode == 1 and "\n[ignored] keepalive: " in r.stdout, r.stdout[:300]
    r = advise(p.ns, "--ignore", ",".join(sorted(POOR_FINDINGS)), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["attention"] is False
    assert {f["id"] for f in doc["findings"] if f["ignored"]} == POOR_FINDINGS


@t.test
def stock_kernel_exit_0():
    L.need_root_and_netns()
    ns = L.Netns("stock")
    r = advise(ns, "--json")
    assert r.returncode == 0, f"exit {r.returncode}:\n{r.stdout}{r.stderr}"
    doc = json.loads(r.stdout)
    assert doc["attention"] is False, [f["id"] for f in doc["findings"] if f["attention"]]
    sc = doc["sysctls"]
    assert sc["net.ipv4.tcp_keepalive_time"] == 7200, sc
    notes = {f["id"]: f for f in doc["findings"]}
    assert notes["keepalive"]["attention"] is False, notes["keepalive"]
    assert "RFC 1122" in notes["keepalive"]["title"], notes["keepalive"]
    # tcp_tw_reuse_delay (Linux 6.14+) is read where the kernel has it
    has_delay = os.path.exists("/proc/sys/net/ipv4/tcp_tw_reuse_delay")
    assert sc["net.ipv4.tcp_tw_reuse_delay"] == (1000 if has_delay else None), sc
    r = advise(ns)
    assert r.returncode == 0, r.stdout
    assert r.stdout.startswith("synfin-stat --advise: nothing needs attention, "), r.stdout
    assert "\n[note] keepalive: " in r.stdout, r.stdout
    if has_delay:
        # set to the whole TIME_WAIT with reuse on, it is a finding naming the value
        ns.sysctl("net.ipv4.tcp_tw_reuse", 1)
        ns.sysctl("net.ipv4.tcp_tw_reuse_delay", 60000)
        r = advise(ns, "--json")
        assert r.returncode == 1, r.stdout
        f = [f for f in json.loads(r.stdout)["findings"] if f["id"] == "tw-reuse-delay"]
        assert f and f[0]["attention"] and "tcp_tw_reuse_delay = 60000 ms" in f[0]["evidence"], f
    ns.delete()


@t.test
def good_settings_exit_0():
    L.need_root_and_netns()
    ns = L.Netns("good")
    for k, v in GOOD.items():
        ns.sysctl(k, v)
    with ns:
        lst = L.listener("127.0.0.1")
        pairs = [L.connect_pair(lst) for _ in range(20)]
    for c, _s in pairs[:10]:
        c.close()
    for _c, s in pairs[:10]:
        s.close()
    wait_until(lambda: L.ss_hist(ns)["TIME_WAIT"] == 10, what="10 TIME_WAIT")
    r = advise(ns)
    assert r.returncode == 0, f"exit {r.returncode}:\n{r.stdout}{r.stderr}"
    assert r.stdout.startswith("synfin-stat --advise: nothing needs attention"), r.stdout
    doc = json.loads(advise(ns, "--json").stdout)
    assert doc["attention"] is False
    assert not [f for f in doc["findings"] if f["attention"]]
    assert doc["tcp_states"]["TIME_WAIT"] == 10 and doc["tcp_states"]["ESTABLISHED"] == 20
    lst.close()
    for c, s in pairs[10:]:
        c.close()
        s.close()
    ns.delete()


t.done()
