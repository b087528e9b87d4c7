#!/bin/bash
# make fuzz / make fuzz-ci: runs each libFuzzer harness for FUZZ_SECONDS from its seeds.
#
#   O=build-fuzz FUZZ_SECONDS=N tests/fuzz/run.sh HARNESS...
#
# New inputs go to $O/corpus/NAME (kept between runs; the tree's corpus is only read), crashes
# to $O/artifacts/. One line per harness with libFuzzer's figures; a crash or a failed
# invariant prints how to reproduce it and makes the exit status 1.
set -u
cd "$(dirname "$0")/../.." || exit 1
O=${O:-build-fuzz}
secs=${FUZZ_SECONDS:-20}
failed=()

# Seeds beyond tests/fuzz/corpus/NAME: the project's own files in the same language.
extra_seeds() {
    case $1 in
    config) echo conf ;;
    drill) echo tests/drill ;;
    esac
}

for h in "$@"; do
    bin=$O/fuzz/$h
    work=$O/corpus/$h
    art=$O/artifacts/$h/
    log=$O/fuzz-$h.log
    mkdir -p "$work" "$art"
    dict=()
    [ -f "tests/fuzz/$h.dict" ] && dict=("-dict=tests/fuzz/$h.dict")
    # shellcheck disable=SC2046
    "$bin" -max_total_time="$secs" -timeout=20 -print_final_stats=1 -artifact_prefix="$art" \
        "${dict[@]}" "$work" "tests/fuzz/corpus/$h" $(extra_seeds "$h") >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(echo "$done_line" | grep -oE 'cov: [0-9]+' | cut -d' ' -f2)
    ft=$(echo "$done_line" | grep -oE 'ft: [0-9]+' | cut -d' ' -f2)
    if [ "$rc" -eq 0 ]; then
        printf 'ok   fuzz %-9s %4ss %9s execs %7s/s  cov %5s  ft %6s\n' "$h" "$secs" "${execs:-?}" \
            "${rate:-?}" "${cov:-?}" "${ft:-?}"
    else
        failed+=("$h")
        input=$(sed -n 's/.*Test unit written to //p' "$log" | tail -n 1)
        printf 'FAIL fuzz %-9s (exit %d), log %s\n' "$h" "$rc" "$log"
        grep -E -A3 'invariant failed|ERROR: (Address|Undefined|Leak)Sanitizer|runtime error' "$log" |
            head -n 12 | sed 's/^/     /'
        if [ -n "$input" ]; then
            echo "     reproduce: $bin $input    (FZ_TRACE=1 for the engine's packets)"
            echo "     keep it:   cp $input tests/fuzz/corpus/$h/regress-WHAT (docs/fuzzing.md)"
        fi
    fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failed: ${failed[*]}"; exit 1; }
echo "fuzz: $# harness(es), ${secs}s each, no crash and no failed invariant"
