#!/bin/sh
# make deb: the Debian package, built with dpkg-buildpackage (debhelper, debian/) in a copy
# of the tree under $O/deb, so the checkout gets no debian/synfin, no .debhelper, no build
# stamps: `git status` stays as it was and later builds are not disturbed.
# The copy is what git lists (tracked files and untracked ones not ignored, as they are in
# the working tree); outside a checkout, everything but the build directories.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-build}
case "$O" in /*) out="$O/deb" ;; *) out="$top/$O/deb" ;; esac
release=$(cat "$top/VERSION")
rev=$("$top/scripts/version.sh" --revision)
src="$out/src/synfin-$release"
rm -rf "$out"
mkdir -p "$src"
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # a file deleted in the working tree but still tracked is left out, as a build would
    git ls-files -z --cached --others --exclude-standard |
        tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src"
else
    tar --exclude=./build --exclude='./build-*' -cf - . | tar -xf - -C "$src"
fi
echo "$rev" >"$src/REVISION"
debver=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
case "$debver" in "$release"-*) ;; *)
    echo "synfin: debian/changelog says $debver, VERSION says $release: add a changelog entry" >&2
    exit 1 ;;
esac
cd "$src"
DEB_BUILD_OPTIONS="parallel=${JOBS:-2} ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1 || {
    tail -n 40 "$out/build.log" >&2
    echo "synfin: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
    exit 1
}
mv ../*.deb ../*.buildinfo ../*.changes "$out"/
ls "$out"/*.deb
