#!/bin/sh
# onnx_run.sh - the faceplugin ONNX models in our engine (XNNPACK backend, 1 thread) against
# onnxruntime's CPU library (onnxruntime-node, 1 intra-op thread), one model at a time, in one
# invocation.  Prints a table of medians (wall clock and CPU time) and the ratio ORT / ours.
#
# Usage (from the repo root, after `make` and `scripts/setup.sh test`): bench/onnx_run.sh [--runs N]
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=50
[ "${1:-}" = "--runs" ] && RUNS=$2
make --no-print-directory -s "$BUILD/bench/bench_nn" >&2
MODELS="fr_detect fr_landmark fr_feature fr_liveness fr_age fr_gender fr_expression fr_pose fr_eye"
RAW="$BUILD/bench/onnx_last_run.tsv"
: >"$RAW"
for m in $MODELS; do
    "$BUILD/bench/bench_nn" --no-fma --runs "$RUNS" "$m" >>"$RAW"
    node bench/ort_peer.js --runs "$RUNS" "$m" >>"$RAW" 2>/dev/null
done
awk -F'\t' -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
    $1 == "nn"  { ours[$2] = $4; ocpu[$2] = $9; order[++n] = $2 }
    $1 == "ort" { ort[$2] = $3; rcpu[$2] = $4 }
    END {
        printf "| model | ours 1T ms | onnxruntime 1T ms | ORT/ours | ours CPU ms | ORT CPU ms | ORT/ours (CPU) |\n"
        printf "|---|---:|---:|---:|---:|---:|---:|\n"
        for (i = 1; i <= n; i++) {
            m = order[i]
            printf "| %s | %.2f | %.2f | %.2fx | %.2f | %.2f | %.2fx |\n", m, ours[m], ort[m],
                ort[m] / ours[m], ocpu[m], rcpu[m], rcpu[m] / ocpu[m]
        }
        printf "\nload average at start: %s; medians of the runs; CPU = the thread (ours) or the process (ORT).\n", load
    }' "$RAW"
