#!/bin/sh
# The script corpus: every tests/drill/*.pkt through synfin-drill, one TAP line each.
root=$(cd "$(dirname "$0")/../.." && pwd)
drill="$root/${SYNFIN_BUILD:-build}/bin/synfin-drill"
cd "$root/tests/drill" || exit 1
# --strict_end: our scripts also assert that nothing more is sent after their last event.
exec "$drill" --tap --strict_end ./*.pkt
