#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the fuzz harnesses into tests/fuzz/corpus/NAME/seed-*.

    python3 tests/fuzz/seeds.py

The engine and TIME-WAIT seeds are scenarios in the harnesses' step language (peer.c,
fuzz_engine.c, fuzz_timewait.c): each names what it reaches, so that fuzzing starts from deep
states instead of from the handshake. Regression inputs (regress-*) are not written here:
they are the inputs that once failed, kept as they were found."""
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

# ---- engine scenarios ----------------------------------------------------------------------
# Settings bytes (peer.c fp_config): the documented defaults where the tables allow.
CFG_DEFAULT = bytes([0x07, 0x7F, 0x1F, 0x3F, 0x3F, 0xFF])
# 2 KiB buffers, MSS 536, TIME-WAIT 1 ms, short timers, keepalive after 1 s.
CFG_SMALL = bytes([0x07, 0x70, 0x45, 0x95, 0x55, 0x56])
# No options at all (no timestamps, SACK or window scaling), syncookies always.
CFG_PLAIN_COOKIES = bytes([0x80, 0x0F, 0x1F, 0x3D, 0x3F, 0xFF])
# rfc1337 off, tw_reuse on, timestamps on, TIME-WAIT 2 s, max_tw 1.
CFG_TW = bytes([0x31, 0x7F, 0x1F, 0x36, 0x3F, 0xFF])

OP_SEG, OP_CLOCK, OP_SEND, OP_RECV, OP_SHUT, OP_CLOSE, OP_ABORT = 0, 4, 5, 6, 7, 8, 9
OP_MISC, OP_OPEN, OP_ACCEPT, OP_RAW, OP_ICMP, OP_LISTENER = 10, 11, 12, 13, 14, 15


def opener(passive, port=0, isn=1000000, ts=5000, ob=0x7F, mss=232):
    """The open step's own bytes: SYN options, MSS, port choice, the peer's ISN and TS."""
    return bytes([ob, mss, port]) + struct.pack(">II", isn, ts)


def first(passive, hdr=0, **kw):
    """The header byte (fuzz_engine.c header(): 0x02 Fast Open steps, 0x04 IPv6, 0x08 both
    families, 0x10-0x80 Fast Open settings), then the first connection's open step."""
    return bytes([hdr | (1 if passive else 0)]) + opener(passive, **kw)


def seg(slot=0, seqm=0, ackm=0, flags="A", d1=0, d2=0, wnd=0x0200, length=0, nots=False):
    """A peer segment. flags: 'A' ACK, 'AP' ACK+PSH, 'AF' ACK+FIN, or a raw flag byte."""
    fl = {"A": 0x00, "AP": 0x08, "AF": 0x01, "APF": 0x09}.get(flags)
    if fl is None:
        fl = 0xC0 | (flags >> 2)  # any flags: fl << 2 in fuzz_engine's decoding
    modes = (seqm & 7) | ((ackm & 7) << 3) | (0x80 if nots else 0)
    lb = length if length < 128 else 127 + (length + 23) // 24
    return bytes([OP_SEG | slot << 4, modes, fl, d1 & 0xFF, d2 & 0xFF]) + struct.pack(
        ">H", wnd) + bytes([lb])


def op(code, slot=0, *args):
    return bytes([code | slot << 4]) + bytes(args)


def clock_ms(ms):
    return op(OP_CLOCK, 0, ms & 63)


def clock_next():
    return op(OP_CLOCK, 0, 0x40)


def clock_s(s):
    return op(OP_CLOCK, 0, 0x80 | (s & 63))


def clock_min(m):
    return op(OP_CLOCK, 0, 0xC0 | (m & 63))


def send(n16, slot=0):
    return op(OP_SEND, slot, n16)  # n16 * 16 bytes


def recv(n16, slot=0):
    return op(OP_RECV, slot, n16)


# Fast Open steps: OP_ACCEPT with its high bits (a header with 0x02)
TFO_PASSIVE, TFO_ACTIVE, TFO_MISC = 0x40, 0x80, 0xC0
H_TFO, H_V6, H_BOTH = 0x02, 0x04, 0x08


def tfo_syn(slot, fb, length, port=0, isn=3000000, ob=0x7F, mss=232):
    """The peer's SYN with Fast Open: fb 0x01 request, 0x02 valid cookie, 0x03 wrong one,
    0x04 the experimental kind, 0x08 then the ACK (the data not taken sent again)."""
    return bytes([OP_ACCEPT | TFO_PASSIVE | slot << 4, ob, mss, fb, length, port]) + struct.pack(
        ">II", isn, 7000)


def tfo_connect(slot, cb, lb, ab, d=0, port=0, isn=5000000, ob=0x7F, mss=232):
    """The engine's Fast Open connect: cb 0x01 sf_connect_data, else SF_OPT_FASTOPEN_CONNECT
    and sf_connect (0x04: then a write of lb * 8 bytes); ab 0 ack all, 1 none, 2 part (d/256),
    0x04 a cookie in the SYN-ACK, 0x80 no SYN-ACK."""
    b = bytes([OP_ACCEPT | TFO_ACTIVE | slot << 4, ob, mss, cb, lb, ab, port]) + struct.pack(
        ">II", isn, 9000)
    return b if ab & 0x80 else b + bytes([d])


def tfo_misc(m):
    """0/1/6/7: the listeners' queue ((m >> 3) & 3: 0, 1, 2, 16); 2 their key; 3 the engine's
    key; 4 flush the cookie cache; 5 read-only calls."""
    return bytes([OP_ACCEPT | TFO_MISC, m])


ENGINE = {
    # passive open, data both ways, the engine closes first: FIN-WAIT-1/2, TIME-WAIT
    "passive-exchange-active-close": CFG_DEFAULT + first(True) + seg(flags="AP", length=100)
    + recv(10) + send(20) + clock_ms(50) + seg() + op(OP_CLOSE) + seg() + seg(flags="AF")
    + clock_next() + clock_min(2),
    # active open, the peer closes first: CLOSE-WAIT, LAST-ACK
    "active-peer-closes": CFG_DEFAULT + first(False) + send(64) + seg() + seg(flags="AF")
    + recv(4) + op(OP_CLOSE) + clock_ms(10) + seg() + clock_min(1),
    # zero window: persist probes, then the window opens
    "zero-window-persist": CFG_SMALL + first(True) + send(200) + seg(wnd=0) + clock_s(1)
    + clock_next() + clock_next() + seg(wnd=0x0400) + clock_next() + seg() + op(OP_CLOSE)
    + seg(flags="AF") + clock_min(1),
    # out-of-order data, a hole filled, SACK on the way
    "out-of-order-fill": CFG_DEFAULT + first(True) + seg(seqm=3, d1=100, flags="AP", length=50)
    + seg(seqm=2, flags="AP", length=100) + recv(20) + seg(seqm=0, flags="AP", length=30)
    + recv(20) + op(OP_CLOSE) + clock_min(3),
    # retransmission timeouts and fast retransmit: the peer sends duplicate ACKs
    "loss-and-dupacks": CFG_DEFAULT + first(False) + send(255) + clock_ms(1) + seg(ackm=2)
    + seg(ackm=2) + seg(ackm=2) + seg(ackm=2) + clock_s(2) + seg(ackm=3, d1=50) + clock_s(3)
    + seg() + op(OP_ABORT),
    # RST and SYN in the window: challenge ACKs
    "challenge-acks": CFG_DEFAULT + first(True) + seg(seqm=3, d1=5, flags=0x04)
    + seg(seqm=3, d1=7, flags=0x02) + seg(seqm=2, flags=0x04) + clock_min(1),
    # syncookies, plain options, two connections, the listener closed with one queued
    "cookies-two-conns": CFG_PLAIN_COOKIES + first(True, ob=0x00)
    + bytes([0x40 | OP_OPEN | 1 << 4]) + opener(True, port=1) + send(8, 1) + seg(slot=1)
    + op(OP_LISTENER, 0) + bytes([OP_LISTENER | 0xC0]) + clock_min(2),
    # half-close both ways, keepalive probes on an idle connection
    "half-close-keepalive": CFG_SMALL + first(False) + op(OP_SHUT, 0, 1) + seg() + send(4)
    + seg(flags="AF") + recv(1) + op(OP_MISC, 0, 0x04 * 3, 1) + clock_s(3) + clock_s(3)
    + clock_s(5) + op(OP_CLOSE),
    # ICMP fragmentation needed and port unreachable, raw packets aimed at the connection
    "icmp-and-raw": CFG_DEFAULT + first(True) + send(100) + op(OP_ICMP, 0, 0x00, 0x02, 0x40)
    + op(OP_ICMP, 0, 0x01, 0, 0) + op(OP_RAW, 0, 0x03, 4) + bytes(range(0x50, 0x68))
    + op(OP_RAW, 0, 0x00, 3) + bytes(18) + seg() + op(OP_CLOSE) + clock_min(5),
    # IPv6: a passive connection, data both ways, Packet Too Big and a raw segment, the engine
    # closes first
    "ipv6-passive-exchange": CFG_DEFAULT + first(True, H_V6) + seg(flags="AP", length=100)
    + recv(10) + send(100) + op(OP_ICMP, 0, 0x02, 0x05, 0x00) + op(OP_RAW, 0, 0x03, 4)
    + bytes(range(0x50, 0x68)) + seg() + op(OP_CLOSE) + seg() + seg(flags="AF") + clock_min(2),
    # IPv6: active open, port unreachable ignored once established, the peer closes first
    "ipv6-active-peer-closes": CFG_DEFAULT + first(False, H_V6) + send(64) + seg()
    + op(OP_ICMP, 0, 0x00) + seg(flags="AF") + recv(4) + op(OP_CLOSE) + clock_ms(10) + seg()
    + clock_min(1),
    # both families in one run: IPv4 first, then IPv6 passive and active on the same ports
    "both-families": CFG_SMALL + first(True, H_BOTH) + bytes([0x40 | OP_OPEN | 1 << 4])
    + opener(True, port=0x40) + bytes([OP_OPEN | 2 << 4]) + opener(False, port=0x41)
    + send(20, 1) + seg(slot=1) + send(20, 2) + seg(slot=2) + seg(slot=0, flags="AP", length=40)
    + recv(4, 0) + op(OP_LISTENER, 0) + bytes([OP_LISTENER | 0xC0]) + clock_min(2),
    # Fast Open server: a cookie request (its data not taken, sent again), then a SYN with the
    # valid cookie and data delivered before the handshake ends, a wrong cookie refused
    "tfo-server-cookie": CFG_DEFAULT + first(True, H_TFO) + tfo_misc(3 << 3)
    + tfo_syn(1, 0x09, 50, port=1) + tfo_syn(2, 0x0A, 100, port=2) + recv(10, 2) + send(8, 2)
    + tfo_syn(3, 0x0B, 30, port=3) + tfo_syn(3, 0x02, 20, port=4) + recv(4, 3) + clock_s(2)
    + op(OP_CLOSE, 2, 0) + seg(slot=2, flags="AF") + clock_min(2),
    # the same over IPv6 with the listeners' own key and the experimental option
    "tfo-server-v6-key": CFG_DEFAULT + first(True, H_TFO | H_V6) + tfo_misc(2 | 5 << 3)
    + tfo_misc(1 << 3) + tfo_syn(1, 0x0D, 40, port=1) + tfo_syn(2, 0x0E, 200, port=2)
    + tfo_syn(3, 0x0F, 60, port=3) + recv(20, 2) + op(OP_ABORT, 2, 0) + clock_min(2),
    # Fast Open client: a cookie request, then SYNs with the cookie and data acknowledged all,
    # in part and not at all
    "tfo-client-cookie": CFG_DEFAULT + first(False, H_TFO) + tfo_connect(1, 0, 0, 0x04, 5, port=1)
    + tfo_connect(2, 0x04, 100, 0x00, port=2) + tfo_connect(3, 0x01, 50, 0x02, 0x80, port=3)
    + seg(slot=3) + tfo_connect(1, 0x05, 20, 0x01, port=4) + seg(slot=1) + clock_s(1)
    + op(OP_CLOSE, 1, 0) + op(OP_CLOSE, 2, 0) + op(OP_CLOSE, 3, 0) + clock_min(3),
    # Fast Open client over IPv6: a cookie, a flush, an unanswered Fast Open SYN retransmitted
    # plain (then blocked), the cookie of the experimental kind
    "tfo-client-v6-flush-loss": CFG_DEFAULT + first(False, H_TFO | H_V6)
    + tfo_connect(1, 0, 0, 0x0C, 9, port=1) + tfo_connect(2, 0x01, 30, 0x00, port=2)
    + tfo_misc(4) + tfo_connect(3, 0x01, 30, 0x84, port=3) + tfo_connect(1, 0x01, 30, 0x80)
    + clock_s(1) + clock_next() + seg(slot=1, flags=0x12) + clock_s(10)
    + tfo_connect(2, 0x01, 30, 0x01, port=5) + clock_min(3),
    # Fast Open limits: one pending connection engine-wide, data without a cookie (0x200),
    # every listener with a queue (0x400), a cache of 4
    "tfo-limits": CFG_DEFAULT + first(True, H_TFO | 0x20 | 0x40 | 0x80)
    + tfo_syn(1, 0x00, 40, port=1) + tfo_syn(2, 0x00, 40, port=2) + tfo_syn(3, 0x08, 40, port=3)
    + op(OP_ACCEPT) + recv(4, 1) + seg(slot=1) + clock_s(5) + clock_min(2),
}

# ---- TIME-WAIT scenarios (fuzz_timewait.c) ----------------------------------------------------


def tw_poke(slot, kind, d=0, more=0):
    return bytes([0 | slot << 4, kind | more, d & 0xFF])


def tw_clock(b):
    return bytes([3, b])  # fp_clock's byte: ms, next deadline (0x40), s (0x80), min (0xC0)


TW = {
    # two entries; a retransmitted FIN restarts one; a newer SYN reopens the other
    "fin-retransmit-and-reopen": CFG_TW + bytes([0x15]) + bytes([1]) + opener(True, port=0)
    + bytes([0x00]) + bytes([1]) + opener(True, port=1, isn=7000000) + bytes([0x02])
    + tw_poke(0, 0) + tw_clock(0x81) + tw_poke(1, 1, 10, 0x20) + tw_clock(0x83) + tw_clock(0xC2),
    # simultaneous close (CLOSING), RSTs with rfc1337 off, an old SYN
    "closing-rst-old-syn": CFG_TW + bytes([0x14]) + bytes([0]) + opener(False, port=2)
    + bytes([0x04]) + tw_poke(0, 1, -20, 0x80) + tw_poke(0, 3, 5) + tw_poke(0, 2) + tw_clock(0x83),
    # the connect side holds the entry; connect again from the same port (tw_reuse)
    "active-close-reuse": CFG_TW + bytes([0x04]) + bytes([0]) + opener(False, port=0x83, ob=0x7F | 0x40)
    + bytes([0x06]) + tw_clock(0x82) + bytes([0x04]) + opener(False, port=0x83, ob=0x7F | 0x40)
    + tw_clock(0xC2),
}

# ---- text harnesses ----------------------------------------------------------------------------

CONFIG = {
    "admin-proxy.conf": "admin 0.0.0.0:8081 { token \"0123456789abcdef\"; allow 10.0.0.0/8 ::1; }\n"
    "frontend f { listen 127.0.0.1:8080; backend b; accept_proxy from 127.0.0.0/8 fd00::/8; }\n"
    "backend b { send_proxy v2; server s 127.0.0.1:9000 send_proxy v1; server t [::1]:9001; }\n",
    "minimal.conf": "frontend f { listen 127.0.0.1:8080; backend b; }\n"
    "backend b { server s 127.0.0.1:9000; }\n",
    "everything.conf": """# every directive once
admin [::1]:8081;
log "/var/log/synfin.log";
drain_timeout 1m;
profile fast { connect_timeout 500ms; idle_timeout 30s; keepalive on; keepalive_idle 10s;
  keepalive_interval 5s; keepalive_count 3; user_timeout 20s; nodelay off;
  reset_on_timeout off; server_close rst; buffer_size 16k;
  source 10.0.0.1:20000-30000 [fe80::1]:1-2 10.0.0.2; client_fin_timeout 5s;
  defer_accept on; server_fin_timeout 2s; }
backend pool {
  balance maglev; maglev_table_size 251; retries 0; queue_timeout 1s; max_fails 0;
  fail_timeout 30s; profile fast;
  check { type http; uri "/health?full=1"; host "example.test"; expect 204; interval 500ms;
          timeout 2s; rise 1; fall 1; }
  server a 10.1.0.1:80 weight 3 maxconn 100;
  server b [2001:db8::2]:80 backup;
}
frontend web { listen 0.0.0.0:80; backlog 128; reuseport on; maxconn 1000; backend pool;
  profile fast; idle_timeout 1h; }
respond 127.0.0.1:9001 "a \\"quoted\\" body\\twith\\\\escapes\\r\\n";
""",
    "bad-nesting.conf": "frontend f { listen 127.0.0.1:1; { } }\n",
}

ADMIN = {
    "get-metrics": b"\x40GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "stats-query": b"\x00GET /stats?pretty=1&x HTTP/1.0\r\n\r\n",
    "bare-lf": b"\x10POST /sessions HTTP/1.1\n\n",
    "bearer": b"\x40POST /servers/b/s1/drain HTTP/1.1\r\nHost: x\r\n"
    b"Authorization:  Bearer 0123456789abcdef \r\n\r\n",
}

PROXY = {
    "v1-tcp4": b"PROXY TCP4 192.0.2.10 10.0.0.1 51234 80\r\nGET / HTTP/1.0\r\n\r\n",
    "v1-tcp6": b"PROXY TCP6 2001:db8::1 ::1 1000 443\r\n",
    "v1-unknown": b"PROXY UNKNOWN ffff::1 ::2 1 2\r\n",
    "v2-tcp4": bytes.fromhex("0d0a0d0a000d0a515549540a2111000cc000020a0a000001c8220050") + b"data",
    "v2-tcp6-tlv": bytes.fromhex("0d0a0d0a000d0a515549540a212100") + bytes([36 + 7])
    + bytes(range(36)) + bytes.fromhex("05000461626364"),
    "v2-local": bytes.fromhex("0d0a0d0a000d0a515549540a20000000"),
}

DRILL = {
    "handshake.pkt": """--local_ip=192.168.0.1 --tolerance_usecs=10000
0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3
+0 bind(3, ..., ...) = 0
+0 listen(3, 1) = 0
+0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
+0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 1 ecr 100,nop,wscale 7>
+.01 < . 1:1(0) ack 1 win 514 <nop,nop,TS val 110 ecr 1>
+0 accept(3, ..., ...) = 4
0.1~0.2 > F. 1:1(0) ack 1 <...>
* > . 1:1(0) ack 2
+0 ...0.5 read(4, ..., 10) = -1 EAGAIN (Resource temporarily unavailable)
+0 setsockopt(4, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0
+0 close(4) = 0
""",
}

JSON = {
    "stats.json": '{"version":1,"sessions":{"active":3,"closed":[{"cause":"client FIN",'
    '"bytes":1024}]},"states":{"TIME_WAIT":12,"ESTABLISHED":0},"ok":true,"x":null,'
    '"f":-1.5e-3}\n',
    "escapes.json": '["\\u00e9\\ud83d\\ude00\\"\\\\\\/\\b\\f\\n\\r\\t", "caf\xc3\xa9", [], {}]',
    "deep.json": "[" * 40 + "0" + "]" * 40,
}

# h1: a flags byte (low nibble: the method a response answers, 0 GET, 1 HEAD, 5 CONNECT; bits
# 4-5: the limits, 0 the defaults, 2 tiny; 0x40: rewrite with every forwarding field; 0x80:
# keep-alive), a seed byte for split points, then a message or a body (fuzz_h1.c).
H1_CHUNKED = (b"1A;name=value;q=\"a;b\"\r\nabcdefghijklmnopqrstuvwxyz\r\n00a ; x\r\n0123456789\r\n"
              b"0;last\r\nExpires: never\r\nX-Sum: 1 2\r\n\r\n")
H1 = {
    "get-pipelined": b"\xc0\x01GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
    b"User-Agent: curl/8.0\r\nAccept: */*\r\nX-Forwarded-For: 10.1.1.1\r\n"
    b"Forwarded: for=10.1.1.1\r\nVia: 1.0 fred\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
    "post-chunked": b"\x80\x02POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
    b"Expect: 100-continue\r\n\r\n" + H1_CHUNKED + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    "post-length": b"\x80\x03POST /form HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n"
    b"Connection: close, X-Secret\r\nX-Secret: 1\r\n\r\nhelloGET",
    "http10-keep-alive": b"\x80\x04GET / HTTP/1.0\nConnection: Keep-Alive\nKeep-Alive: 5\n\n",
    "websocket": b"\xc0\x05GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
    b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    "response-chunked": b"\x00\x06HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + H1_CHUNKED,
    "response-head": b"\x01\x07HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\nHTTP/1.1 204\r\n\r\n",
    "response-101": b"\xc0\x08HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\n\r\n\x81\x05hello",
    "response-connect": b"\x05\x09HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01",
    "response-eof": b"\x40\x0aHTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until the end",
    "response-interim": b"\x02\x0bHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "smuggle-cl-te": b"\x00\x0cPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n",
    "smuggle-te-space": b"\x00\x0dPOST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
    "tiny-limits": b"\x20\x0eGET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
}


def write(name, files):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for k, v in files.items():
        data = v if isinstance(v, bytes) else v.encode("latin-1" if name == "json" else "utf-8")
        with open(os.path.join(d, "seed-" + k), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("engine", ENGINE)
    write("timewait", TW)
    write("config", CONFIG)
    write("admin", ADMIN)
    write("drill", DRILL)
    write("json", JSON)
    write("h1", H1)
    write("proxy", PROXY)
