#!/bin/sh
# Make sure Debian packages are installed: install them when root, otherwise name them and fail.
# usage: deps.sh PURPOSE PACKAGE...
purpose=$1
shift
command -v dpkg-query >/dev/null 2>&1 || {
    echo "synfin: not a Debian system; make sure these are installed for '$purpose': $*" >&2
    exit 0
}
missing=
for p in "$@"; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "synfin: '$purpose' needs Debian packages that are not installed:$missing" >&2
    echo "synfin: install them with: sudo apt-get install$missing" >&2
    exit 1
fi
echo "synfin: installing Debian packages for '$purpose':$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; } || {
    echo "synfin: apt-get could not install:$missing" >&2
    exit 1
}
