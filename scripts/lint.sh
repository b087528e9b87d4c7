#!/bin/sh
# make lint: the lint suite on its own.
cd "$(dirname "$0")/.." || exit 1
out=$(tests/lint.sh)
echo "$out"
! echo "$out" | grep -q '^not ok'
