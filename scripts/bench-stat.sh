#!/bin/bash
# make bench-stat: how long synfin-stat takes to count a million TCP sockets (mostly
# TIME_WAIT) next to the operator's usual `ss -tan | awk` and `netstat -an | awk`, measured
# in the same run on the same sockets, and whether its memory stays flat.
#
# Everything happens in a network namespace made here and deleted on exit. stat-twfill makes
# the TIME_WAIT sockets by closing loopback connections; then the commands run in turn,
# interleaved, each reporting the TIME_WAIT count it saw. TIME_WAIT lasts 60 s from each
# close, so the fill stops at a deadline (it cannot hold more than 60 s worth of connections
# anyway) and measuring starts at once. Ratios compare time per socket seen, so a count that
# moves between runs does not bend them; the table shows the counts.
#
# Environment: O (build dir), BENCH_STAT_SOCKETS (default 1000000), BENCH_STAT_RUNS (most
# rounds, 3; fewer when the next would outlast the sockets), BENCH_STAT_WORKERS (number of
# CPUs), BENCH_STAT_FILL_SECONDS (fill deadline, 45).
set -euo pipefail
cd "$(dirname "$0")/.."
O=${O:-build}
STAT=$PWD/$O/bin/synfin-stat
FILL=$PWD/$O/bin/stat-twfill
MAXRSS=$PWD/$O/bin/stat-maxrss
N=${BENCH_STAT_SOCKETS:-1000000}
RUNS=${BENCH_STAT_RUNS:-3}
WORKERS=${BENCH_STAT_WORKERS:-$(nproc)}
FILL_SECONDS=${BENCH_STAT_FILL_SECONDS:-45}

SS_AWK='ss -tan | awk '\''NR > 1 {++S[$1]} END {for (k in S) print k, S[k]}'\'''
NETSTAT_AWK='netstat -an | awk '\''/^tcp/ {++S[$NF]} END {for (k in S) print k, S[k]}'\'''

# One timed run of a command line; prints "seconds count", the count being the second word
# of the first output line whose first word is pattern (the TIME_WAIT line).
timed() {
    local cmd=$1 pattern=$2 start out
    start=$EPOCHREALTIME
    out=$(bash -c "$cmd")
    awk -v a="$start" -v b="$EPOCHREALTIME" -v tw="$(echo "$out" | awk -v p="$pattern" \
        '$1 == p {print $2; exit}')" 'BEGIN {printf "%.4f %s\n", b - a, tw == "" ? 0 : tw}'
}

usec() { echo "${EPOCHREALTIME/./}"; }

if [ "${1:-}" = --inside ]; then
    # In the namespace: rounds of the four commands, one "command seconds count" line each,
    # as many rounds as fit before the first TIME_WAIT sockets expire (60 s after the fill
    # began), at least one and at most RUNS.
    stop=$((FILL_START + 57000000))
    for ((round = 1; round <= RUNS; round++)); do
        begin=$(usec)
        echo "synfin-stat $(timed "$STAT" TIME_WAIT)"
        echo "ss|awk $(timed "$SS_AWK" TIME-WAIT)"
        echo "netstat|awk $(timed "$NETSTAT_AWK" TIME_WAIT)"
        echo "synfin-stat_--by-peer $(timed "$STAT --by-peer" TIME_WAIT)"
        end=$(usec)
        [ $((end + end - begin)) -lt "$stop" ] || break
    done
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "bench-stat: needs root (it makes a network namespace)" >&2
    exit 1
fi
for f in "$STAT" "$FILL" "$MAXRSS"; do
    [ -x "$f" ] || { echo "bench-stat: $f is missing; run make first" >&2; exit 1; }
done

ns=synfin-bench-$$
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
inns() { ip netns exec "$ns" "$@"; }
tw_now() { inns "$STAT" | awk '$1 == "TIME_WAIT" {print $2}'; }
inns ip link set lo up
inns sh -c "echo $((N * 2 + 1000)) > /proc/sys/net/ipv4/tcp_max_tw_buckets &&
    echo 0 > /proc/sys/net/ipv4/tcp_tw_reuse"

echo "synfin-stat benchmark: up to $N TIME_WAIT sockets in namespace $ns"
echo "machine: Linux $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
rss_empty=$(inns "$MAXRSS" "$STAT")
rss_empty_bp=$(inns "$MAXRSS" "$STAT" --by-peer)

# The filler keeps its listeners open (the TIME_WAIT sockets are clients of a live service)
# until its standard input closes.
FILL_START=$(usec)
coproc FILLER { inns bash -c "ulimit -n hard && exec $FILL $N $WORKERS $FILL_SECONDS"; }
if ! read -r fill_report <&"${FILLER[0]}"; then
    echo "bench-stat: stat-twfill failed" >&2
    exit 1
fi
echo "fill: $fill_report"
before=$(tw_now)
rss_full=$(inns "$MAXRSS" "$STAT")
rss_full_bp=$(inns "$MAXRSS" "$STAT" --by-peer)
export STAT RUNS SS_AWK NETSTAT_AWK FILL_START
results=$(inns bash "$0" --inside)
after=$(tw_now)
exec {FILLER[1]}>&-
wait "$FILLER_PID" || true

echo
echo "$results" | awk '
function median(s,   a, k, i, j, x) {
    k = split(s, a, " ")
    for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
}
{ if (!($1 in t)) order[++n] = $1; t[$1] = t[$1] " " $2; c[$1] = c[$1] " " $3; runs_[$1]++
  per[$1] = per[$1] " " ($3 > 0 ? $2 / $3 * 1e6 : 0) }
END {
    base = median(per["synfin-stat"])
    printf "%-24s %4s %10s %14s %14s %10s\n", "command", "runs", "median s", "TIME_WAIT seen", "us per socket", "vs synfin-stat"
    for (i = 1; i <= n; i++) {
        k = order[i]; name = k; gsub("_", " ", name)
        printf "%-24s %4d %10.3f %14d %14.3f %9.1fx\n", name, runs_[k], median(t[k]), median(c[k]), median(per[k]), median(per[k]) / base
    }
}'
echo
echo "commands, each inside the namespace: synfin-stat; $SS_AWK; $NETSTAT_AWK;" \
    "synfin-stat --by-peer"
echo "ratios: median time per TIME_WAIT socket seen, relative to synfin-stat's"
echo "memory, max RSS in KB: synfin-stat $rss_empty with no sockets, $rss_full with $before;" \
    "synfin-stat --by-peer $rss_empty_bp and $rss_full_bp"
echo "TIME_WAIT when measuring began: $before; when it ended: $after"
if [ "$after" -lt $((before * 95 / 100)) ]; then
    echo "note: the first TIME_WAIT sockets expired (60 s) while measuring; the counts above" \
        "are what each run saw"
fi
