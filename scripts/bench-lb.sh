#!/bin/sh
# make bench-lb: synfin against HAProxy and nginx stream, interleaved in one run.
# As root: client, balancer and server in network namespaces of their own on veth, with the
# synfin-stack row and the idle-session capacity; otherwise everything on loopback.
# Environment: BENCH_ROUNDS (3), BENCH_SECONDS (5 per test), BENCH_CONNS (64), BENCH_BIG_CONNS
# (4), BENCH_WIRE (1; 0: loopback as root too), BENCH_SESSIONS (100000; 0: no session
# capacity), BENCH_SESSIONS_KERNEL (15000), BENCH_PERF (a directory: perf record of
# synfin-stack), BENCH_THREADS ("2": synfin `threads 2` on both transports and HAProxy
# `nbthread 2` beside the others, with the scaling ratios), O (build dir).
exec python3 "$(dirname "$0")/bench_lb.py" "$@"
