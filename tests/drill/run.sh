#!/bin/sh
# The script corpus: every tests/drill/*.pkt through synfin-drill, one TAP line each.
root=$(cd "$(dirname "$0")/../.." && pwd)
drill="$root/${SYNFIN_BUILD:-build}/bin/synfin-drill"
cd "$root/tests/drill" || exit 1
exec "$drill" --tap ./*.pkt
