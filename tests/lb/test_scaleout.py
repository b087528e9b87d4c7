#!/usr/bin/env python3
"""Several synfin nodes behind ECMP, announced by BIRD over BGP (docs/scale-out.md), all in
network namespaces this test makes:

    client ns 10.90.0.2 -- router ns (BIRD, ECMP over the nodes, L4 hash) -- server ns 10.92.0.2
                              |   10.91.K.1 <-> 10.91.K.2   |
                           node ns K (synfin with `announce`, BIRD learning its table, VIP
                           10.99.0.1 on lo), K = 1, 2, 3 (and 4, added later)

Nothing is faked: BIRD speaks BGP between the namespaces, the router's kernel spreads the
flows over the paths BIRD installed, and synfin's routes reach BIRD through its kernel table.
The router also has 10.93.0.1, from which a client can pick a node with a firewall mark
(an `ip rule` per node): the same client address and port then meets every node in turn.

Needs root and BIRD (bird2); skips with one line otherwise (CI is root and has both)."""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from tap import Tap, binary, wait_until  # noqa: E402

t = Tap()
PEER = os.path.join(HERE, "scaleout_peer.py")
VIP = "10.99.0.1"
PFX = "sfo"  # namespace and link names of this test
NODES = (1, 2, 3)
SERVERS = [("s1", 9001), ("s2", 9002), ("s3", 9003)]
WITHDRAW_DELAY_S = 2

SKIP = None
if os.geteuid() != 0:
    SKIP = "needs root (network namespaces, BIRD)"
elif not shutil.which("bird") or not shutil.which("ip"):
    SKIP = "bird (bird2) or ip (iproute2) is not installed"
elif not os.path.exists("/dev/net/tun"):
    SKIP = "no /dev/net/tun (announce's anchor device)"

tmp = tempfile.mkdtemp(prefix="synfin-scaleout-")
procs = {}  # name -> Popen
peers = []  # long-lived helper processes


def ns(name):
    return f"{PFX}-{name}"


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def nsx(name, *args, **kw):
    return sh("ip", "netns", "exec", ns(name), *args, **kw)


def popen_in(name, args, log, **kw):
    return subprocess.Popen(["ip", "netns", "exec", ns(name)] + args, stdout=log,
                            stderr=subprocess.STDOUT, **kw)


def teardown():
    if mirror:
        mirror.stop.set()
        mirror.join()
    for p in peers:
        if p.poll() is None:
            p.kill()
            p.wait()
    for p in procs.values():
        if p.poll() is None:
            p.kill()
            p.wait()
    for n in ("r", "c", "s", "n1", "n2", "n3", "n4"):
        sh("ip", "netns", "del", ns(n), check=False)
    shutil.rmtree(tmp, ignore_errors=True)


def link(a, b, a_if, b_if, a_addr, b_addr):
    sh("ip", "link", "add", a_if, "netns", ns(a), "type", "veth", "peer", "name", b_if,
       "netns", ns(b))
    sh("ip", "-n", ns(a), "addr", "add", a_addr + "/24", "dev", a_if)
    sh("ip", "-n", ns(b), "addr", "add", b_addr + "/24", "dev", b_if)
    sh("ip", "-n", ns(a), "link", "set", a_if, "up")
    sh("ip", "-n", ns(b), "link", "set", b_if, "up")


ROUTER_BIRD = """router id 10.90.0.1;
protocol device { scan time 1; }
protocol kernel {
    ipv4 { import none; export all; };
    merge paths on;
}
# the same routes into table 300, which resilient_mirror() copies into a resilient
# next-hop group: BIRD 2.0 (and FRR 8.4) program plain multipath routes only
ipv4 table resilient4;
protocol pipe { table master4; peer table resilient4; import none; export all; }
protocol kernel kresilient {
    kernel table 300;
    ipv4 { table resilient4; import none; export all; };
    merge paths on;
}
"""
ROUTER_PEER = """protocol bgp node{k} {{
    local 10.91.{k}.1 as 65000;
    neighbor 10.91.{k}.2 as 65001;
    hold time 3; keepalive time 1; connect retry time 1;
    ipv4 {{ import all; export none; }};
}}
"""
NODE_BIRD = """router id 10.91.{k}.2;
protocol device {{ scan time 1; }}
protocol kernel synfin {{
    kernel table 200;
    learn;
    scan time 1;
    ipv4 {{ import all; export none; }};
}}
protocol bgp uplink {{
    local 10.91.{k}.2 as 65001;
    neighbor 10.91.{k}.1 as 65000;
    hold time 3; keepalive time 1; connect retry time 1;
    ipv4 {{ import none; export where proto = "synfin"; next hop self; }};
}}
"""


def node_conf(k):
    # each node lists its servers in another order: the Maglev table must not care
    order = SERVERS[k % 3:] + SERVERS[:k % 3]
    servers = " ".join(f"server {n} 10.92.0.2:{p};" for n, p in order)
    return (f"announce {{ table 200; withdraw_delay {WITHDRAW_DELAY_S}s; }}\n"
            f"admin 127.0.0.1:8404;\ndrain_timeout 30s;\nlog stderr;\n"
            f"frontend vip {{ listen {VIP}:80; backend app; }}\n"
            f"backend app {{ balance maglev; {servers} }}\n")


def start_bird(name, text):
    path = os.path.join(tmp, f"bird-{name}.conf")
    with open(path, "w") as f:
        f.write(text)
    log = open(os.path.join(tmp, f"bird-{name}.log"), "w")
    procs[f"bird-{name}"] = popen_in(name, ["bird", "-f", "-c", path, "-s",
                                            os.path.join(tmp, f"bird-{name}.ctl"), "-P",
                                            os.path.join(tmp, f"bird-{name}.pid")], log)


def start_synfin(k):
    path = os.path.join(tmp, f"node{k}.conf")
    with open(path, "w") as f:
        f.write(node_conf(k))
    log = open(os.path.join(tmp, f"synfin-n{k}.log"), "w")
    procs[f"synfin-n{k}"] = popen_in(f"n{k}", [binary("synfin"), "-c", path], log)


def add_node(k):
    n = f"n{k}"
    sh("ip", "netns", "add", ns(n))
    nsx(n, "ip", "link", "set", "lo", "up")
    link("r", n, f"r-n{k}", f"n{k}-r", f"10.91.{k}.1", f"10.91.{k}.2")
    sh("ip", "-n", ns(n), "addr", "add", VIP + "/32", "dev", "lo")
    sh("ip", "-n", ns(n), "route", "add", "default", "via", f"10.91.{k}.1")
    # the router's way to steer one client to node k: fwmark k -> table 100+k
    sh("ip", "-n", ns("r"), "rule", "add", "fwmark", str(k), "table", str(100 + k))
    sh("ip", "-n", ns("r"), "route", "add", VIP, "via", f"10.91.{k}.2", "table", str(100 + k))
    start_bird(n, NODE_BIRD.format(k=k))
    start_synfin(k)


def setup():
    teardown_names = [ns(n) for n in ("r", "c", "s", "n1", "n2", "n3", "n4")]
    for n in teardown_names:  # a previous run killed before its cleanup
        sh("ip", "netns", "del", n, check=False)
    for n in ("r", "c", "s"):
        sh("ip", "netns", "add", ns(n))
        nsx(n, "ip", "link", "set", "lo", "up")
    nsx("r", "sysctl", "-qw", "net.ipv4.ip_forward=1")
    nsx("r", "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1")  # L4: flows spread
    sh("ip", "-n", ns("r"), "addr", "add", "10.93.0.1/32", "dev", "lo")
    link("r", "c", "r-c", "c-r", "10.90.0.1", "10.90.0.2")
    link("r", "s", "r-s", "s-r", "10.92.0.1", "10.92.0.2")
    sh("ip", "-n", ns("c"), "route", "add", "default", "via", "10.90.0.1")
    sh("ip", "-n", ns("s"), "route", "add", "default", "via", "10.92.0.1")
    srv = subprocess.Popen(["ip", "netns", "exec", ns("s"), sys.executable, PEER, "serve",
                            "10.92.0.2"] + [f"{n}={p}" for n, p in SERVERS],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    peers.append(srv)
    assert json.loads(srv.stdout.readline())["serving"] == len(SERVERS)
    start_bird("r", ROUTER_BIRD + "".join(ROUTER_PEER.format(k=k) for k in (1, 2, 3, 4)))
    for k in NODES:
        add_node(k)


def router_nodes():
    """The nodes the router's route to the VIP leads to now."""
    out = sh("ip", "-n", ns("r"), "-j", "route", "show", VIP).stdout
    hops = set()
    for r in json.loads(out or "[]"):
        for h in r.get("nexthops", [r]):
            if "gateway" in h:
                hops.add(int(h["gateway"].split(".")[2]))
    return hops


def bird_nodes(table):
    out = sh("ip", "-n", ns("r"), "-j", "route", "show", VIP, "table", str(table)).stdout
    hops = set()
    for r in json.loads(out or "[]"):
        for h in r.get("nexthops", [r]):
            if "gateway" in h:
                hops.add(int(h["gateway"].split(".")[2]))
    return hops


class ResilientMirror(threading.Thread):
    """What a router with resilient hashing does (Linux: a next-hop group of type resilient,
    `ip nexthop add ... type resilient`): the paths BIRD chose (table 300) become the group's
    members; a member that goes loses its buckets to the others, one that comes gets only
    buckets idle for idle_timer, so established flows stay where they are. The group's
    route has metric 1, ahead of BIRD's plain multipath route in the main table."""

    def __init__(self):
        super().__init__(daemon=True)
        self.members = set()
        self.stop = threading.Event()

    def sync(self):
        want = bird_nodes(300)
        if want == self.members or not want:
            return
        for k in want - self.members:
            sh("ip", "-n", ns("r"), "nexthop", "replace", "id", str(k), "via", f"10.91.{k}.2",
               "dev", f"r-n{k}")
        verb = "replace" if self.members else "add"
        sh("ip", "-n", ns("r"), "nexthop", verb, "id", "100", "group",
           "/".join(str(k) for k in sorted(want)), "type", "resilient", "buckets", "128",
           "idle_timer", "15", "unbalanced_timer", "0")
        sh("ip", "-n", ns("r"), "route", "replace", VIP, "nhid", "100", "metric", "1")
        self.members = want

    def run(self):
        while not self.stop.wait(0.05):
            self.sync()


def group_nodes():
    out = sh("ip", "-n", ns("r"), "-j", "nexthop", "show", "id", "100", check=False).stdout
    if not out:
        return set()
    return {g["id"] for g in json.loads(out)[0].get("group", [])}


mirror = None


def resilient_router():
    """From here on the router forwards through the resilient group."""
    global mirror
    if mirror is None:
        mirror = ResilientMirror()
        mirror.start()
    wait_until(lambda: group_nodes() == bird_nodes(300) != set(), timeout=10,
               what="the resilient group following BIRD")


def router_pick(sport, src="10.93.0.1"):
    """The node the router sends its own flow src:sport -> VIP:80 to (its multipath hash)."""
    out = sh("ip", "-n", ns("r"), "-j", "route", "get", VIP, "from", src, "ipproto", "tcp",
             "sport", str(sport), "dport", "80").stdout
    return int(json.loads(out)[0]["gateway"].split(".")[2])


def client(where, *args, timeout=60):
    r = subprocess.run(["ip", "netns", "exec", ns(where), sys.executable, PEER] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def node_of(peer):
    return int(peer.split(".")[2])


def admin(k, path="/stats"):
    return json.loads(nsx(f"n{k}", "curl", "-sf", f"http://127.0.0.1:8404{path}").stdout)


def sessions_total(k):
    return admin(k)["sessions"]["total"]


def synfin_log(k):
    with open(os.path.join(tmp, f"synfin-n{k}.log")) as f:
        return f.read()


atexit.register(teardown)
if SKIP:
    t.skip("scale_out", SKIP)
    t.done()
setup()


@t.test
def every_ready_node_is_announced_and_the_router_spreads_over_them():
    wait_until(lambda: router_nodes() == set(NODES), timeout=30,
               what="the router's ECMP route over the three nodes")
    for k in NODES:
        table = nsx(f"n{k}", "ip", "route", "show", "table", "200").stdout
        assert f"{VIP} dev synfin-ann" in table, table
        assert "event=announce address=10.99.0.1 table=200 reason=ready" in synfin_log(k)


@t.test
def every_node_computes_the_same_maglev_table():
    lines = set()
    for k in NODES:
        r = sh(binary("synfin"), "-c", os.path.join(tmp, f"node{k}.conf"), "--maglev-table")
        lines.add(r.stdout.strip())
    assert len(lines) == 1, lines  # same digest and slot counts, servers listed differently
    assert "sha256 " in lines.pop()


@t.test
def a_thousand_connections_spread_over_all_nodes():
    before = {k: sessions_total(k) for k in NODES}
    r = client("c", "spread", "1000", "20")
    assert r["ok"] == 1000, r
    seen = {node_of(p): n for p, n in r["nodes"].items()}
    assert set(seen) == set(NODES), seen
    for k in NODES:
        assert seen[k] >= 200, seen  # an L4 hash over three paths: about 333 each
        assert sessions_total(k) - before[k] == seen[k], (k, seen)
    assert set(r["servers"]) == {n for n, _ in SERVERS}, r


@t.test
def the_same_client_address_and_port_reach_the_same_server_on_every_node():
    r = client("r", "steer", "10.93.0.1", "41000", "60", *[str(k) for k in NODES])
    servers = set()
    for port, by_mark in r.items():
        assert {node_of(peer) for _, peer in by_mark.values()} == set(NODES), (port, by_mark)
        names = {name for name, _ in by_mark.values()}
        assert len(names) == 1, (port, by_mark)
        servers |= names
    assert servers == {n for n, _ in SERVERS}, servers  # and the ports do spread


@t.test
def sigterm_withdraws_first_and_the_drain_loses_nothing():
    size, rate = 8 << 20, 2 << 20  # 4 s, longer than the withdraw delay
    dl = subprocess.Popen(["ip", "netns", "exec", ns("r"), sys.executable, PEER, "download",
                           str(size), str(rate), "1", "10.93.0.1"],
                          stdout=subprocess.PIPE, text=True)
    peers.append(dl)
    started = json.loads(dl.stdout.readline())
    assert node_of(started["node"]) == 1, started
    t0 = time.monotonic()
    procs["synfin-n1"].send_signal(signal.SIGTERM)
    wait_until(lambda: router_nodes() == {2, 3}, timeout=5,
               what="node 1's route withdrawn at the router")
    withdrawn_s = time.monotonic() - t0
    r = client("c", "spread", "200", "10")
    assert r["ok"] == 200, r
    assert node_of(next(iter(r["nodes"]))) in (2, 3) and len(r["nodes"]) <= 2, r
    done = json.loads(dl.stdout.readline())
    assert done == {"bytes": size, "sha_ok": True}, done
    assert procs["synfin-n1"].wait(timeout=35) == 0
    log = synfin_log(1)
    order = [log.index(w) for w in ("event=withdraw address=10.99.0.1", "event=withdraw_wait",
                                    "event=drain ")]
    assert order == sorted(order), log[-2000:]
    print(f"# node 1's route left the router {withdrawn_s:.2f}s after SIGTERM")


def held(count):
    """count held connections from the router's own address (whose flows `ip route get`
    predicts: the output path hashes the same 5-tuple): their process, nodes and ports."""
    h = subprocess.Popen(["ip", "netns", "exec", ns("r"), sys.executable, PEER, "hold",
                          str(count), "10.93.0.1"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    peers.append(h)
    r = json.loads(h.stdout.readline())
    return h, [node_of(p) for p in r["nodes"]], r["ports"]


def alive(h):
    h.stdin.write("check\n")
    h.stdin.flush()
    return json.loads(h.stdout.readline())["alive"]


@t.test
def kill_9_fails_only_that_nodes_sessions():
    if procs["synfin-n1"].poll() is not None:
        start_synfin(1)  # node 1 back after its drain
    wait_until(lambda: router_nodes() == set(NODES), timeout=15, what="node 1 announced again")
    resilient_router()
    wait_until(lambda: group_nodes() == set(NODES), timeout=5, what="three nodes in the group")
    h, nodes, ports = held(60)
    assert set(nodes) == set(NODES), nodes
    picks = [router_pick(p) for p in ports]
    assert picks == nodes, list(zip(nodes, picks))  # the router's hash, as `ip route get` says
    procs["synfin-n2"].kill()
    t0 = time.monotonic()
    wait_until(lambda: group_nodes() == {1, 3}, timeout=5, what="node 2 out of the group")
    gone_s = time.monotonic() - t0
    a = alive(h)
    for k in (1, 3):  # the survivors ended nothing
        assert admin(k)["sessions"]["active"] == nodes.count(k), k
    kept = moved = 0
    for node, port, ok in zip(nodes, ports, a):
        if node == 2:
            assert not ok, (port, "a session of the killed node answered")
            continue
        # a survivor goes on exactly when the router still sends its flow to its node:
        # synfin loses nothing itself; a flow plain ECMP rehashes lands on a node that
        # never saw it (docs/scale-out.md: resilient next-hop groups keep it)
        stays = router_pick(port) == node
        assert ok == stays, (node, port, ok, stays)
        kept += ok
        moved += not stays
    assert moved == 0, moved  # resilient: no survivor's flow moved
    r = client("c", "spread", "100", "10")
    assert r["ok"] == 100 and {node_of(p) for p in r["nodes"]} <= {1, 3}, r
    print(f"# node 2 left the router's group {gone_s:.2f}s after SIGKILL; "
          f"{kept} of {len(nodes) - nodes.count(2)} survivors went on")
    h.stdin.close()
    h.wait(timeout=5)


@t.test
def a_fourth_node_joins_and_no_established_session_moves():
    if procs["synfin-n2"].poll() is not None:
        start_synfin(2)  # node 2 back after its kill
    wait_until(lambda: group_nodes() == set(NODES), timeout=15, what="three nodes announced")
    h, nodes, ports = held(60)
    active = {k: admin(k)["sessions"]["active"] for k in NODES}
    assert active == {k: nodes.count(k) for k in NODES}, (active, nodes)
    add_node(4)
    wait_until(lambda: group_nodes() == {1, 2, 3, 4}, timeout=15, what="node 4 in the group")
    a = alive(h)
    kept = moved = 0
    for node, port, ok in zip(nodes, ports, a):
        stays = router_pick(port) == node
        assert ok == stays, (node, port, ok, stays)
        kept += ok
        moved += not stays
    assert moved == 0, moved  # resilient: a new member takes idle buckets only
    # the old nodes ended nothing themselves: a rehashed flow's session waits on its node
    assert {k: admin(k)["sessions"]["active"] for k in NODES} == active
    # new flows reach node 4 once idle buckets have moved to it (idle_timer 15 s)
    wait_until(lambda: 4 in {node_of(p) for p in client("c", "spread", "50", "10")["nodes"]},
               timeout=40, interval=1, what="new flows on node 4")
    print(f"# node 4 joined: {kept} of {len(nodes)} held sessions went on")
    h.stdin.close()
    h.wait(timeout=5)


@t.test
def a_node_whose_servers_are_all_in_maintenance_withdraws():
    def admin_post(k, path):
        nsx(f"n{k}", "curl", "-sf", "-X", "POST", f"http://127.0.0.1:8404{path}")

    wait_until(lambda: 3 in group_nodes(), timeout=10, what="node 3 in the group")
    for name, _ in SERVERS:
        admin_post(3, f"/servers/app/{name}/maint")
    wait_until(lambda: 3 not in bird_nodes(300), timeout=5, what="node 3 withdrawn")
    assert "reason=not_ready" in synfin_log(3)
    admin_post(3, "/servers/app/s1/ready")
    wait_until(lambda: 3 in bird_nodes(300), timeout=10, what="node 3 announced again")


t.done()
