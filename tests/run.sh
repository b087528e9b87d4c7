#!/bin/bash
# Run test suites and add up their TAP results.
#
# Each argument is an executable that prints TAP on stdout: a plan "1..N" (first or last) and
# results "ok N - name", "not ok N - name", "... # SKIP reason" numbered 1, 2, 3, ... cmocka
# binaries print TAP through CMOCKA_MESSAGE_OUTPUT. A suite fails, besides on a failing result,
# when it exits non-zero, reports nothing, has no plan or two, reports fewer or more results
# than its plan or numbers them out of order, or when a result line ("ok ...", "not ok ...")
# or a plan appears on its stderr: only the suite's own stdout counts, so that a child
# process's output can never read as a pass, and a crash never reads as one either.
#
# Skips: every skip taken is listed at the end. With CI=true, a skip is a failure unless
# tests/ci-skips.txt allows it (one line each: suite, test, reason; CI runs as root, where
# every capability the tests skip without is present).
#
# Environment: O (build dir), VALGRIND=1 (run under valgrind, leaks are failures),
# SUITE_TIMEOUT (seconds per suite, default 1200), VERBOSE=1 (print every line), CI.
set -u
O=${O:-build}
export O
export CMOCKA_MESSAGE_OUTPUT=TAP
export SYNFIN_BUILD=$O
export PATH="$PWD/$O/bin:$PATH"
logs="$O/test-logs"
mkdir -p "$logs"
ci_skips="$(dirname "$0")/ci-skips.txt"
ci=0
case "${CI:-}" in true | TRUE | True | 1 | yes) ci=1 ;; esac
total_pass=0 total_fail=0 total_skip=0
failed_suites=()
skips_taken=()

# Whether tests/ci-skips.txt allows the skip of test $2 in suite $1.
ci_allows() {
    [ -f "$ci_skips" ] && awk -v s="$1" -v t="$2" \
        '!/^[[:space:]]*(#|$)/ && $1 == s && $2 == t { found = 1 } END { exit !found }' \
        "$ci_skips"
}

for suite in "$@"; do
    name=$(basename "$suite")
    log="$logs/$name.log"
    errlog="$logs/$name.stderr"
    start=$EPOCHREALTIME
    if [ "${VALGRIND:-0}" = 1 ]; then
        timeout "${SUITE_TIMEOUT:-1200}" valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
            "$suite" >"$log" 2>"$errlog"
    else
        timeout "${SUITE_TIMEOUT:-1200}" "$suite" >"$log" 2>"$errlog"
    fi
    rc=$?
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    pass=0 fail=0 skip=0 plan='' plans=0 seen=0
    whys=()
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
            "ok "* | "not ok "*)
                rest=${line#not }
                rest=${rest#ok }
                num=${rest%%[!0-9]*}
                desc=${rest#"$num"}
                seen=$((seen + 1))
                if [ -z "$num" ] || [ "$num" -ne "$seen" ]; then
                    whys+=("result $seen is numbered '${num:-none}'")
                fi
                case "$desc" in
                    *"# SKIP"* | *"# skip"* | *"# Skip"*)
                        skip=$((skip + 1))
                        test=${desc%%" # "[Ss][Kk][Ii][Pp]*}
                        reason=${desc#*" # "[Ss][Kk][Ii][Pp]}
                        reason=${reason# }
                        test=${test# }
                        test=${test#- }
                        if [ -z "$test" ]; then # cmocka: "not ok N # SKIP name"
                            test=${reason%% *}
                            case "$reason" in *" "*) reason=${reason#* } ;; *) reason= ;; esac
                        fi
                        allowed=
                        if [ "$ci" = 1 ]; then
                            if ci_allows "$name" "$test"; then
                                allowed=" (allowed in CI)"
                            else
                                allowed=" (NOT allowed in CI: tests/ci-skips.txt)"
                                whys+=("skipped $test, not allowed in CI")
                                skip=$((skip - 1)) # a failure instead, counted below
                            fi
                        fi
                        skips_taken+=("$name $test: ${reason:-no reason given}$allowed")
                        ;;
                    *)
                        if [ "${line#not }" = "$line" ]; then
                            pass=$((pass + 1))
                        else
                            fail=$((fail + 1))
                        fi
                        ;;
                esac
                ;;
            1..*)
                plans=$((plans + 1))
                plan=${line#1..} plan=${plan%%[!0-9]*}
                ;;
        esac
    done <"$log"
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        why="exited with status $rc"
        [ "$rc" -eq 124 ] && why="timed out after ${SUITE_TIMEOUT:-1200}s"
        [ "$rc" -eq 99 ] && why="valgrind found errors or leaks"
        whys+=("$why")
    fi
    if [ "$seen" -eq 0 ]; then
        whys+=("reported no results")
    elif [ "$plans" -eq 0 ]; then
        whys+=("printed no plan (1..N)")
    elif [ "$plans" -gt 1 ]; then
        whys+=("printed $plans plans")
    elif [ "$seen" -ne "$plan" ]; then
        whys+=("reported $seen results for a plan of $plan")
    fi
    stray=$(grep -cE '^(not )?ok( |$)|^1\.\.[0-9]' "$errlog")
    [ "$stray" -gt 0 ] && whys+=("$stray TAP lines on stderr (a child process's?), not counted")
    fail=$((fail + ${#whys[@]})) # each reason is one failure more
    why=
    [ ${#whys[@]} -gt 0 ] && why=$(printf '%s; ' "${whys[@]}") && why=${why%; }
    total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail))
    total_skip=$((total_skip + skip))
    if [ "$fail" -gt 0 ]; then
        failed_suites+=("$name")
        printf 'FAIL %-28s %4d passed, %d failed, %d skipped (%ss)%s\n' "$name" "$pass" "$fail" \
            "$skip" "$secs" "${why:+ — $why}"
        # Each failure with its one-line reason (tap.py prints it next).
        grep -E -A1 '^not ok' "$log" | grep -E '^not ok|^# reason: ' | grep -v '# SKIP' |
            sed 's/^/     /'
        echo "     --- last lines of $log:"
        tail -n 40 "$log" | sed 's/^/     | /'
        if [ -s "$errlog" ]; then
            echo "     --- last lines of $errlog:"
            tail -n 20 "$errlog" | sed 's/^/     | /'
        fi
    else
        printf 'ok   %-28s %4d passed, %d skipped (%ss)\n' "$name" "$pass" "$skip" "$secs"
    fi
    if [ "${VERBOSE:-0}" = 1 ]; then
        sed 's/^/     /' "$log"
        sed 's/^/     stderr: /' "$errlog"
    fi
done

if [ "$ci" = 1 ]; then
    echo "skips allowed in CI ($ci_skips):"
    grep -vE '^[[:space:]]*(#|$)' "$ci_skips" 2>/dev/null | sed 's/^/     /' | grep . ||
        echo "     none"
fi
if [ ${#skips_taken[@]} -gt 0 ]; then
    echo "skips taken (${#skips_taken[@]}):"
    printf '     %s\n' "${skips_taken[@]}"
fi
[ ${#failed_suites[@]} -gt 0 ] && echo "failed suites: ${failed_suites[*]}"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
