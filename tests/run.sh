#!/bin/bash
# Run test suites and add up their TAP results.
#
# Each argument is an executable that prints TAP ("ok N - name", "not ok N - name",
# "... # SKIP reason", optional "1..N" plan). cmocka binaries print TAP through
# CMOCKA_MESSAGE_OUTPUT. A suite that exits non-zero without a failing line, stops short of
# its plan, or reports nothing at all counts as one failure: a crash must never read as a pass.
#
# Environment: O (build dir), VALGRIND=1 (run under valgrind, leaks are failures),
# SUITE_TIMEOUT (seconds per suite, default 1200), VERBOSE=1 (print every TAP line).
set -u
O=${O:-build}
export O
export CMOCKA_MESSAGE_OUTPUT=TAP
export SYNFIN_BUILD=$O
export PATH="$PWD/$O/bin:$PATH"
logs="$O/test-logs"
mkdir -p "$logs"
total_pass=0 total_fail=0 total_skip=0
failed_suites=()

for suite in "$@"; do
    name=$(basename "$suite")
    log="$logs/$name.log"
    start=$EPOCHREALTIME
    if [ "${VALGRIND:-0}" = 1 ]; then
        timeout "${SUITE_TIMEOUT:-1200}" valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
            "$suite" >"$log" 2>&1
    else
        timeout "${SUITE_TIMEOUT:-1200}" "$suite" >"$log" 2>&1
    fi
    rc=$?
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    pass=0 fail=0 skip=0 plan=
    while IFS= read -r line; do
        case "$line" in
            "ok "*"# SKIP"* | "not ok "*"# SKIP"* | "ok "*"# skip"*) skip=$((skip + 1)) ;;
            "ok "*) pass=$((pass + 1)) ;;
            "not ok "*) fail=$((fail + 1)) ;;
            1..*) plan=${line#1..} plan=${plan%% *} ;;
        esac
    done <"$log"
    seen=$((pass + fail + skip))
    why=
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        why="exited with status $rc"
        [ "$rc" -eq 124 ] && why="timed out after ${SUITE_TIMEOUT:-1200}s"
        [ "$rc" -eq 99 ] && why="valgrind found errors or leaks"
        fail=$((fail + 1))
    elif [ -n "$plan" ] && [ "$seen" -lt "$plan" ]; then
        why="reported $seen of $plan planned results"
        fail=$((fail + 1))
    elif [ "$seen" -eq 0 ]; then
        why="reported no results"
        fail=$((fail + 1))
    fi
    total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail)) total_skip=$((total_skip + skip))
    if [ "$fail" -gt 0 ]; then
        failed_suites+=("$name")
        printf 'FAIL %-28s %4d passed, %d failed, %d skipped (%ss)%s\n' "$name" "$pass" "$fail" \
            "$skip" "$secs" "${why:+ — $why}"
        # Each failure with its one-line reason (tap.py prints it next).
        grep -E -A1 '^not ok' "$log" | grep -E '^not ok|^# reason: ' | grep -v '# SKIP' |
            sed 's/^/     /'
        echo "     --- last lines of $log:"
        tail -n 40 "$log" | sed 's/^/     | /'
    else
        printf 'ok   %-28s %4d passed, %d skipped (%ss)\n' "$name" "$pass" "$skip" "$secs"
    fi
    if [ "$skip" -gt 0 ]; then
        grep -E '# (SKIP|skip)' "$log" | sed 's/^/     skipped: /' | head -n 5
    fi
    [ "${VERBOSE:-0}" = 1 ] && sed 's/^/     /' "$log"
done

[ ${#failed_suites[@]} -gt 0 ] && echo "failed suites: ${failed_suites[*]}"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
