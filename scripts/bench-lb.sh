#!/bin/sh
# make bench-lb: synfin against HAProxy and nginx stream, interleaved in one run.
# Environment: BENCH_ROUNDS (3), BENCH_SECONDS (5 per test), BENCH_CONNS (64), O (build dir),
# BENCH_THREADS ("2": synfin `threads 2` and HAProxy `nbthread 2` beside the others).
exec python3 "$(dirname "$0")/bench_lb.py" "$@"
