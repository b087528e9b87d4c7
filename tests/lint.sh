#!/bin/sh
# Lint as a test suite (TAP): the tree follows .clang-format and cppcheck finds nothing.
cd "$(dirname "$0")/.." || exit 1
files=$(git ls-files --cached --others --exclude-standard '*.c' '*.h' 2>/dev/null || find src tools tests -name '*.[ch]')
echo "1..2"
# shellcheck disable=SC2086
if out=$(clang-format --dry-run --Werror $files 2>&1); then
    echo "ok 1 - clang-format"
else
    echo "not ok 1 - clang-format (run 'make format')"
    echo "$out" | grep 'error:' | head -n 20 | sed 's/^/# /'
fi
# shellcheck disable=SC2086
if out=$(cppcheck -q --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
    --inline-suppr --suppress=missingIncludeSystem -D__GNUC__ -Isrc -j2 $files 2>&1); then
    echo "ok 2 - cppcheck"
else
    echo "not ok 2 - cppcheck"
    echo "$out" | head -n 40 | sed 's/^/# /'
fi
