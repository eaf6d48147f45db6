#!/usr/bin/env bash
# Performance regression check with pytest-benchmark, one command each way:
#
#   scripts/bench_regression.sh save      [pytest args]   # save the current speed as a baseline
#   scripts/bench_regression.sh compare   [pytest args]   # fail if a median got >10% slower
#
# Extra arguments go to pytest, e.g. `-m quick` or `-k seed`; compare with the same selection
# as the baseline. MAX_SLOWDOWN (default 10%) sets the allowed median slowdown. Baselines live
# in .benchmarks/<machine>/NNNN_baseline.json (git-ignored); compare uses the newest one.
set -euo pipefail
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
cd "$(dirname "$script")/.."

usage() { sed -n '2,9s/^# \{0,1\}//p' "$script" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=$1
shift

# An installed lstmcore is used as it is; otherwise the in-place build under src/.
if ! python -c "import lstmcore.lstm" 2>/dev/null; then
    export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
fi
pytest_benchmarks=(python -m pytest benchmarks -p no:cacheprovider --benchmark-only
                   --benchmark-columns=median,iqr,rounds --benchmark-sort=name)

case "$mode" in
    save)
        exec "${pytest_benchmarks[@]}" --benchmark-save=baseline "$@"
        ;;
    compare)
        baseline=$(ls .benchmarks/*/[0-9][0-9][0-9][0-9]_baseline.json 2>/dev/null \
                   | awk -F/ '{print $NF "\t" $0}' | sort | tail -n 1 | cut -f 2 || true)
        if [ -z "$baseline" ]; then
            echo "no baseline in .benchmarks/: run '$0 save' first" >&2
            exit 2
        fi
        echo "comparing against $baseline" >&2
        exec "${pytest_benchmarks[@]}" --benchmark-compare="$baseline" \
            --benchmark-compare-fail="median:${MAX_SLOWDOWN:-10%}" "$@"
        ;;
    *)
        usage
        ;;
esac
