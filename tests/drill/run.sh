#!/bin/sh
# The script corpus: every tests/drill/*.pkt through synfin-drill, one TAP line each.
root=$(cd "$(dirname "$0")/../.." && pwd)
drill="$root/${SYNFIN_BUILD:-build}/bin/synfin-drill"
cd "$root/tests/drill" || exit 1
# --strict_end: our scripts also assert that nothing more is sent after their last event.
# --unsupported_fails: every construct in our own scripts must be one synfin-drill knows.
# --gso=0: each of the engine's segments must have its own line.
exec "$drill" --tap --strict_end --gso=0 --unsupported_fails ./*.pkt
