#!/bin/sh
# make run-stack: synfin on its own TCP in a network namespace made for it (synfin-demo),
# with conf/synfin-stack.conf. Prints how to reach it; Ctrl-C stops synfin and removes the
# namespace (the TUN device goes with synfin).
set -u
O=${O:-build}
ns=synfin-demo
if [ "$(id -u)" -ne 0 ]; then
    echo "make run-stack: needs root (a network namespace and a TUN device); make run needs none" >&2
    exit 1
fi
if ip netns list | grep -qw "$ns"; then
    echo "make run-stack: namespace $ns exists (another run-stack?); remove it: ip netns del $ns" >&2
    exit 1
fi
ip netns add "$ns" || exit 1
cleanup() {
    [ -n "${pid:-}" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    ip netns del "$ns" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip -n "$ns" link set lo up
cat <<MSG
synfin on its own TCP in network namespace $ns. From another shell:
  ip netns exec $ns curl http://10.79.0.2:8080/             # a session through synfin's TCP
  ip netns exec $ns curl http://127.0.0.1:8081/stats         # its states, TIME_WAIT included
  ip netns exec $ns $PWD/$O/bin/synfin-stat --from 127.0.0.1:8081
Ctrl-C stops it and removes the namespace.
MSG
ip netns exec "$ns" "$O/bin/synfin" -c conf/synfin-stack.conf &
pid=$!
wait "$pid"
